//! The integration tests, as one binary: each module is one area (the
//! old one-binary-per-file layout linked the whole service thirty times).
//! Shared helpers are in `common`; the model-based API test and the
//! deployment-file checks are directories of their own.
#![expect(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::as_conversions,
    clippy::needless_pass_by_value,
    clippy::print_stdout,
    reason = "test code: a failed expectation is the test failing, helpers are shared across modules, and the tests print what they measured"
)]

mod authority;
mod automation;
mod backup;
mod booking_races;
mod browser;
mod cli;
mod common;
mod console;
mod deploy;
mod disputes;
mod durability;
mod edge;
mod emulator_rules;
mod faults;
mod first_hour;
mod increments;
mod lifecycle;
mod model;
mod money;
mod observability;
mod operator;
mod parity;
mod protection;
mod raises;
mod readme;
mod refunds;
mod registry;
mod rental;
mod reports;
mod resilience;
mod schema;
mod seams;
mod stripe;
mod stripe_contract;
mod stripe_time;
mod unknowns;
