-- Organisations, API keys, transfers and their deliveries and downloads.
-- Times are milliseconds since the Unix epoch (UTC), set by the server.

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('school', 'team', 'system')),
    dfe_number  TEXT    UNIQUE CHECK (dfe_number IS NULL OR length(dfe_number) = 7),
    slug        TEXT    UNIQUE,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    closed_at   INTEGER,
    CHECK ((kind = 'school') = (dfe_number IS NOT NULL)),
    CHECK ((kind = 'school') = (slug IS NULL))
);

CREATE TABLE api_keys (
    key_id       TEXT    PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES organisations (id),
    name         TEXT    NOT NULL,
    secret_hash  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (org_id, name)
);

CREATE TABLE transfers (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT    NOT NULL UNIQUE,
    object_id      TEXT    NOT NULL UNIQUE,
    channel        TEXT    NOT NULL,
    sender_org_id  INTEGER NOT NULL REFERENCES organisations (id),
    sender_key_id  TEXT    REFERENCES api_keys (key_id),
    filename       TEXT    NOT NULL,
    content_type   TEXT    NOT NULL,
    size           INTEGER NOT NULL CHECK (size >= 0),
    sha256         BLOB    NOT NULL CHECK (length(sha256) = 32),
    -- The data key, wrapped by the keyring's key kek_id. NULL once the transfer is withdrawn or
    -- purged: without it the object can never be decrypted again, wherever a copy survives.
    kek_id         TEXT,
    wrapped_dek    BLOB,
    state          TEXT    NOT NULL CHECK (state IN ('available', 'withdrawn', 'expired', 'purged')),
    created_at     INTEGER NOT NULL,
    withdrawn_at   INTEGER,
    CHECK ((kek_id IS NULL) = (wrapped_dek IS NULL))
);

CREATE INDEX transfers_sent ON transfers (sender_org_id, seq);
CREATE INDEX transfers_kek ON transfers (kek_id) WHERE kek_id IS NOT NULL;

-- One row per recipient mailbox a transfer is delivered into.
CREATE TABLE deliveries (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_seq      INTEGER NOT NULL REFERENCES transfers (seq),
    recipient_org_id  INTEGER NOT NULL REFERENCES organisations (id),
    removed_at        INTEGER,
    UNIQUE (transfer_seq, recipient_org_id)
);

CREATE INDEX deliveries_inbox ON deliveries (recipient_org_id, seq) WHERE removed_at IS NULL;

CREATE TABLE downloads (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    transfer_seq INTEGER NOT NULL REFERENCES transfers (seq),
    org_id       INTEGER NOT NULL REFERENCES organisations (id),
    key_id       TEXT    REFERENCES api_keys (key_id),
    client_addr  TEXT,
    range_start  INTEGER,
    range_end    INTEGER,
    at           INTEGER NOT NULL
);

CREATE INDEX downloads_transfer ON downloads (transfer_seq, seq);
