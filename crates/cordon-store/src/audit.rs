//! The audit ledger's storage: entries, complete-subtree nodes, checkpoints and the signer lease.
//!
//! Entries are appended inside the transaction of the action they record (or, for reads and failed logins, in
//! a group commit before the response leaves). The log's index comes from the `audit_logs` row, bumped under
//! its write lock, so two servers and the CLI on one database can never fork a log.

use std::collections::HashMap;

use cordon_ledger::{CompactRange, Hash, NodeId};
use sqlx::{AnyConnection, Row as _};

use crate::{now_ms, Result, Store, StoreError};

/// Rows per multi-row INSERT (well under both engines' bound-parameter limits).
const ROWS_PER_INSERT: usize = 500;

/// The platform log's id (tenant logs use the tenant id).
pub const PLATFORM_LOG: &str = "platform";

/// Committed nodes, cached: a node is the hash of a complete subtree and never changes once written. Only nodes read
/// from committed state go in (never from inside an append's transaction). Bounded: cleared when full.
#[derive(Debug, Default)]
pub(crate) struct NodeCache {
    map: std::sync::Mutex<HashMap<(String, u8, u64), Hash>>,
}

const NODE_CACHE_LIMIT: usize = 200_000;

impl NodeCache {
    fn get(&self, log_id: &str, id: NodeId) -> Option<Hash> {
        let map = self.map.lock().ok()?;
        map.get(&(log_id.to_string(), id.level, id.index)).copied()
    }

    fn put(&self, log_id: &str, id: NodeId, hash: Hash) {
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= NODE_CACHE_LIMIT {
                map.clear();
            }
            map.insert((log_id.to_string(), id.level, id.index), hash);
        }
    }
}

/// One entry to append: its log and its exact bytes (canonical JSON built by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub log_id: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub log_id: String,
    pub size: i64,
    pub root: Vec<u8>,
    pub note: String,
    pub created_at: i64,
}

fn to_hash(bytes: Vec<u8>) -> Result<Hash> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("audit node hash length"))
}

/// Fetch the given nodes of a log in one query, in the order requested.
pub(crate) async fn read_nodes(
    conn: &mut AnyConnection,
    log_id: &str,
    ids: &[NodeId],
) -> Result<Vec<Hash>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One point lookup per node, joined with UNION ALL: each branch uses the primary key, where an OR list
    // would make SQLite scan the log's nodes.
    let mut sql = String::new();
    for i in 0..ids.len() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!(
            "SELECT level, idx, hash FROM audit_nodes WHERE log_id = $1 AND level = ${} AND idx = ${}",
            2 + 2 * i,
            3 + 2 * i
        ));
    }
    let mut q = sqlx::query(&sql).bind(log_id);
    for id in ids {
        q = q.bind(i64::from(id.level)).bind(id.index as i64);
    }
    let rows = q.fetch_all(&mut *conn).await?;
    let mut found: HashMap<(u8, u64), Hash> = HashMap::with_capacity(rows.len());
    for r in rows {
        let level: i64 = r.try_get(0)?;
        let idx: i64 = r.try_get(1)?;
        found.insert((level as u8, idx as u64), to_hash(r.try_get(2)?)?);
    }
    ids.iter()
        .map(|id| {
            found
                .get(&(id.level, id.index))
                .copied()
                .ok_or(StoreError::Corrupt("audit node missing"))
        })
        .collect()
}

