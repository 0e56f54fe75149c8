-- API keys for automated jobs: shown once, stored as a hash, scoped to an organisation, to
-- channels ('*' for all) and to a direction, with an optional expiry.

CREATE TABLE api_keys (
    key_id       TEXT    PRIMARY KEY,
    org_id       BIGINT  NOT NULL REFERENCES organisations (id),
    name         TEXT    NOT NULL,
    secret_hash  BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT,
    -- Comma-separated channel slugs, as on SQLite, so both engines hand back the same scope.
    channels     TEXT    NOT NULL DEFAULT 'general',
    can_send     BOOLEAN NOT NULL DEFAULT TRUE,
    can_receive  BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at   BIGINT,
    UNIQUE (org_id, name)
);
