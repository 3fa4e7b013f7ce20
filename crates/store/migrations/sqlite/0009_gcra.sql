-- The per-token and per-address rate limits become GCRA (the generic cell
-- rate algorithm): one "theoretical arrival time" per key, in microseconds,
-- shared by every instance on one database. It replaces the fixed-window
-- counters, which let a burst across a minute boundary through twice.
DROP TABLE rate_limits;
CREATE TABLE rate_limit_state (
    key     TEXT PRIMARY KEY,
    tat_us  BIGINT NOT NULL,
    allowed INTEGER NOT NULL
);
