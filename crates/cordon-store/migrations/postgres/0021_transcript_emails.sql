-- Issue 20, item 2: a transcript emailed to the visitor when the chat ends. A third switch beside the pre-chat
-- and offline forms (off for every tenant that had forms already), and the durable outbox of transcripts to
-- send: one row per conversation at most (the primary key), written in the transaction that closes it. A row
-- holds ids and the sender's bookkeeping only: the address and the messages stay sealed where they are and are
-- opened when the mail is composed.
ALTER TABLE chat_forms ADD COLUMN transcript BIGINT NOT NULL DEFAULT 0;

CREATE TABLE transcript_outbox (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL,
    visitor_id      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until   BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         BIGINT,
    failed_at       BIGINT,
    PRIMARY KEY (tenant_id, conversation_id)
);
CREATE INDEX transcript_outbox_due ON transcript_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
