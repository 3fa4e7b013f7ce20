//! `GET /checkin/{hold_id}?cs=<client_secret>`: the guest's page. The client
//! secret in the link is the guest's credential; without it the page is 404.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::render;
use crate::config::ProcessorKind;
use crate::error::ApiError;
use crate::state::AppState;
use crate::views::disclosure;
use crate::web::checkin_state::checkin_state;

#[derive(Deserialize)]
pub(super) struct Q {
    cs: Option<String>,
}

pub(super) async fn page(State(state): State<Arc<AppState>>, Path(id): Path<String>, Query(q): Query<Q>) -> Response {
    let Ok(Some(hold)) = state.store.get_hold(&id).await else { return ApiError::RouteNotFound.into_response() };
    let expected = hold.client_secret.clone().unwrap_or_default();
    let given = q.cs.unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return ApiError::RouteNotFound.into_response();
    }
    let hold = state.holds.refresh_if_lapsed(hold.clone()).await.unwrap_or(hold);
    let place = match &hold.property_id {
        Some(p) => {
            state.store.get_property(p).await.ok().flatten().map(|p| p.name).unwrap_or_else(|| hold.description.clone())
        }
        None => hold.description.clone(),
    };
    let view = checkin_state(&hold);
    let stripe = state.config.processor == ProcessorKind::Stripe;
    let mut page = render(
        "checkin.html",
        minijinja::context! {
            console => false,
            hold_id => hold.id,
            client_secret => given,
            place => place,
            amount => hold.amount.to_string(),
            disclosure => disclosure(&hold),
            stage => view.stage,
            headline => view.headline,
            facts => view.facts,
            mode => if stripe { "stripe" } else { "simulated" },
            stripe_key => if stripe { state.config.stripe_publishable_key.clone().unwrap_or_default() } else { String::new() },
            stripe_js_url => state.config.stripe_js_url.as_str(),
        },
    );
    if stripe {
        if let Ok(csp) = axum::http::HeaderValue::from_str(&stripe_csp(&state.config.stripe_js_url)) {
            page.headers_mut().insert(axum::http::header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    page
}

/// Stripe.js and its frames (card fields, 3-D Secure), nothing else. The
/// script's own origin is allowed to be fetched and framed too, so that a
/// configured stand-in (`STRIPE_JS_URL`) works exactly as Stripe's does.
fn stripe_csp(js: &url::Url) -> String {
    let origin = js.origin().ascii_serialization();
    format!(
        "default-src 'self'; script-src 'self' {origin}; style-src 'self'; \
         img-src 'self' data: https://*.stripe.com; connect-src 'self' https://api.stripe.com {origin}; \
         frame-src {origin} https://js.stripe.com https://hooks.stripe.com; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stripes_own_script_gives_stripes_policy() {
        let csp = super::stripe_csp(&url::Url::parse("https://js.stripe.com/v3/").unwrap());
        assert!(csp.contains("script-src 'self' https://js.stripe.com;"), "{csp}");
        assert!(csp.contains("connect-src 'self' https://api.stripe.com https://js.stripe.com;"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
    }

    #[test]
    fn a_stand_in_script_is_allowed_from_its_origin_only() {
        let csp = super::stripe_csp(&url::Url::parse("http://127.0.0.1:8420/js.stripe.com/v3/").unwrap());
        assert!(csp.contains("script-src 'self' http://127.0.0.1:8420;"), "{csp}");
        assert!(csp.contains("connect-src 'self' https://api.stripe.com http://127.0.0.1:8420;"), "{csp}");
    }
}
