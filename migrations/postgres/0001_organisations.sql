-- Organisations (schools from the register, LA teams, the system) and the register's record of
-- which school carries on from which. The same schema as migrations/sqlite/0001..0005 taken
-- together, in PostgreSQL's own types. Times are milliseconds since the Unix epoch (UTC), set
-- by the server, as on SQLite, so both engines compare and order them the same way.

CREATE TABLE organisations (
    id                 BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('school', 'team', 'system')),
    dfe_number         TEXT    UNIQUE CHECK (dfe_number IS NULL OR length(dfe_number) = 7),
    slug               TEXT    UNIQUE,
    name               TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    closed_at          BIGINT,
    urn                BIGINT,
    establishment_type TEXT,
    phase              TEXT,
    -- GIAS status for schools ('open', 'open_proposed_to_close', 'proposed_to_open', 'closed');
    -- teams are 'open' or 'closed'.
    status             TEXT    NOT NULL DEFAULT 'open',
    totp_required      BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK ((kind = 'school') = (dfe_number IS NOT NULL)),
    CHECK ((kind = 'school') = (slug IS NULL))
);
CREATE UNIQUE INDEX organisations_urn ON organisations (urn) WHERE urn IS NOT NULL;

CREATE TABLE organisation_successions (
    predecessor_org_id BIGINT NOT NULL REFERENCES organisations (id),
    predecessor_urn    BIGINT NOT NULL,
    successor_org_id   BIGINT NOT NULL REFERENCES organisations (id),
    successor_urn      BIGINT NOT NULL,
    link_type          TEXT   NOT NULL,
    established_on     DATE,
    PRIMARY KEY (predecessor_urn, successor_urn)
);
CREATE INDEX organisation_successions_predecessor ON organisation_successions (predecessor_org_id);
CREATE INDEX organisation_successions_successor ON organisation_successions (successor_org_id);
