-- Retention (issue 16): how long a tenant keeps closed conversations (with their messages and card mentions)
-- and exposure records (visitor session records). NULL keeps them until deleted on request or shredded.
CREATE TABLE tenant_retention (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants(id),
    transcript_days  BIGINT CHECK (transcript_days IS NULL OR transcript_days BETWEEN 1 AND 3650),
    exposure_days    BIGINT CHECK (exposure_days IS NULL OR exposure_days BETWEEN 1 AND 3650),
    updated_by       TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);
-- The purge finds expired closed conversations and old session records by time.
CREATE INDEX conversations_closed ON conversations (tenant_id, closed_at) WHERE closed_at IS NOT NULL;
