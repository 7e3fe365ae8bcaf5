-- Signed widget releases (issue 12). A release is the widget's files (loader, frame page template, frame script
-- and style) as a manifest of names, sizes and SHA-384 hashes, signed with a release key (a C2SP signed note,
-- kept whole in `note`). It is proposed by one operator and becomes live only when a second, distinct operator
-- approves it; the server serves only bytes in a live release's manifest. The files themselves live on disk
-- (DATA/releases/<id>/), checked against the manifest on every read.
CREATE TABLE release_keys (
    key_id     TEXT PRIMARY KEY,          -- 8 hex digits, the C2SP key id
    vkey       TEXT NOT NULL UNIQUE,      -- the note verifier key, cordon/release+<id>+<base64>
    added_by   TEXT NOT NULL,             -- the audit actor who trusted it
    added_at   INTEGER NOT NULL
);
CREATE TABLE releases (
    id           TEXT PRIMARY KEY,
    note         TEXT NOT NULL,
    key_id       TEXT NOT NULL REFERENCES release_keys(key_id),
    proposed_by  TEXT NOT NULL REFERENCES operators(id),
    proposed_at  INTEGER NOT NULL,
    approved_by  TEXT REFERENCES operators(id),
    approved_at  INTEGER
);
CREATE INDEX releases_approved ON releases (approved_at);
-- A tenant that pins a release gets that release's loader in its snippet and its frame page; the others get
-- the latest approved release.
CREATE TABLE release_pins (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    release_id  TEXT NOT NULL REFERENCES releases(id),
    pinned_at   INTEGER NOT NULL
);
-- The exposure record names the release each visitor session ran (NULL: no release was live).
ALTER TABLE visitor_sessions ADD COLUMN release_id TEXT;
