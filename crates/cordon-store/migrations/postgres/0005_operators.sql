-- Operators (issue 12): the platform's staff, one named account per person, never shared. An operator is a
-- platform principal: nothing here reaches a tenant's data by itself.
-- The TOTP secret is wrapped by the master key (like the tenant keys); `totp_last_step` is the last RFC 6238 time
-- step accepted, so a code is used at most once (advanced by a conditional UPDATE, which every node agrees on).
CREATE TABLE operators (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    totp_secret_wrapped BYTEA NOT NULL,
    totp_last_step      BIGINT NOT NULL DEFAULT 0,
    disabled            BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL
);

-- Recovery codes, each shown once: `code_id` is the code's clear prefix (so one argon2 check per attempt), the
-- rest is stored only as an argon2 hash. A used code stays, with when it was used.
CREATE TABLE operator_recovery_codes (
    operator_id TEXT NOT NULL REFERENCES operators(id),
    code_id     TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (operator_id, code_id)
);

-- Operator sessions: short (12 h absolute, 30 min idle, enforced in the query), listed and revocable.
CREATE TABLE operator_sessions (
    id           TEXT PRIMARY KEY,
    token_hash   BYTEA NOT NULL UNIQUE,
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
