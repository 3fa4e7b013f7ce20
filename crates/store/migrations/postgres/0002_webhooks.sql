-- Inbound processor events, deduplicated by the processor's event id.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,   -- the signature's timestamp (seconds)
    received_at BIGINT NOT NULL,
    result      TEXT
);
