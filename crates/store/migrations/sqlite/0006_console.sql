-- Manager console sessions. The cookie carries the session id; only its
-- SHA-256 is stored.
CREATE TABLE console_sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
