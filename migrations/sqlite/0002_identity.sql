-- People, sessions and the register of schools: users with roles and functions, password and
-- TOTP credentials, refresh sessions, login failures (counted here so every node sees them),
-- terms acceptance, annual user-list confirmations, GIAS details and successions, key scopes.

ALTER TABLE organisations ADD COLUMN urn INTEGER;
ALTER TABLE organisations ADD COLUMN establishment_type TEXT;
ALTER TABLE organisations ADD COLUMN phase TEXT;
-- GIAS status for schools ('open', 'open_proposed_to_close', 'proposed_to_open', 'closed');
-- teams are 'open' or 'closed'.
ALTER TABLE organisations ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
ALTER TABLE organisations ADD COLUMN totp_required INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX organisations_urn ON organisations (urn) WHERE urn IS NOT NULL;

CREATE TABLE organisation_successions (
    predecessor_org_id INTEGER NOT NULL REFERENCES organisations (id),
    predecessor_urn    INTEGER NOT NULL,
    successor_org_id   INTEGER NOT NULL REFERENCES organisations (id),
    successor_urn      INTEGER NOT NULL,
    link_type          TEXT    NOT NULL,
    established_on     TEXT,
    PRIMARY KEY (predecessor_urn, successor_urn)
);

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    org_id              INTEGER NOT NULL REFERENCES organisations (id),
    username            TEXT    NOT NULL,
    display_name        TEXT    NOT NULL,
    role                TEXT    NOT NULL CHECK (role IN ('school_user', 'school_admin', 'la_user', 'la_admin', 'system_admin')),
    status              TEXT    NOT NULL CHECK (status IN ('requested', 'active', 'disabled')),
    password_hash       TEXT,
    password_changed_at INTEGER,
    -- The TOTP secret, sealed like a data key: wrapped by the keyring under the user's id.
    totp_kek_id         TEXT,
    totp_wrapped        BLOB,
    totp_confirmed_at   INTEGER,
    totp_last_step      INTEGER,
    disable_on          INTEGER,
    last_login_at       INTEGER,
    -- When the account was last (re)activated: the inactivity clock starts here at the latest.
    activated_at        INTEGER,
    created_at          INTEGER NOT NULL,
    requested_by        INTEGER REFERENCES users (id),
    approved_by         INTEGER REFERENCES users (id),
    disabled_at         INTEGER,
    disabled_reason     TEXT
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE INDEX users_org ON users (org_id);

CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id),
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,
    PRIMARY KEY (user_id, code_hash)
);

-- Functions within an organisation (data, finance, admissions, ...), defined by the LA.
CREATE TABLE functions (
    slug       TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE user_functions (
    user_id    INTEGER NOT NULL REFERENCES users (id),
    function   TEXT    NOT NULL REFERENCES functions (slug),
    -- Temporary cover lapses by itself at this time.
    until      INTEGER,
    granted_by INTEGER REFERENCES users (id),
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, function)
);

CREATE TABLE sessions (
    id                    TEXT    PRIMARY KEY,
    user_id               INTEGER NOT NULL REFERENCES users (id),
    refresh_hash          BLOB    NOT NULL UNIQUE,
    -- The refresh token this one replaced: presented again, it shows a stolen token.
    previous_refresh_hash BLOB,
    created_at            INTEGER NOT NULL,
    refreshed_at          INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    revoked_at            INTEGER,
    revoked_reason        TEXT,
    client_addr           TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_previous ON sessions (previous_refresh_hash);

CREATE TABLE login_failures (
    subject TEXT    NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at);

CREATE TABLE terms_acceptances (
    user_id     INTEGER NOT NULL REFERENCES users (id),
    version     INTEGER NOT NULL,
    accepted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE user_list_confirmations (
    org_id       INTEGER NOT NULL REFERENCES organisations (id),
    confirmed_by INTEGER NOT NULL REFERENCES users (id),
    confirmed_at INTEGER NOT NULL
);
CREATE INDEX user_list_confirmations_org ON user_list_confirmations (org_id, confirmed_at);

-- Key scopes: the channels a job may use ('*' for all) and in which direction; an expiry.
ALTER TABLE api_keys ADD COLUMN channels TEXT NOT NULL DEFAULT 'general';
ALTER TABLE api_keys ADD COLUMN can_send INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN can_receive INTEGER NOT NULL DEFAULT 1;
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
