-- Issue 13: fewer pages dirtied per message.
--
-- Before, a message append dirtied four B-tree pages in different places: its conversation's row (the
-- sequencer `last_seq` and `updated_at`), the rowid table's tail, and a leaf of each of the two indexes
-- (the primary key and the client-id key). SQLite writes every dirty page whole to the WAL at commit and again
-- at checkpoint, so a 100-byte message cost ~18 KB of disk writes under load.
--
-- Now the table is clustered on its primary key (WITHOUT ROWID): a message lands on its conversation's own leaf,
-- beside the one before it, and the primary key is no separate index. The SQLite writer no longer keeps a
-- sequencer on the conversation row: it takes max(seq) + 1 from that same leaf under the write lock (BEGIN
-- IMMEDIATE), so seq stays gap-free and in commit order, and the conversation row is not written by an append.
-- `conversations.last_seq` and `updated_at` are read through the messages table (see conversations.rs).
CREATE TABLE messages_v12 (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq             INTEGER NOT NULL,
    tenant_id       TEXT NOT NULL,
    sender_kind     TEXT NOT NULL,          -- visitor | agent | system
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    body            BLOB NOT NULL,          -- sealed: XChaCha20-Poly1305 under a per-conversation subkey
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;

INSERT INTO messages_v12 (conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, body, created_at)
    SELECT conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, body, created_at
    FROM messages ORDER BY conversation_id, seq;

-- Dropping the old table drops its trigger; it is made again below on the new one.
DROP TABLE messages;
ALTER TABLE messages_v12 RENAME TO messages;

-- Retries: one message per (conversation, sender, client id).
CREATE UNIQUE INDEX messages_client ON messages (conversation_id, sender_kind, sender_id, client_msg_id);

-- As in 0009: a message event carries (conversation, seq) and who sent it; the redacted text is read when sent.
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
