-- ChittyCharge schema (SQLite). Amounts are integer minor units; instants
-- are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE holds (
    id                TEXT PRIMARY KEY,          -- the processor's PaymentIntent id
    chitty_id         TEXT NOT NULL UNIQUE,
    processor         TEXT NOT NULL,
    client_secret     TEXT,
    status            TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    amount_capturable BIGINT NOT NULL DEFAULT 0,
    amount_captured   BIGINT NOT NULL DEFAULT 0,
    amount_released   BIGINT NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL,
    description       TEXT NOT NULL,
    customer_email    TEXT,
    property_id       TEXT,
    tenant_id         TEXT,
    booking_id        TEXT,
    tier              TEXT NOT NULL,
    tier_reason       TEXT NOT NULL,
    processing_fee    BIGINT,
    metadata          TEXT NOT NULL,             -- JSON object of strings
    reason            TEXT,                      -- cancel reason or last decline
    expires_at        BIGINT,                    -- capture_before
    captured_at       BIGINT,
    canceled_at       BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    created_by        TEXT,
    version           BIGINT NOT NULL DEFAULT 0, -- compare-and-set guard
    op_lock           TEXT                       -- operation in flight
);
CREATE INDEX holds_by_created ON holds (created_at DESC, id DESC);
CREATE INDEX holds_by_property ON holds (property_id, created_at DESC);
CREATE INDEX holds_by_tenant ON holds (tenant_id, created_at DESC);
CREATE INDEX holds_by_status ON holds (status, created_at DESC);

-- The audit trail: append-only, one row per thing that happened to a hold.
CREATE TABLE hold_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hold_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    actor       TEXT,
    from_status TEXT,
    to_status   TEXT,
    amount      BIGINT,
    reason      TEXT,
    data        TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX hold_events_by_hold ON hold_events (hold_id, id);

-- Every mutating processor call is recorded here before it is made; the
-- row id is the idempotency key sent to the processor.
CREATE TABLE operations (
    id              TEXT PRIMARY KEY,
    hold_id         TEXT,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,               -- pending | succeeded | failed | unknown
    request         TEXT NOT NULL,
    error           TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX operations_by_status ON operations (status, next_attempt_at);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,           -- SHA-256 of the token; the token itself is never stored
    scopes       TEXT NOT NULL,
    property_ids TEXT,
    rate_limit   BIGINT,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

-- The simulated processor's own objects (its "Stripe account").
CREATE TABLE sim_objects (
    ns      TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (ns, key)
);
