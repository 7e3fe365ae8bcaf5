//! Reads for breach-impact reports (issue 11, docs/IMPACT.md), and the card-mention record.
//!
//! The asset-hash query is the one that must be fast at 10,000,000 sessions: it goes hash → the few asset sets
//! containing it (`exposure_set_assets`, primary key) → each set's sessions in start order
//! (`visitor_sessions_asset_set`). Migration 4 explains the tables. Every other read here is bounded by ids the
//! first one returned, and every read takes the tenant id and filters on it, except the operator-wide ones,
//! whose names say so.

mod transparency;

use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::conversations::{conv_from_row, Conversation, SenderKind, Visitor, CONV_COLS};
use crate::exposure::is_sha384_hex;
use crate::{Result, Store, StoreError};

/// Sessions per page of the asset-hash query.
const PAGE: i64 = 20_000;

/// One session of a page, as the database's JSON array holds it.
type PageRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
);

/// Ids per `IN (…)` list: far below SQLite's 32,766 bound parameters and PostgreSQL's 65,535.
const IN_CHUNK: usize = 500;

/// The card brands a mention may name: cordon-card's mask names, and the CHECK of migration 4.
pub const CARD_MENTION_BRANDS: &[&str] = &[
    "Visa",
    "Mastercard",
    "Amex",
    "Discover",
    "JCB",
    "Diners Club",
    "UnionPay",
    "Maestro",
    "Mir",
];

/// A visitor session that matched an impact query: the exposure record without its hash list (the caller
/// knows which hash matched; `asset_set_hashes` gives the whole list when wanted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposureHit {
    pub session_id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub node: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub embed_origin: Option<String>,
    pub asset_set_id: Option<i64>,
}

/// Which sessions to read: overlapping `[from, to)` (started before `to`, not ended before `from`), optionally
/// for one tenant only.
#[derive(Debug, Clone, Copy)]
pub struct ImpactWindow<'a> {
    pub tenant_id: Option<&'a str>,
    pub from: i64,
    pub to: i64,
}

/// A card number as a redaction event records it: brand and last four digits. The constructor refuses
/// anything more, so no code path can store a longer number here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardMention {
    brand: String,
    last4: String,
}

impl CardMention {
    pub fn new(brand: &str, last4: &str) -> Result<Self> {
        let digits = last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit());
        if digits && CARD_MENTION_BRANDS.contains(&brand) {
            Ok(CardMention {
                brand: brand.to_string(),
                last4: last4.to_string(),
            })
        } else {
            Err(StoreError::Conflict(
                "a card mention is a known brand and four digits",
            ))
        }
    }

    pub fn brand(&self) -> &str {
        &self.brand
    }

    pub fn last4(&self) -> &str {
        &self.last4
    }
}

