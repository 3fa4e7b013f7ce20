//! Metrics (Prometheus text at `/metrics`) and per-request tracing.
//!
//! Counters and histograms are recorded where things happen: HTTP requests
//! in a middleware, processor calls in a decorator around the processor,
//! webhooks, jobs and rate limits at their call sites. `holds by state` is
//! read from the store at scrape time, so it is right across instances.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use chittycharge_domain::HoldStatus;
use chittycharge_processor::{CreateIntent, IdempotencyKey, Intent, Processor, ProcessorError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::state::AppState;

/// The process-wide recorder; installed once.
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match latency_buckets(PrometheusBuilder::new()).install_recorder() {
            Ok(h) => {
                describe();
                Some(h)
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics recorder not installed");
                None
            }
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
pub const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds the histograms' raw samples into their buckets every few seconds.
/// The recorder keeps every sample it is given until a scrape or an upkeep
/// folds it: without this a server nobody scrapes grew by about 20 bytes a
/// request (measured: 13 MB per 630,000 requests), for ever.
pub async fn upkeep(mut stop: tokio::sync::watch::Receiver<bool>, period: std::time::Duration) {
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        if let Some(h) = recorder() {
            h.run_upkeep();
        }
    }
}

/// Latencies as histograms (aggregatable across instances, unlike
/// summaries), with buckets from a millisecond to half a minute: HTTP
/// answers and processor calls both fall in that range.
fn latency_buckets(b: PrometheusBuilder) -> PrometheusBuilder {
    const BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
    match b.set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Suffix("_duration_seconds".into()), &BUCKETS) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "latency buckets not set");
            PrometheusBuilder::new()
        }
    }
}

/// HELP text for every metric family, and the build it comes from.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("chittycharge_http_requests_total", "HTTP requests answered, by route, method and status.");
    describe_histogram!(
        "chittycharge_http_request_duration_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by route and method."
    );
    describe_gauge!("chittycharge_holds", "Holds in the store, by state.");
    describe_gauge!(
        "chittycharge_holds_past_capture_deadline",
        "Holds still requires_capture whose capture_before has passed (the expiry backlog)."
    );
    describe_gauge!(
        "chittycharge_operations_stuck",
        "Unsettled processor operations that used up the janitor's schedule (`chittycharge operations stuck`)."
    );
    describe_counter!(
        "chittycharge_processor_calls_total",
        "Calls to the payment processor, by operation and outcome."
    );
    describe_histogram!(
        "chittycharge_processor_call_duration_seconds",
        Unit::Seconds,
        "Time the payment processor took to answer, by operation."
    );
    describe_counter!("chittycharge_webhook_events_total", "Processor webhook events received, by type and result.");
    describe_counter!("chittycharge_job_runs_total", "Background job runs, by kind and status.");
    describe_counter!("chittycharge_job_runner_restarts_total", "Times the job runner was restarted after a panic.");
    describe_counter!("chittycharge_rate_limit_rejections_total", "Requests refused by a rate limit, by kind.");
    describe_counter!(
        "chittycharge_chittyid_mints_total",
        "ChittyID mints, by result (skipped: the circuit breaker was open)."
    );
    describe_counter!(
        "chittycharge_connections_refused_total",
        "Connections closed at once because the limit was full."
    );
    describe_counter!("chittycharge_log_write_errors_total", "Log lines that could not be written.");
    describe_counter!("chittycharge_store_writes_total", "Durable writes to the store, by operation (SQLite).");
    describe_counter!("chittycharge_store_wal_flushes_total", "Write-ahead-log flushes (SQLite group commit).");
    describe_gauge!("chittycharge_build_info", "The running build: version and git commit (always 1).");
    metrics::gauge!(
        "chittycharge_build_info",
        "version" => env!("CARGO_PKG_VERSION"),
        "git_sha" => env!("CHITTYCHARGE_GIT_SHA")
    )
    .set(1.0);
}

