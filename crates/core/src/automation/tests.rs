use super::*;

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
        state: BookingState::Booked(chittycharge_domain::booking::Booked),
        saved_payment_method: None,
        processor_customer: None,
        hold_generation: 0,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        version: 0,
    };
    // Chicago is UTC-6 in December.
    let at = placement_time(&b, "America/Chicago", 2).unwrap();
    assert_eq!(chittycharge_domain::time::iso_millis(at.millis()), "2026-12-08T06:00:00.000Z");
    let until = hold_needed_until(&b, "America/Chicago", 48).unwrap();
    assert_eq!(chittycharge_domain::time::iso_millis(until.millis()), "2027-01-01T18:00:00.000Z");
}
