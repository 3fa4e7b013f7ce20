//! The hold's life on a timer: ChittyID reconciliation, expiry warnings and
//! expiry, re-authorization of long stays, and scheduled placement. Each is
//! a durable job (see `jobs::runner`), scheduled with a unique key so that
//! scheduling twice is harmless.

use std::collections::BTreeMap;

use chittycharge_domain::booking::BookingState;
use chittycharge_domain::stay::{hold_needed_until, placement_time};
use chittycharge_domain::{Booking, Hold, HoldState, HoldStatus, Timestamp};
use chittycharge_store::{Job, NewEvent};
use serde_json::{json, Value};

use super::notify::message;
use super::reauth::{Swap, SwapPlan};
use super::sync::EventContext;
use super::{CoreError, CoreResult, HoldService};
use crate::caller::Caller;
use crate::ids::{MintRequest, PENDING_PREFIX};

/// What a job run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done(String),
    RetryAt(Timestamp, String),
    Failed(String),
}

/// Settings for the automation jobs.
#[derive(Debug, Clone, Default)]
pub struct Automation {
    pub chitty_retry: Vec<u64>,
    pub expiry_warning_secs: i64,
    pub reauth_margin_secs: i64,
    pub operator_email: Option<String>,
}

fn secs_to(t: Timestamp, secs: u64) -> Timestamp {
    t.plus_secs(i64::try_from(secs).unwrap_or(i64::MAX / 2000))
}

impl HoldService {
    pub(crate) async fn schedule(&self, job: Job) -> CoreResult<()> {
        self.store.schedule_job(&job).await?;
        Ok(())
    }

