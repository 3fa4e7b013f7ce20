//! The pages people use: the guest check-in page and the manager console.
//! Server-rendered minijinja templates and two small scripts, all embedded
//! in the binary; nothing is loaded from a CDN except Stripe.js in Stripe
//! mode.

mod checkin;
mod checkin_state;
mod console;
mod console_after;
pub(crate) mod evidence;
mod session;

use std::sync::{Arc, OnceLock};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;

use crate::state::AppState;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", include_str!("templates/base.html")),
            ("checkin.html", include_str!("templates/checkin.html")),
            ("login.html", include_str!("templates/login.html")),
            ("holds.html", include_str!("templates/holds.html")),
            ("hold.html", include_str!("templates/hold.html")),
            ("table.html", include_str!("templates/table.html")),
            ("docs.html", include_str!("templates/docs.html")),
            ("evidence.html", include_str!("templates/evidence.html")),
        ] {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Renders a template; a rendering failure is a logged, opaque 500.
pub(crate) fn render(name: &str, ctx: minijinja::Value) -> Response {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => {
            let mut r = Html(html).into_response();
            let h = r.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert("x-frame-options", HeaderValue::from_static("DENY"));
            // Same-origin only: links out (evidence photos) carry no
            // referrer, while our own form posts keep a real `Origin`.
            h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
            r
        }
        Err(e) => {
            tracing::error!(template = name, error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error").into_response()
        }
    }
}

pub(crate) fn render_docs(ctx: minijinja::Value) -> Response {
    render("docs.html", ctx)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    r
}

async fn css() -> Response {
    asset(include_str!("assets/app.css"), "text/css; charset=utf-8")
}
async fn checkin_js() -> Response {
    asset(include_str!("assets/checkin.js"), "application/javascript; charset=utf-8")
}
async fn console_js() -> Response {
    asset(include_str!("assets/console.js"), "application/javascript; charset=utf-8")
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/assets/app.css", get(css))
        .route("/assets/checkin.js", get(checkin_js))
        .route("/assets/console.js", get(console_js))
        .route("/checkin/{id}", get(checkin::page))
        .route("/console", get(session::home))
        .route("/console/login", post(session::login))
        .route("/console/logout", post(session::logout))
        .route("/console/holds", get(console::holds))
        .route("/console/holds/{id}", get(console::hold))
        .route("/console/holds/{id}/capture", post(console::capture))
        .route("/console/holds/{id}/release", post(console::release))
        .route("/console/holds/{id}/increment", post(console::increment))
        .route("/console/holds/{id}/refund", post(console::refund))
        .route("/console/bookings", get(console::bookings))
        .route("/console/notifications", get(console::notifications))
        .route("/console/disputes", get(console_after::disputes))
        .route("/console/holds/{id}/evidence", get(console_after::evidence))
        .route("/console/reports", get(console_after::report))
}
