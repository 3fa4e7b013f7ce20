-- Booking ids are the operator's, unique per property (not across the
-- install), and a booking counts the holds it has placed so the processor
-- idempotency key of its next hold is derived from (booking, generation).
ALTER TABLE bookings DROP CONSTRAINT bookings_pkey;
ALTER TABLE bookings ADD PRIMARY KEY (property_id, id);
CREATE INDEX bookings_by_id ON bookings (id);
ALTER TABLE bookings ADD COLUMN hold_generation BIGINT NOT NULL DEFAULT 0;
UPDATE bookings SET hold_generation = 1 WHERE hold_id IS NOT NULL;

-- Damage claims name their booking's property too.
ALTER TABLE damage_claims ADD COLUMN property_id TEXT;
UPDATE damage_claims SET property_id = (SELECT property_id FROM holds WHERE holds.id = damage_claims.hold_id);

-- An email being sent is claimed, like a job, so two instances never both send it.
ALTER TABLE notifications ADD COLUMN claimed_until BIGINT;
