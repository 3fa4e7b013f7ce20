//! The OpenAPI 3.1 document, built from the code: every schema is derived
//! with utoipa from the wire types the handlers serialize, and the operations
//! come from one table that mirrors `routes::router`. Built once, served at
//! `/openapi.json`, and rendered at `/docs` as a page with no outside assets.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chittycharge_api as api;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required, ResponseBuilder,
    Type,
};

/// Body kinds an operation takes or returns.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(&'static str),
    Html,
    Form(&'static str),
    AnyJson,
    /// Plain text (Prometheus' exposition format).
    Text,
    /// A report: JSON, or CSV when asked for.
    Report,
    /// Any JSON object, or an HTML page when asked for.
    AnyJsonOrHtml,
}

/// What a query parameter takes.
#[derive(Clone, Copy)]
enum Param {
    Str,
    /// A whole number in this range.
    Int(i64, i64),
    /// One of a schema enum's values (a component name).
    OneOf(&'static str),
    /// Present or absent (`?expiring` or `?expiring=1`).
    Flag,
    /// Unix seconds or an RFC 3339 date-time.
    Instant,
    /// A date (`2026-11-01`) or an RFC 3339 date-time.
    Day,
}

struct Op {
    method: HttpMethod,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    tag: &'static str,
    auth: bool,
    request: Body,
    status: u16,
    response: Body,
    query: &'static [(&'static str, &'static str, Param)],
    errors: &'static [u16],
}

const API_ERRORS: &[u16] = &[400, 401, 403, 404, 409, 413, 429, 502, 503];
const PAY_ERRORS: &[u16] = &[400, 401, 402, 403, 404, 409, 413, 429, 502, 503];
const READ_ERRORS: &[u16] = &[400, 401, 403, 404, 429, 503];
const PUBLIC_ERRORS: &[u16] = &[400, 401, 402, 404, 409, 413, 429, 503];

macro_rules! op {
    ($m:ident $path:literal $id:literal $tag:literal $summary:literal, auth=$auth:literal, req=$req:expr, $status:literal => $resp:expr, q=$q:expr, err=$err:expr) => {
        Op {
            method: HttpMethod::$m,
            path: $path,
            id: $id,
            summary: $summary,
            tag: $tag,
            auth: $auth,
            request: $req,
            status: $status,
            response: $resp,
            query: $q,
            errors: $err,
        }
    };
}

fn ops() -> Vec<Op> {
    use Body::*;
    use Param::{Day, Flag, Instant, Int, OneOf, Str};
    const HOLD_Q: &[(&str, &str, Param)] = &[
        ("property_id", "Only this property", Str),
        ("tenant_id", "Only this tenant", Str),
        ("status", "Only this status", OneOf("HoldStatusName")),
        ("created[gte]", "Created at or after (Unix seconds or RFC 3339)", Instant),
        ("created[lt]", "Created before (Unix seconds or RFC 3339)", Instant),
        ("created[gt]", "Created after (Unix seconds or RFC 3339)", Instant),
        ("created[lte]", "Created at or before (Unix seconds or RFC 3339)", Instant),
        ("limit", "Page size (default 50)", Int(1, 200)),
        ("cursor", "next_cursor of the previous page", Str),
    ];
    const BOOKING_Q: &[(&str, &str, Param)] = &[
        ("property_id", "Only this property", Str),
        ("tenant_id", "Only this tenant", Str),
        ("status", "Only this status", OneOf("BookingStatusName")),
        ("limit", "How many (default 100)", Int(1, 500)),
    ];
    const AT_PROPERTY_Q: &[(&str, &str, Param)] =
        &[("property_id", "Which property's booking, when several share the id", Str)];
    const CONSOLE_Q: &[(&str, &str, Param)] = &[
        ("property_id", "Only this property", Str),
        ("status", "Only this status", Str),
        ("expiring", "Only holds expiring within 24 h", Flag),
    ];
    const CHECKIN_Q: &[(&str, &str, Param)] = &[("cs", "The hold's client secret", Str)];
    // Strings: without a session the page redirects before reading them.
    const CONSOLE_REPORT_Q: &[(&str, &str, Param)] = &[
        ("kind", "holds or claims", Str),
        ("from", "First day", Str),
        ("to", "Last day, included", Str),
        ("property_id", "Only this property", Str),
        ("format", "csv or json", Str),
    ];
    const EVIDENCE_Q: &[(&str, &str, Param)] = &[("format", "json or html (else by Accept)", Str)];
    const REPORT_Q: &[(&str, &str, Param)] = &[
        ("from", "Required: created at or after (a date, from its start in UTC, or an RFC 3339 instant)", Day),
        ("to", "Required: created before (a date counts whole, or an RFC 3339 instant)", Day),
        ("property_id", "Only this property", Str),
        ("format", "csv or json (else by Accept: text/csv for CSV)", Str),
    ];
    vec![
        op!(Get "/health" "getHealth" "service" "Readiness in the original's shape (cached probes)", auth=false, req=None, 200 => Json("Health"), q=&[], err=&[503]),
        op!(Get "/livez" "getLivez" "service" "The process answers (no I/O)", auth=false, req=None, 200 => AnyJson, q=&[], err=&[]),
        op!(Get "/readyz" "getReadyz" "service" "Store writable, processor reachable, jobs ticking (cached probes)", auth=false, req=None, 200 => AnyJson, q=&[], err=&[503]),
        op!(Post "/webhook" "postWebhook" "webhooks" "Receive a Stripe event (signed)", auth=false, req=AnyJson, 200 => Json("WebhookAck"), q=&[], err=&[400, 503]),
        op!(Post "/api/holds" "createHold" "holds" "Place an authorization hold", auth=true, req=Json("CreateHoldRequest"), 201 => Json("CreateHoldResponse"), q=&[], err=PAY_ERRORS),
        op!(Get "/api/holds" "listHolds" "holds" "List holds, newest first", auth=true, req=None, 200 => Json("HoldList"), q=HOLD_Q, err=READ_ERRORS),
        op!(Get "/api/holds/by-chitty-id/{chitty_id}" "getHoldByChittyId" "holds" "Find a hold by its ChittyID", auth=true, req=None, 200 => Json("HoldView"), q=&[], err=READ_ERRORS),
        op!(Get "/api/holds/{id}" "getHold" "holds" "Read a hold", auth=true, req=None, 200 => Json("HoldView"), q=&[], err=READ_ERRORS),
        op!(Get "/api/holds/{id}/events" "listHoldEvents" "holds" "A hold's event log", auth=true, req=None, 200 => Json("EventList"), q=&[], err=READ_ERRORS),
        op!(Post "/api/holds/{id}/confirm" "confirmHold" "holds" "Confirm server-side with a PaymentMethod", auth=true, req=Json("ConfirmRequest"), 200 => Json("HoldView"), q=&[], err=PAY_ERRORS),
        op!(Post "/api/holds/{id}/capture" "captureHold" "holds" "Capture in full or in part", auth=true, req=Json("CaptureRequest"), 200 => Json("CaptureResponse"), q=&[], err=PAY_ERRORS),
        op!(Post "/api/holds/{id}/cancel" "cancelHold" "holds" "Release a hold", auth=true, req=Json("CancelRequest"), 200 => Json("CancelResponse"), q=&[], err=PAY_ERRORS),
        op!(Post "/api/holds/{id}/release" "releaseHold" "holds" "Release a hold (alias of cancel)", auth=true, req=Json("CancelRequest"), 200 => Json("CancelResponse"), q=&[], err=PAY_ERRORS),
        op!(Post "/api/holds/{id}/increment" "incrementHold" "holds" "Raise the authorized total", auth=true, req=Json("IncrementRequest"), 200 => Json("HoldView"), q=&[], err=PAY_ERRORS),
        op!(Get "/api/operations/stuck" "listStuckOperations" "holds" "Operations the janitor gave up on (admin)", auth=true, req=None, 200 => Json("OperationList"), q=&[], err=READ_ERRORS),
        op!(Get "/api/operations/{id}" "getOperation" "holds" "What became of an operation", auth=true, req=None, 200 => Json("OperationView"), q=&[], err=READ_ERRORS),
        op!(Post "/api/operations/{id}/resolve" "resolveOperation" "holds" "Settle an operation from the processor (admin)", auth=true, req=Json("ResolveRequest"), 200 => Json("ResolveResponse"), q=&[], err=PAY_ERRORS),
        op!(Get "/api/jobs" "listJobs" "service" "Durable job counts", auth=true, req=None, 200 => Json("JobCounts"), q=&[], err=READ_ERRORS),
        op!(Post "/api/properties" "putProperty" "rental" "Create or update a property (admin)", auth=true, req=Json("PropertyRequest"), 201 => Json("PropertyView"), q=&[], err=API_ERRORS),
        op!(Get "/api/properties" "listProperties" "rental" "List properties", auth=true, req=None, 200 => Json("PropertyList"), q=&[], err=READ_ERRORS),
        op!(Get "/api/properties/{id}" "getProperty" "rental" "Read a property", auth=true, req=None, 200 => Json("PropertyView"), q=&[], err=READ_ERRORS),
        op!(Post "/api/holds/{id}/refunds" "refundHold" "holds" "Refund captured money, in full or in part", auth=true, req=Json("RefundRequest"), 201 => Json("RefundResponse"), q=&[], err=PAY_ERRORS),
        op!(Get "/api/holds/{id}/refunds" "listRefunds" "holds" "A hold's refunds", auth=true, req=None, 200 => Json("RefundList"), q=&[], err=READ_ERRORS),
        op!(Get "/api/holds/{id}/dispute" "holdDisputes" "disputes" "A hold's disputes", auth=true, req=None, 200 => Json("DisputeList"), q=&[], err=READ_ERRORS),
        op!(Get "/api/holds/{id}/dispute/evidence" "disputeEvidence" "disputes" "The evidence packet: booking, disclosure, damage lines, emails, timeline (JSON, or HTML with format=html)", auth=true, req=None, 200 => AnyJsonOrHtml, q=EVIDENCE_Q, err=READ_ERRORS),
        op!(Post "/api/holds/{id}/dispute/submit" "submitDisputeEvidence" "disputes" "Send the evidence packet to the processor", auth=true, req=None, 200 => Json("DisputeRecord"), q=&[], err=PAY_ERRORS),
        op!(Get "/api/disputes" "openDisputes" "disputes" "Open disputes, the soonest evidence deadline first", auth=true, req=None, 200 => Json("DisputeList"), q=&[], err=READ_ERRORS),
        op!(Get "/api/reports/holds" "reportHolds" "reports" "A period's holds with totals per property and currency (JSON in minor units, CSV in major units)", auth=true, req=None, 200 => Report, q=REPORT_Q, err=READ_ERRORS),
        op!(Get "/api/reports/claims" "reportClaims" "reports" "A period's damage-claim lines with totals per property and currency", auth=true, req=None, 200 => Report, q=REPORT_Q, err=READ_ERRORS),
        op!(Post "/api/bookings" "createBooking" "rental" "Create a booking", auth=true, req=Json("BookingRequest"), 201 => Json("BookingView"), q=&[], err=API_ERRORS),
        op!(Get "/api/bookings" "listBookings" "rental" "List bookings", auth=true, req=None, 200 => Json("BookingList"), q=BOOKING_Q, err=READ_ERRORS),
        op!(Get "/api/bookings/{id}" "getBooking" "rental" "Read a booking and its claims", auth=true, req=None, 200 => Json("BookingView"), q=AT_PROPERTY_Q, err=READ_ERRORS),
        op!(Post "/api/bookings/{id}/authorize" "authorizeBooking" "rental" "Check-in: place the booking's hold", auth=true, req=Json("AuthorizeRequest"), 200 => Json("AuthorizeResponse"), q=AT_PROPERTY_Q, err=PAY_ERRORS),
        op!(Post "/api/bookings/{id}/checkout" "checkoutBooking" "rental" "Check-out: charge damages or release", auth=true, req=Json("CheckoutRequest"), 200 => Json("CheckoutResponse"), q=AT_PROPERTY_Q, err=PAY_ERRORS),
        op!(Post "/api/bookings/{id}/claims" "claimBooking" "rental" "File damages in an open claim window", auth=true, req=Json("ClaimRequest"), 200 => Json("CheckoutResponse"), q=AT_PROPERTY_Q, err=PAY_ERRORS),
        op!(Get "/api/notifications" "listNotifications" "rental" "The notification outbox (admin)", auth=true, req=None, 200 => Json("NotificationList"), q=&[], err=READ_ERRORS),
        op!(Post "/_sim/payment_methods" "simCreatePaymentMethod" "simulator" "Tokenize a test card (simulated processor)", auth=false, req=Json("SimPaymentMethodRequest"), 200 => Json("SimPaymentMethod"), q=&[], err=PUBLIC_ERRORS),
        op!(Post "/_sim/payment_intents/{id}/confirm" "simConfirm" "simulator" "Confirm as the guest (simulated processor)", auth=false, req=Json("SimConfirmRequest"), 200 => Json("SimIntentStatus"), q=&[], err=PUBLIC_ERRORS),
        op!(Post "/_sim/payment_intents/{id}/authenticate" "simAuthenticate" "simulator" "Complete or fail 3-D Secure (simulated processor)", auth=false, req=Json("SimAuthenticateRequest"), 200 => Json("SimIntentStatus"), q=&[], err=PUBLIC_ERRORS),
        op!(Post "/_sim/payment_intents/{id}/dispute" "simDispute" "simulator" "Open or decide a dispute as the guest's bank (admin, simulated processor)", auth=true, req=Json("SimDisputeRequest"), 200 => AnyJson, q=&[], err=API_ERRORS),
        op!(Get "/_sim/payment_intents" "simListIntents" "simulator" "Simulated PaymentIntents (admin)", auth=true, req=None, 200 => Json("SimIntentList"), q=&[], err=READ_ERRORS),
        op!(Get "/_sim/payment_intents/{id}" "simGetIntent" "simulator" "One simulated PaymentIntent (admin)", auth=true, req=None, 200 => Json("SimIntentView"), q=&[], err=READ_ERRORS),
        op!(Get "/_sim/clock" "simGetClock" "simulator" "The test clock (admin, test mode)", auth=true, req=None, 200 => Json("ClockView"), q=&[], err=READ_ERRORS),
        op!(Post "/_sim/clock" "simAdvanceClock" "simulator" "Move the test clock forward (admin, test mode)", auth=true, req=Json("ClockRequest"), 200 => Json("ClockView"), q=&[], err=API_ERRORS),
        op!(Get "/checkin/{id}" "checkinPage" "pages" "The guest's check-in page", auth=false, req=None, 200 => Html, q=CHECKIN_Q, err=&[404]),
        op!(Get "/console" "consolePage" "pages" "The manager console (sign-in)", auth=false, req=None, 200 => Html, q=&[], err=&[303]),
        op!(Post "/console/login" "consoleLogin" "pages" "Sign in with an API token", auth=false, req=Form("LoginForm"), 303 => None, q=&[], err=&[400, 401, 403, 413, 415, 422, 429]),
        op!(Post "/console/logout" "consoleLogout" "pages" "Sign out", auth=false, req=None, 303 => None, q=&[], err=&[413]),
        op!(Get "/console/holds" "consoleHolds" "pages" "Holds page", auth=false, req=None, 200 => Html, q=CONSOLE_Q, err=&[303, 400, 429]),
        op!(Get "/console/holds/{id}" "consoleHold" "pages" "Hold page", auth=false, req=None, 200 => Html, q=&[], err=&[303, 404, 429]),
        op!(Post "/console/holds/{id}/capture" "consoleCapture" "pages" "Capture itemized damages", auth=false, req=None, 200 => Html, q=&[], err=&[303, 403, 404, 413, 422, 429]),
        op!(Post "/console/holds/{id}/release" "consoleRelease" "pages" "Release a hold", auth=false, req=None, 200 => Html, q=&[], err=&[303, 403, 404, 413, 422, 429]),
        op!(Post "/console/holds/{id}/refund" "consoleRefund" "pages" "Refund captured money", auth=false, req=None, 200 => Html, q=&[], err=&[303, 403, 404, 413, 422, 429]),
        op!(Post "/console/holds/{id}/increment" "consoleIncrement" "pages" "Increase a hold", auth=false, req=None, 200 => Html, q=&[], err=&[303, 403, 404, 413, 422, 429]),
        op!(Get "/console/bookings" "consoleBookings" "pages" "Bookings page", auth=false, req=None, 200 => Html, q=&[], err=&[303, 429]),
        op!(Get "/console/reports" "consoleReport" "pages" "Download a report (the holds page's form)", auth=false, req=None, 200 => Report, q=CONSOLE_REPORT_Q, err=&[303, 400, 403, 429]),
        op!(Get "/console/disputes" "consoleDisputes" "pages" "Open disputes page", auth=false, req=None, 200 => Html, q=&[], err=&[303, 429]),
        op!(Get "/console/holds/{id}/evidence" "consoleEvidence" "pages" "A disputed hold's printable evidence", auth=false, req=None, 200 => Html, q=&[], err=&[303, 404, 429]),
        op!(Get "/console/notifications" "consoleNotifications" "pages" "Outbox page", auth=false, req=None, 200 => Html, q=&[], err=&[303, 429]),
        op!(Get "/openapi.json" "openapi" "service" "This document", auth=false, req=None, 200 => AnyJson, q=&[], err=&[]),
        op!(Get "/docs" "docs" "service" "API documentation page", auth=false, req=None, 200 => Html, q=&[], err=&[]),
        op!(Get "/metrics" "metrics" "service" "Prometheus metrics (admin token, or none on CHITTYCHARGE_METRICS_LISTEN)", auth=true, req=None, 200 => Text, q=&[], err=&[401, 403, 429]),
    ]
}

mod parts;
use parts::{any_json, header_doc, json_content, param_schema, reason, text_content, with_rate_headers};

fn build() -> OpenApi {
    let mut paths = PathsBuilder::new();
    for op in ops() {
        let mut b = OperationBuilder::new().operation_id(Some(op.id)).summary(Some(op.summary)).tag(op.tag);
        for seg in op.path.split('/').filter(|s| s.starts_with('{')) {
            let name = seg.trim_matches(|c| c == '{' || c == '}');
            b = b.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)))),
            );
        }
        for (name, desc, kind) in op.query {
            b = b.parameter(
                ParameterBuilder::new()
                    .name(*name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(*desc))
                    .schema(Some(param_schema(*kind))),
            );
        }
        if op.id == "postWebhook" {
            b = b.parameter(
                ParameterBuilder::new()
                    .name("Stripe-Signature")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::True)
                    .description(Some("Stripe's signature of the body: t=…,v1=…"))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        if op.auth && op.method == HttpMethod::Post {
            b = b.parameter(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("Replays the first response for 24 h"))
                    .schema(Some(
                        ObjectBuilder::new().schema_type(Type::String).min_length(Some(1)).max_length(Some(255)),
                    )),
            );
        }
        if op.auth {
            b = b
                .security(SecurityRequirement::new("ChittyIdToken", Vec::<String>::new()))
                .security(SecurityRequirement::new("BearerToken", Vec::<String>::new()));
        }
        match op.request {
            Body::Json(s) => {
                b = b.request_body(Some(RequestBodyBuilder::new().content("application/json", json_content(s)).build()))
            }
            Body::AnyJson => {
                b = b.request_body(Some(RequestBodyBuilder::new().content("application/json", any_json()).build()))
            }
            Body::Form(s) => {
                b = b.request_body(Some(
                    RequestBodyBuilder::new()
                        .content("application/x-www-form-urlencoded", json_content(s))
                        .required(Some(Required::True))
                        .build(),
                ))
            }
            Body::None | Body::Html | Body::Text | Body::Report | Body::AnyJsonOrHtml => {}
        }
        let ok = match op.response {
            Body::Json(s) => {
                ResponseBuilder::new().description(reason(op.status)).content("application/json", json_content(s))
            }
            Body::AnyJson => {
                ResponseBuilder::new().description(reason(op.status)).content("application/json", any_json())
            }
            Body::Html => ResponseBuilder::new().description(reason(op.status)).content("text/html", text_content()),
            Body::AnyJsonOrHtml => ResponseBuilder::new()
                .description(reason(op.status))
                .content("application/json", any_json())
                .content("text/html", text_content()),
            Body::Report => ResponseBuilder::new()
                .description(reason(op.status))
                .content("application/json", any_json())
                .content("text/csv", text_content()),
            Body::Text => ResponseBuilder::new().description(reason(op.status)).content("text/plain", text_content()),
            Body::None | Body::Form(_) => ResponseBuilder::new().description(reason(op.status)),
        };
        let ok = if op.auth { with_rate_headers(ok) } else { ok };
        b = b.response(op.status.to_string(), ok.build());
        for code in op.errors {
            let resp = if op.tag == "pages" && *code == 303 {
                ResponseBuilder::new().description(reason(*code)).header(
                    "Location",
                    header_doc(Type::String, "Where to go: the sign-in page, or the page after the action"),
                )
            } else if op.tag == "pages" && *code == 404 {
                // An unknown id answers in the API's envelope; a known page's own 404 is HTML.
                ResponseBuilder::new()
                    .description(reason(*code))
                    .content("text/html", text_content())
                    .content("application/json", json_content("ErrorBody"))
            } else if op.tag == "pages" {
                ResponseBuilder::new().description(reason(*code)).content("text/html", text_content())
            } else {
                ResponseBuilder::new().description(reason(*code)).content("application/json", json_content("ErrorBody"))
            };
            let resp = if *code == 429 {
                resp.header("Retry-After", header_doc(Type::Integer, "Seconds until the next request fits"))
            } else {
                resp
            };
            b = b.response(code.to_string(), resp.build());
        }
        if op.id == "putProperty" {
            b = b.response(
                "200",
                ResponseBuilder::new()
                    .description("Updated")
                    .content("application/json", json_content("PropertyView"))
                    .build(),
            );
        }
        paths = paths.path(op.path, PathItem::new(op.method, b.build()));
    }
    let components = ComponentsBuilder::new()
        .security_scheme("ChittyIdToken", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("ChittyID-Token"))))
        .security_scheme("BearerToken", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
        .schema_from::<api::ErrorBody>()
        .schema_from::<api::Health>()
        .schema_from::<api::ComponentHealth>()
        .schema_from::<api::RegistryHealth>()
        .schema_from::<api::RefundView>()
        .schema_from::<api::RefundList>()
        .schema_from::<api::RefundResponse>()
        .schema_from::<api::RefundRequest>()
        .schema_from::<api::DisputeRecord>()
        .schema_from::<api::DisputeList>()
        .schema_from::<api::SimDisputeRequest>()
        .schema_from::<api::CreateHoldRequest>()
        .schema_from::<api::CreateHoldResponse>()
        .schema_from::<api::HoldView>()
        .schema_from::<api::HoldList>()
        .schema_from::<api::CaptureRequest>()
        .schema_from::<api::CaptureResponse>()
        .schema_from::<api::CancelRequest>()
        .schema_from::<api::CancelResponse>()
        .schema_from::<api::ConfirmRequest>()
        .schema_from::<api::IncrementRequest>()
        .schema_from::<api::EventView>()
        .schema_from::<api::EventList>()
        .schema_from::<api::OperationView>()
        .schema_from::<api::OperationList>()
        .schema_from::<api::ResolveRequest>()
        .schema_from::<api::ResolveResponse>()
        .schema_from::<api::JobCount>()
        .schema_from::<api::JobCounts>()
        .schema_from::<api::PropertyRequest>()
        .schema_from::<api::PropertyView>()
        .schema_from::<api::PropertyList>()
        .schema_from::<api::BookingRequest>()
        .schema_from::<api::BookingView>()
        .schema_from::<api::BookingList>()
        .schema_from::<api::ClaimView>()
        .schema_from::<api::AuthorizeRequest>()
        .schema_from::<api::AuthorizeResponse>()
        .schema_from::<api::DamageLine>()
        .schema_from::<api::CheckoutRequest>()
        .schema_from::<api::CheckoutResponse>()
        .schema_from::<api::ClaimRequest>()
        .schema_from::<api::NotificationView>()
        .schema_from::<api::NotificationList>()
        .schema_from::<api::WebhookAck>()
        .schema_from::<api::ClockRequest>()
        .schema_from::<api::ClockView>()
        .schema_from::<api::SimCard>()
        .schema_from::<api::SimPaymentMethodRequest>()
        .schema_from::<api::SimPaymentMethod>()
        .schema_from::<api::SimConfirmRequest>()
        .schema_from::<api::SimAuthenticateRequest>()
        .schema_from::<api::SimIntentStatus>()
        .schema_from::<api::SimIntentView>()
        .schema_from::<api::SimIntentList>()
        .schema_from::<api::LoginForm>()
        .schema_from::<api::schema::HoldStatusName>()
        .schema_from::<api::schema::TierName>()
        .schema_from::<api::schema::BookingStatusName>()
        .schema_from::<api::schema::OperationStatusName>()
        .schema_from::<api::schema::StringOrNumber>()
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("ChittyCharge")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Authorization holds for property rentals. Amounts are integer minor units.")),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

pub fn document() -> &'static OpenApi {
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    DOC.get_or_init(build)
}

pub async fn openapi_json() -> Response {
    let body = document().to_json().unwrap_or_else(|_| "{}".into());
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A readable page of every operation, rendered from the same document.
pub async fn docs_page() -> Response {
    let mut ops = Vec::new();
    for (path, item) in &document().paths.paths {
        for (method, op) in [("GET", &item.get), ("POST", &item.post)] {
            if let Some(op) = op {
                let codes: Vec<String> = op.responses.responses.keys().cloned().collect();
                ops.push(minijinja::context! {
                    method => method, path => path, summary => op.summary.clone().unwrap_or_default(),
                    tag => op.tags.clone().unwrap_or_default().join(", "), codes => codes.join(" "),
                    auth => op.security.is_some(),
                });
            }
        }
    }
    crate::web::render_docs(minijinja::context! { ops => ops })
}

#[cfg(test)]
mod tests;
