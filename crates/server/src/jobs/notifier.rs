//! Sends the notification outbox over SMTP (lettre) when `SMTP_URL` is set,
//! retrying with back-off. Without SMTP the messages stay in the outbox,
//! readable at `GET /api/notifications`.

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::state::AppState;
use chittycharge_core::CoreResult;

/// Seconds to wait after the n-th failed attempt; then the message fails.
const BACKOFF: [i64; 6] = [30, 120, 600, 1_800, 7_200, 43_200];

pub type Mailer = AsyncSmtpTransport<Tokio1Executor>;

pub fn mailer(state: &AppState) -> Option<Mailer> {
    let url = state.config.smtp_url.as_ref()?;
    match AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret()) {
        Ok(b) => Some(b.timeout(Some(std::time::Duration::from_secs(15))).build()),
        Err(e) => {
            tracing::error!(error = %e, "SMTP_URL could not be used; messages stay in the outbox");
            None
        }
    }
}

pub async fn tick(state: &AppState, mailer: &Mailer) -> CoreResult<usize> {
    let now = state.holds.now();
    let from: Mailbox = match state.config.smtp_from.parse() {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "SMTP_FROM is not a mailbox");
            return Ok(0);
        }
    };
    let mut sent = 0;
    // Claimed for longer than a batch of sends can take (15 s timeout each).
    let due = state.store.claim_notifications(now, 15 * 60_000, 50).await?;
    if !due.is_empty() {
        // What made these messages must be on disk before they leave.
        state.holds.barrier().await?;
    }
    for n in due {
        let built = n.recipient.parse::<Mailbox>().map_err(|e| e.to_string()).and_then(|to| {
            Message::builder()
                .from(from.clone())
                .to(to)
                .subject(n.subject.clone())
                .body(n.body.clone())
                .map_err(|e| e.to_string())
        });
        let result = match built {
            Ok(msg) => mailer.send(msg).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(format!("invalid message: {e}")),
        };
        let attempt = usize::try_from(n.attempts).unwrap_or(usize::MAX);
        let (status, error, next) = match result {
            Ok(()) => ("sent", None, now),
            Err(e) if attempt + 1 >= BACKOFF.len() => ("failed", Some(e), now),
            Err(e) => ("pending", Some(e), now.plus_secs(BACKOFF[attempt])),
        };
        if state.store.record_notification_attempt(&n, status, error.as_deref(), next, now).await? && status == "sent" {
            sent += 1;
        }
        if let Some(e) = error {
            tracing::warn!(notification.id = %n.id, error = %e, status, "notification not sent");
        }
    }
    Ok(sent)
}
