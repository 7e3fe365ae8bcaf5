-- Breach impact (issue 11, docs/IMPACT.md): indexes for "which sessions ran this widget file in this window",
-- card mentions (brand and last four only), and audit entries by actor. Same design as the SQLite migration.

CREATE TABLE exposure_asset_sets (
    id        BIGSERIAL PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    hashes    TEXT NOT NULL,                  -- the session's asset_hashes, verbatim
    UNIQUE (tenant_id, hashes)
);

CREATE TABLE exposure_set_assets (
    asset_sha384 TEXT NOT NULL,               -- lowercase hex
    tenant_id    TEXT NOT NULL,
    set_id       BIGINT NOT NULL REFERENCES exposure_asset_sets(id),
    PRIMARY KEY (asset_sha384, tenant_id, set_id)
);

ALTER TABLE visitor_sessions ADD COLUMN asset_set_id BIGINT;

INSERT INTO exposure_asset_sets (tenant_id, hashes)
    SELECT DISTINCT tenant_id, asset_hashes FROM visitor_sessions WHERE asset_hashes IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO exposure_set_assets (asset_sha384, tenant_id, set_id)
    SELECT DISTINCT h, s.tenant_id, s.id
    FROM exposure_asset_sets s, json_array_elements_text(s.hashes::json) AS h
    ON CONFLICT DO NOTHING;
UPDATE visitor_sessions v SET asset_set_id = s.id FROM exposure_asset_sets s
    WHERE s.tenant_id = v.tenant_id AND s.hashes = v.asset_hashes;

-- Sessions of a set in start order, covering what an impact report reads (index-only scans; see the SQLite
-- migration for the figures). The key is the page order; the rest rides along as INCLUDE columns.
CREATE INDEX visitor_sessions_asset_set ON visitor_sessions (asset_set_id, started_at, id)
    INCLUDE (ended_at, tenant_id, visitor_id, node, embed_origin);
CREATE INDEX visitor_sessions_node ON visitor_sessions (node, started_at);

-- BEFORE INSERT, so the set id goes into the new row itself (no second row version per session).
CREATE FUNCTION cordon_exposure_asset_set() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sid BIGINT;
BEGIN
    IF NEW.asset_set_id IS NOT NULL OR NEW.asset_hashes IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT id INTO sid FROM exposure_asset_sets WHERE tenant_id = NEW.tenant_id AND hashes = NEW.asset_hashes;
    IF sid IS NULL THEN
        -- A set seen for the first time (once per tenant and release). Another node may be adding it too: the
        -- unique constraint decides, and the loser reads the winner's row.
        INSERT INTO exposure_asset_sets (tenant_id, hashes) VALUES (NEW.tenant_id, NEW.asset_hashes)
            ON CONFLICT (tenant_id, hashes) DO NOTHING RETURNING id INTO sid;
        IF sid IS NULL THEN
            SELECT id INTO sid FROM exposure_asset_sets
                WHERE tenant_id = NEW.tenant_id AND hashes = NEW.asset_hashes;
        END IF;
        BEGIN
            INSERT INTO exposure_set_assets (asset_sha384, tenant_id, set_id)
                SELECT DISTINCT h, NEW.tenant_id, sid FROM json_array_elements_text(NEW.asset_hashes::json) AS h
                ON CONFLICT DO NOTHING;
        EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
            -- Not a JSON array of strings (the server never writes one): the set has no members.
            NULL;
        END;
    END IF;
    NEW.asset_set_id := sid;
    RETURN NEW;
END
$$;
CREATE TRIGGER visitor_sessions_asset_set BEFORE INSERT ON visitor_sessions
    FOR EACH ROW EXECUTE FUNCTION cordon_exposure_asset_set();

CREATE TABLE card_mentions (
    id              BIGSERIAL PRIMARY KEY,    -- the redaction event id reports cite
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    sender_kind     TEXT NOT NULL,
    sender_id       TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    ordinal         INTEGER NOT NULL,
    brand           TEXT NOT NULL CHECK (brand IN ('Visa', 'Mastercard', 'Amex', 'Discover', 'JCB',
                                                   'Diners Club', 'UnionPay', 'Maestro', 'Mir')),
    last4           TEXT NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, sender_kind, sender_id, client_msg_id, ordinal)
);
CREATE INDEX card_mentions_conversation ON card_mentions (tenant_id, conversation_id, created_at);

CREATE TABLE audit_actor_index (
    log_id TEXT NOT NULL,
    actor  TEXT NOT NULL,
    ts     BIGINT NOT NULL,
    idx    BIGINT NOT NULL,
    PRIMARY KEY (log_id, actor, ts, idx)
);

-- Entries are canonical JSON written by Cordon; one that is not UTF-8 JSON with an actor and a numeric ts is
-- skipped rather than allowed to block the append.
CREATE FUNCTION cordon_audit_actor_index() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e jsonb;
BEGIN
    BEGIN
        e := convert_from(NEW.entry, 'UTF8')::jsonb;
    EXCEPTION WHEN others THEN
        RETURN NULL;
    END;
    IF jsonb_typeof(e) = 'object' AND jsonb_typeof(e->'actor') = 'string' AND jsonb_typeof(e->'ts') = 'number' THEN
        INSERT INTO audit_actor_index (log_id, actor, ts, idx)
            VALUES (NEW.log_id, e->>'actor', (e->>'ts')::numeric::bigint, NEW.idx)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;

INSERT INTO audit_actor_index (log_id, actor, ts, idx)
    SELECT log_id, e->>'actor', (e->>'ts')::numeric::bigint, idx
    FROM (SELECT log_id, idx, convert_from(entry, 'UTF8')::jsonb AS e FROM audit_entries) AS x
    WHERE jsonb_typeof(e->'actor') = 'string' AND jsonb_typeof(e->'ts') = 'number'
    ON CONFLICT DO NOTHING;

CREATE TRIGGER audit_entries_actor AFTER INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION cordon_audit_actor_index();
