//! The port to ChittyID, the identity service that names every hold. The
//! server's HTTP client implements it; tests use a stand-in.

use async_trait::async_trait;

/// Held by a hold until its real id is minted.
pub const PENDING_PREFIX: &str = "CHITTY-AUTH-PENDING-";

/// A unique placeholder until the real id is minted.
pub fn pending_id() -> String {
    format!("{PENDING_PREFIX}{}", uuid::Uuid::new_v4().simple().to_string().to_uppercase())
}

pub struct MintRequest<'a> {
    pub payment_intent: &'a str,
    pub amount: i64,
    pub property_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
}

#[async_trait]
pub trait IdMinter: Send + Sync {
    /// Whether minting is set up at all; without it holds keep PENDING ids.
    fn configured(&self) -> bool;
    /// A mint on a create's path. It may refuse at once (an open circuit
    /// breaker) so an outage never stalls creates.
    async fn mint_inline(&self, req: &MintRequest<'_>) -> Result<String, String>;
    /// The reconciler's mint: always tried.
    async fn mint(&self, req: &MintRequest<'_>) -> Result<String, String>;
}

/// No ChittyID: every hold keeps its PENDING id.
pub struct NoMinter;

#[async_trait]
impl IdMinter for NoMinter {
    fn configured(&self) -> bool {
        false
    }
    async fn mint_inline(&self, _: &MintRequest<'_>) -> Result<String, String> {
        Err("ChittyID is not configured".into())
    }
    async fn mint(&self, _: &MintRequest<'_>) -> Result<String, String> {
        Err("ChittyID is not configured".into())
    }
}
