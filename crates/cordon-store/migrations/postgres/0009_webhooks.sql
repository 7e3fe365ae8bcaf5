-- Webhooks (issue 16): a tenant's endpoints and the durable outbox of events to deliver to them.
-- An outbox row is written in the same transaction as the event it reports (a conversation's change, a
-- message), one row per endpoint that subscribes to the event, so an event is never lost between commit and
-- delivery. Rows hold no visitor text: a message event names (conversation, seq) and its redacted text is
-- read, within the tenant, when the request is built.
CREATE TABLE webhook_endpoints (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    url            TEXT NOT NULL,
    secret_wrapped BYTEA NOT NULL,         -- the signing secret, wrapped by the master key
    events         TEXT NOT NULL,          -- ' '-separated event types, with a space before and after each
    enabled        BIGINT NOT NULL DEFAULT 1,
    description    TEXT NOT NULL DEFAULT '',
    created_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id);

CREATE TABLE webhook_outbox (
    id              TEXT PRIMARY KEY,       -- the webhook-id header: the same on every attempt
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    conversation_id TEXT,
    seq             BIGINT,                 -- message events: the message
    data            TEXT NOT NULL,          -- JSON; never visitor text
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    last_status     BIGINT,
    last_error      TEXT,
    delivered_at    BIGINT,
    dead_at         BIGINT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX webhook_outbox_tenant ON webhook_outbox (tenant_id, created_at);

-- The outbox is filled by triggers, so every writer of these tables is covered and each event's rows commit
-- with it, in the same statement; a tenant without endpoints costs one probe of an empty index.
CREATE FUNCTION cordon_webhook_enqueue(t TEXT, ev TEXT, conv TEXT, s BIGINT, d JSON, at BIGINT) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_outbox (id, tenant_id, endpoint_id, event, conversation_id, seq, data, created_at, next_attempt_at)
        SELECT 'wh_' || replace(gen_random_uuid()::text, '-', ''), t, e.id, ev, conv, s, d::text, at, at
        FROM webhook_endpoints e
        WHERE e.tenant_id = t AND e.enabled = 1 AND position(' ' || ev || ' ' IN e.events) > 0;
$$;

CREATE FUNCTION cordon_webhook_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'conversation.created', NEW.id, NULL,
            json_build_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                              'agent_id', NEW.agent_id), NEW.created_at);
        -- Opened straight to an agent: that is an assignment too, as when a queued one gets its agent later.
        IF NEW.agent_id IS NOT NULL THEN
            PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'conversation.assigned', NEW.id, NULL,
                json_build_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                                  'agent_id', NEW.agent_id, 'previous_agent_id', NULL), NEW.created_at);
        END IF;
        RETURN NULL;
    END IF;
    IF NEW.agent_id IS NOT NULL AND NEW.agent_id IS DISTINCT FROM OLD.agent_id THEN
        PERFORM cordon_webhook_enqueue(NEW.tenant_id,
            CASE WHEN OLD.agent_id IS NULL THEN 'conversation.assigned' ELSE 'conversation.transferred' END,
            NEW.id, NULL,
            json_build_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                              'agent_id', NEW.agent_id, 'previous_agent_id', OLD.agent_id), NEW.updated_at);
    END IF;
    IF NEW.state = 'closed' AND OLD.state <> 'closed' THEN
        PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'conversation.closed', NEW.id, NULL,
            json_build_object('conversation_id', NEW.id, 'visitor_id', NEW.visitor_id, 'state', NEW.state,
                              'agent_id', NEW.agent_id, 'closed_at', NEW.closed_at), NEW.updated_at);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_conversation_created AFTER INSERT ON conversations
    FOR EACH ROW EXECUTE FUNCTION cordon_webhook_conversation();
CREATE TRIGGER webhook_conversation_changed AFTER UPDATE OF agent_id, state ON conversations
    FOR EACH ROW EXECUTE FUNCTION cordon_webhook_conversation();

-- A message event carries (conversation, seq) and who sent it; the redacted text is read when it is sent.
CREATE FUNCTION cordon_webhook_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cordon_webhook_enqueue(NEW.tenant_id, 'message.created', NEW.conversation_id, NEW.seq,
        json_build_object('conversation_id', NEW.conversation_id, 'seq', NEW.seq,
                          'sender_kind', NEW.sender_kind, 'sender_id', NEW.sender_id), NEW.created_at);
    RETURN NULL;
END;
$$;

CREATE TRIGGER webhook_message_created AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION cordon_webhook_message();
