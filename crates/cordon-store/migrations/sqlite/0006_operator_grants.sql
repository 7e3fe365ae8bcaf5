-- Operator grants (issue 12): an operator reads a tenant's data only through one of these. Requested with a
-- reason, approved by a tenant admin (or, break-glass, by a second operator), time-boxed, revocable. Every use is
-- written to the tenant's audit log; the reason is shown to the tenant's admins and never written to the log.
CREATE TABLE operator_grants (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    reason       TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    break_glass  INTEGER NOT NULL DEFAULT 0,
    requested_at INTEGER NOT NULL,
    approved_by  TEXT,
    approved_at  INTEGER,
    expires_at   INTEGER,
    revoked_by   TEXT,
    revoked_at   INTEGER
);
CREATE INDEX operator_grants_tenant ON operator_grants (tenant_id, requested_at);
CREATE INDEX operator_grants_operator ON operator_grants (operator_id, requested_at);