    /// A queued job; `key` makes scheduling it again a no-op.
    pub(crate) fn job(
        &self,
        kind: &str,
        key: String,
        hold_id: Option<&str>,
        booking_id: Option<&str>,
        payload: Value,
        run_at: Timestamp,
    ) -> Job {
        let now = self.now();
        Job {
            id: format!("job_{}", uuid::Uuid::new_v4().simple()),
            kind: kind.to_string(),
            key,
            hold_id: hold_id.map(str::to_string),
            booking_id: booking_id.map(str::to_string),
            payload,
            run_at,
            status: "queued".into(),
            attempts: 0,
            last_error: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// A PENDING ChittyID gets a reconciliation job; the first retry comes
    /// after the first step of `CHITTY_ID_RETRY_SCHEDULE` (at most 30 s).
    pub(crate) async fn schedule_chitty_id(&self, hold: &Hold, attempt: usize) -> CoreResult<()> {
        self.schedule(self.chitty_id_job(hold, false, attempt)).await
    }

    /// After a create: a minted id only needs copying into the processor's
    /// metadata (at once); a PENDING one is re-minted on the back-off.
    pub(crate) fn chitty_id_job(&self, hold: &Hold, minted: bool, attempt: usize) -> Job {
        let (step, run_at) = if minted {
            ("meta".to_string(), self.now())
        } else {
            let retry = &self.automation.chitty_retry;
            let delay = retry.get(attempt).or(retry.last()).copied().unwrap_or(30);
            (attempt.to_string(), secs_to(self.now(), delay))
        };
        self.job(
            "chitty_id",
            format!("chitty_id:{}:{step}", hold.id),
            Some(&hold.id),
            None,
            json!({ "attempt": attempt }),
            run_at,
        )
    }

    /// The expiry warning and the expiry of an authorized hold (none for a
    /// hold in any other state), both or neither: a hold never has one
    /// without the other. A settle writes them with the hold itself.
    pub(crate) fn hold_timers(&self, hold: &Hold) -> Vec<Job> {
        let HoldState::RequiresCapture(a) = &hold.state else { return Vec::new() };
        let deadline = a.capture_before();
        let cb = deadline.millis();
        let warn_at = deadline.plus_secs(-self.automation.expiry_warning_secs);
        vec![
            self.job(
                "expiry_warning",
                format!("expiry_warning:{}:{cb}", hold.id),
                Some(&hold.id),
                None,
                json!({ "capture_before": cb }),
                warn_at,
            ),
            self.job(
                "expire",
                format!("expire:{}:{cb}", hold.id),
                Some(&hold.id),
                None,
                json!({ "capture_before": cb }),
                deadline,
            ),
        ]
    }

    /// Timers that start when a hold is authorized; `timers_written` when
    /// its save already wrote `hold_timers`.
    pub(crate) async fn schedule_hold_timers(&self, hold: &Hold, timers_written: bool) -> CoreResult<()> {
        let HoldState::RequiresCapture(a) = &hold.state else { return Ok(()) };
        let deadline = a.capture_before();
        if !timers_written {
            self.store.schedule_jobs(&self.hold_timers(hold)).await?;
        }
        if let Some(booking_id) = &hold.booking_id {
            let (Some(b), Some(p)) = (
                self.store.get_booking(hold.property_id.as_deref().unwrap_or_default(), booking_id).await?,
                self.store.get_property(&hold.property_id.clone().unwrap_or_default()).await?,
            ) else {
                return Ok(());
            };
            if let Some(until) = hold_needed_until(&b, &p.time_zone, p.claim_window_hours) {
                if until > deadline {
                    let at = deadline.plus_secs(-self.automation.reauth_margin_secs).max(self.now());
                    self.schedule(self.job(
                        "reauthorize",
                        format!("reauthorize:{}", hold.id),
                        Some(&hold.id),
                        Some(booking_id),
                        json!({}),
                        at,
                    ))
                    .await?;
                }
            }
        }
        Ok(())
    }

    /// A booking with a saved card gets its hold placed automatically.
    pub(crate) async fn schedule_placement(&self, b: &Booking) -> CoreResult<()> {
        if b.saved_payment_method.is_none() {
            return Ok(());
        }
        let Some(p) = self.store.get_property(&b.property_id).await? else { return Ok(()) };
        let Some(at) = placement_time(b, &p.time_zone, p.hold_lead_days) else { return Ok(()) };
        self.schedule(self.job(
            "place_hold",
            format!("place_hold:{}:{}", b.property_id, b.id),
            None,
            Some(&b.id),
            json!({ "property_id": b.property_id }),
            at.max(self.now()),
        ))
        .await
    }

    pub async fn run_job(&self, job: &Job) -> JobOutcome {
        let result = match job.kind.as_str() {
            "chitty_id" => self.job_chitty_id(job).await,
            "expiry_warning" => self.job_expiry_warning(job).await,
            "expire" => self.job_expire(job).await,
            "reauthorize" => self.job_reauthorize(job).await,
            "place_hold" => self.job_place_hold(job).await,
            "sync" => self.job_sync(job).await,
            other => Ok(JobOutcome::Failed(format!("unknown job kind {other}"))),
        };
        result.unwrap_or_else(|e| JobOutcome::Failed(e.to_string()))
    }

    async fn job_chitty_id(&self, job: &Job) -> CoreResult<JobOutcome> {
        let Some(hold_id) = &job.hold_id else { return Ok(JobOutcome::Failed("no hold".into())) };
        let attempt =
            job.payload.get("attempt").and_then(Value::as_u64).and_then(|a| usize::try_from(a).ok()).unwrap_or(0);
        let mut hold = self.store.get_hold(hold_id).await?.ok_or(CoreError::NotFound)?;
        if hold.chitty_id.starts_with(PENDING_PREFIX) {
            let req = MintRequest {
                payment_intent: &hold.id,
                amount: hold.amount.minor(),
                property_id: hold.property_id.as_deref(),
                tenant_id: hold.tenant_id.as_deref(),
            };
            // The hold's records must be on disk before its id leaves.
            self.barrier().await?;
            match self.chitty.mint(&req).await {
                Ok(id) => {
                    let version = hold.version;
                    let old = std::mem::replace(&mut hold.chitty_id, id.clone());
                    let ev = NewEvent {
                        kind: "chitty_id_minted".into(),
                        actor: Some("system: ChittyID reconciler".into()),
                        reason: Some(format!("replaced {old}")),
                        data: Some(json!({ "chitty_id": id, "pending": old })),
                        at: self.now(),
                        ..NewEvent::default()
                    };
                    if !self.store.save_hold(&hold, version, &[ev], None).await? {
                        return Ok(JobOutcome::RetryAt(self.now().plus_secs(1), "hold changed; retrying".into()));
                    }
                }
                Err(e) => {
                    self.schedule_chitty_id(&hold, attempt + 1).await?;
                    return Ok(JobOutcome::Done(format!("mint failed ({e}); next attempt scheduled")));
                }
            }
        }
        // The processor's metadata must carry the real id too.
        let mut meta = BTreeMap::new();
        meta.insert("chitty_id".to_string(), hold.chitty_id.clone());
        // The job row was written before this call; its id keys the request.
        let key = chittycharge_processor::IdempotencyKey::derived(&format!("{}-{}", job.id, hold.chitty_id));
        match self.call_out(self.processor.update_metadata(&hold.id, &meta, &key)).await {
            Ok(_) => Ok(JobOutcome::Done(format!("chitty_id {} is in the store and the processor", hold.chitty_id))),
            Err(e) => {
                self.schedule_chitty_id(&hold, attempt + 1).await?;
                Ok(JobOutcome::Done(format!("processor metadata not updated ({e}); next attempt scheduled")))
            }
        }
    }

    async fn job_expiry_warning(&self, job: &Job) -> CoreResult<JobOutcome> {
        let Some(hold_id) = &job.hold_id else { return Ok(JobOutcome::Failed("no hold".into())) };
        let hold = self.store.get_hold(hold_id).await?.ok_or(CoreError::NotFound)?;
        let cb = job.payload.get("capture_before").and_then(Value::as_i64);
        let HoldState::RequiresCapture(a) = &hold.state else {
            return Ok(JobOutcome::Done("no longer authorized".into()));
        };
        if Some(a.capture_before().millis()) != cb {
            return Ok(JobOutcome::Done("deadline moved".into()));
        }
        let when = chittycharge_domain::time::iso_millis(a.capture_before().millis());
        self.store
            .append_event(
                &hold.id,
                &NewEvent {
                    kind: "expiry_warning".into(),
                    actor: Some("system: expiry tracker".into()),
                    to_status: Some("requires_capture".into()),
                    amount: Some(a.capturable()),
                    reason: Some(format!("authorization lapses at {when}")),
                    at: self.now(),
                    ..NewEvent::default()
                },
            )
            .await?;
        if let Some(to) = &self.automation.operator_email {
            let body = format!(
                "The authorization hold {} ({}, {}) lapses at {when}.\nCapture damages before then, or it will be released.\nBooking: {}\n",
                hold.id,
                hold.description,
                hold.amount,
                hold.booking_id.as_deref().unwrap_or("-")
            );
            let m = message(
                "expiry_warning",
                &format!("_{}", a.capture_before().millis()),
                to,
                format!("Hold {} expires soon", hold.id),
                body,
                &hold,
                self.now(),
            );
            self.store.enqueue_notification(&m).await?;
        }
        Ok(JobOutcome::Done("warned".into()))
    }

    async fn job_expire(&self, job: &Job) -> CoreResult<JobOutcome> {
        let Some(hold_id) = &job.hold_id else { return Ok(JobOutcome::Failed("no hold".into())) };
        let hold = self.sync_from_processor(hold_id, &EventContext::actor("system: expiry tracker")).await?;
        match hold.state.status() {
            HoldStatus::RequiresCapture if hold.state.capture_before().is_some_and(|cb| cb <= self.now()) => {
                // The processor has not cancelled it yet; captures are already
                // refused by the deadline check. Look again shortly.
                Ok(JobOutcome::RetryAt(self.now().plus_secs(600), "processor has not released it yet".into()))
            }
            s => Ok(JobOutcome::Done(format!("hold is {s}"))),
        }
    }

    async fn job_reauthorize(&self, job: &Job) -> CoreResult<JobOutcome> {
        let (Some(old_id), Some(booking_id)) = (&job.hold_id, &job.booking_id) else {
            return Ok(JobOutcome::Failed("no hold".into()));
        };
        let old = self.store.get_hold(old_id).await?.ok_or(CoreError::NotFound)?;
        let property_id = old.property_id.clone().unwrap_or_default();
        let booking = self.store.get_booking(&property_id, booking_id).await?.ok_or(CoreError::NotFound)?;
        match &booking.state {
            BookingState::HoldActive(active) if active.hold_id == *old_id => {}
            BookingState::HoldActive(_) => return Ok(JobOutcome::Done("booking moved to another hold".into())),
            _ => return Ok(JobOutcome::Done("booking no longer holds".into())),
        }
        if old.state.status() != HoldStatus::RequiresCapture {
            return Ok(JobOutcome::Done(format!("hold is {}", old.state.status())));
        }
        let plan = SwapPlan {
            amount: old.amount.minor(),
            operation_id: super::checkin::reauth_op_id(&booking, &old.id),
            actor: "re-authorization job",
        };
        match self.swap_booking_hold(&booking, &old, plan).await? {
            Swap::Swapped(new) => Ok(JobOutcome::Done(format!("re-authorized as {}", new.id))),
            // Another worker re-authorizes this hold (or did): never twice.
            Swap::Busy => {
                Ok(JobOutcome::RetryAt(self.now().plus_secs(300), "re-authorization already under way".into()))
            }
            Swap::Declined { message, decline_code } => {
                let why = format!("{message} ({})", decline_code.unwrap_or_default());
                self.warn_operator(
                    &old,
                    "Re-authorization declined",
                    &format!("Renewing the hold was declined: {why}. The current hold is kept until it lapses."),
                )
                .await?;
                Ok(JobOutcome::Done(format!("declined: {why}; old hold kept")))
            }
            Swap::NotAuthorized(status) => {
                Ok(JobOutcome::RetryAt(self.now().plus_secs(600), format!("new hold ended {status}")))
            }
            Swap::BookingChanged => Ok(JobOutcome::Done("booking changed meanwhile; new hold released".into())),
            Swap::NoSavedCard => {
                self.warn_operator(
                    &old,
                    "Re-authorization impossible: no saved card",
                    "This booking has no saved card, so its hold cannot be renewed before it lapses.",
                )
                .await?;
                Ok(JobOutcome::Done("no saved card; operator notified".into()))
            }
        }
    }

    async fn job_place_hold(&self, job: &Job) -> CoreResult<JobOutcome> {
        let Some(booking_id) = &job.booking_id else { return Ok(JobOutcome::Failed("no booking".into())) };
        let Some(property_id) = job.payload.get("property_id").and_then(serde_json::Value::as_str) else {
            return Ok(JobOutcome::Failed("no property".into()));
        };
        let b = self.store.get_booking(property_id, booking_id).await?.ok_or(CoreError::NotFound)?;
        if !matches!(b.state, BookingState::Booked(_)) {
            return Ok(JobOutcome::Done(format!("booking is {}", b.state.status())));
        }
        let system = Caller::system("scheduled placement");
        let pm = b.saved_payment_method.clone();
        match self.authorize_loaded(b, pm, &system).await {
            Ok(a) => Ok(JobOutcome::Done(format!("placed hold {} ({})", a.hold.id, a.hold.state.status()))),
            Err(CoreError::Declined { message, .. }) => Ok(JobOutcome::Done(format!("declined: {message}"))),
            Err(e) => Err(e),
        }
    }

    async fn warn_operator(&self, hold: &Hold, subject: &str, text: &str) -> CoreResult<()> {
        if let Some(to) = &self.automation.operator_email {
            let body = format!(
                "{text}\n\nHold: {} ({})\nBooking: {}\n",
                hold.id,
                hold.amount,
                hold.booking_id.as_deref().unwrap_or("-")
            );
            let m = message(
                "operator_warning",
                &format!("_{}", self.now().millis()),
                to,
                subject.to_string(),
                body,
                hold,
                self.now(),
            );
            self.store.enqueue_notification(&m).await?;
        }
        Ok(())
    }
}
