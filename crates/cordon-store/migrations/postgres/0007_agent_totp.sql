-- A second factor for a tenant's agents and admins (issue 12). Kept beside `agents` and `tenants` rather than in
-- them: only sign-in and enrolment read these. The secret is wrapped by the master key; `pending_wrapped` is an
-- enrolment begun and not yet confirmed with a code; `last_step` makes each code usable once (as for operators).
CREATE TABLE agent_totp (
    agent_id        TEXT PRIMARY KEY REFERENCES agents(id),
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    secret_wrapped  BYTEA,
    pending_wrapped BYTEA,
    last_step       BIGINT NOT NULL DEFAULT 0,
    enabled_at      BIGINT
);

-- A tenant that requires a second factor of every agent: without one enrolled, an agent cannot sign in.
CREATE TABLE tenant_mfa_policy (
    tenant_id    TEXT PRIMARY KEY REFERENCES tenants(id),
    require_totp BIGINT NOT NULL DEFAULT 0,
    updated_at   BIGINT NOT NULL
);
