//! The shared (PostgreSQL) rate limit, one statement for many requests.
//!
//! Every request on PostgreSQL used to cost one statement of its own to
//! count it against its token, so a hold flow's three requests were three
//! of its 28 statements (bench/results.md, row (b)). Here, requests on one
//! key that arrive while that key's statement is in flight wait for the
//! next one, which decides all of them at once (`Store::rate_limit_gcra`
//! with `cells`): the first k of n pass, exactly as n statements one after
//! the other would have decided. Nothing is approximated and nothing is
//! held in memory between statements, so every instance still shares one
//! count. A request is counted even if its caller leaves while it waits.
//!
//! A request that finds its key idle makes the statement itself; the
//! requests that queue meanwhile are decided on a task of their own, never
//! on a request's future: a caller that disconnects strands nobody.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chittycharge_store::{Store, StoreError, StoreResult};
use tokio::sync::oneshot;

/// What one request is told: allowed, and the key's arrival time after it.
type Answer = StoreResult<(bool, i64)>;

/// A key with its GCRA parameters: requests with other parameters (a
/// token whose limit just changed) go in a batch of their own.
type Slot = (String, i64, i64);

/// A request waiting for its slot's next statement: when it came, and
/// where its answer goes.
type Waiter = (i64, oneshot::Sender<Answer>);

pub struct Coalesced {
    store: Arc<dyn Store>,
    /// Requests waiting for their key's next statement. A slot is present
    /// while its statement is in flight (a request's own, or a task's).
    waiting: Mutex<HashMap<Slot, Vec<Waiter>>>,
}

