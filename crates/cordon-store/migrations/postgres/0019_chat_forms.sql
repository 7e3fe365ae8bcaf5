-- Issue 20, item 2: the tenant's chat forms (a pre-chat form asking name, email and an optional question; an
-- offline form asking an email when no agent is online), and what a visitor gave in them. The contact (name and
-- email) is the visitor's free text, sealed with the tenant's data key bound to tenant and visitor.
CREATE TABLE chat_forms (
    tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id),
    prechat      BIGINT NOT NULL,
    offline      BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE TABLE visitor_contacts (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    visitor_id   TEXT NOT NULL,
    sealed       BYTEA NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, visitor_id)
);
