//! Time as a dependency. Production reads the system clock; tests and the
//! simulated processor's test mode use [`TestClock`], which can be advanced
//! explicitly so expiry and scheduled work are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chittycharge_domain::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

fn system_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(system_millis())
    }
}

/// The system clock plus an offset that tests can move forward.
#[derive(Debug, Default)]
pub struct TestClock {
    offset_ms: AtomicI64,
}

impl TestClock {
    pub fn advance_secs(&self, secs: i64) -> Timestamp {
        self.offset_ms.fetch_add(secs.saturating_mul(1000), Ordering::SeqCst);
        self.now()
    }
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(system_millis().saturating_add(self.offset_ms.load(Ordering::SeqCst)))
    }
}
