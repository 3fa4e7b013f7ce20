//! Authority, checked once at the edge of each use case and before any
//! effect: a use case that moves money or changes records asks for its scope
//! here before it touches the processor or the store.

use super::{CoreError, CoreResult};
use crate::caller::Caller;

impl Caller {
    pub fn require_read(&self) -> CoreResult<()> {
        if self.can_read() {
            Ok(())
        } else {
            Err(CoreError::Forbidden { message: "This token may not read holds".into() })
        }
    }

    pub fn require_write(&self) -> CoreResult<()> {
        if self.can_write() {
            Ok(())
        } else {
            Err(CoreError::Forbidden { message: "This token is read-only".into() })
        }
    }

    /// Admin work on records that belong to properties; a property-restricted
    /// admin token still acts only on its own properties, which each use case
    /// checks with [`Caller::require_property`].
    pub fn require_admin(&self, what: &str) -> CoreResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(CoreError::Forbidden { message: format!("{what} needs an admin token") })
        }
    }

    /// Admin work on what belongs to no property (the simulator's objects and
    /// clock, operations without a hold): only a token restricted to no
    /// property may do it.
    pub fn require_global_admin(&self, what: &str) -> CoreResult<()> {
        self.require_admin(what)?;
        if self.property_ids.is_some() {
            return Err(CoreError::Forbidden {
                message: format!("{what} needs an admin token that is not restricted to properties"),
            });
        }
        Ok(())
    }

    /// A write for `property`: refused for a token of other properties.
    pub fn require_property(&self, property: Option<&str>, what: &str) -> CoreResult<()> {
        if self.sees_property(property) {
            Ok(())
        } else {
            Err(CoreError::Forbidden { message: format!("This token may not {what} for that property") })
        }
    }
}
