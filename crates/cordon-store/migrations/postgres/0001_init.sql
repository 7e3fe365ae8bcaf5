-- Cordon schema v1 (PostgreSQL). Timestamps are unix milliseconds. Ids are opaque random strings.
CREATE TABLE keyring (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    widget_key      TEXT NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL,          -- JSON array of origins
    verify_identity BIGINT NOT NULL DEFAULT 0,
    identity_secret BYTEA NOT NULL,          -- wrapped by the master key
    created_at      BIGINT NOT NULL
);

-- Each tenant's data keys, wrapped by the master key. Deleting a row shreds what it sealed.
CREATE TABLE tenant_keys (
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_id     BIGINT NOT NULL,
    wrapped    BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, key_id)
);

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    capacity      BIGINT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'offline',
    password_hash TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    UNIQUE (tenant_id, username)
);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    agent_id     TEXT NOT NULL REFERENCES agents(id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX sessions_agent ON sessions (tenant_id, agent_id);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    key_hash   BYTEA NOT NULL UNIQUE,
    prefix     TEXT NOT NULL,
    scopes     TEXT NOT NULL,               -- space-separated
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE visitors (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    token_hash BYTEA NOT NULL UNIQUE,
    user_id    TEXT,                        -- set only for HMAC-verified visitors
    created_at BIGINT NOT NULL
);
CREATE INDEX visitors_user ON visitors (tenant_id, user_id);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    visitor_id TEXT NOT NULL REFERENCES visitors(id),
    state      TEXT NOT NULL,               -- queued | assigned | closed
    agent_id   TEXT REFERENCES agents(id),
    last_seq   BIGINT NOT NULL DEFAULT 0,  -- the per-conversation sequencer, bumped under the row's write lock
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at  BIGINT
);
CREATE INDEX conversations_tenant ON conversations (tenant_id, created_at, id);
CREATE INDEX conversations_queue ON conversations (tenant_id, state, created_at);
CREATE INDEX conversations_agent ON conversations (agent_id, state);
CREATE INDEX conversations_visitor ON conversations (tenant_id, visitor_id);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq             BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL,
    sender_kind     TEXT NOT NULL,          -- visitor | agent | system
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            BYTEA NOT NULL,          -- sealed: XChaCha20-Poly1305 under a per-conversation subkey
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id)
);

CREATE TABLE visitor_sessions (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    visitor_id     TEXT NOT NULL,
    node           TEXT NOT NULL,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    agents         TEXT NOT NULL DEFAULT '[]',  -- JSON array of agent ids
    cards_redacted BIGINT NOT NULL DEFAULT 0,
    embed_origin   TEXT,
    asset_hashes   TEXT
);
CREATE INDEX visitor_sessions_time ON visitor_sessions (tenant_id, started_at);
