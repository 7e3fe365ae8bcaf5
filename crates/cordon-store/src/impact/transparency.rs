//! Reads for a tenant's transparency report (issue 11): what is held, by whom it was last used, and which
//! widget files ran on the tenant's origins. Every read takes the tenant id and filters on it.

use sqlx::Row as _;

use crate::{Result, Store, StoredCardMention};

/// A category of data held: (machine name, record count, oldest record's time in unix ms).
/// Names: `visitors`, `visitor_sessions`, `conversations`, `messages`, `card_mentions`, `agents`,
/// `agent_sessions`, `api_keys`, `audit_entries`.
pub(crate) type HeldCategory = (&'static str, i64, Option<i64>);

/// Sessions of one UTC day (days since the epoch) that ran one widget file (hex SHA-384) on one embedding
/// origin: (day, sha384, embed_origin, sessions).
pub(crate) type AssetDay = (i64, String, Option<String>, i64);

/// The categories and the SQL that counts each: (name, table, time column). The table and column names are
/// constants, never input.
const CATEGORIES: &[(&str, &str, &str)] = &[
    ("visitors", "visitors", "created_at"),
    ("visitor_sessions", "visitor_sessions", "started_at"),
    ("conversations", "conversations", "created_at"),
    ("messages", "messages", "created_at"),
    ("card_mentions", "card_mentions", "created_at"),
    ("agents", "agents", "created_at"),
    ("agent_sessions", "sessions", "created_at"),
    ("api_keys", "api_keys", "created_at"),
];

impl Store {
    /// Every category of data held for the tenant, with its count and oldest record.
    pub async fn held_categories(&self, tenant_id: &str) -> Result<Vec<HeldCategory>> {
        let mut out = Vec::with_capacity(CATEGORIES.len() + 1);
        for (name, table, column) in CATEGORIES {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*), MIN({column}) FROM {table} WHERE tenant_id = $1"
            ))
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?;
            out.push((*name, row.try_get(0)?, row.try_get(1)?));
        }
        // The audit log is keyed by log id (the tenant id); its times are in the actor index (migration 4).
        let row = sqlx::query("SELECT MIN(ts) FROM audit_actor_index WHERE log_id = $1")
            .bind(tenant_id)
            .fetch_one(self.pool())
            .await?;
        let size = self.audit_size(tenant_id).await?;
        out.push(("audit_entries", size, row.try_get(0)?));
        Ok(out)
    }

    /// The last time each actor of the tenant's log did something audited, as `(actor, unix ms)`: the cheap
    /// "last use" of agents and API keys (every API route a key reaches is audited; no write on each request).
    pub async fn last_audited_use(&self, tenant_id: &str) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT actor, MAX(ts) FROM audit_actor_index WHERE log_id = $1 GROUP BY actor ORDER BY actor",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Sessions per day, widget file and embedding origin since `since` (unix ms), through the asset sets of
    /// migration 4 (each session's set lists the hashes of the files it ran).
    pub async fn asset_days(&self, tenant_id: &str, since: i64) -> Result<Vec<AssetDay>> {
        let rows = sqlx::query(
            "SELECT s.started_at / 86400000 AS day, a.asset_sha384, s.embed_origin, COUNT(*) \
             FROM visitor_sessions s JOIN exposure_set_assets a \
               ON a.set_id = s.asset_set_id AND a.tenant_id = s.tenant_id \
             WHERE s.tenant_id = $1 AND s.started_at >= $2 \
             GROUP BY s.started_at / 86400000, a.asset_sha384, s.embed_origin \
             ORDER BY day, a.asset_sha384, s.embed_origin",
        )
        .bind(tenant_id)
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// One card mention of a tenant by its redaction event id (for checking a report's citation).
    pub async fn card_mention(
        &self,
        tenant_id: &str,
        id: i64,
    ) -> Result<Option<StoredCardMention>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, conversation_id, brand, last4, created_at FROM card_mentions \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(StoredCardMention {
                id: r.try_get(0)?,
                tenant_id: r.try_get(1)?,
                conversation_id: r.try_get(2)?,
                brand: r.try_get(3)?,
                last4: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .transpose()
    }
}
