-- Webhooks (issue 16): a tenant's endpoints and the durable outbox of events to deliver to them.
-- An outbox row is written in the same transaction as the event it reports (a conversation's change, a
-- message), one row per endpoint that subscribes to the event, so an event is never lost between commit and
-- delivery. Rows hold no visitor text: a message event names (conversation, seq) and its redacted text is
-- read, within the tenant, when the request is built.
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    url            TEXT NOT NULL,
    secret_wrapped BLOB NOT NULL,          -- the signing secret, wrapped by the master key
    events         TEXT NOT NULL,          -- ' '-separated event types, with a space before and after each
    enabled        INTEGER NOT NULL DEFAULT 1,
    description    TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,       -- the webhook-id header: the same on every attempt
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    conversation_id TEXT,
    seq             INTEGER,                -- message events: the message
    data            TEXT NOT NULL,          -- JSON; never visitor text
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    dead_at         INTEGER
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_outbox_tenant ON webhook_outbox (tenant_id, created_at);

-- The outbox is filled by triggers, so every writer of these tables is covered and each event's rows commit
-- with it, in the same statement; a tenant without endpoints costs one probe of an empty index.
CREATE TRIGGER webhook_conversation_created AFTER INSERT ON conversations
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'conversation.created', NEW.id,
               json_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                           'agent_id', NEW.agent_id),
               NEW.created_at, NEW.created_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1 AND instr(e.events, ' conversation.created ') > 0;
    -- Opened straight to an agent: that is an assignment too, as when a queued one gets its agent later.
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'conversation.assigned', NEW.id,
               json_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                           'agent_id', NEW.agent_id, 'previous_agent_id', NULL),
               NEW.created_at, NEW.created_at
        FROM webhook_endpoints e
        WHERE NEW.agent_id IS NOT NULL AND e.tenant_id = NEW.tenant_id AND e.enabled = 1
          AND instr(e.events, ' conversation.assigned ') > 0;
END;

CREATE TRIGGER webhook_conversation_assigned AFTER UPDATE OF agent_id ON conversations
WHEN NEW.agent_id IS NOT NULL AND NEW.agent_id IS NOT OLD.agent_id
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id,
               CASE WHEN OLD.agent_id IS NULL THEN 'conversation.assigned' ELSE 'conversation.transferred' END,
               NEW.id,
               json_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                           'agent_id', NEW.agent_id, 'previous_agent_id', OLD.agent_id),
               NEW.updated_at, NEW.updated_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1
          AND instr(e.events, CASE WHEN OLD.agent_id IS NULL THEN ' conversation.assigned '
                                   ELSE ' conversation.transferred ' END) > 0;
END;

CREATE TRIGGER webhook_conversation_closed AFTER UPDATE OF state ON conversations
WHEN NEW.state = 'closed' AND OLD.state <> 'closed'
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'conversation.closed', NEW.id,
               json_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                           'agent_id', NEW.agent_id, 'closed_at', NEW.closed_at),
               NEW.updated_at, NEW.updated_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1 AND instr(e.events, ' conversation.closed ') > 0;
END;

-- A message event carries (conversation, seq) and who sent it; the redacted text is read when it is sent.
CREATE TRIGGER webhook_message_created AFTER INSERT ON messages
BEGIN
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, seq, data, created_at, next_attempt_at)
        SELECT 'wh_' || lower(hex(randomblob(12))), NEW.tenant_id, e.id, 'message.created', NEW.conversation_id,
               NEW.seq,
               json_object('conversation_id', NEW.conversation_id, 'seq', NEW.seq,
                           'sender_kind', NEW.sender_kind, 'sender_id', NEW.sender_id),
               NEW.created_at, NEW.created_at
        FROM webhook_endpoints e
        WHERE e.tenant_id = NEW.tenant_id AND e.enabled = 1 AND instr(e.events, ' message.created ') > 0;
END;
