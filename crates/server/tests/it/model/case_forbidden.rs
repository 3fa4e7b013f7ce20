//! Tokens that may not: mutating calls with a read-only token or another
//! property's token.

use serde_json::json;

use crate::model::case::{expect, Case, Res};
use crate::model::reference::{Bs, LIVE};
use crate::model::steps::{Mutation, Pick, Who};
use crate::model::world::Tok;

impl Case {
    /// A mutating call with a read-only token (403) or another property's
    /// token (404 for existing records, 403 to create): nothing changes.
    pub(crate) async fn forbidden(&mut self, who: Who, what: Mutation, hold: Pick, booking: Pick) -> Res {
        let tok = match who {
            Who::ReadOnly => Tok::ReadOnly,
            Who::OtherProperty => Tok::Foreign,
        };
        let h = self.m.pick_hold(hold, LIVE);
        let b = self.m.pick_booking(booking, &[Bs::Booked, Bs::Pending, Bs::Active, Bs::CheckedOut]);
        // Without a target yet, try to create one instead.
        let what = match what {
            Mutation::Confirm | Mutation::Capture | Mutation::Cancel | Mutation::Increment if h.is_none() => {
                Mutation::CreateHold
            }
            Mutation::Authorize | Mutation::Checkout | Mutation::Claim if b.is_none() => Mutation::CreateBooking,
            w => w,
        };
        let hold_path = |s: &Self, action: &str| h.map(|h| format!("/api/holds/{}{action}", s.m.holds[h].id));
        let (path, body, snapshot) = match what {
            Mutation::CreateHold => (
                Some("/api/holds".to_string()),
                json!({"amount": 1000, "description": "not allowed", "property_id": self.props[0], "payment_method": "pm_card_visa", "confirm": true}),
                None,
            ),
            Mutation::Confirm => {
                (hold_path(self, "/confirm"), json!({"payment_method": "pm_card_visa"}), hold_path(self, ""))
            }
            Mutation::Capture => (hold_path(self, "/capture"), json!({}), hold_path(self, "")),
            Mutation::Cancel => (hold_path(self, "/cancel"), json!({}), hold_path(self, "")),
            Mutation::Increment => (
                hold_path(self, "/increment"),
                json!({"amount": h.map(|h| self.m.holds[h].amount + 100).unwrap_or(0)}),
                hold_path(self, ""),
            ),
            Mutation::CreateBooking => (
                Some("/api/bookings".to_string()),
                json!({"id": "bk-forbidden", "property_id": self.props[0], "guest_name": "Nobody",
                    "check_in": "2030-01-01", "check_out": "2030-01-03"}),
                None,
            ),
            Mutation::Authorize => (
                b.map(|b| self.booking_path(b, "/authorize")),
                json!({"payment_method": "pm_card_visa", "confirm": true}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::Checkout => (
                b.map(|b| self.booking_path(b, "/checkout")),
                json!({"damages": [{"amount": 100, "description": "not allowed"}]}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::Claim => (
                b.map(|b| self.booking_path(b, "/claims")),
                json!({"damages": [{"amount": 100, "description": "not allowed"}]}),
                b.map(|b| self.booking_path(b, "")),
            ),
            Mutation::PutProperty => (
                Some("/api/properties".to_string()),
                json!({"id": self.props[0], "name": "taken over", "default_hold_amount": 50, "claim_window_hours": 1}),
                Some(format!("/api/properties/{}", self.props[0])),
            ),
        };
        let path = path.ok_or("forbidden step without a target")?;
        let before = match &snapshot {
            Some(p) => Some(self.w.get(p).await?),
            None => None,
        };
        let r = self.w.call(tok, "POST", &path, Some(&body)).await?;
        let creates = matches!(what, Mutation::CreateHold | Mutation::CreateBooking | Mutation::PutProperty);
        let want = match (who, creates) {
            (Who::ReadOnly, _) | (Who::OtherProperty, true) => 403,
            (Who::OtherProperty, false) => 404,
        };
        let label = format!("{who:?} token: {what:?} POST {path}");
        self.note(format!("{label} -> {}", r.short()));
        self.count(&format!("{who:?} token {what:?}: {}", r.status));
        expect(&r, want, None, &label)?;
        if let (Some(p), Some(before)) = (&snapshot, before) {
            let after = self.w.get(p).await?;
            if after != before {
                return Err(format!("{label} answered {} but changed {p}:\nbefore {before}\nafter  {after}", r.status));
            }
            // What the token may read: its own scope, never another property.
            if p.starts_with("/api/") && !p.starts_with("/api/properties") {
                let read = self.w.call(tok, "GET", p, None).await?;
                let want = match who {
                    Who::ReadOnly => 200,
                    Who::OtherProperty => 404,
                };
                expect(&read, want, None, &format!("{who:?} token: GET {p}"))?;
            }
        }
        Ok(())
    }
}
