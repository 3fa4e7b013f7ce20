//! `/api/holds…` handlers: parse the request, call one use case, map the
//! result to the wire type.

pub mod actions;
pub mod create;
pub mod read;
