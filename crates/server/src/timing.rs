//! `Server-Timing` on every response, when `CHITTYCHARGE_SERVER_TIMING` is
//! on (a benchmark hook, off by default: it tells a caller how long we
//! waited on others). A request's time is split into what it spent waiting
//! on the processor and on ChittyID, measured where those calls are made
//! (`observe::Metered`, `chittyid.rs`), and the rest, which is
//! ChittyCharge's own: `bench/run.sh` reports that share of a create.
//!
//! The waits are summed in a task-local cell that the request middleware
//! sets up; `protect::edge::guard` carries it into the task a mutating request
//! runs in. Outside a request (jobs, the janitor) nothing is recorded.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderValue;

/// One request's time spent waiting on others, in microseconds.
#[derive(Debug, Default)]
pub struct Waits {
    processor_us: AtomicU64,
    chittyid_us: AtomicU64,
}

tokio::task_local! {
    static WAITS: Arc<Waits>;
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Counts `d` as time spent waiting on the processor.
pub fn processor(d: Duration) {
    let _ = WAITS.try_with(|w| w.processor_us.fetch_add(micros(d), Ordering::Relaxed));
}

/// Counts `d` as time spent waiting on ChittyID.
pub fn chittyid(d: Duration) {
    let _ = WAITS.try_with(|w| w.chittyid_us.fetch_add(micros(d), Ordering::Relaxed));
}

/// The current request's cell, to carry into a task it spawns.
pub fn current() -> Option<Arc<Waits>> {
    WAITS.try_with(Arc::clone).ok()
}

/// Runs `f` with `waits` as its request's cell.
pub async fn scope<F: std::future::Future>(waits: Arc<Waits>, f: F) -> F::Output {
    WAITS.scope(waits, f).await
}

fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

impl Waits {
    /// The header value: `total` (the whole request, as the service timed
    /// it), `processor`, `chittyid` and `app`, what is left, all in ms.
    pub fn header(&self, total: Duration) -> HeaderValue {
        let total = micros(total);
        let processor = self.processor_us.load(Ordering::Relaxed);
        let chittyid = self.chittyid_us.load(Ordering::Relaxed);
        let app = total.saturating_sub(processor).saturating_sub(chittyid);
        let value = format!(
            "total;dur={}, processor;dur={}, chittyid;dur={}, app;dur={}",
            ms(total),
            ms(processor),
            ms(chittyid),
            ms(app)
        );
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("total"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_inside_a_request_are_split_from_its_own_time() {
        let waits = Arc::new(Waits::default());
        scope(waits.clone(), async {
            processor(Duration::from_micros(3_250));
            chittyid(Duration::from_micros(500));
            processor(Duration::from_micros(750));
        })
        .await;
        // Outside any request nothing is counted, and nothing fails.
        processor(Duration::from_secs(1));
        assert_eq!(
            waits.header(Duration::from_micros(6_001)),
            "total;dur=6.001, processor;dur=4.000, chittyid;dur=0.500, app;dur=1.501"
        );
    }
}
