-- People and their sessions: users with roles and functions, password and TOTP credentials,
-- refresh sessions, login failures (counted here so every node sees them), terms acceptance
-- and annual user-list confirmations.

CREATE TABLE users (
    id                  BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id              BIGINT  NOT NULL REFERENCES organisations (id),
    username            TEXT    NOT NULL,
    display_name        TEXT    NOT NULL,
    role                TEXT    NOT NULL CHECK (role IN ('school_user', 'school_admin', 'la_user', 'la_admin', 'system_admin')),
    status              TEXT    NOT NULL CHECK (status IN ('requested', 'active', 'disabled')),
    password_hash       TEXT,
    password_changed_at BIGINT,
    -- The TOTP secret, sealed like a data key: wrapped by the keyring under the user's id.
    totp_kek_id         TEXT,
    totp_wrapped        BYTEA,
    totp_confirmed_at   BIGINT,
    -- The time step of the last accepted code; a code is accepted only for a later step, so
    -- each code works once however many nodes see it.
    totp_last_step      BIGINT,
    disable_on          BIGINT,
    last_login_at       BIGINT,
    -- When the account was last (re)activated: the inactivity clock starts here at the latest.
    activated_at        BIGINT,
    created_at          BIGINT  NOT NULL,
    requested_by        BIGINT  REFERENCES users (id),
    approved_by         BIGINT  REFERENCES users (id),
    disabled_at         BIGINT,
    disabled_reason     TEXT
);
CREATE UNIQUE INDEX users_username ON users (lower(username));
CREATE INDEX users_org ON users (org_id);

CREATE TABLE recovery_codes (
    user_id   BIGINT NOT NULL REFERENCES users (id),
    code_hash BYTEA  NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Functions within an organisation (data, finance, admissions, ...), defined by the LA.
CREATE TABLE functions (
    slug       TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_functions (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    function   TEXT   NOT NULL REFERENCES functions (slug),
    -- Temporary cover lapses by itself at this time.
    until      BIGINT,
    granted_by BIGINT REFERENCES users (id),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, function)
);

CREATE TABLE sessions (
    id                    TEXT   PRIMARY KEY,
    user_id               BIGINT NOT NULL REFERENCES users (id),
    refresh_hash          BYTEA  NOT NULL UNIQUE,
    -- The refresh token this one replaced: presented again, it shows a stolen token.
    previous_refresh_hash BYTEA,
    created_at            BIGINT NOT NULL,
    refreshed_at          BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    revoked_at            BIGINT,
    revoked_reason        TEXT,
    client_addr           TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_previous ON sessions (previous_refresh_hash);

-- One row per failed login and subject (a username, a client address): rows are only ever
-- added and pruned, never updated, so failures recorded by several nodes at once all count.
CREATE TABLE login_failures (
    subject TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE terms_acceptances (
    user_id     BIGINT NOT NULL REFERENCES users (id),
    version     BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, version)
);

CREATE TABLE user_list_confirmations (
    org_id       BIGINT NOT NULL REFERENCES organisations (id),
    confirmed_by BIGINT NOT NULL REFERENCES users (id),
    confirmed_at BIGINT NOT NULL
);
CREATE INDEX user_list_confirmations_org ON user_list_confirmations (org_id, confirmed_at);
