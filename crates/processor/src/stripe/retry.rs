//! When to retry a Stripe call. A pure function, table-tested, so the
//! policy can be read in one place: connection failures, timeouts, 409
//! (a concurrent request with the same idempotency key), 429 and 5xx are
//! retried under the *same* idempotency key; other 4xx never are.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// No HTTP response (connect error, reset, timeout).
    NoResponse,
    Status {
        code: u16,
        should_retry: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Done,
    RetryAfter(Duration),
    /// Out of attempts; the outcome of a mutating call is unknown.
    GiveUp,
}

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 4, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(5) }
    }
}

impl RetryPolicy {
    /// `attempt` counts from 1 for the call that just finished.
    pub fn decide(&self, outcome: Attempt, attempt: u32) -> Decision {
        let retryable = match outcome {
            Attempt::NoResponse => true,
            // Stripe's explicit advice wins when it gives one.
            Attempt::Status { should_retry: Some(advice), code } => advice && code != 200,
            Attempt::Status { code, should_retry: None } => code == 409 || code == 429 || code >= 500,
        };
        if !retryable {
            return Decision::Done;
        }
        if attempt >= self.max_attempts {
            return Decision::GiveUp;
        }
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        Decision::RetryAfter(self.base_delay.saturating_mul(factor).min(self.max_delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_table() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(250),
        };
        let ms = |m| Decision::RetryAfter(Duration::from_millis(m));
        let s = |code| Attempt::Status { code, should_retry: None };
        let cases = [
            (s(200), 1, Decision::Done),
            (s(400), 1, Decision::Done),
            (s(402), 1, Decision::Done),
            (s(404), 1, Decision::Done),
            (s(401), 1, Decision::Done),
            (s(409), 1, ms(100)),
            (s(429), 1, ms(100)),
            (s(500), 1, ms(100)),
            (s(503), 2, ms(200)),
            (s(503), 3, Decision::GiveUp),
            (Attempt::NoResponse, 1, ms(100)),
            (Attempt::NoResponse, 2, ms(200)),
            (Attempt::NoResponse, 3, Decision::GiveUp),
            (Attempt::Status { code: 500, should_retry: Some(false) }, 1, Decision::Done),
            (Attempt::Status { code: 400, should_retry: Some(true) }, 1, ms(100)),
        ];
        for (outcome, attempt, want) in cases {
            assert_eq!(p.decide(outcome, attempt), want, "{outcome:?} attempt {attempt}");
        }
        let long = RetryPolicy { max_attempts: 10, ..p };
        assert_eq!(long.decide(Attempt::NoResponse, 5), ms(250), "delay is capped");
    }
}
