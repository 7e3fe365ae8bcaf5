-- Issue 20: what the agents' side panel shows of a visitor, kept per visitor and replaced at each visit: the page
-- (address and title), the user's verified name and email, sealed like message bodies (the tenant's data key,
-- bound to tenant and visitor); the browser, system and time zone derived from what the frame reports, which
-- are short labels from fixed lists.
CREATE TABLE visitor_profiles (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    visitor_id  TEXT NOT NULL REFERENCES visitors(id),
    sealed      BLOB NOT NULL,
    browser     TEXT NOT NULL,
    os          TEXT NOT NULL,
    time_zone   TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, visitor_id)
);
