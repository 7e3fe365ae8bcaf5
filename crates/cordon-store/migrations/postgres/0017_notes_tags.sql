-- Issue 20: agents' internal notes on a conversation (never shown to the visitor), sealed like message bodies
-- (the tenant's data key, bound to tenant, conversation and note), and a conversation's tags and priority. Tags
-- are short labels from a fixed alphabet (kept as a JSON list, searchable); priority is one of four words.
CREATE TABLE conversation_notes (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    agent_id         TEXT NOT NULL REFERENCES agents(id),
    sealed           BYTEA NOT NULL,
    created_at       BIGINT NOT NULL
);
CREATE INDEX conversation_notes_conversation ON conversation_notes (tenant_id, conversation_id, created_at);
CREATE TABLE conversation_meta (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    tags             TEXT NOT NULL,
    priority         TEXT NOT NULL,
    updated_by       TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
CREATE INDEX conversation_meta_priority ON conversation_meta (tenant_id, priority, updated_at);
