-- Cordon schema v1 (SQLite). Timestamps are unix milliseconds. Ids are opaque random strings.
CREATE TABLE keyring (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    widget_key      TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL,          -- JSON array of origins
    verify_identity INTEGER NOT NULL DEFAULT 0,
    identity_secret BLOB NOT NULL,          -- wrapped by the master key
    created_at      INTEGER NOT NULL
);

-- Each tenant's data keys, wrapped by the master key. Deleting a row shreds what it sealed.
CREATE TABLE tenant_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_id     INTEGER NOT NULL,
    wrapped    BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    capacity      INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'offline',
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    UNIQUE (tenant_id, username)
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BLOB NOT NULL UNIQUE,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_agent ON sessions (tenant_id, agent_id);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_hash   BLOB NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    scopes     TEXT NOT NULL,               -- space-separated
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE visitors (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    token_hash BLOB NOT NULL UNIQUE,
    user_id    TEXT,                        -- set only for HMAC-verified visitors
    created_at INTEGER NOT NULL
);
CREATE INDEX visitors_user ON visitors (tenant_id, user_id);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    visitor_id TEXT NOT NULL REFERENCES visitors(id),
    state      TEXT NOT NULL,               -- queued | assigned | closed
    agent_id   TEXT REFERENCES agents(id),
    last_seq   INTEGER NOT NULL DEFAULT 0,  -- the per-conversation sequencer, bumped under the row's write lock
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    closed_at  INTEGER
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, created_at, id);
CREATE INDEX conversations_queue ON conversations (tenant_id, state, created_at);
CREATE INDEX conversations_agent ON conversations (agent_id, state);
CREATE INDEX conversations_visitor ON conversations (tenant_id, visitor_id);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq             INTEGER NOT NULL,
    tenant_id       TEXT NOT NULL,
    sender_kind     TEXT NOT NULL,          -- visitor | agent | system
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            BLOB NOT NULL,          -- sealed: XChaCha20-Poly1305 under a per-conversation subkey
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id)
);

CREATE TABLE visitor_sessions (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    visitor_id     TEXT NOT NULL,
    node           TEXT NOT NULL,
    started_at     INTEGER NOT NULL,
    ended_at       INTEGER,
    agents         TEXT NOT NULL DEFAULT '[]',  -- JSON array of agent ids
    cards_redacted INTEGER NOT NULL DEFAULT 0,
    embed_origin   TEXT,
    asset_hashes   TEXT
);
CREATE INDEX visitor_sessions_time ON visitor_sessions (tenant_id, started_at);
