-- Booking ids are the operator's, unique per property (not across the
-- install), and a booking counts the holds it has placed so the processor
-- idempotency key of its next hold is derived from (booking, generation).
CREATE TABLE bookings_new (
    id                   TEXT NOT NULL,
    property_id          TEXT NOT NULL,
    tenant_id            TEXT,
    guest_name           TEXT NOT NULL,
    guest_email          TEXT,
    check_in             TEXT NOT NULL,
    check_out            TEXT NOT NULL,
    status               TEXT NOT NULL,
    hold_id              TEXT,
    checked_out_at       BIGINT,
    claim_until          BIGINT,
    settled_at           BIGINT,
    saved_payment_method TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    version              BIGINT NOT NULL DEFAULT 0,
    processor_customer   TEXT,
    hold_generation      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (property_id, id)
);
INSERT INTO bookings_new (id, property_id, tenant_id, guest_name, guest_email, check_in, check_out, status, hold_id,
    checked_out_at, claim_until, settled_at, saved_payment_method, created_at, updated_at, version, processor_customer,
    hold_generation)
SELECT id, property_id, tenant_id, guest_name, guest_email, check_in, check_out, status, hold_id,
    checked_out_at, claim_until, settled_at, saved_payment_method, created_at, updated_at, version, processor_customer,
    CASE WHEN hold_id IS NULL THEN 0 ELSE 1 END
FROM bookings;
DROP TABLE bookings;
ALTER TABLE bookings_new RENAME TO bookings;
CREATE INDEX bookings_by_id ON bookings (id);
CREATE INDEX bookings_by_property ON bookings (property_id, created_at);
CREATE INDEX bookings_by_status ON bookings (status, claim_until);
CREATE INDEX bookings_by_hold ON bookings (hold_id);

-- Damage claims name their booking's property too.
ALTER TABLE damage_claims ADD COLUMN property_id TEXT;
UPDATE damage_claims SET property_id = (SELECT property_id FROM holds WHERE holds.id = damage_claims.hold_id);

-- An email being sent is claimed, like a job, so two instances never both send it.
ALTER TABLE notifications ADD COLUMN claimed_until BIGINT;
