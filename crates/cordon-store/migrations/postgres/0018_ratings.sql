-- Issue 20, item 9: the visitor's rating of a chat once it has ended (CSAT, 1-5) and an optional comment. One per
-- conversation (the primary key refuses a second); the comment is the visitor's free text, card-masked and sealed
-- like message bodies (the tenant's data key, bound to tenant and conversation). The reports read score and
-- created_at through the tenant's conversations.
CREATE TABLE conversation_ratings (
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  TEXT NOT NULL REFERENCES conversations(id),
    visitor_id       TEXT NOT NULL,
    score            BIGINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    sealed_comment   BYTEA,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, conversation_id)
);