/// The HTTP methods we label metrics with; anything else is `OTHER`, so a
/// client cannot grow the metrics registry by inventing methods.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// The request's route template (`/api/holds/{id}`, or "unmatched") as a
/// `&'static str`. Holding the request's `MatchedPath` (an `Arc<str>` every
/// request on the route shares) until the response meant two atomic
/// operations on a line both worker threads write. Templates are a finite
/// set fixed when the router is built, so each is kept once for the process.
fn route_label(req: &Request) -> &'static str {
    let Some(path) = req.extensions().get::<MatchedPath>() else { return "unmatched" };
    thread_local! {
        static LOCAL: std::cell::RefCell<rustc_hash::FxHashMap<Box<str>, &'static str>> = std::cell::RefCell::default();
    }
    LOCAL.with_borrow_mut(|local| {
        if let Some(label) = local.get(path.as_str()) {
            return *label;
        }
        static ALL: std::sync::Mutex<rustc_hash::FxHashSet<&'static str>> =
            std::sync::Mutex::new(rustc_hash::FxHashSet::with_hasher(rustc_hash::FxBuildHasher));
        let mut all = ALL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let label = match all.get(path.as_str()) {
            Some(label) => *label,
            None => {
                let label: &'static str = Box::leak(path.as_str().into());
                all.insert(label);
                label
            }
        };
        local.insert(path.as_str().into(), label);
        label
    })
}

/// Metric handles per (route, method, status), looked up once: the `metrics`
/// macros build and hash a label set on every call, which showed up in the
/// read path's profile. Bounded, because routes are the router's templates
/// (or "unmatched"), methods are [`method_label`] and statuses are numbers.
fn record_http(route: &'static str, method: &'static str, status: u16, seconds: f64) {
    // Per worker thread, so a hit takes no lock and touches no cache line
    // another thread writes (a shared `RwLock`'s reader count did). The
    // handles themselves are shared: each thread's copy records into the
    // same series.
    type Handles =
        rustc_hash::FxHashMap<&'static str, Vec<((&'static str, u16), (metrics::Counter, metrics::Histogram))>>;
    thread_local! {
        static CACHE: std::cell::RefCell<Handles> = std::cell::RefCell::default();
    }
    CACHE.with_borrow_mut(|cache| {
        let by = cache.entry(route).or_default();
        if let Some((_, (requests, duration))) = by.iter().find(|(k, _)| *k == (method, status)) {
            // Recorded through the borrow: cloning a handle is an atomic
            // on a count both threads share.
            requests.increment(1);
            duration.record(seconds);
            return;
        }
        let counter = metrics::counter!("chittycharge_http_requests_total", "route" => route, "method" => method, "status" => status.to_string());
        let histogram = metrics::histogram!("chittycharge_http_request_duration_seconds", "route" => route, "method" => method);
        counter.increment(1);
        histogram.record(seconds);
        by.push(((method, status), (counter, histogram)));
    })
}

/// A request id from the client if it is reasonable (1–128 visible ASCII
/// characters), otherwise a new UUID v4. The random bytes come from the
/// thread-local generator: a `getrandom` system call per request (as
/// `MakeRequestUuid` does) showed up in the profile.
fn request_id(headers: &axum::http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic()) {
            return v.clone();
        }
    }
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = uuid::Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buf)).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// Parsed once: inserting by a `&str` name parses it on every call.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The outermost part of the edge (`protect::edge`), once per request:
/// accepts or makes the request id, opens the span every log line of the
/// request carries, records the request's metrics and echoes the id.
pub(crate) async fn around<F, Fut>(state: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    // Carried by the span (every log line of the request) and echoed on the
    // response; nothing downstream reads it from the request, so it is not
    // written back into the request's headers.
    let id = request_id(req.headers());
    let route = route_label(&req);
    let method = method_label(req.method());
    let span = tracing::info_span!("request", request_id = %String::from_utf8_lossy(id.as_bytes()), method = %method, path = %req.uri().path());
    let start = Instant::now();
    let waits = state.config.server_timing.then(|| Arc::new(crate::timing::Waits::default()));
    let resp = match &waits {
        Some(w) => crate::timing::scope(w.clone(), inner(req).instrument(span.clone())).await,
        None => inner(req).instrument(span.clone()).await,
    };
    let mut resp = crate::protect::secure(resp).await;
    // The durability barrier: nothing this request (or any other) wrote is
    // shown to the client before it is on disk (store/src/durable.rs).
    if let Err(e) = state.holds.barrier().await {
        span.in_scope(|| tracing::error!(error = %e, "the store could not flush; the response is withheld"));
        resp = crate::error::ApiError::from(e).into_response();
    }
    let elapsed = start.elapsed();
    let status = resp.status();
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms = elapsed.as_millis(), "request failed");
        } else {
            tracing::debug!(status = status.as_u16(), latency_ms = elapsed.as_millis(), "request finished");
        }
    });
    record_http(route, method, status.as_u16(), elapsed.as_secs_f64());
    resp.headers_mut().insert(REQUEST_ID, id);
    if let Some(w) = waits {
        resp.headers_mut().insert(header::HeaderName::from_static("server-timing"), w.header(elapsed));
    }
    resp
}

