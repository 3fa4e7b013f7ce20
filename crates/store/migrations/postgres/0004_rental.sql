CREATE TABLE bookings (
    id                   TEXT PRIMARY KEY,      -- the operator's booking id
    property_id          TEXT NOT NULL,
    tenant_id            TEXT,
    guest_name           TEXT NOT NULL,
    guest_email          TEXT,
    check_in             TEXT NOT NULL,         -- YYYY-MM-DD, property-local
    check_out            TEXT NOT NULL,
    status               TEXT NOT NULL,
    hold_id              TEXT,
    checked_out_at       BIGINT,
    claim_until          BIGINT,
    settled_at           BIGINT,
    saved_payment_method TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    version              BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX bookings_by_property ON bookings (property_id, created_at);
CREATE INDEX bookings_by_status ON bookings (status, claim_until);
CREATE INDEX bookings_by_hold ON bookings (hold_id);

-- Itemized damage claims: one per check-out or claim, lines as JSON.
CREATE TABLE damage_claims (
    id         TEXT PRIMARY KEY,
    booking_id TEXT NOT NULL,
    hold_id    TEXT NOT NULL,
    total      BIGINT NOT NULL,
    currency   TEXT NOT NULL,
    lines      TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX damage_claims_by_booking ON damage_claims (booking_id);

-- The durable outbox of guest and operator messages.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,              -- pending | sent | failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    hold_id         TEXT,
    booking_id      TEXT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
