//! The ChittyCharge domain: money in integer minor units, guest tiers, the
//! processing-fee estimate, the guest disclosure and the hold state machine.
//!
//! This crate performs no I/O and knows nothing of HTTP, SQL or Stripe's wire
//! format, so every rule about money and state can be tested in isolation.

pub mod booking;
pub mod disclosure;
pub mod dispute;
pub mod fee;
pub mod hold;
pub mod money;
pub mod record;
pub mod report;
pub mod stay;
pub mod text;
pub mod tier;
pub mod time;

pub use hold::{HoldState, HoldStatus};
pub use money::{Currency, Money, MoneyError, PositiveAmount};
pub use record::{Booking, Hold};
pub use tier::GuestTier;
pub use time::Timestamp;