impl Coalesced {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self { store, waiting: Mutex::default() })
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<Slot, Vec<Waiter>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One request on `key` at `now_us`: whether it passes, and the key's
    /// theoretical arrival time after it. A request that finds its slot
    /// idle makes the statement itself (no task, no channel: the common
    /// case at low load); the ones that arrive meanwhile wait for the next.
    pub async fn hit(self: &Arc<Self>, key: &str, now_us: i64, interval: i64, tolerance: i64) -> Answer {
        let slot = (key.to_string(), interval, tolerance);
        let waiting = {
            let mut waiting = self.waiting();
            match waiting.get_mut(&slot) {
                Some(queue) => {
                    let (tx, rx) = oneshot::channel();
                    queue.push((now_us, tx));
                    Some(rx)
                }
                None => {
                    waiting.insert(slot.clone(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiting {
            return rx.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the rate limiter stopped".into())));
        }
        // Hands the slot on when this request is done, or dropped half-way.
        let _handover = Handover { limiter: self.clone(), slot };
        let (passed, tat) = self.store.rate_limit_gcra(key, now_us, interval, tolerance, 1).await?;
        Ok((passed >= 1, tat))
    }

    /// Decides the slot's waiting requests, a statement per batch, until
    /// none is left.
    async fn decide(self: Arc<Self>, slot: Slot) {
        let (key, interval, tolerance) = &slot;
        loop {
            let batch = {
                let mut waiting = self.waiting();
                match waiting.get_mut(&slot) {
                    Some(queue) if !queue.is_empty() => std::mem::take(queue),
                    _ => {
                        waiting.remove(&slot);
                        return;
                    }
                }
            };
            let now = batch.iter().map(|(at, _)| *at).max().unwrap_or(0);
            let cells = u32::try_from(batch.len()).unwrap_or(u32::MAX);
            match self.store.rate_limit_gcra(key, now, *interval, *tolerance, cells).await {
                Ok((passed, tat)) => {
                    let passed = usize::try_from(passed).unwrap_or(0);
                    for (i, (_, tx)) in batch.into_iter().enumerate() {
                        // The i-th passing request's cell ends `passed - 1 - i`
                        // intervals before the last one's.
                        let behind = i64::try_from(passed.saturating_sub(i + 1)).unwrap_or(0);
                        let answer = if i < passed { (true, tat - behind * interval) } else { (false, tat) };
                        let _ = tx.send(Ok(answer));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for (_, tx) in batch {
                        let _ = tx.send(Err(StoreError::Unavailable(message.clone())));
                    }
                }
            }
        }
    }
}

/// The slot of a request that made its own statement: on drop, the
/// requests that queued meanwhile get a task that decides them.
struct Handover {
    limiter: Arc<Coalesced>,
    slot: Slot,
}

impl Drop for Handover {
    fn drop(&mut self) {
        let mut waiting = self.limiter.waiting();
        if waiting.get(&self.slot).is_some_and(|queue| !queue.is_empty()) {
            drop(waiting);
            // Outside a runtime (shutting down) the waiters' senders are
            // dropped with the slot, and they are told the limiter stopped.
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(self.limiter.clone().decide(self.slot.clone()));
                }
                Err(_) => {
                    self.limiter.waiting().remove(&self.slot);
                }
            }
        } else {
            waiting.remove(&self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use chittycharge_store::SqlStore;

    use super::*;

    async fn limiter() -> Arc<Coalesced> {
        let path = std::env::temp_dir().join(format!("cc-coalesce-{}.db", uuid::Uuid::new_v4()));
        let store = SqlStore::connect(&format!("sqlite://{}", path.display())).await.expect("sqlite store");
        Coalesced::new(Arc::new(store))
    }

    /// 10 a minute, 30 at once: exactly the burst passes, each passing one
    /// is told its own arrival time, and the refused ones the key's.
    #[tokio::test]
    async fn requests_racing_on_one_key_pass_exactly_the_burst() {
        let limiter = limiter().await;
        let (interval, tolerance, now) = (6_000_000, 54_000_000, 1_700_000_000_000_000);
        let hits = (0..30).map(|_| {
            let l = limiter.clone();
            tokio::spawn(async move { l.hit("tok", now, interval, tolerance).await.expect("decided") })
        });
        let mut passed = Vec::new();
        for h in hits {
            let (ok, tat) = h.await.expect("task");
            if ok {
                passed.push(tat);
            } else {
                assert_eq!(tat, now + 10 * interval, "a refusal names the arrival time after the burst");
            }
        }
        passed.sort_unstable();
        let expected: Vec<i64> = (1..=10).map(|i| now + i * interval).collect();
        assert_eq!(passed, expected, "one cell each, none twice");
        assert!(limiter.waiting().is_empty(), "nothing is left waiting");
    }

    /// Callers that give up while they wait strand nobody: the others get
    /// their answers and the key takes new requests.
    #[tokio::test]
    async fn callers_leaving_half_way_strand_nobody() {
        let limiter = limiter().await;
        let (interval, tolerance, now) = (6_000_000, 54_000_000, 1_700_000_000_000_000);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let l = limiter.clone();
                tokio::spawn(async move { l.hit("tok", now, interval, tolerance).await })
            })
            .collect();
        for t in tasks.iter().step_by(2) {
            t.abort();
        }
        let mut answered = 0;
        for t in tasks {
            if let Ok(answer) = t.await {
                answer.expect("decided");
                answered += 1;
            }
        }
        assert!(answered >= 10, "every caller that stayed has its answer");
        limiter.hit("tok", now, interval, tolerance).await.expect("a later request is decided");
        assert!(limiter.waiting().is_empty(), "nothing is left waiting");
    }

    /// The request making its key's statement goes away mid-statement:
    /// those queued behind it are still decided.
    #[tokio::test]
    async fn the_request_making_the_statement_leaving_strands_nobody() {
        let limiter = limiter().await;
        let (interval, tolerance, now) = (6_000_000, 54_000_000, 1_700_000_000_000_000);
        let hit = || {
            let l = limiter.clone();
            tokio::spawn(async move { l.hit("tok", now, interval, tolerance).await })
        };
        let leader = hit();
        tokio::task::yield_now().await;
        let followers: Vec<_> = (0..5).map(|_| hit()).collect();
        tokio::task::yield_now().await;
        leader.abort();
        for f in followers {
            let answer = tokio::time::timeout(std::time::Duration::from_secs(10), f).await;
            answer.expect("answered, not stranded").expect("task").expect("decided");
        }
        assert!(limiter.waiting().is_empty(), "nothing is left waiting");
    }
}
