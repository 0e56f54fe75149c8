-- What every node must agree on before it serves: which master keys the data is sealed under,
-- and whether the first-start work has been done.

-- The master keys this database has seen, by id, with a check value: the first 16 bytes of
-- HMAC-SHA256(key, a fixed label). The check tells two keys that share an id apart without
-- revealing either; the key itself is never stored. A key stays here after it is retired.
CREATE TABLE master_keys (
    kek_id        TEXT   PRIMARY KEY,
    -- NULL for a key id found in rows sealed before this table existed; the first node that
    -- opens one of those rows with its key fills it in.
    check_value   BYTEA  CHECK (check_value IS NULL OR length(check_value) = 16),
    first_seen_at BIGINT NOT NULL,
    -- When a node last started with this key as its primary: the newest is the key every node
    -- must hold, since new files are sealed under it.
    primary_since BIGINT
);
INSERT INTO master_keys (kek_id, first_seen_at)
SELECT kek_id, (extract(epoch FROM now()) * 1000)::BIGINT
FROM (SELECT kek_id FROM transfers WHERE kek_id IS NOT NULL
      UNION SELECT totp_kek_id FROM users WHERE totp_kek_id IS NOT NULL) AS sealed;

-- One row: how much of the first-start work (the system organisation and its administrator,
-- the functions the channels route by) is done. A node takes this row's lock to do the rest,
-- so nodes starting together do it once.
CREATE TABLE installation (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    bootstrap_version INTEGER NOT NULL,
    bootstrapped_at   BIGINT
);
-- A database that already has people was set up by an earlier release's first start.
INSERT INTO installation (id, bootstrap_version)
VALUES (1, CASE WHEN EXISTS (SELECT 1 FROM users) THEN 1 ELSE 0 END);
