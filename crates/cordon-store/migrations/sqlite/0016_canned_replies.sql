-- Issue 20: a tenant's canned replies, typed in the console's composer as /shortcut. The shortcut is a short
-- word from a fixed alphabet; the text is staff-written free text, card-masked and sealed like message bodies
-- (the tenant's data key, bound to tenant and reply).
CREATE TABLE canned_replies (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    shortcut    TEXT NOT NULL,
    sealed      BLOB NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, shortcut)
);
