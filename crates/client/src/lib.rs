//! A typed client for ChittyCharge, for rental apps written in Rust (and
//! the service's own integration tests and CLI).
//!
//! ```no_run
//! # async fn demo() -> Result<(), chittycharge_client::ClientError> {
//! use chittycharge_client::{Client, api::CreateHoldRequest};
//! let cc = Client::new("http://127.0.0.1:8787", "cc_…");
//! let hold = cc.create_hold(&CreateHoldRequest { amount: 25_000, description: "Incidentals".into(), ..Default::default() }).await?;
//! cc.confirm(&hold.id, "pm_card_visa").await?;
//! # Ok(()) }
//! ```

pub use chittycharge_api as api;

use api::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not reach ChittyCharge: {0}")]
    Http(#[from] reqwest::Error),
    /// The API answered with its error envelope.
    #[error("{status} {}: {}", body.code, body.error)]
    Api { status: u16, body: ErrorBody },
    #[error("unexpected response ({status}): {message}")]
    Decode { status: u16, message: String },
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Decode { status, .. } => Some(*status),
            ClientError::Http(_) => None,
        }
    }
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.code),
            ClientError::Http(_) | ClientError::Decode { .. } => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    idempotency_key: Option<String>,
    source: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct HoldQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct BookingQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl Client {
    pub fn new(base: &str, token: &str) -> Self {
        let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap_or_default();
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            idempotency_key: None,
            source: None,
        }
    }

    /// The same client, sending `Idempotency-Key: key` on its POSTs.
    pub fn with_idempotency_key(&self, key: &str) -> Self {
        Self { idempotency_key: Some(key.to_string()), ..self.clone() }
    }

    /// The same client, naming the calling service in `X-Source-Service`.
    pub fn with_source(&self, source: &str) -> Self {
        Self { source: Some(source.to_string()), ..self.clone() }
    }

    async fn send<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, ClientError> {
        let mut req = req.bearer_auth(&self.token);
        if let Some(s) = &self.source {
            req = req.header("X-Source-Service", s);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        if (200..300).contains(&status) {
            serde_json::from_str(&text).map_err(|e| ClientError::Decode { status, message: e.to_string() })
        } else {
            match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => Err(ClientError::Api { status, body }),
                Err(_) => Err(ClientError::Decode { status, message: text }),
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &impl Serialize) -> Result<T, ClientError> {
        self.send(self.http.get(format!("{}{path}", self.base)).query(query)).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T, ClientError> {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(k) = &self.idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    pub async fn create_hold(&self, req: &CreateHoldRequest) -> Result<CreateHoldResponse, ClientError> {
        self.post("/api/holds", req).await
    }
    pub async fn get_hold(&self, id: &str) -> Result<HoldView, ClientError> {
        self.get(&format!("/api/holds/{id}"), &()).await
    }
    pub async fn list_holds(&self, q: &HoldQuery) -> Result<HoldList, ClientError> {
        self.get("/api/holds", q).await
    }
    pub async fn confirm(&self, id: &str, payment_method: &str) -> Result<HoldView, ClientError> {
        self.post(&format!("/api/holds/{id}/confirm"), &serde_json::json!({ "payment_method": payment_method })).await
    }
    pub async fn capture(&self, id: &str, req: &CaptureRequest) -> Result<CaptureResponse, ClientError> {
        self.post(&format!("/api/holds/{id}/capture"), req).await
    }
    pub async fn cancel(&self, id: &str, reason: Option<&str>) -> Result<CancelResponse, ClientError> {
        self.post(&format!("/api/holds/{id}/cancel"), &serde_json::json!({ "reason": reason })).await
    }
    pub async fn events(&self, id: &str) -> Result<EventList, ClientError> {
        self.get(&format!("/api/holds/{id}/events"), &()).await
    }
    pub async fn put_property(&self, req: &PropertyRequest) -> Result<PropertyView, ClientError> {
        self.post("/api/properties", req).await
    }
    pub async fn get_property(&self, id: &str) -> Result<PropertyView, ClientError> {
        self.get(&format!("/api/properties/{id}"), &()).await
    }
    pub async fn list_properties(&self) -> Result<PropertyList, ClientError> {
        self.get("/api/properties", &()).await
    }
    pub async fn create_booking(&self, req: &BookingRequest) -> Result<BookingView, ClientError> {
        self.post("/api/bookings", req).await
    }
    pub async fn get_booking(&self, id: &str) -> Result<BookingView, ClientError> {
        self.get(&format!("/api/bookings/{id}"), &()).await
    }
    pub async fn list_bookings(&self, q: &BookingQuery) -> Result<BookingList, ClientError> {
        self.get("/api/bookings", q).await
    }
    /// Check-in: places (or returns) the booking's hold; with a card,
    /// confirms it server-side.
    pub async fn authorize_booking(
        &self,
        id: &str,
        payment_method: Option<&str>,
    ) -> Result<AuthorizeResponse, ClientError> {
        let body = match payment_method {
            Some(pm) => serde_json::json!({ "payment_method": pm, "confirm": true }),
            None => serde_json::json!({}),
        };
        self.post(&format!("/api/bookings/{id}/authorize"), &body).await
    }
    pub async fn checkout(&self, id: &str, req: &CheckoutRequest) -> Result<CheckoutResponse, ClientError> {
        self.post(&format!("/api/bookings/{id}/checkout"), req).await
    }
    pub async fn file_claim(&self, id: &str, damages: &[DamageLine]) -> Result<CheckoutResponse, ClientError> {
        self.post(&format!("/api/bookings/{id}/claims"), &serde_json::json!({ "damages": damages })).await
    }
    /// Operations whose outcome stayed unknown through the janitor's schedule.
    pub async fn stuck_operations(&self) -> Result<api::OperationList, ClientError> {
        self.get("/api/operations/stuck", &()).await
    }
    /// Settles an operation from the processor; `release` also releases its hold.
    pub async fn resolve_operation(&self, id: &str, release: bool) -> Result<api::ResolveResponse, ClientError> {
        let action = if release { "release" } else { "reread" };
        self.post(&format!("/api/operations/{id}/resolve"), &serde_json::json!({ "action": action })).await
    }
}