/// Append entries to their logs on an open transaction. Logs are locked in a fixed (sorted) order so that
/// concurrent transactions cannot deadlock.
pub(crate) async fn append(conn: &mut AnyConnection, entries: &[AuditEntry]) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut by_log: Vec<(&str, Vec<&[u8]>)> = Vec::new();
    let mut sorted: Vec<&AuditEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.log_id.cmp(&b.log_id));
    for e in sorted {
        match by_log.last_mut() {
            Some((log, list)) if *log == e.log_id => list.push(&e.bytes),
            _ => by_log.push((&e.log_id, vec![&e.bytes])),
        }
    }
    for (log_id, list) in by_log {
        let n = list.len() as i64;
        sqlx::query(
            "INSERT INTO audit_logs (log_id, size) VALUES ($1, 0) ON CONFLICT (log_id) DO NOTHING",
        )
        .bind(log_id)
        .execute(&mut *conn)
        .await?;
        let new_size: i64 =
            sqlx::query("UPDATE audit_logs SET size = size + $1 WHERE log_id = $2 RETURNING size")
                .bind(n)
                .bind(log_id)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
        let size = (new_size - n) as u64;
        let frontier = read_nodes(conn, log_id, &cordon_ledger::frontier_ids(size)).await?;
        let mut range = CompactRange::from_parts(size, frontier)
            .map_err(|_| StoreError::Corrupt("audit frontier"))?;
        let mut entry_rows: Vec<(i64, &[u8])> = Vec::with_capacity(list.len());
        let mut node_rows: Vec<(NodeId, Hash)> = Vec::with_capacity(list.len() * 2);
        for bytes in list {
            entry_rows.push((range.size() as i64, bytes));
            let nodes = range
                .append(cordon_ledger::leaf_hash(bytes))
                .map_err(|_| StoreError::Corrupt("audit append"))?;
            node_rows.extend(nodes);
        }
        // Multi-row inserts: a batch costs a few statements, not three per entry.
        for chunk in entry_rows.chunks(ROWS_PER_INSERT) {
            let mut sql = String::from("INSERT INTO audit_entries (log_id, idx, entry) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("($1, ${}, ${})", 2 + 2 * i, 3 + 2 * i));
            }
            let mut q = sqlx::query(&sql).bind(log_id);
            for (idx, bytes) in chunk {
                q = q.bind(*idx).bind(bytes.to_vec());
            }
            q.execute(&mut *conn).await?;
        }
        for chunk in node_rows.chunks(ROWS_PER_INSERT) {
            let mut sql =
                String::from("INSERT INTO audit_nodes (log_id, level, idx, hash) VALUES ");
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "($1, ${}, ${}, ${})",
                    2 + 3 * i,
                    3 + 3 * i,
                    4 + 3 * i
                ));
            }
            let mut q = sqlx::query(&sql).bind(log_id);
            for (id, hash) in chunk {
                q = q
                    .bind(i64::from(id.level))
                    .bind(id.index as i64)
                    .bind(hash.to_vec());
            }
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

