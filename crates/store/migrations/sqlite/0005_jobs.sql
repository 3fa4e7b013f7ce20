-- Durable background jobs. `key` makes scheduling idempotent: the same job
-- is never queued twice.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL UNIQUE,
    hold_id      TEXT,
    booking_id   TEXT,
    payload      TEXT NOT NULL,
    run_at       BIGINT NOT NULL,
    status       TEXT NOT NULL,           -- queued | running | done | failed
    attempts     BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);

ALTER TABLE properties ADD COLUMN hold_lead_days BIGINT NOT NULL DEFAULT 2;
ALTER TABLE bookings ADD COLUMN processor_customer TEXT;
