-- Issue 20: how far each agent has read each conversation, so an unread count is the same in every console the
-- agent has open (read on the desktop, not still unread on the phone). One row per agent and conversation, only
-- ever moved forward; it holds seq numbers, no text.
CREATE TABLE agent_reads (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    agent_id        TEXT NOT NULL REFERENCES agents(id),
    seq             BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, conversation_id)
);
CREATE INDEX agent_reads_conversation ON agent_reads (tenant_id, conversation_id);
