-- Disputes of captured holds, as the processor last reported them (one
-- per charge at Stripe), and the index behind a hold's notifications in
-- its dispute evidence.
CREATE TABLE disputes (
    id              TEXT PRIMARY KEY,
    hold_id         TEXT NOT NULL,
    property_id     TEXT,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL,
    evidence_due_by BIGINT,
    funds_withdrawn BIGINT NOT NULL DEFAULT 0,
    submitted_at    BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX disputes_by_hold ON disputes (hold_id);
CREATE INDEX disputes_by_status ON disputes (status, evidence_due_by);
CREATE INDEX notifications_by_hold ON notifications (hold_id, created_at);
