//! What the parts of the edge (`protect::edge`) share: running the route
//! once no layer is in the way, and the answer for a request body that
//! could not be read. A module of its own so the edge, authentication and
//! `Idempotency-Key` handling depend on it and not on each other.

use axum::extract::Request;
use axum::response::Response;
use tower::ServiceExt;

/// Runs a service that cannot fail (the route, once no more layers are in
/// the way, or CORS around the rest of the edge).
pub(crate) async fn run<S>(service: S, req: Request) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    match service.oneshot(req).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

/// A request body that missed its deadline: its own type, so whoever reads
/// the body can answer 408 instead of calling it too large or unreadable.
#[derive(Debug)]
pub(crate) struct BodyDeadline;

impl std::fmt::Display for BodyDeadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyDeadline {}

/// Why a request body could not be read, as the answer to give: 408 for a
/// missed deadline, 413 past the size limit, otherwise 400.
pub(crate) fn body_error(e: &(dyn std::error::Error + 'static)) -> crate::error::ApiError {
    use crate::error::ApiError;
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<BodyDeadline>() {
            return ApiError::BodyTimeout;
        }
        if c.is::<http_body_util::LengthLimitError>() {
            return ApiError::PayloadTooLarge { limit: crate::state::body_limit() };
        }
        cause = c.source();
    }
    ApiError::BadJson { message: "Request body could not be read".into() }
}
