-- Transfers and where they went: batch drops and the sender's quarantine, deliveries into
-- mailboxes, downloads (receipts), replies linked to their request, and a note on how a
-- transfer was routed.

CREATE TABLE batches (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID   NOT NULL UNIQUE,
    channel       TEXT   NOT NULL,
    sender_org_id BIGINT NOT NULL REFERENCES organisations (id),
    sender_key_id TEXT   REFERENCES api_keys (key_id),
    created_at    BIGINT NOT NULL,
    -- The per-file report as JSON, written when the last file has been placed. NULL while the
    -- batch is being read, or if the server stopped part way (its transfers are still listed).
    report        TEXT,
    finished_at   BIGINT
);
CREATE INDEX batches_sender ON batches (sender_org_id, seq);

-- seq orders transfers for paging, newest first. Unlike SQLite's single writer, two nodes may
-- commit transfers out of seq order, so a reader part way down its pages can miss one committed
-- behind it meanwhile; it is there at the top of the next listing, never lost or shown twice.
CREATE TABLE transfers (
    seq               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                UUID    NOT NULL UNIQUE,
    object_id         UUID    NOT NULL UNIQUE,
    channel           TEXT    NOT NULL,
    sender_org_id     BIGINT  NOT NULL REFERENCES organisations (id),
    sender_key_id     TEXT    REFERENCES api_keys (key_id),
    filename          TEXT    NOT NULL,
    content_type      TEXT    NOT NULL,
    size              BIGINT  NOT NULL CHECK (size >= 0),
    sha256            BYTEA   NOT NULL CHECK (length(sha256) = 32),
    -- The data key, wrapped by the keyring's key kek_id. NULL once the transfer is withdrawn or
    -- purged: without it the object can never be decrypted again, wherever a copy survives.
    kek_id            TEXT,
    wrapped_dek       BYTEA,
    state             TEXT    NOT NULL CHECK (state IN ('available', 'withdrawn', 'expired', 'purged')),
    created_at        BIGINT  NOT NULL,
    withdrawn_at      BIGINT,
    -- A short message from the sender beside the file.
    message           TEXT,
    reply_to_seq      BIGINT  REFERENCES transfers (seq),
    -- FALSE for a message sent without a file: it has no object and no data key.
    has_file          BOOLEAN NOT NULL DEFAULT TRUE,
    -- In the sender's quarantine while quarantine_code is set: stored, delivered to nobody.
    quarantine_code   TEXT,
    quarantine_reason TEXT,
    quarantined_at    BIGINT,
    routing_note      TEXT,
    batch_seq         BIGINT  REFERENCES batches (seq),
    CHECK ((kek_id IS NULL) = (wrapped_dek IS NULL))
);
CREATE INDEX transfers_sent ON transfers (sender_org_id, seq);
CREATE INDEX transfers_kek ON transfers (kek_id) WHERE kek_id IS NOT NULL;
CREATE INDEX transfers_reply_to ON transfers (reply_to_seq) WHERE reply_to_seq IS NOT NULL;
CREATE INDEX transfers_quarantine ON transfers (sender_org_id, seq) WHERE quarantine_code IS NOT NULL;
CREATE INDEX transfers_batch ON transfers (batch_seq) WHERE batch_seq IS NOT NULL;

-- One row per recipient mailbox a transfer is delivered into.
CREATE TABLE deliveries (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_seq     BIGINT NOT NULL REFERENCES transfers (seq),
    recipient_org_id BIGINT NOT NULL REFERENCES organisations (id),
    removed_at       BIGINT,
    UNIQUE (transfer_seq, recipient_org_id)
);
CREATE INDEX deliveries_inbox ON deliveries (recipient_org_id, seq) WHERE removed_at IS NULL;

CREATE TABLE downloads (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_seq BIGINT NOT NULL REFERENCES transfers (seq),
    org_id       BIGINT NOT NULL REFERENCES organisations (id),
    key_id       TEXT   REFERENCES api_keys (key_id),
    client_addr  TEXT,
    range_start  BIGINT,
    range_end    BIGINT,
    at           BIGINT NOT NULL
);
CREATE INDEX downloads_transfer ON downloads (transfer_seq, seq);
