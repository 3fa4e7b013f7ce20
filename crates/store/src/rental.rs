//! Bookings, damage claims and the notification outbox.

use chittycharge_domain::booking::{BookingState, BookingStatus};
use chittycharge_domain::{Booking, Timestamp};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::holds::Filtered;
use crate::rows::ts;
use crate::sqlstore::SqlStore;
use crate::{BookingFilter, ClaimFilter, DamageClaim, Notification, StoreError, StoreResult};

fn booking_from_row(r: &AnyRow) -> StoreResult<Booking> {
    let status: String = r.try_get("status")?;
    let status: BookingStatus = status.parse().map_err(StoreError::Corrupt)?;
    Ok(Booking {
        id: r.try_get("id")?,
        property_id: r.try_get("property_id")?,
        tenant_id: r.try_get("tenant_id")?,
        guest_name: r.try_get("guest_name")?,
        guest_email: r.try_get("guest_email")?,
        check_in: r.try_get("check_in")?,
        check_out: r.try_get("check_out")?,
        state: BookingState::from_parts(
            status,
            r.try_get("hold_id")?,
            ts(r.try_get("checked_out_at")?),
            ts(r.try_get("claim_until")?),
            ts(r.try_get("settled_at")?),
        ),
        saved_payment_method: r.try_get("saved_payment_method")?,
        processor_customer: r.try_get("processor_customer")?,
        hold_generation: r.try_get("hold_generation")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        updated_at: Timestamp::from_millis(r.try_get("updated_at")?),
        version: r.try_get("version")?,
    })
}

struct StateCols {
    hold_id: Option<String>,
    checked_out_at: Option<i64>,
    claim_until: Option<i64>,
    settled_at: Option<i64>,
}

fn state_cols(s: &BookingState) -> StateCols {
    let (checked_out_at, claim_until, settled_at) = match s {
        BookingState::CheckedOut(c) => (Some(c.checked_out_at.millis()), Some(c.claim_until.millis()), None),
        BookingState::Settled(st) => (Some(st.checked_out_at.millis()), None, Some(st.settled_at.millis())),
        BookingState::Booked(_) | BookingState::HoldPending(_) | BookingState::HoldActive(_) => (None, None, None),
    };
    StateCols { hold_id: s.hold_id().map(str::to_string), checked_out_at, claim_until, settled_at }
}

fn claim_from_row(r: &AnyRow) -> StoreResult<DamageClaim> {
    let lines: String = r.try_get("lines")?;
    Ok(DamageClaim {
        id: r.try_get("id")?,
        property_id: r.try_get::<Option<String>, _>("property_id")?.unwrap_or_default(),
        booking_id: r.try_get("booking_id")?,
        hold_id: r.try_get("hold_id")?,
        total: r.try_get("total")?,
        currency: r.try_get("currency")?,
        lines: serde_json::from_str(&lines).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_by: r.try_get("created_by")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
    })
}

pub(crate) fn notification_from_row(r: &AnyRow) -> StoreResult<Notification> {
    Ok(Notification {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: Timestamp::from_millis(r.try_get("next_attempt_at")?),
        last_error: r.try_get("last_error")?,
        hold_id: r.try_get("hold_id")?,
        booking_id: r.try_get("booking_id")?,
        created_at: Timestamp::from_millis(r.try_get("created_at")?),
        sent_at: ts(r.try_get("sent_at")?),
    })
}

