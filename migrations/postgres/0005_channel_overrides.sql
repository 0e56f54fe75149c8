-- Channel definitions changed by LA administrators through the API. The effective catalogue is
-- config/channels.toml with these laid over it, slug by slug; a slug the file does not know is
-- a channel that exists only here. Every node reads the table, so they converge on one catalogue.
CREATE TABLE channel_overrides (
    slug       TEXT   PRIMARY KEY,
    -- The whole channel as JSON, in the same fields as the TOML file. TEXT, not JSONB: the
    -- application parses it, and a row written by a newer version must come back byte for byte.
    definition TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users (id)
);
