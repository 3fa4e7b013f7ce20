//! The integration tests, as one binary: each module is one area (the
//! old one-binary-per-file layout linked the whole service thirty times).
//! Shared helpers are in `common`; the model-based API test and the
//! deployment-file checks are directories of their own.

mod authority;
mod automation;
mod backup;
mod browser;
mod cli;
mod common;
mod console;
mod deploy;
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
mod rental;
mod resilience;
mod schema;
mod seams;
mod stripe;
mod stripe_contract;
mod stripe_time;
mod unknowns;
