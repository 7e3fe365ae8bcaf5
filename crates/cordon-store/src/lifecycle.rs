//! Visitor requests (issue 16): every row that holds one visitor, for export and for deletion.
//!
//! [`VISITOR_TABLES`] names each table that holds a visitor's data and how its rows are found; every other table
//! is in [`OTHER_TABLES`] with why it holds none. A test lists the schema's tables and fails on any table in
//! neither list, so a new table cannot be added without deciding what export and deletion do with it.

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Column as _, Row as _};

use crate::audit::{append as append_audit, AuditEntry};
use crate::{Backend, Result, Store};

/// A table that holds a visitor's data, and the condition on its rows (`$1` the tenant, `{ids}` the visitor ids;
/// `{convs}` is their conversations). Deletion runs in the reverse order of this list (children first).
pub const VISITOR_TABLES: &[(&str, &str)] = &[
    ("visitors", "tenant_id = $1 AND id IN ({ids})"),
    ("conversations", "tenant_id = $1 AND visitor_id IN ({ids})"),
    (
        "visitor_sessions",
        "tenant_id = $1 AND visitor_id IN ({ids})",
    ),
    (
        "messages",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    (
        "card_mentions",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    (
        "webhook_outbox",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 20: agents' read marks in the visitor's conversations (seq numbers only).
    (
        "agent_reads",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 20: what the agents' side panel shows of the visitor (page, browser, verified name and email).
    (
        "visitor_profiles",
        "tenant_id = $1 AND visitor_id IN ({ids})",
    ),
    // Issue 20: agents' internal notes, tags and priority on the visitor's conversations.
    (
        "conversation_notes",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    (
        "conversation_meta",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 20: the visitor's ratings of their ended chats (the comment sealed).
    (
        "conversation_ratings",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 20: the contact (name, email) the visitor gave in a pre-chat or offline form, sealed.
    (
        "visitor_contacts",
        "tenant_id = $1 AND visitor_id IN ({ids})",
    ),
    // Issue 20: files and images sent in the visitor's conversations, either way (sealed bytes and name).
    (
        "conversation_files",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 20: the visitor's transcript emails waiting or sent (ids and the sender's bookkeeping; the address
    // is in visitor_contacts).
    (
        "transcript_outbox",
        "tenant_id = $1 AND conversation_id IN ({convs})",
    ),
    // Issue 15: the visitor's payment requests and card tokens (sealed cards, brand and last four). Found by
    // visitor, not conversation: a token outlives a transcript purged by retention.
    (
        "payment_requests",
        "tenant_id = $1 AND visitor_id IN ({ids})",
    ),
    ("vault_tokens", "tenant_id = $1 AND visitor_id IN ({ids})"),
];

/// Tables of a conversation's own rows (besides messages, card mentions and webhook events) that a retention
/// purge removes with it, before the conversation itself.
pub(crate) const PURGED_WITH_CONVERSATION: &[&str] = &[
    "agent_reads",
    "conversation_notes",
    "conversation_meta",
    "conversation_ratings",
    "conversation_files",
    "transcript_outbox",
];

/// Tables with no data of any one visitor, and why.
pub const OTHER_TABLES: &[(&str, &str)] = &[
    ("cordon_schema", "schema versions"),
    ("keyring", "the platform's wrapped keys"),
    ("tenants", "the tenant's own settings"),
    (
        "tenant_keys",
        "the tenant's wrapped data keys (cordon tenant shred destroys them)",
    ),
    ("agents", "the tenant's staff"),
    ("sessions", "agents' sign-in sessions"),
    ("api_keys", "the tenant's API keys"),
    ("agent_totp", "agents' second factors"),
    ("tenant_mfa_policy", "the tenant's second-factor rule"),
    (
        "audit_logs",
        "the audit ledger: entries hold ids and actions, no personal data",
    ),
    (
        "audit_entries",
        "the audit ledger: entries hold ids and actions, no personal data",
    ),
    ("audit_nodes", "the audit ledger's Merkle tree"),
    ("audit_checkpoints", "the audit ledger's signed checkpoints"),
    ("audit_signer", "the checkpoint signer's lease"),
    (
        "audit_actor_index",
        "an index of the audit ledger by actor (staff, keys, the system)",
    ),
    (
        "exposure_asset_sets",
        "sets of widget file hashes, shared by a tenant's sessions",
    ),
    ("exposure_set_assets", "widget file hashes by set"),
    ("operators", "the platform's staff"),
    ("operator_recovery_codes", "operators' recovery codes"),
    ("operator_sessions", "operators' sessions"),
    ("operator_grants", "operators' access grants to a tenant"),
    ("release_keys", "widget release signing keys"),
    ("releases", "signed widget releases"),
    ("release_pins", "a tenant's pinned release"),
    ("webhook_endpoints", "the tenant's webhook endpoints"),
    ("tenant_retention", "the tenant's retention periods"),
    (
        "canned_replies",
        "the tenant's canned replies: staff-written stock answers, no visitor's data",
    ),
    (
        "chat_forms",
        "the tenant's switches for its widget's pre-chat and offline forms",
    ),
    (
        "payment_settings",
        "the tenant's payment processor and detokenization switch",
    ),
];

/// A tenant's retention periods, in days; `None` keeps the records until they are deleted on request.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retention {
    pub transcript_days: Option<i64>,
    pub exposure_days: Option<i64>,
    pub updated_by: Option<String>,
    pub updated_at: Option<i64>,
}

/// What one purge round removed for one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Purged {
    pub conversations: u64,
    pub messages: u64,
    pub exposure_records: u64,
}

const DAY_MS: i64 = 86_400_000;

/// What deleting a visitor removed, per table.
pub type DeletedCounts = Vec<(&'static str, u64)>;

fn ph(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("?{n}"),
        Backend::Postgres => format!("${n}"),
    }
}

/// The condition of a table with its lists filled in: visitor ids bound from `$2`.
fn condition(backend: Backend, template: &str, n_ids: usize) -> String {
    let ids: Vec<String> = (0..n_ids).map(|i| ph(backend, i + 2)).collect();
    let ids = ids.join(", ");
    let convs = format!(
        "SELECT id FROM conversations WHERE tenant_id = {} AND visitor_id IN ({ids})",
        ph(backend, 1)
    );
    template
        .replace("$1", &ph(backend, 1))
        .replace("{ids}", &ids)
        .replace("{convs}", &convs)
}

/// One row as JSON: integers and text as they are; binary columns (sealed bodies, token hashes) left out, since
/// they are either unreadable without keys or secrets.
fn row_json(row: &AnyRow) -> Value {
    let mut m = Map::new();
    for (i, col) in row.columns().iter().enumerate() {
        // Hashes, wrapped keys and sealed bytes are left out by name too: a NULL one (a used form capability of
        // the card vault) would otherwise decode as an integer and appear as a key with no value.
        let name = col.name();
        if name.ends_with("_hash")
            || name.ends_with("_wrapped")
            || name == "sealed"
            || name.starts_with("sealed_")
            || name.ends_with("_sealed")
        {
            continue;
        }
        let v = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            v.map(Value::from).unwrap_or(Value::Null)
        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            v.map(Value::from).unwrap_or(Value::Null)
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            v.map(Value::from).unwrap_or(Value::Null)
        } else {
            continue;
        };
        m.insert(col.name().to_string(), v);
    }
    Value::Object(m)
}

/// Columns never exported: secrets and sealed bytes (a message's text is exported opened, by the service).
const NOT_EXPORTED: &[&str] = &["token_hash", "body"];

impl Store {
    /// The visitor ids a request names: the id itself (if it is the tenant's), or every visitor of the tenant
    /// with that verified `user_id`.
    pub async fn visitor_ids_for(
        &self,
        tenant_id: &str,
        visitor_id: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Vec<String>> {
        let rows = match (visitor_id, user_id) {
            (Some(v), _) => {
                sqlx::query("SELECT id FROM visitors WHERE tenant_id = $1 AND id = $2")
                    .bind(tenant_id)
                    .bind(v)
                    .fetch_all(self.pool())
                    .await?
            }
            (None, Some(u)) => {
                sqlx::query(
                    "SELECT id FROM visitors WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id",
                )
                .bind(tenant_id)
                .bind(u)
                .fetch_all(self.pool())
                .await?
            }
            (None, None) => Vec::new(),
        };
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Every row of [`VISITOR_TABLES`] for these visitors, by table, as JSON (without [`NOT_EXPORTED`] columns).
    pub async fn visitor_rows(
        &self,
        tenant_id: &str,
        visitor_ids: &[String],
    ) -> Result<Vec<(&'static str, Vec<Value>)>> {
        let mut out = Vec::new();
        if visitor_ids.is_empty() {
            return Ok(out);
        }
        for (table, template) in VISITOR_TABLES {
            // A conversation's `last_seq` and `updated_at` as the API reads them (from its newest message): the
            // row's own columns are not maintained on SQLite, and a later column of the same name wins in the JSON.
            let derived = if *table == "conversations" {
                format!(", {}", crate::conversations::CONV_DERIVED_NAMED)
            } else {
                String::new()
            };
            let sql = format!(
                "SELECT *{derived} FROM {table} WHERE {}",
                condition(self.backend(), template, visitor_ids.len())
            );
            let mut q = sqlx::query(&sql).bind(tenant_id);
            for id in visitor_ids {
                q = q.bind(id);
            }
            let rows = q.fetch_all(self.pool()).await?;
            let rows = rows
                .iter()
                .map(|r| {
                    let mut v = row_json(r);
                    if let Value::Object(m) = &mut v {
                        for c in NOT_EXPORTED {
                            m.remove(*c);
                        }
                    }
                    v
                })
                .collect();
            out.push((*table, rows));
        }
        Ok(out)
    }

    /// Record a completed visitor request: `audit`, and the `visitor_request.completed` webhook event with
    /// `event_data`, in one transaction.
    pub async fn record_visitor_request(
        &self,
        tenant_id: &str,
        event_data: &Value,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        crate::webhooks::enqueue_event(
            &mut tx,
            self.backend(),
            tenant_id,
            "visitor_request.completed",
            event_data,
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete every row of [`VISITOR_TABLES`] for these visitors, children first, in one transaction with
    /// `audit` and the `visitor_request.completed` webhook event (`event_data`). Answers the rows removed per
    /// table.
    pub async fn delete_visitors(
        &self,
        tenant_id: &str,
        visitor_ids: &[String],
        event_data: &Value,
        audit: &[AuditEntry],
    ) -> Result<DeletedCounts> {
        let mut counts = Vec::new();
        let mut tx = self.begin_write().await?;
        if !visitor_ids.is_empty() {
            for (table, template) in VISITOR_TABLES.iter().rev() {
                let sql = format!(
                    "DELETE FROM {table} WHERE {}",
                    condition(self.backend(), template, visitor_ids.len())
                );
                let mut q = sqlx::query(&sql).bind(tenant_id);
                for id in visitor_ids {
                    q = q.bind(id);
                }
                counts.push((*table, q.execute(&mut *tx).await?.rows_affected()));
            }
        }
        crate::webhooks::enqueue_event(
            &mut tx,
            self.backend(),
            tenant_id,
            "visitor_request.completed",
            event_data,
        )
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        counts.reverse();
        Ok(counts)
    }

    pub async fn retention(&self, tenant_id: &str) -> Result<Retention> {
        let row = sqlx::query(
            "SELECT transcript_days, exposure_days, updated_by, updated_at FROM tenant_retention WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(match row {
            Some(r) => Retention {
                transcript_days: r.try_get(0)?,
                exposure_days: r.try_get(1)?,
                updated_by: r.try_get(2)?,
                updated_at: r.try_get(3)?,
            },
            None => Retention::default(),
        })
    }

    pub async fn set_retention(
        &self,
        tenant_id: &str,
        transcript_days: Option<i64>,
        exposure_days: Option<i64>,
        updated_by: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM tenant_retention WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tenant_retention (tenant_id, transcript_days, exposure_days, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(tenant_id)
        .bind(transcript_days)
        .bind(exposure_days)
        .bind(updated_by)
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Tenants with a retention period set.
    pub async fn tenants_with_retention(&self) -> Result<Vec<(String, Retention)>> {
        let rows = sqlx::query(
            "SELECT tenant_id, transcript_days, exposure_days FROM tenant_retention \
             WHERE transcript_days IS NOT NULL OR exposure_days IS NOT NULL ORDER BY tenant_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    Retention {
                        transcript_days: r.try_get(1)?,
                        exposure_days: r.try_get(2)?,
                        ..Retention::default()
                    },
                ))
            })
            .collect()
    }

    /// One bounded purge step for a tenant at `now`: at most `limit` closed conversations closed before the
    /// transcript cutoff (with their messages, card mentions and undelivered webhook events), and at most
    /// `limit` exposure records started before the exposure cutoff, in one transaction with `audit(purged)`
    /// (written only when something was removed). Open conversations are never purged.
    pub async fn purge_step(
        &self,
        tenant_id: &str,
        retention: &Retention,
        now: i64,
        limit: i64,
        audit: impl FnOnce(&Purged) -> Vec<AuditEntry>,
    ) -> Result<Purged> {
        let mut purged = Purged::default();
        let mut tx = self.begin_write().await?;
        if let Some(days) = retention.transcript_days {
            let cutoff = now - days * DAY_MS;
            let rows = sqlx::query(
                "SELECT id FROM conversations WHERE tenant_id = $1 AND closed_at IS NOT NULL AND closed_at < $2 \
                 ORDER BY closed_at LIMIT $3",
            )
            .bind(tenant_id)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            let ids: Vec<String> = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0))
                .collect::<std::result::Result<_, _>>()?;
            if !ids.is_empty() {
                // The ids are fixed first: on PostgreSQL each statement would otherwise see conversations closed
                // meanwhile, and delete a conversation whose messages the statement before it did not.
                let list: Vec<String> = (0..ids.len()).map(|i| ph(self.backend(), i + 2)).collect();
                let list = list.join(", ");
                for table in PURGED_WITH_CONVERSATION {
                    let sql = format!(
                        "DELETE FROM {table} WHERE tenant_id = {} AND conversation_id IN ({list})",
                        ph(self.backend(), 1)
                    );
                    let mut q = sqlx::query(&sql).bind(tenant_id);
                    for id in &ids {
                        q = q.bind(id);
                    }
                    q.execute(&mut *tx).await?;
                }
                let mut removed = [0u64; 4];
                for (i, table) in [
                    "card_mentions",
                    "webhook_outbox",
                    "messages",
                    "conversations",
                ]
                .iter()
                .enumerate()
                {
                    let column = if *table == "conversations" {
                        "id"
                    } else {
                        "conversation_id"
                    };
                    let sql = format!(
                        "DELETE FROM {table} WHERE tenant_id = {} AND {column} IN ({list})",
                        ph(self.backend(), 1)
                    );
                    let mut q = sqlx::query(&sql).bind(tenant_id);
                    for id in &ids {
                        q = q.bind(id);
                    }
                    removed[i] = q.execute(&mut *tx).await?.rows_affected();
                }
                purged.messages = removed[2];
                purged.conversations = removed[3];
            }
        }
        if let Some(days) = retention.exposure_days {
            let cutoff = now - days * DAY_MS;
            purged.exposure_records = sqlx::query(
                "DELETE FROM visitor_sessions WHERE id IN (SELECT id FROM visitor_sessions \
                 WHERE tenant_id = $1 AND COALESCE(ended_at, started_at) < $2 ORDER BY started_at LIMIT $3)",
            )
            .bind(tenant_id)
            .bind(cutoff)
            .bind(limit)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if purged != Purged::default() {
            append_audit(&mut tx, &audit(&purged)).await?;
        }
        tx.commit().await?;
        Ok(purged)
    }

    /// The schema's tables (for the test that every table has lifecycle handling).
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
                 AND table_type = 'BASE TABLE' ORDER BY table_name"
            }
        };
        let rows = sqlx::query(sql).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_number_their_parameters_per_backend() {
        assert_eq!(
            condition(Backend::Postgres, VISITOR_TABLES[0].1, 2),
            "tenant_id = $1 AND id IN ($2, $3)"
        );
        assert_eq!(
            condition(Backend::Sqlite, "tenant_id = $1 AND conversation_id IN ({convs})", 1),
            "tenant_id = ?1 AND conversation_id IN (SELECT id FROM conversations WHERE tenant_id = ?1 AND visitor_id IN (?2))"
        );
    }

    #[test]
    fn no_table_is_in_both_lists() {
        for (t, _) in VISITOR_TABLES {
            assert!(OTHER_TABLES.iter().all(|(o, _)| o != t), "{t}");
        }
    }
}
