-- The audit trail: one row per event, chained by hash (see docs/audit.md). Sequence numbers
-- are given out under the row lock on audit_head, in the same transaction as the change an event
-- records, so the chain has no gaps and no forks however many nodes append at once.

CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL,
    actor_id    TEXT   NOT NULL,
    actor_org   TEXT,
    client_addr TEXT,
    action      TEXT   NOT NULL,
    target_kind TEXT,
    target_id   TEXT,
    org         TEXT,
    outcome     TEXT   NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    details     TEXT   NOT NULL,
    prev_hash   BYTEA  NOT NULL CHECK (length(prev_hash) = 32),
    hash        BYTEA  NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_events_org ON audit_events (org, seq);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- The chain's head: the last sequence number given out and its hash.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT  NOT NULL,
    hash BYTEA   NOT NULL CHECK (length(hash) = 32)
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- A key stopped by a download alert until an administrator lets it go on.
ALTER TABLE api_keys ADD COLUMN suspended_at BIGINT;

-- The application never changes or removes an event; this stops it doing so by mistake. (Someone
-- with the database can drop it: the hash chain and the checkpoints kept outside are what catch that.)
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