/// `/metrics` on the API port: absent when it has its own listen address
/// (`CHITTYCHARGE_METRICS_LISTEN`), open when `CHITTYCHARGE_METRICS_PUBLIC`,
/// otherwise for admin tokens only.
pub async fn metrics_api(
    State(state): State<Arc<AppState>>,
    caller: Option<axum::Extension<chittycharge_core::Caller>>,
) -> Response {
    use axum::response::IntoResponse;
    if state.config.edge.metrics_listen.is_some() {
        return crate::error::ApiError::RouteNotFound.into_response();
    }
    if !state.config.edge.metrics_public {
        if let Err(e) = caller.map_or(Err(chittycharge_core::CoreError::NotFound), |c| c.require_admin("Metrics")) {
            return crate::error::ApiError::from(e).into_response();
        }
    }
    metrics_endpoint(State(state)).await
}

pub async fn metrics_endpoint(State(state): State<Arc<AppState>>) -> Response {
    if let Ok(counts) = state.store.count_holds_by_status().await {
        let mut by: BTreeMap<&str, i64> = HoldStatus::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        for (s, n) in &counts {
            if let Some(v) = by.get_mut(s.as_str()) {
                *v = *n;
            }
        }
        for (s, n) in by {
            #[expect(
                clippy::as_conversions,
                clippy::cast_precision_loss,
                reason = "a gauge of hold counts; f64 is exact far beyond any real count"
            )]
            metrics::gauge!("chittycharge_holds", "state" => s).set(n as f64);
        }
    }
    let now = state.holds.now();
    if let Ok(n) = state.store.count_holds_past_deadline(now).await {
        #[expect(
            clippy::as_conversions,
            clippy::cast_precision_loss,
            reason = "a count; f64 is exact far beyond any real count"
        )]
        metrics::gauge!("chittycharge_holds_past_capture_deadline").set(n as f64);
    }
    let min_attempts = i64::try_from(state.config.janitor_schedule.len()).unwrap_or(i64::MAX - 1) + 1;
    let stale = now.plus_millis(-chittycharge_core::operations::STALE_PENDING_MS);
    // Capped: past a thousand the number only says "many", and the scrape
    // must stay cheap.
    if let Ok(stuck) = state.store.stuck_operations(min_attempts, stale, 1_000).await {
        #[expect(clippy::as_conversions, clippy::cast_precision_loss, reason = "at most 1000")]
        metrics::gauge!("chittycharge_operations_stuck").set(stuck.len() as f64);
    }
    let body = recorder().map(PrometheusHandle::render).unwrap_or_default();
    let mut r = body.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

fn outcome<T>(r: &Result<T, ProcessorError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(ProcessorError::Declined { .. }) => "declined",
        Err(ProcessorError::NotFound { .. }) => "not_found",
        Err(ProcessorError::InvalidState { .. }) => "invalid_state",
        Err(ProcessorError::InvalidRequest { .. }) => "invalid_request",
        Err(ProcessorError::IdempotencyConflict { .. }) => "idempotency_conflict",
        Err(ProcessorError::Unavailable { .. }) => "unknown_outcome",
        Err(ProcessorError::Misconfigured { .. }) => "misconfigured",
    }
}

/// Wraps a processor and records every call's operation, outcome and latency.
pub struct Metered(pub Arc<dyn Processor>);

