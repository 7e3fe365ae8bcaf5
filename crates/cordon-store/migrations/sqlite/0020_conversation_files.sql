-- Issue 20: files and images in a conversation, both ways. The bytes (metadata stripped, a text file's card
-- numbers masked) and the file name (card-masked) are sealed with the tenant's data key under the
-- conversation's key, bound to tenant, conversation and file; the kind is one word of an allow-list and the size
-- a number, kept in the clear so a download can be answered with its headers before it is opened. A message in
-- the conversation refers to the file by id. A crypto-shred takes the files with it in the same statement (a
-- sealed file is of no use once its key is gone, and a file is far larger than a message).
CREATE TABLE conversation_files (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    uploader_kind    TEXT NOT NULL CHECK (uploader_kind IN ('visitor', 'agent')),
    uploader_id      TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain')),
    size             INTEGER NOT NULL,
    name_sealed      BLOB NOT NULL,
    sealed           BLOB NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX conversation_files_conversation ON conversation_files (tenant_id, conversation_id, created_at);
CREATE TRIGGER conversation_files_shred AFTER DELETE ON tenant_keys
BEGIN
    DELETE FROM conversation_files WHERE tenant_id = OLD.tenant_id;
END;