impl Store {
    /// Append entries that belong to no other transaction (reads, failed logins), durably, through the group
    /// commit writer. Returns once committed.
    pub async fn append_audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.inner.writer.audit(entries).await
    }

    /// Append a batch in one transaction of its own (the CLI and benchmarks use this).
    pub async fn append_audit_batch(&self, entries: &[AuditEntry]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        append(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every log with its size.
    pub async fn audit_logs(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT log_id, size FROM audit_logs ORDER BY log_id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub async fn audit_size(&self, log_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT size FROM audit_logs WHERE log_id = $1")
            .bind(log_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        })
    }

    /// Entries `[start, end)` of a log, in index order.
    pub async fn audit_entries(
        &self,
        log_id: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT idx, entry FROM audit_entries WHERE log_id = $1 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(log_id)
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Stored node hashes, in the order of `ids` (for proofs and tree heads).
    pub async fn audit_nodes(&self, log_id: &str, ids: &[NodeId]) -> Result<Vec<Hash>> {
        let cache = &self.inner.node_cache;
        let mut out: Vec<Option<Hash>> = ids.iter().map(|id| cache.get(log_id, *id)).collect();
        let missing: Vec<NodeId> = ids
            .iter()
            .zip(&out)
            .filter(|(_, h)| h.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !missing.is_empty() {
            let mut conn = self.pool().acquire().await?;
            let fetched = read_nodes(&mut conn, log_id, &missing).await?;
            let mut fetched = missing.into_iter().zip(fetched);
            for slot in out.iter_mut().filter(|h| h.is_none()) {
                if let Some((id, hash)) = fetched.next() {
                    cache.put(log_id, id, hash);
                    *slot = Some(hash);
                }
            }
        }
        out.into_iter()
            .map(|h| h.ok_or(StoreError::Corrupt("audit node missing")))
            .collect()
    }

    /// The same nodes read from the database, bypassing the cache (benchmarks measure this cold path).
    pub async fn audit_nodes_uncached(&self, log_id: &str, ids: &[NodeId]) -> Result<Vec<Hash>> {
        let mut conn = self.pool().acquire().await?;
        read_nodes(&mut conn, log_id, ids).await
    }

    /// Stored level-0 nodes `[start, end)` (for offline verification against the entries).
    pub async fn audit_leaf_nodes(
        &self,
        log_id: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT idx, hash FROM audit_nodes WHERE log_id = $1 AND level = 0 AND idx >= $2 AND idx < $3 ORDER BY idx",
        )
        .bind(log_id)
        .bind(start)
        .bind(end)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The root of a log at `size` (which must not exceed the committed size).
    pub async fn audit_root(&self, log_id: &str, size: u64) -> Result<Hash> {
        let frontier = self
            .audit_nodes(log_id, &cordon_ledger::frontier_ids(size))
            .await?;
        let range = CompactRange::from_parts(size, frontier)
            .map_err(|_| StoreError::Corrupt("audit frontier"))?;
        Ok(range.root())
    }

    pub async fn insert_checkpoint(
        &self,
        log_id: &str,
        size: i64,
        root: &[u8],
        note: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (log_id, size, root, note, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (log_id, size) DO NOTHING",
        )
        .bind(log_id)
        .bind(size)
        .bind(root.to_vec())
        .bind(note)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn latest_checkpoint(&self, log_id: &str) -> Result<Option<StoredCheckpoint>> {
        let row = sqlx::query(
            "SELECT log_id, size, root, note, created_at FROM audit_checkpoints WHERE log_id = $1 \
             ORDER BY size DESC LIMIT 1",
        )
        .bind(log_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(StoredCheckpoint {
                log_id: r.try_get(0)?,
                size: r.try_get(1)?,
                root: r.try_get(2)?,
                note: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    pub async fn checkpoints(&self, log_id: &str) -> Result<Vec<StoredCheckpoint>> {
        let rows = sqlx::query(
            "SELECT log_id, size, root, note, created_at FROM audit_checkpoints WHERE log_id = $1 ORDER BY size",
        )
        .bind(log_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredCheckpoint {
                    log_id: r.try_get(0)?,
                    size: r.try_get(1)?,
                    root: r.try_get(2)?,
                    note: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Logs whose size is past their latest checkpoint, with the time of that checkpoint (0 if none).
    pub async fn logs_needing_checkpoint(&self) -> Result<Vec<(String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT l.log_id, l.size, COALESCE((SELECT MAX(c.created_at) FROM audit_checkpoints c \
             WHERE c.log_id = l.log_id), 0) FROM audit_logs l WHERE l.size > COALESCE((SELECT MAX(c.size) \
             FROM audit_checkpoints c WHERE c.log_id = l.log_id), 0)",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Take or renew the checkpoint signer lease. True while `holder` holds it.
    pub async fn acquire_signer_lease(&self, holder: &str, ttl_ms: i64) -> Result<bool> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO audit_signer (id, holder, expires_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(holder)
        .bind(now + ttl_ms)
        .execute(self.pool())
        .await?;
        let done = sqlx::query(
            "UPDATE audit_signer SET holder = $1, expires_at = $2 WHERE id = 1 AND (holder = $1 OR expires_at < $3)",
        )
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sessions and keys that expired and have not had their expiry logged: (tenant, kind, id).
    pub async fn unlogged_expiries(&self) -> Result<Vec<(String, &'static str, String)>> {
        let now = now_ms();
        let mut out = Vec::new();
        for (table, kind) in [("sessions", "session"), ("api_keys", "apikey")] {
            let rows = sqlx::query(&format!(
                "SELECT tenant_id, id FROM {table} WHERE expiry_logged = 0 AND revoked_at IS NULL AND expires_at <= $1 LIMIT 500"
            ))
            .bind(now)
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                out.push((r.try_get(0)?, kind, r.try_get(1)?));
            }
        }
        Ok(out)
    }

    /// Mark an expiry logged, in the same transaction as its audit entry.
    pub async fn log_expiry(&self, kind: &str, id: &str, audit: &[AuditEntry]) -> Result<()> {
        let table = if kind == "session" {
            "sessions"
        } else {
            "api_keys"
        };
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(&format!(
            "UPDATE {table} SET expiry_logged = 1 WHERE id = $1 AND expiry_logged = 0"
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            append(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
