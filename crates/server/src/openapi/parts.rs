//! Pieces of the document: content, parameter and header schemas, and the
//! description of each status code.

use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, ResponseBuilder, Type};

use super::Param;

pub(super) fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(Ref::from_schema_name(schema))).build()
}

pub(super) fn any_json() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::Object))).build()
}

pub(super) fn text_content() -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build()
}

pub(super) fn param_schema(kind: Param) -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    match kind {
        Param::Str => ObjectBuilder::new().schema_type(Type::String).into(),
        // An empty value means the default, as in a form left blank (API.md).
        Param::Int(min, max) => utoipa::openapi::OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(min)).maximum(Some(max)))
            .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
            .into(),
        // An empty value means "no filter", as in a form left blank.
        Param::OneOf(schema) => utoipa::openapi::OneOfBuilder::new()
            .item(Ref::from_schema_name(schema))
            .item(ObjectBuilder::new().schema_type(Type::String).max_length(Some(0)))
            .into(),
        Param::Flag => ObjectBuilder::new().schema_type(Type::String).into(),
        Param::Instant => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^([0-9]{1,12}|[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9:.]+([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"))
            .examples([serde_json::json!("1764547200"), serde_json::json!("2025-12-01T00:00:00Z")])
            .into(),
        Param::Day => ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt][0-9:.]+([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"))
            .examples([serde_json::json!("2026-11-01"), serde_json::json!("2026-11-01T00:00:00Z")])
            .into(),
    }
}

pub(super) fn header_doc(kind: Type, description: &str) -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .description(Some(description))
        .build()
}

/// Every authenticated answer carries the token's rate-limit state.
pub(super) fn with_rate_headers(r: ResponseBuilder) -> ResponseBuilder {
    r.header("X-RateLimit-Limit", header_doc(Type::Integer, "Requests a minute this token may make"))
        .header("X-RateLimit-Remaining", header_doc(Type::Integer, "Requests that could be sent now"))
        .header("X-RateLimit-Reset", header_doc(Type::Integer, "Epoch seconds when the whole burst is back"))
}

pub(super) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        201 => "Created",
        303 => "See other (sign in first, or after an action)",
        400 => "Invalid request; `details.field` names the field",
        401 => "Missing or invalid token",
        402 => "Card declined; `details.decline_code`",
        403 => "The token lacks the scope or the property",
        404 => "Not found",
        409 => "Conflict with the hold's state, an operation in progress, or an Idempotency-Key",
        413 => "Body too large",
        415 => "Unsupported body type",
        422 => "The action could not be done; the page says why",
        429 => "Rate limited; see Retry-After",
        502 => "Payment processor error (opaque)",
        503 => "Store unavailable, or processor outcome unknown (retry)",
        _ => "Response",
    }
}
