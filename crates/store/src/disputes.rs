//! Disputes of captured holds, as the processor last reported them, and a
//! hold's sent notifications (for the dispute's evidence packet).

use chittycharge_domain::dispute::{Dispute, DisputeStatus};
use chittycharge_domain::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::holds::Filtered;
use crate::rows::ts;
use crate::sqlstore::SqlStore;
use crate::{StoreError, StoreResult};

fn dispute_from_row(r: &AnyRow) -> StoreResult<Dispute> {
    let status: String = r.try_get("status")?;
    Ok(Dispute {
        id: r.try_get("id")?,
        hold_id: r.try_get("hold_id")?,
        property_id: r.try_get("property_id")?,
        amount: r.try_get("amount")?,
        currency: r.try_get("currency")?,
        reason: r.try_get("reason")?,
        status: status.parse().map_err(StoreError::Corrupt)?,
        evidence_due_by: ts(r.try_get("evidence_due_by")?),
        funds_withdrawn: r.try_get::<i64, _>("funds_withdrawn")? != 0,
        submitted_at: ts(r.try_get("submitted_at")?),
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
    })
}

impl SqlStore {
    /// Inserts `d` when `expected` is `None` (false if it exists), or
    /// updates it if its stored status is still `expected` (false if another
    /// writer changed it): concurrent events log each change once.
    pub(crate) async fn save_dispute_impl(&self, d: &Dispute, expected: Option<DisputeStatus>) -> StoreResult<bool> {
        let q = match expected {
            None => sqlx::query(
                "INSERT INTO disputes (id, hold_id, property_id, amount, currency, reason, status, evidence_due_by, \
                 funds_withdrawn, submitted_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO NOTHING",
            ),
            Some(_) => sqlx::query(
                "UPDATE disputes SET hold_id = $2, property_id = $3, amount = $4, currency = $5, reason = $6, status = $7, \
                 evidence_due_by = $8, funds_withdrawn = $9, submitted_at = COALESCE($10, submitted_at), created_at = $11, \
                 updated_at = $12 WHERE id = $1 AND status = $13",
            ),
        };
        let q = q
            .bind(&d.id)
            .bind(&d.hold_id)
            .bind(d.property_id.as_deref())
            .bind(d.amount)
            .bind(&d.currency)
            .bind(&d.reason)
            .bind(d.status.as_str())
            .bind(d.evidence_due_by.map(Timestamp::millis))
            .bind(i64::from(d.funds_withdrawn))
            .bind(d.submitted_at.map(Timestamp::millis))
            .bind(d.created_at.millis())
            .bind(d.updated_at.millis());
        let q = match expected {
            Some(s) => q.bind(s.as_str()),
            None => q,
        };
        Ok(q.execute(self.pool()).await?.rows_affected() == 1)
    }

    pub(crate) async fn get_dispute_impl(&self, id: &str) -> StoreResult<Option<Dispute>> {
        let row = sqlx::query("SELECT * FROM disputes WHERE id = $1").bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(dispute_from_row).transpose()
    }

    pub(crate) async fn disputes_for_hold_impl(&self, hold_id: &str) -> StoreResult<Vec<Dispute>> {
        let rows = sqlx::query("SELECT * FROM disputes WHERE hold_id = $1 ORDER BY created_at, id")
            .bind(hold_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(dispute_from_row).collect()
    }

    /// Undecided disputes, the soonest evidence deadline first.
    pub(crate) async fn open_disputes_impl(&self, scope: Option<&[String]>, limit: i64) -> StoreResult<Vec<Dispute>> {
        let mut q = Filtered::new(
            "SELECT * FROM disputes WHERE status IN ('warning_needs_response', 'warning_under_review', \
             'needs_response', 'under_review')"
                .into(),
        );
        if let Some(scope) = scope {
            q.one_of("property_id", scope);
        }
        // Without a deadline last, on both back-ends (they sort NULL differently).
        q.int(" ORDER BY COALESCE(evidence_due_by, 9223372036854775807), id LIMIT {}", limit.clamp(1, 1000));
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(dispute_from_row).collect()
    }

    /// What is under dispute and not won back, per hold, for `hold_ids`.
    pub(crate) async fn disputed_amounts_impl(&self, hold_ids: &[String]) -> StoreResult<Vec<(String, i64)>> {
        if hold_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Filtered::new(
            "SELECT hold_id, CAST(SUM(amount) AS BIGINT) AS disputed FROM disputes WHERE status NOT IN ('won', 'warning_closed')"
                .into(),
        );
        q.one_of("hold_id", hold_ids);
        q.raw(" GROUP BY hold_id");
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(|r| Ok((r.try_get("hold_id")?, r.try_get("disputed")?))).collect()
    }

    /// The notifications about a hold, oldest first.
    pub(crate) async fn notifications_for_hold_impl(&self, hold_id: &str) -> StoreResult<Vec<crate::Notification>> {
        let rows = sqlx::query("SELECT * FROM notifications WHERE hold_id = $1 ORDER BY created_at, id")
            .bind(hold_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(crate::rental::notification_from_row).collect()
    }
}