impl SqlStore {
    pub(crate) async fn insert_booking_impl(&self, b: &Booking) -> StoreResult<()> {
        let s = state_cols(&b.state);
        sqlx::query(
            "INSERT INTO bookings (id, property_id, tenant_id, guest_name, guest_email, check_in, check_out, status, hold_id, \
             checked_out_at, claim_until, settled_at, saved_payment_method, created_at, updated_at, version, processor_customer, \
             hold_generation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&b.id)
        .bind(&b.property_id)
        .bind(b.tenant_id.as_deref())
        .bind(&b.guest_name)
        .bind(b.guest_email.as_deref())
        .bind(&b.check_in)
        .bind(&b.check_out)
        .bind(b.state.status().as_str())
        .bind(s.hold_id)
        .bind(s.checked_out_at)
        .bind(s.claim_until)
        .bind(s.settled_at)
        .bind(b.saved_payment_method.as_deref())
        .bind(b.created_at.millis())
        .bind(b.updated_at.millis())
        .bind(b.version)
        .bind(b.processor_customer.as_deref())
        .bind(b.hold_generation)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn get_booking_impl(&self, property_id: &str, id: &str) -> StoreResult<Option<Booking>> {
        let row = sqlx::query("SELECT * FROM bookings WHERE property_id = $1 AND id = $2")
            .bind(property_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(booking_from_row).transpose()
    }

    pub(crate) async fn find_bookings_impl(&self, id: &str, scope: Option<&[String]>) -> StoreResult<Vec<Booking>> {
        let mut sql = String::from("SELECT * FROM bookings WHERE id = $1");
        if let Some(scope) = scope {
            sql.push_str(" AND property_id IN (NULL");
            for i in 0..scope.len() {
                sql.push_str(&format!(", ${}", i + 2));
            }
            sql.push(')');
        }
        sql.push_str(" ORDER BY property_id LIMIT 10");
        let mut q = sqlx::query(&sql).bind(id);
        for p in scope.unwrap_or_default() {
            q = q.bind(p);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(booking_from_row).collect()
    }

    pub(crate) async fn booking_for_hold_impl(&self, hold_id: &str) -> StoreResult<Option<Booking>> {
        let row =
            sqlx::query("SELECT * FROM bookings WHERE hold_id = $1").bind(hold_id).fetch_optional(self.pool()).await?;
        row.as_ref().map(booking_from_row).transpose()
    }

    pub(crate) async fn list_bookings_impl(&self, f: &BookingFilter) -> StoreResult<Vec<Booking>> {
        let mut sql = String::from("SELECT * FROM bookings WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        for (col, v) in [("property_id", &f.property_id), ("tenant_id", &f.tenant_id), ("status", &f.status)] {
            if let Some(v) = v {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        }
        if let Some(scope) = &f.property_scope {
            sql.push_str(" AND property_id IN (NULL");
            for p in scope {
                binds.push(p.clone());
                sql.push_str(&format!(", ${}", binds.len()));
            }
            sql.push(')');
        }
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {}", f.limit.clamp(1, 1000)));
        let mut q = sqlx::query(&sql);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(booking_from_row).collect()
    }

    pub(crate) async fn save_booking_impl(&self, b: &Booking, expected: i64) -> StoreResult<bool> {
        let s = state_cols(&b.state);
        let r = sqlx::query(
            "UPDATE bookings SET status = $1, hold_id = $2, checked_out_at = $3, claim_until = $4, settled_at = $5, \
             saved_payment_method = $6, updated_at = $7, processor_customer = $8, hold_generation = $9, version = version + 1 \
             WHERE property_id = $10 AND id = $11 AND version = $12",
        )
        .bind(b.state.status().as_str())
        .bind(s.hold_id)
        .bind(s.checked_out_at)
        .bind(s.claim_until)
        .bind(s.settled_at)
        .bind(b.saved_payment_method.as_deref())
        .bind(b.updated_at.millis())
        .bind(b.processor_customer.as_deref())
        .bind(b.hold_generation)
        .bind(&b.property_id)
        .bind(&b.id)
        .bind(expected)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn bookings_to_release_impl(&self, now: Timestamp, limit: i64) -> StoreResult<Vec<Booking>> {
        let rows = sqlx::query(
            "SELECT * FROM bookings WHERE status = 'checked_out' AND claim_until <= $1 ORDER BY claim_until LIMIT $2",
        )
        .bind(now.millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(booking_from_row).collect()
    }

    pub(crate) async fn insert_claim_impl(&self, c: &DamageClaim) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO damage_claims (id, booking_id, hold_id, total, currency, lines, created_by, created_at, property_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&c.id)
        .bind(&c.booking_id)
        .bind(&c.hold_id)
        .bind(c.total)
        .bind(&c.currency)
        .bind(c.lines.to_string())
        .bind(c.created_by.as_deref())
        .bind(c.created_at.millis())
        .bind(&c.property_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub(crate) async fn claims_for_booking_impl(
        &self,
        property_id: &str,
        booking_id: &str,
    ) -> StoreResult<Vec<DamageClaim>> {
        let rows =
            sqlx::query("SELECT * FROM damage_claims WHERE property_id = $1 AND booking_id = $2 ORDER BY created_at")
                .bind(property_id)
                .bind(booking_id)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(claim_from_row).collect()
    }

    pub(crate) async fn list_claims_impl(&self, f: &ClaimFilter) -> StoreResult<Vec<DamageClaim>> {
        // Few enough (one per stay with damages) that the period's rows are
        // read without an index of their own.
        let mut q = Filtered::new("SELECT * FROM damage_claims WHERE 1 = 1".into());
        if let Some(p) = &f.property_id {
            q.text(" AND property_id = {}", p);
        }
        if let Some(scope) = &f.property_scope {
            q.one_of("property_id", scope);
        }
        if let Some(t) = f.created_gte {
            q.int(" AND created_at >= {}", t.millis());
        }
        if let Some(t) = f.created_lt {
            q.int(" AND created_at < {}", t.millis());
        }
        if let Some(c) = &f.after {
            q.keyset(">", c);
        }
        q.int(" ORDER BY created_at ASC, id ASC LIMIT {}", f.limit.clamp(1, 1000));
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter().map(claim_from_row).collect()
    }

    pub(crate) async fn enqueue_notification_impl(&self, n: &Notification) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO notifications (id, kind, recipient, subject, body, status, attempts, next_attempt_at, last_error, hold_id, \
             booking_id, created_at, sent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
        )
        .bind(&n.id)
        .bind(&n.kind)
        .bind(&n.recipient)
        .bind(&n.subject)
        .bind(&n.body)
        .bind(&n.status)
        .bind(n.attempts)
        .bind(n.next_attempt_at.millis())
        .bind(n.last_error.as_deref())
        .bind(n.hold_id.as_deref())
        .bind(n.booking_id.as_deref())
        .bind(n.created_at.millis())
        .bind(n.sent_at.map(Timestamp::millis))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims due messages for `lease_ms`, like jobs: on PostgreSQL with
    /// `FOR UPDATE SKIP LOCKED`, so two instances never send the same one.
    pub(crate) async fn claim_notifications_impl(
        &self,
        now: Timestamp,
        lease_ms: i64,
        limit: i64,
    ) -> StoreResult<Vec<Notification>> {
        let lock = match crate::Store::backend(self) {
            crate::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE notifications SET claimed_until = $1 WHERE id IN (SELECT id FROM notifications \
             WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $3) \
             ORDER BY created_at LIMIT $4 {lock}) RETURNING *"
        );
        let rows = sqlx::query(&sql)
            .bind(now.millis() + lease_ms)
            .bind(now.millis())
            .bind(now.millis())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut out: Vec<Notification> = rows.iter().map(notification_from_row).collect::<StoreResult<_>>()?;
        out.sort_by_key(|n| n.created_at);
        Ok(out)
    }

    pub(crate) async fn record_notification_attempt_impl(
        &self,
        n: &Notification,
        status: &str,
        error: Option<&str>,
        next: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let sent_at = (status == "sent").then_some(now.millis());
        let r = sqlx::query(
            "UPDATE notifications SET status = $1, last_error = $2, next_attempt_at = $3, attempts = attempts + 1, sent_at = $4, \
             claimed_until = NULL \
             WHERE id = $5 AND attempts = $6 AND status = 'pending'",
        )
        .bind(status)
        .bind(error)
        .bind(next.millis())
        .bind(sent_at)
        .bind(&n.id)
        .bind(n.attempts)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    pub(crate) async fn list_notifications_impl(&self, limit: i64) -> StoreResult<Vec<Notification>> {
        let rows = sqlx::query("SELECT * FROM notifications ORDER BY created_at DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(notification_from_row).collect()
    }
}
