-- Breach impact (issue 11, docs/IMPACT.md): indexes for "which sessions ran this widget file in this window",
-- card mentions (brand and last four only), and audit entries by actor.

-- The exposure record stores each session's widget-file hashes as a JSON array. Sessions of one tenant
-- share a handful of distinct arrays (one per release and pinned loader), so each distinct (tenant, array)
-- becomes an asset set, with one row per hash in it. A session points at its set; a hash query finds its few
-- sets first, then reads the sessions of each set in time order from one compact integer index.
CREATE TABLE exposure_asset_sets (
    id        INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    hashes    TEXT NOT NULL,                  -- the session's asset_hashes, verbatim
    UNIQUE (tenant_id, hashes)
);

CREATE TABLE exposure_set_assets (
    asset_sha384 TEXT NOT NULL,               -- lowercase hex
    tenant_id    TEXT NOT NULL,
    set_id       INTEGER NOT NULL REFERENCES exposure_asset_sets(id),
    PRIMARY KEY (asset_sha384, tenant_id, set_id)
) WITHOUT ROWID;

ALTER TABLE visitor_sessions ADD COLUMN asset_set_id INTEGER;

INSERT OR IGNORE INTO exposure_asset_sets (tenant_id, hashes)
    SELECT DISTINCT tenant_id, asset_hashes FROM visitor_sessions WHERE asset_hashes IS NOT NULL;
INSERT OR IGNORE INTO exposure_set_assets (asset_sha384, tenant_id, set_id)
    SELECT j.value, s.tenant_id, s.id
    FROM exposure_asset_sets s, json_each(CASE WHEN json_valid(s.hashes) THEN s.hashes ELSE '[]' END) j
    WHERE j.type = 'text';
UPDATE visitor_sessions SET asset_set_id =
    (SELECT s.id FROM exposure_asset_sets s
      WHERE s.tenant_id = visitor_sessions.tenant_id AND s.hashes = visitor_sessions.asset_hashes)
    WHERE asset_hashes IS NOT NULL;

-- Sessions of a set in start order, covering everything an impact report reads of a session, so the query
-- never touches the table rows (each ~600 bytes with its hash list): at 10,000,000 sessions a tampered
-- loader's 220,000 sessions are 64 ms of index instead of 600 ms of table pages. (asset_set_id, started_at, id)
-- is the order pages are read in; the window's upper bound is a range on started_at.
CREATE INDEX visitor_sessions_asset_set ON visitor_sessions
    (asset_set_id, started_at, id, ended_at, tenant_id, visitor_id, node, embed_origin);
-- The node component (--node): a node's sessions in start order.
CREATE INDEX visitor_sessions_node ON visitor_sessions (node, started_at);

-- Every new session record gets its set, whoever writes it (the server's INSERT is unchanged). A writer that
-- already knows the set (the bulk seeder) sets asset_set_id itself and skips this.
CREATE TRIGGER visitor_sessions_asset_set AFTER INSERT ON visitor_sessions
WHEN NEW.asset_set_id IS NULL AND NEW.asset_hashes IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO exposure_asset_sets (tenant_id, hashes) VALUES (NEW.tenant_id, NEW.asset_hashes);
    INSERT OR IGNORE INTO exposure_set_assets (asset_sha384, tenant_id, set_id)
        SELECT j.value, s.tenant_id, s.id
        FROM exposure_asset_sets s,
             json_each(CASE WHEN json_valid(NEW.asset_hashes) THEN NEW.asset_hashes ELSE '[]' END) j
        WHERE s.tenant_id = NEW.tenant_id AND s.hashes = NEW.asset_hashes AND j.type = 'text'
          AND NOT EXISTS (SELECT 1 FROM exposure_set_assets x WHERE x.set_id = s.id);
    UPDATE visitor_sessions SET asset_set_id =
        (SELECT s.id FROM exposure_asset_sets s WHERE s.tenant_id = NEW.tenant_id AND s.hashes = NEW.asset_hashes)
        WHERE rowid = NEW.rowid;
END;

-- A card number typed in a conversation and masked: the brand and the last four digits, never more (the
-- CHECKs refuse anything else). One row per number per message; a retried message does not add rows.
CREATE TABLE card_mentions (
    id              INTEGER PRIMARY KEY,      -- the redaction event id reports cite
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    sender_kind     TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    ordinal         INTEGER NOT NULL,         -- the number's place in its message, from 0
    brand           TEXT NOT NULL CHECK (brand IN ('Visa', 'Mastercard', 'Amex', 'Discover', 'JCB',
                                                   'Diners Club', 'UnionPay', 'Maestro', 'Mir')),
    last4           TEXT NOT NULL CHECK (length(last4) = 4 AND last4 GLOB '[0-9][0-9][0-9][0-9]'),
    created_at      INTEGER NOT NULL,
    UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id, ordinal)
);
CREATE INDEX card_mentions_conversation ON card_mentions (tenant_id, conversation_id, created_at);

-- Audit entries by actor and time, for agent and API-key components. Entries are canonical JSON (AUDIT.md);
-- the index is filled by a trigger so every writer of the log is covered. An entry that does not parse is
-- skipped (OR IGNORE also covers a NULL actor): indexing never blocks an audit append.
CREATE TABLE audit_actor_index (
    log_id TEXT NOT NULL,
    actor  TEXT NOT NULL,
    ts     INTEGER NOT NULL,
    idx    INTEGER NOT NULL,
    PRIMARY KEY (log_id, actor, ts, idx)
) WITHOUT ROWID;

INSERT OR IGNORE INTO audit_actor_index (log_id, actor, ts, idx)
    SELECT log_id, json_extract(CAST(entry AS TEXT), '$.actor'), json_extract(CAST(entry AS TEXT), '$.ts'), idx
    FROM audit_entries WHERE json_valid(CAST(entry AS TEXT));

CREATE TRIGGER audit_entries_actor AFTER INSERT ON audit_entries
WHEN json_valid(CAST(NEW.entry AS TEXT))
BEGIN
    INSERT OR IGNORE INTO audit_actor_index (log_id, actor, ts, idx)
        VALUES (NEW.log_id, json_extract(CAST(NEW.entry AS TEXT), '$.actor'),
                json_extract(CAST(NEW.entry AS TEXT), '$.ts'), NEW.idx);
END;
