//! The exposure record: which visitor sessions ran which widget code, embedded in which site. It is the base
//! for breach-impact analysis ("every session served loader X between t1 and t2").
//!
//! Each session record keeps the SHA-384 (lowercase hex) of every widget file the node served, as a JSON
//! array, and the embedding page's origin as the browser reported it to the frame.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::directory::VisitorSessionRecord;
use crate::{Result, Store};

/// A page of session records that overlap `[from, to)` (unix ms), oldest first.
#[derive(Debug, Clone, Default)]
pub struct ExposureQuery {
    pub from: i64,
    pub to: i64,
    /// Only sessions served the file with this SHA-384 (96 lowercase hex digits).
    pub asset_sha384: Option<String>,
    /// Resume after this `(started_at, id)`.
    pub after: Option<(i64, String)>,
    pub limit: i64,
}

/// Is this a SHA-384 in lowercase hex? (Anything else matches no record, and never reaches the SQL.)
pub fn is_sha384_hex(s: &str) -> bool {
    s.len() == 96
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

const COLS: &str =
    "id, tenant_id, visitor_id, node, started_at, ended_at, agents, cards_redacted, \
                    embed_origin, asset_hashes, release_id";

fn record_from_row(r: &AnyRow) -> Result<VisitorSessionRecord> {
    let agents: String = r.try_get(6)?;
    let assets: Option<String> = r.try_get(9)?;
    Ok(VisitorSessionRecord {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        visitor_id: r.try_get(2)?,
        node: r.try_get(3)?,
        started_at: r.try_get(4)?,
        ended_at: r.try_get(5)?,
        agents: serde_json::from_str(&agents).unwrap_or_default(),
        cards_redacted: r.try_get(7)?,
        embed_origin: r.try_get(8)?,
        asset_hashes: assets
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default(),
        release_id: r.try_get(10)?,
    })
}

impl Store {
    /// A tenant's session records overlapping `[from, to)`, optionally only those served one asset.
    pub async fn visitor_session_page(
        &self,
        tenant_id: &str,
        q: &ExposureQuery,
    ) -> Result<Vec<VisitorSessionRecord>> {
        self.exposure_query(Some(tenant_id), q).await
    }

    /// Operator-wide (every tenant): the sessions served the file with this SHA-384 in `[from, to)`. For
    /// incident response by the service's operator only; no tenant-facing route calls it.
    pub async fn sessions_exposed_to_asset(
        &self,
        asset_sha384: &str,
        from: i64,
        to: i64,
        limit: i64,
    ) -> Result<Vec<VisitorSessionRecord>> {
        let q = ExposureQuery {
            from,
            to,
            asset_sha384: Some(asset_sha384.to_string()),
            after: None,
            limit,
        };
        self.exposure_query(None, &q).await
    }

    async fn exposure_query(
        &self,
        tenant_id: Option<&str>,
        q: &ExposureQuery,
    ) -> Result<Vec<VisitorSessionRecord>> {
        let hash = match &q.asset_sha384 {
            Some(h) if is_sha384_hex(h) => Some(h.as_str()),
            Some(_) => return Ok(Vec::new()),
            None => None,
        };
        let mut sql = format!(
            "SELECT {COLS} FROM visitor_sessions WHERE started_at < $1 AND (ended_at IS NULL OR ended_at >= $2)"
        );
        let mut n = 2;
        if tenant_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND tenant_id = ${n}"));
        }
        if hash.is_some() {
            // Through the asset sets of migration 4 (a primary-key range per hash), not a scan of the JSON
            // column: the sets containing the hash, then each session's `asset_set_id`.
            n += 1;
            sql.push_str(&format!(
                " AND asset_set_id IN (SELECT set_id FROM exposure_set_assets WHERE asset_sha384 = ${n})"
            ));
        }
        if q.after.is_some() {
            sql.push_str(&format!(
                " AND (started_at > ${} OR (started_at = ${} AND id > ${}))",
                n + 1,
                n + 1,
                n + 2
            ));
            n += 2;
        }
        sql.push_str(&format!(" ORDER BY started_at, id LIMIT ${}", n + 1));
        let mut query = sqlx::query(&sql).bind(q.to).bind(q.from);
        if let Some(t) = tenant_id {
            query = query.bind(t.to_string());
        }
        if let Some(h) = hash {
            query = query.bind(h.to_string());
        }
        if let Some((ts, id)) = &q.after {
            query = query.bind(*ts).bind(id.clone());
        }
        let rows = query
            .bind(q.limit.clamp(1, 10_000))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(record_from_row).collect()
    }
}