/// The message a set of card mentions was typed in (the same key as the message's own idempotency key).
#[derive(Debug, Clone)]
pub struct CardMentionSource {
    pub tenant_id: String,
    pub conversation_id: String,
    pub sender_kind: SenderKind,
    pub sender_id: String,
    pub client_msg_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCardMention {
    /// The redaction event's id (what a report cites).
    pub id: i64,
    pub tenant_id: String,
    pub conversation_id: String,
    pub brand: String,
    pub last4: String,
    pub created_at: i64,
}

const HIT_COLS: &str =
    "id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin, asset_set_id";

fn hit_from_row(r: &AnyRow) -> Result<ExposureHit> {
    Ok(ExposureHit {
        session_id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        visitor_id: r.try_get(2)?,
        node: r.try_get(3)?,
        started_at: r.try_get(4)?,
        ended_at: r.try_get(5)?,
        embed_origin: r.try_get(6)?,
        asset_set_id: r.try_get(7)?,
    })
}

/// `$first, $first+1, …` for `n` values.
fn numbered(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The asset sets (and their tenants) that contain a widget file, optionally of one tenant only.
    pub async fn asset_sets_with(
        &self,
        sha384_hex: &str,
        tenant_id: Option<&str>,
    ) -> Result<Vec<(i64, String)>> {
        if !is_sha384_hex(sha384_hex) {
            return Ok(Vec::new());
        }
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(
                    "SELECT set_id, tenant_id FROM exposure_set_assets \
                     WHERE asset_sha384 = $1 AND tenant_id = $2 ORDER BY set_id",
                )
                .bind(sha384_hex)
                .bind(t)
                .fetch_all(self.pool())
                .await?
            }
            None => {
                sqlx::query(
                    "SELECT set_id, tenant_id FROM exposure_set_assets WHERE asset_sha384 = $1 ORDER BY set_id",
                )
                .bind(sha384_hex)
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The hash list of an asset set (the exposure record's `asset_hashes` of its sessions).
    pub async fn asset_set_hashes(&self, tenant_id: &str, set_id: i64) -> Result<Vec<String>> {
        let row =
            sqlx::query("SELECT hashes FROM exposure_asset_sets WHERE id = $1 AND tenant_id = $2")
                .bind(set_id)
                .bind(tenant_id)
                .fetch_optional(self.pool())
                .await?
                .ok_or(StoreError::NotFound)?;
        let text: String = row.try_get(0)?;
        serde_json::from_str(&text).map_err(|_| StoreError::Corrupt("asset set hashes"))
    }

    /// Every session that ran the widget file with this SHA-384 (96 lowercase hex digits) and overlaps the
    /// window, by tenant, then start time. Operator-wide when `window.tenant_id` is `None`.
    pub async fn sessions_by_asset(
        &self,
        sha384_hex: &str,
        window: ImpactWindow<'_>,
    ) -> Result<Vec<ExposureHit>> {
        let sets = self.asset_sets_with(sha384_hex, window.tenant_id).await?;
        let mut out = Vec::new();
        // One range of the covering index per set, in pages. Each page comes back as one JSON array built by
        // the database: decoding a row through sqlx costs ~4 µs, 15 times what SQLite spends finding it, so
        // 200,000 rows one by one took 1 s; as arrays of 20,000 they take a fraction of that.
        let aggregate = match self.backend() {
            crate::Backend::Sqlite => "json_group_array(json_array(id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin))",
            crate::Backend::Postgres => "json_agg(json_build_array(id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin))::text",
        };
        for (set_id, tenant_id) in sets {
            let mut after: Option<(i64, String)> = None;
            loop {
                let keyset = if after.is_some() {
                    " AND (started_at, id) > ($5, $6)"
                } else {
                    ""
                };
                let sql = format!(
                    "SELECT COUNT(*), {aggregate} FROM (SELECT id, tenant_id, visitor_id, node, started_at, ended_at, \
                     embed_origin FROM visitor_sessions WHERE asset_set_id = $1 AND started_at < $2 \
                     AND (ended_at IS NULL OR ended_at >= $3) AND tenant_id = $4{keyset} \
                     ORDER BY started_at, id LIMIT {PAGE}) AS page"
                );
                let mut q = sqlx::query(&sql)
                    .bind(set_id)
                    .bind(window.to)
                    .bind(window.from)
                    .bind(tenant_id.as_str());
                if let Some((ts, id)) = &after {
                    q = q.bind(*ts).bind(id.as_str());
                }
                let row = q.fetch_one(self.pool()).await?;
                let n: i64 = row.try_get(0)?;
                if n == 0 {
                    break;
                }
                let page: String = row.try_get(1)?;
                let page: Vec<PageRow> =
                    serde_json::from_str(&page).map_err(|_| StoreError::Corrupt("impact page"))?;
                for (session_id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin) in
                    page
                {
                    out.push(ExposureHit {
                        session_id,
                        tenant_id,
                        visitor_id,
                        node,
                        started_at,
                        ended_at,
                        embed_origin,
                        asset_set_id: Some(set_id),
                    });
                }
                if n < PAGE {
                    break;
                }
                after = out
                    .iter()
                    .rev()
                    .take(n as usize)
                    .max_by(|a, b| {
                        (a.started_at, &a.session_id).cmp(&(b.started_at, &b.session_id))
                    })
                    .map(|h| (h.started_at, h.session_id.clone()));
            }
        }
        out.sort_by(|a, b| {
            (&a.tenant_id, a.started_at, &a.session_id).cmp(&(
                &b.tenant_id,
                b.started_at,
                &b.session_id,
            ))
        });
        Ok(out)
    }

    /// How many sessions ran the file in the window, per tenant (the figure a report leads with).
    pub async fn count_sessions_by_asset(
        &self,
        sha384_hex: &str,
        window: ImpactWindow<'_>,
    ) -> Result<Vec<(String, i64)>> {
        let sets = self.asset_sets_with(sha384_hex, window.tenant_id).await?;
        let mut per_tenant: std::collections::BTreeMap<String, i64> = Default::default();
        for (set_id, tenant_id) in sets {
            let row = sqlx::query(
                "SELECT COUNT(*) FROM visitor_sessions WHERE asset_set_id = $1 AND started_at < $2 \
                 AND (ended_at IS NULL OR ended_at >= $3) AND tenant_id = $4",
            )
            .bind(set_id)
            .bind(window.to)
            .bind(window.from)
            .bind(tenant_id.clone())
            .fetch_one(self.pool())
            .await?;
            *per_tenant.entry(tenant_id).or_default() += row.try_get::<i64, _>(0)?;
        }
        Ok(per_tenant.into_iter().filter(|(_, n)| *n > 0).collect())
    }

    /// Sessions served by one node in the window (the `--node` component).
    pub async fn sessions_by_node(
        &self,
        node: &str,
        window: ImpactWindow<'_>,
    ) -> Result<Vec<ExposureHit>> {
        let mut sql = format!(
            "SELECT {HIT_COLS} FROM visitor_sessions WHERE node = $1 AND started_at < $2 \
             AND (ended_at IS NULL OR ended_at >= $3)"
        );
        if window.tenant_id.is_some() {
            sql.push_str(" AND tenant_id = $4");
        }
        sql.push_str(" ORDER BY tenant_id, started_at, id");
        let mut q = sqlx::query(&sql)
            .bind(node)
            .bind(window.to)
            .bind(window.from);
        if let Some(t) = window.tenant_id {
            q = q.bind(t);
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(hit_from_row)
            .collect()
    }

    /// Every session in the window (the `--platform` component).
    pub async fn sessions_in_window(&self, window: ImpactWindow<'_>) -> Result<Vec<ExposureHit>> {
        let mut sql = format!(
            "SELECT {HIT_COLS} FROM visitor_sessions WHERE started_at < $1 AND (ended_at IS NULL OR ended_at >= $2)"
        );
        if window.tenant_id.is_some() {
            sql.push_str(" AND tenant_id = $3");
        }
        sql.push_str(" ORDER BY tenant_id, started_at, id");
        let mut q = sqlx::query(&sql).bind(window.to).bind(window.from);
        if let Some(t) = window.tenant_id {
            q = q.bind(t);
        }
        q.fetch_all(self.pool())
            .await?
            .iter()
            .map(hit_from_row)
            .collect()
    }

    /// A tenant's session records by id (for checking a report's exposure citations).
    pub async fn sessions_by_id(
        &self,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<ExposureHit>> {
        let select =
            format!("SELECT {HIT_COLS} FROM visitor_sessions WHERE tenant_id = $1 AND id IN");
        self.rows_in_chunks(&select, "", tenant_id, ids, hit_from_row)
            .await
    }

    /// A tenant's visitors by id.
    pub async fn visitors_by_id(&self, tenant_id: &str, ids: &[String]) -> Result<Vec<Visitor>> {
        let select = "SELECT id, tenant_id, user_id, created_at FROM visitors WHERE tenant_id = $1 AND id IN";
        self.rows_in_chunks(select, "", tenant_id, ids, |r| {
            Ok(Visitor {
                id: r.try_get(0)?,
                tenant_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .await
    }

    /// Every conversation of these visitors of one tenant (index `conversations_visitor`).
    pub async fn conversations_of_visitors(
        &self,
        tenant_id: &str,
        visitor_ids: &[String],
    ) -> Result<Vec<Conversation>> {
        self.conversations_where(tenant_id, "visitor_id", visitor_ids)
            .await
    }

    /// A tenant's conversations by id (those an agent's audit entries name).
    pub async fn conversations_by_id(
        &self,
        tenant_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<Conversation>> {
        self.conversations_where(tenant_id, "id", conversation_ids)
            .await
    }

    /// One tenant-scoped `select … IN (…) suffix` per chunk of `ids` (`$1` is the tenant, the ids follow), each
    /// row mapped by `map`, in chunk order. Chunks keep the statement within every backend's parameter limit.
    async fn rows_in_chunks<T>(
        &self,
        select: &str,
        suffix: &str,
        tenant_id: &str,
        ids: &[String],
        map: impl Fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!("{select} ({}) {suffix}", numbered(2, chunk.len()));
            let mut q = sqlx::query(&sql).bind(tenant_id);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for r in q.fetch_all(self.pool()).await? {
                out.push(map(&r)?);
            }
        }
        Ok(out)
    }

    async fn conversations_where(
        &self,
        tenant_id: &str,
        column: &'static str,
        ids: &[String],
    ) -> Result<Vec<Conversation>> {
        let select =
            format!("SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND {column} IN");
        self.rows_in_chunks(
            &select,
            "ORDER BY created_at, id",
            tenant_id,
            ids,
            conv_from_row,
        )
        .await
    }

    /// Record the card numbers masked in one message: brand and last four each, in the order they appeared.
    /// Idempotent per message (a retry with the same client id adds nothing). Call it before the message is
    /// appended: a number typed into the chat was exposed to whatever code ran there even if the message
    /// then failed to store, so the record errs on the side of listing it.
    pub async fn record_card_mentions(
        &self,
        source: CardMentionSource,
        mentions: Vec<CardMention>,
    ) -> Result<()> {
        if mentions.is_empty() {
            return Ok(());
        }
        let now = crate::now_ms();
        self.write(crate::writer::Undo::Savepoint, move |conn| {
            Box::pin(async move {
                for (ordinal, m) in mentions.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO card_mentions (tenant_id, conversation_id, sender_kind, sender_id, \
                         client_msg_id, ordinal, brand, last4, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                    )
                    .bind(source.tenant_id.as_str())
                    .bind(source.conversation_id.as_str())
                    .bind(source.sender_kind.as_str())
                    .bind(source.sender_id.as_str())
                    .bind(source.client_msg_id.as_str())
                    .bind(ordinal as i64)
                    .bind(m.brand.as_str())
                    .bind(m.last4.as_str())
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// The card mentions of these conversations of one tenant, oldest first.
    pub async fn card_mentions_of_conversations(
        &self,
        tenant_id: &str,
        conversation_ids: &[String],
    ) -> Result<Vec<StoredCardMention>> {
        let select =
            "SELECT id, tenant_id, conversation_id, brand, last4, created_at FROM card_mentions \
                      WHERE tenant_id = $1 AND conversation_id IN";
        let order = "ORDER BY created_at, id";
        self.rows_in_chunks(select, order, tenant_id, conversation_ids, |r| {
            Ok(StoredCardMention {
                id: r.try_get(0)?,
                tenant_id: r.try_get(1)?,
                conversation_id: r.try_get(2)?,
                brand: r.try_get(3)?,
                last4: r.try_get(4)?,
                created_at: r.try_get(5)?,
            })
        })
        .await
    }

    /// A log's entries by one actor with `ts` in `[from, to)` and index below `below_size` (the checkpoint the
    /// report is computed at), as `(index, exact entry bytes)`, in index order.
    pub async fn audit_entries_by_actor(
        &self,
        log_id: &str,
        actor: &str,
        from: i64,
        to: i64,
        below_size: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT e.idx, e.entry FROM audit_actor_index a \
             JOIN audit_entries e ON e.log_id = a.log_id AND e.idx = a.idx \
             WHERE a.log_id = $1 AND a.actor = $2 AND a.ts >= $3 AND a.ts < $4 AND a.idx < $5 ORDER BY e.idx",
        )
        .bind(log_id)
        .bind(actor)
        .bind(from)
        .bind(to)
        .bind(below_size)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
