-- Retention: when a transfer was purged and when its recipients were (to be) warned of its
-- expiry, legal holds that stop purging, and leases that let one node at a time run a
-- background job.

-- Set in the transaction that destroys the data key (crypto-shredding) and records the purge.
ALTER TABLE transfers ADD COLUMN purged_at BIGINT;
-- Set once, with its audit event, when the expiry warning is recorded.
ALTER TABLE transfers ADD COLUMN expiry_warned_at BIGINT;

CREATE INDEX transfers_available ON transfers (seq) WHERE state = 'available';

-- A hold stops purging of everything in its scope until it is lifted. Lifted holds are kept:
-- who held what, why, and for how long is part of the record.
CREATE TABLE holds (
    id         UUID   PRIMARY KEY,
    scope      TEXT   NOT NULL CHECK (scope IN ('transfer', 'organisation', 'channel')),
    -- The transfer id, the organisation's reference (825/2001, smst) or the channel slug.
    target     TEXT   NOT NULL,
    -- For an organisation hold, the organisation (it covers everything it sent or received).
    org_id     BIGINT REFERENCES organisations (id),
    reason     TEXT   NOT NULL,
    placed_at  BIGINT NOT NULL,
    placed_by  TEXT   NOT NULL,
    lifted_at  BIGINT,
    lifted_by  TEXT,
    CHECK ((scope = 'organisation') = (org_id IS NOT NULL)),
    CHECK ((lifted_at IS NULL) = (lifted_by IS NULL))
);
CREATE INDEX holds_active ON holds (scope, target) WHERE lifted_at IS NULL;

-- One row per background job: the node running it and until when its claim lasts. A node
-- that dies stops renewing, and another takes the job over once expires_at has passed.
CREATE TABLE leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
