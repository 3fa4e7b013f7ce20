-- Idempotency-Key records for our own API: the first response is kept and
-- replayed for 24 hours.
CREATE TABLE api_idempotency (
    scope        TEXT NOT NULL,      -- the calling token
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,      -- SHA-256 of method, path and body
    state        TEXT NOT NULL,      -- in_flight | done
    status       BIGINT,
    body         TEXT,
    content_type TEXT,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- Fixed-window request counters, shared by every instance on one database.
CREATE TABLE rate_limits (
    key          TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count        BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Properties, as the operator identifies them.
CREATE TABLE properties (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    premium             BIGINT NOT NULL DEFAULT 0,
    currency            TEXT NOT NULL,
    default_hold_amount BIGINT NOT NULL,
    claim_window_hours  BIGINT NOT NULL,
    time_zone           TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX holds_by_email ON holds (customer_email, status);
