//! `/api/holds…` handlers: parse the request, call one use case, map the
//! result to the wire type.

pub(crate) mod actions;
pub(crate) mod create;
pub(crate) mod read;
pub(crate) mod refunds;
