-- The card vault (issue 15). Card numbers exist in this schema only inside vault_tokens.sealed: sealed under the
-- vault key (its own key, not a tenant's data key), bound to tenant and token id. Tokens are random; no column
-- holds a hash, a prefix or any other value derived from the number beyond brand and last four.
CREATE TABLE payment_settings (
    tenant_id                TEXT PRIMARY KEY REFERENCES tenants(id),
    processor_url            TEXT,                -- where forwards go; checked against SSRF on save and on use
    processor_secret_wrapped BLOB,                -- signs forwards; wrapped by the master key
    detokenize_enabled       INTEGER NOT NULL DEFAULT 0,
    updated_by               TEXT NOT NULL,
    updated_at               INTEGER NOT NULL
);

CREATE TABLE payment_requests (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    conversation_id TEXT NOT NULL,
    visitor_id      TEXT NOT NULL,
    requested_by    TEXT NOT NULL,            -- agent:<id>
    amount_minor    INTEGER NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL CHECK (length(currency) = 3),
    description     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('open', 'saved', 'cancelled')),
    form_token_hash BLOB,                     -- SHA-256 of the form capability the visitor holds; NULL once used
    form_expires_at INTEGER,
    token_id        TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    completed_at    INTEGER
);
CREATE INDEX payment_requests_conversation ON payment_requests (tenant_id, conversation_id);
CREATE INDEX payment_requests_visitor ON payment_requests (tenant_id, visitor_id);

CREATE TABLE vault_tokens (
    id              TEXT PRIMARY KEY,         -- tok_ + 128 random bits
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    visitor_id      TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    request_id      TEXT NOT NULL UNIQUE,
    brand           TEXT NOT NULL,
    last4           TEXT NOT NULL CHECK (length(last4) = 4 AND last4 GLOB '[0-9][0-9][0-9][0-9]'),
    exp_month       INTEGER NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year        INTEGER NOT NULL,
    key_id          INTEGER NOT NULL,         -- the vault key that sealed it
    sealed          BLOB NOT NULL,            -- number, expiry, name; never the security code
    created_at      INTEGER NOT NULL,
    forward_count   INTEGER NOT NULL DEFAULT 0,
    last_used_at    INTEGER
);
CREATE INDEX vault_tokens_visitor ON vault_tokens (tenant_id, visitor_id);
CREATE INDEX vault_tokens_created ON vault_tokens (tenant_id, created_at);

-- A crypto-shred (`cordon tenant shred` deletes the tenant's data keys) takes the tenant's cards with it in the
-- same statement: the vault key is the platform's, so its ciphertexts must go rather than become unreadable.
CREATE TRIGGER vault_shred AFTER DELETE ON tenant_keys
BEGIN
    DELETE FROM vault_tokens WHERE tenant_id = OLD.tenant_id;
    DELETE FROM payment_requests WHERE tenant_id = OLD.tenant_id;
END;