async fn timed<T>(
    op: &'static str,
    name: &'static str,
    f: impl std::future::Future<Output = Result<T, ProcessorError>>,
) -> Result<T, ProcessorError> {
    let start = Instant::now();
    let r = f.await;
    crate::timing::processor(start.elapsed());
    metrics::counter!("chittycharge_processor_calls_total", "processor" => name, "operation" => op, "outcome" => outcome(&r)).increment(1);
    metrics::histogram!("chittycharge_processor_call_duration_seconds", "processor" => name, "operation" => op)
        .record(start.elapsed().as_secs_f64());
    r
}

#[async_trait]
impl Processor for Metered {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn outside_process(&self) -> bool {
        self.0.outside_process()
    }
    async fn create(&self, req: &CreateIntent, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        timed("create", self.0.name(), self.0.create(req, key)).await
    }
    async fn confirm(&self, id: &str, payment_method: &str, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        timed("confirm", self.0.name(), self.0.confirm(id, payment_method, key)).await
    }
    async fn retrieve(&self, id: &str) -> Result<Intent, ProcessorError> {
        timed("retrieve", self.0.name(), self.0.retrieve(id)).await
    }
    async fn capture(&self, id: &str, amount: Option<i64>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        timed("capture", self.0.name(), self.0.capture(id, amount, key)).await
    }
    async fn cancel(&self, id: &str, reason: Option<&str>, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        timed("cancel", self.0.name(), self.0.cancel(id, reason, key)).await
    }
    async fn increment(&self, id: &str, new_total: i64, key: &IdempotencyKey) -> Result<Intent, ProcessorError> {
        timed("increment", self.0.name(), self.0.increment(id, new_total, key)).await
    }
    async fn refund(
        &self,
        id: &str,
        amount: i64,
        reason: Option<&str>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        timed("refund", self.0.name(), self.0.refund(id, amount, reason, key)).await
    }
    async fn retrieve_dispute(&self, id: &str) -> Result<chittycharge_processor::DisputeView, ProcessorError> {
        timed("retrieve_dispute", self.0.name(), self.0.retrieve_dispute(id)).await
    }
    async fn submit_dispute_evidence(
        &self,
        id: &str,
        evidence: &std::collections::BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<chittycharge_processor::DisputeView, ProcessorError> {
        timed("submit_dispute_evidence", self.0.name(), self.0.submit_dispute_evidence(id, evidence, key)).await
    }
    async fn list_by_source(&self, source: &str) -> Result<Vec<Intent>, ProcessorError> {
        timed("list", self.0.name(), self.0.list_by_source(source)).await
    }
    async fn update_metadata(
        &self,
        id: &str,
        metadata: &BTreeMap<String, String>,
        key: &IdempotencyKey,
    ) -> Result<Intent, ProcessorError> {
        timed("update_metadata", self.0.name(), self.0.update_metadata(id, metadata, key)).await
    }
    async fn create_customer(&self, email: Option<&str>, key: &IdempotencyKey) -> Result<String, ProcessorError> {
        timed("create_customer", self.0.name(), self.0.create_customer(email, key)).await
    }
    async fn ping(&self) -> Result<(), ProcessorError> {
        self.0.ping().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_show_up_in_the_rendered_text() {
        let h = super::recorder().expect("recorder");
        metrics::counter!("chittycharge_test_total", "k" => "v").increment(2);
        let text = h.render();
        assert!(text.contains("chittycharge_test_total{k=\"v\"} 2"), "{text}");
    }

    #[tokio::test]
    async fn upkeep_folds_samples_into_buckets_without_losing_any_and_stops_when_told() {
        let h = super::recorder().expect("recorder");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(super::upkeep(stopped, std::time::Duration::from_millis(20)));
        for _ in 0..5 {
            metrics::histogram!("chittycharge_upkeep_test_duration_seconds").record(0.002);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        metrics::histogram!("chittycharge_upkeep_test_duration_seconds").record(0.002);
        let text = h.render();
        assert!(text.contains("chittycharge_upkeep_test_duration_seconds_count 6"), "{text}");
        assert!(text.contains("chittycharge_upkeep_test_duration_seconds_bucket{le=\"0.0025\"} 6"), "{text}");
        stop.send(true).expect("upkeep is listening");
        tokio::time::timeout(std::time::Duration::from_secs(1), task).await.expect("upkeep stops").expect("no panic");
    }
}
