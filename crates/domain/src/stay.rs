//! A booking's dates as instants: check-in and check-out are calendar days
//! at the property, so when a hold is placed and how long it must last
//! depend on the property's time zone.

use crate::record::Booking;
use crate::time::Timestamp;

/// Local noon of `date` in `tz`, as an instant: when a guest checks out.
fn local_instant(date: &str, tz: &str, hour: u32) -> Option<Timestamp> {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = tz.parse().ok()?;
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let local = tz.from_local_datetime(&d.and_hms_opt(hour, 0, 0)?).earliest()?;
    Some(Timestamp::from_millis(local.timestamp_millis()))
}

/// When a booking stops needing its hold: check-out (local noon) plus the
/// property's claim window.
pub fn hold_needed_until(b: &Booking, tz: &str, claim_window_hours: i64) -> Option<Timestamp> {
    local_instant(&b.check_out, tz, 12).map(|t| t.plus_secs(claim_window_hours * 3_600))
}

/// Local midnight `lead_days` before check-in: when a scheduled hold is placed.
pub fn placement_time(b: &Booking, tz: &str, lead_days: i64) -> Option<Timestamp> {
    let d = chrono::NaiveDate::parse_from_str(&b.check_in, "%Y-%m-%d").ok()?;
    let day = d.checked_sub_days(chrono::Days::new(u64::try_from(lead_days).ok()?))?;
    local_instant(&day.to_string(), tz, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::{Booked, BookingState};

    #[test]
    fn placement_is_at_local_midnight_two_days_before_check_in() {
        let b = Booking {
            id: "b".into(),
            property_id: "p".into(),
            tenant_id: None,
            guest_name: "g".into(),
            guest_email: None,
            check_in: "2026-12-10".into(),
            check_out: "2026-12-30".into(),
            state: BookingState::Booked(Booked),
            saved_payment_method: None,
            processor_customer: None,
            hold_generation: 0,
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
            version: 0,
        };
        // Chicago is UTC-6 in December.
        let at = placement_time(&b, "America/Chicago", 2).unwrap();
        assert_eq!(crate::time::iso_millis(at.millis()), "2026-12-08T06:00:00.000Z");
        let until = hold_needed_until(&b, "America/Chicago", 48).unwrap();
        assert_eq!(crate::time::iso_millis(until.millis()), "2027-01-01T18:00:00.000Z");
    }
}
