//! Protections around the API: CORS, rate limits and Idempotency-Key.
//! Each is a layer, so handlers stay free of them.

pub mod cors;
pub mod idempotency;
pub mod ratelimit;
