//! Who is calling and what they may do. The server resolves a `Caller` from
//! a token; the use cases decide with it. Jobs act as [`Caller::system`].

pub const SCOPE_READ: &str = "holds:read";
pub const SCOPE_WRITE: &str = "holds:write";
pub const SCOPE_ADMIN: &str = "admin";
/// Lets a caller assert a guest tier above the one the server derives.
pub const SCOPE_TIER_OVERRIDE: &str = "tiers:override";
pub const ALL_SCOPES: [&str; 4] = [SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN, SCOPE_TIER_OVERRIDE];

/// Who is calling, resolved from a valid token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub property_ids: Option<Vec<String>>,
    pub rate_limit: Option<i64>,
    /// `X-Source-Service`, recorded as the actor in the event log.
    pub source: Option<String>,
}

impl Caller {
    /// The service itself (jobs, the reconciler), named by `source` in the
    /// event log: every property, and it may set a guest's tier.
    pub fn system(source: &str) -> Self {
        Self {
            token_id: "system".into(),
            name: "system".into(),
            scopes: vec![SCOPE_ADMIN.into(), SCOPE_TIER_OVERRIDE.into()],
            property_ids: None,
            rate_limit: None,
            source: Some(source.into()),
        }
    }
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope || s == SCOPE_ADMIN)
    }
    pub fn can_read(&self) -> bool {
        self.has(SCOPE_READ) || self.has(SCOPE_WRITE)
    }
    pub fn can_write(&self) -> bool {
        self.has(SCOPE_WRITE)
    }
    pub fn can_override_tier(&self) -> bool {
        self.scopes.iter().any(|s| s == SCOPE_TIER_OVERRIDE)
    }
    pub fn is_admin(&self) -> bool {
        self.scopes.iter().any(|s| s == SCOPE_ADMIN)
    }
    /// A property-restricted token sees only its own properties' holds.
    pub fn sees_property(&self, property: Option<&str>) -> bool {
        match &self.property_ids {
            None => true,
            Some(allowed) => property.is_some_and(|p| allowed.iter().any(|a| a == p)),
        }
    }
    /// The name written to the event log.
    pub fn actor(&self) -> String {
        match &self.source {
            Some(src) => format!("{src} (token {})", self.name),
            None => format!("token {}", self.name),
        }
    }
}
