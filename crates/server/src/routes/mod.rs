//! The route table: every path the service answers, in one place.

mod bookings;
pub(crate) mod disputes;
pub(crate) mod health;
pub(crate) mod holds;
mod operations;
mod properties;
pub(crate) mod reports;
mod sim;
pub(crate) mod webhook;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/health", get(health::health))
        .route("/livez", get(health::livez))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::observe::metrics_api))
        .route("/webhook", post(webhook::stripe_webhook))
        .route("/api/holds", post(holds::create::create_hold).get(holds::read::list_holds))
        .route("/api/holds/by-chitty-id/{chitty_id}", get(holds::read::get_hold_by_chitty_id))
        .route("/api/holds/{id}", get(holds::read::get_hold))
        .route("/api/holds/{id}/events", get(holds::read::list_events))
        .route("/api/holds/{id}/confirm", post(holds::actions::confirm_hold))
        .route("/api/holds/{id}/capture", post(holds::actions::capture_hold))
        .route("/api/holds/{id}/cancel", post(holds::actions::cancel_hold))
        // chittycommand's client releases with /release; same as /cancel.
        .route("/api/holds/{id}/release", post(holds::actions::cancel_hold))
        .route("/api/holds/{id}/increment", post(holds::actions::increment_hold))
        .route("/api/holds/{id}/refunds", post(holds::refunds::refund_hold).get(holds::refunds::list_refunds))
        .route("/api/holds/{id}/dispute", get(disputes::hold_disputes))
        .route("/api/holds/{id}/dispute/evidence", get(disputes::evidence))
        .route("/api/holds/{id}/dispute/submit", post(disputes::submit))
        .route("/api/disputes", get(disputes::open_disputes))
        .route("/api/bookings", post(bookings::create_booking).get(bookings::list_bookings))
        .route("/api/bookings/{id}", get(bookings::get_booking))
        .route("/api/bookings/{id}/authorize", post(bookings::authorize_booking))
        .route("/api/bookings/{id}/checkout", post(bookings::checkout_booking))
        .route("/api/bookings/{id}/claims", post(bookings::claim_booking))
        .route("/api/notifications", get(bookings::list_notifications))
        .route("/api/operations/stuck", get(operations::stuck_operations))
        .route("/api/operations/{id}", get(operations::get_operation))
        .route("/api/operations/{id}/resolve", post(operations::resolve_operation))
        .route("/api/jobs", get(operations::job_counts))
        .route("/api/properties", post(properties::put_property).get(properties::list_properties))
        .route("/api/properties/{id}", get(properties::get_property))
        .route("/api/reports/holds", get(reports::holds_report))
        .route("/api/reports/claims", get(reports::claims_report))
        .route("/_sim/payment_methods", post(sim::create_payment_method))
        .route("/_sim/payment_intents", get(sim::list_intents))
        .route("/_sim/payment_intents/{id}", get(sim::inspect_intent))
        .route("/_sim/payment_intents/{id}/confirm", post(sim::confirm_intent))
        .route("/_sim/payment_intents/{id}/authenticate", post(sim::authenticate_intent))
        .route("/_sim/payment_intents/{id}/dispute", post(sim::dispute_intent))
        .route("/_sim/clock", get(sim::get_clock).post(sim::advance_clock))
        .route("/openapi.json", get(crate::openapi::openapi_json))
        .route("/docs", get(crate::openapi::docs_page))
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
}

/// Unknown paths and wrong methods: 404 with the envelope, as the original.
async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}
