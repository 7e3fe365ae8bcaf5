-- Audit ledger (RFC 6962 Merkle logs): one log per tenant (log_id = tenant id) and one platform log.
CREATE TABLE audit_logs (
    log_id TEXT PRIMARY KEY,
    size   INTEGER NOT NULL              -- the sequencer: bumped under this row's write lock
);

CREATE TABLE audit_entries (
    log_id     TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    entry      BLOB NOT NULL,            -- the exact leaf bytes (canonical JSON)
    PRIMARY KEY (log_id, idx)
);

-- Complete subtree hashes only (level 0 = leaf hashes); append-only.
CREATE TABLE audit_nodes (
    log_id TEXT NOT NULL,
    level  INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    hash   BLOB NOT NULL,
    PRIMARY KEY (log_id, level, idx)
);

CREATE TABLE audit_checkpoints (
    log_id     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    root       BLOB NOT NULL,
    note       TEXT NOT NULL,            -- the signed checkpoint, verbatim
    created_at INTEGER NOT NULL,
    PRIMARY KEY (log_id, size)
);

-- Who signs checkpoints: one lease row, taken through the database so exactly one process signs at a time.
CREATE TABLE audit_signer (
    id         INTEGER PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Expiry of sessions and keys is logged once.
ALTER TABLE sessions ADD COLUMN expiry_logged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN expiry_logged INTEGER NOT NULL DEFAULT 0;
