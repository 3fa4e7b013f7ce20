//! Bodies of the simulated processor's endpoints, the test clock and the
//! console's sign-in form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClockRequest {
    pub advance_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClockView {
    #[schema(format = DateTime)]
    pub now: String,
    pub offset_ms: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimCard {
    pub number: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimPaymentMethodRequest {
    /// The hold the guest's page is for, and its client secret: only that
    /// page may make cards for it.
    pub hold_id: String,
    pub client_secret: String,
    pub card: SimCard,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimPaymentMethod {
    pub id: String,
    pub object: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimConfirmRequest {
    pub client_secret: String,
    pub payment_method: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimAuthenticateRequest {
    pub client_secret: String,
    pub success: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimIntentStatus {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimIntentView {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub amount_capturable: i64,
    pub amount_received: i64,
    pub captures: u32,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimIntentList {
    pub count: usize,
    pub ids: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginForm {
    pub token: String,
    /// The sign-in page's pre-session token (also in its `cc_login` cookie).
    pub login_csrf: String,
}

/// `POST /_sim/payment_intents/{id}/dispute`: the bank opens a dispute, or
/// decides it with `close`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SimDisputeRequest {
    /// One of Stripe's dispute reasons (default `general`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "fraudulent")]
    pub reason: Option<String>,
    /// `won` or `lost`: decides an open dispute instead of opening one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<String>,
}
