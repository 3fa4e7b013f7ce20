//! Payment processors behind one trait.
//!
//! The service talks to a [`Processor`]; the simulated one ships in this
//! crate and the Stripe one lives beside it. Both speak domain types
//! ([`IntentView`]) so Stripe's wire strings never reach the core.

pub mod clock;
pub mod dispute;
pub mod events;
pub mod simulated;
pub mod stripe;
mod types;

pub use clock::{Clock, SystemClock, TestClock};
pub use dispute::DisputeView;
pub use types::*;
