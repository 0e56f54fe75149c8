-- Batch drops and the sender's quarantine, messages sent without a file, and a note on how a
-- transfer was routed (a file named for an old DfE number, forwarded to the school that
-- carries it on).

CREATE TABLE batches (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    channel       TEXT    NOT NULL,
    sender_org_id INTEGER NOT NULL REFERENCES organisations (id),
    sender_key_id TEXT    REFERENCES api_keys (key_id),
    created_at    INTEGER NOT NULL,
    -- The per-file report as JSON, written when the last file has been placed. NULL while the
    -- batch is being read, or if the server stopped part way (its transfers are still listed).
    report        TEXT,
    finished_at   INTEGER
);
CREATE INDEX batches_sender ON batches (sender_org_id, seq);

ALTER TABLE transfers ADD COLUMN batch_seq INTEGER REFERENCES batches (seq);
-- In the sender's quarantine while quarantine_code is set: stored, delivered to nobody.
ALTER TABLE transfers ADD COLUMN quarantine_code TEXT;
ALTER TABLE transfers ADD COLUMN quarantine_reason TEXT;
ALTER TABLE transfers ADD COLUMN quarantined_at INTEGER;
ALTER TABLE transfers ADD COLUMN routing_note TEXT;
-- 0 for a message sent without a file: it has no object and no data key.
ALTER TABLE transfers ADD COLUMN has_file INTEGER NOT NULL DEFAULT 1;

CREATE INDEX transfers_quarantine ON transfers (sender_org_id, seq) WHERE quarantine_code IS NOT NULL;
CREATE INDEX transfers_batch ON transfers (batch_seq) WHERE batch_seq IS NOT NULL;
CREATE INDEX organisation_successions_predecessor ON organisation_successions (predecessor_org_id);
