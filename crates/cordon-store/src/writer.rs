//! Group commit for messages and write transactions.
//!
//! One task takes every write of this process. It takes whatever requests are waiting (up to a bound), writes
//! them in one transaction, commits once, and only then answers each caller. While a commit's fsync runs, the
//! next batch gathers, so durable acks stay cheap under load without a timer.
//!
//! On SQLite the message batches and the session path's write transactions are handed to the writer thread
//! (sqlite_appender.rs), which runs them on its own connection with one hand-off per batch; its sequencer is
//! the messages primary key. The bulk statements below are the PostgreSQL path (and SQLite's only if that
//! thread is absent): a handful of multi-row statements per batch rather than a few per message. There the
//! per-conversation sequencer is the `last_seq` column, bumped by an UPDATE that holds the row's write lock
//! until commit, so sequence numbers are gap-free and increase in commit order even with several processes on
//! one PostgreSQL database.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use sqlx::{AnyConnection, Executor as _, Row as _};
use tokio::sync::{mpsc, oneshot};

use crate::audit::AuditEntry;
use crate::conversations::{AppendOutcome, AppendRequest};
use crate::sqlite_appender::{native_body, Appender, NativeBody};
use crate::{now_ms, Backend, Result, StoreError};

/// The most messages one transaction carries; bounds commit latency and memory.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer; callers wait (backpressure) beyond this.
const QUEUE_DEPTH: usize = 8192;

/// A hook around each message commit (tests hold commits with it to prove acks never precede durability).
pub trait CommitGate: Send + Sync + std::fmt::Debug {
    /// Runs after the batch is written and before COMMIT; the commit waits for the future.
    fn before_commit(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// Runs after COMMIT returned successfully, before any caller is answered.
    fn after_commit(&self);
}

type Gate = Arc<RwLock<Option<Arc<dyn CommitGate>>>>;

/// Counters of the group-commit writer (for metrics, and for tests that must know which path ran).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Message transactions committed.
    pub batches: AtomicU64,
    /// Messages written through them (including duplicates answered with their original ack).
    pub messages: AtomicU64,
    /// Batches redone one message at a time because a retry of a stored message was in them.
    pub redone_for_retry: AtomicU64,
    /// Batches that failed with a database error and were retried one message at a time.
    pub failed: AtomicU64,
    /// Write-transaction batches committed, and the transactions in them.
    pub txn_batches: AtomicU64,
    pub txns: AtomicU64,
}

impl CommitStats {
    /// (batches, messages, redone_for_retry, failed)
    pub fn snapshot(&self) -> (u64, u64, u64, u64) {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (
            l(&self.batches),
            l(&self.messages),
            l(&self.redone_for_retry),
            l(&self.failed),
        )
    }
}

/// Hands a write transaction's result to its caller once the batch it ran in has committed (or failed to).
type Deliver = Box<dyn FnOnce(Result<()>) + Send>;
/// A write transaction's body. It runs on the writer's connection inside the batch's transaction, under a
/// savepoint; `false` means it failed and its writes are rolled back to the savepoint.
type TxnBody = Box<
    dyn for<'c> FnOnce(
            &'c mut AnyConnection,
        ) -> Pin<Box<dyn Future<Output = (bool, Deliver)> + Send + 'c>>
        + Send,
>;

/// What undoes a write transaction's body if it fails part-way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Undo {
    /// Its own savepoint: for bodies with several writes that must stand or fall together.
    Savepoint,
    /// Nothing more than SQLite's own statement rollback: the body's only write that matters is one statement
    /// (writes before it change nothing). Saves two statements per body on SQLite; PostgreSQL, where a failed
    /// statement aborts the whole transaction, always uses a savepoint.
    FailedStatement,
}

struct TxnJob {
    body: TxnBody,
    undo: Undo,
}

enum Job {
    Append(AppendRequest, oneshot::Sender<Result<AppendOutcome>>),
    Txn(TxnJob),
    /// A write transaction for the SQLite writer thread (never sent on PostgreSQL).
    Native(NativeBody),
    Audit(Vec<AuditEntry>, oneshot::Sender<Result<()>>),
    /// Each writer connection's name and durability settings.
    Settings(oneshot::Sender<Result<Vec<(String, Vec<(String, String)>)>>>),
    Shutdown(oneshot::Sender<()>),
}

#[derive(Debug)]
pub(crate) struct WriterHandle {
    tx: mpsc::Sender<Job>,
    gate: Gate,
    pub(crate) stats: Arc<CommitStats>,
}

/// Start the group-commit loop on `conn`. On SQLite, `appender` is the message writer thread
/// (sqlite_appender.rs) that writes the message batches; everything else runs on `conn`.
pub(crate) fn spawn(
    conn: AnyConnection,
    backend: Backend,
    appender: Option<Appender>,
) -> WriterHandle {
    let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
    let gate: Gate = Arc::new(RwLock::new(None));
    let stats = Arc::new(CommitStats::default());
    tokio::spawn(run(
        conn,
        backend,
        appender,
        rx,
        gate.clone(),
        stats.clone(),
    ));
    WriterHandle { tx, gate, stats }
}

impl WriterHandle {
    pub(crate) async fn append(&self, req: AppendRequest) -> Result<AppendOutcome> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Append(req, reply))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }

    /// Run `body` as a write transaction of its own, sharing the commit (and its fsync) with whatever else is
    /// waiting: session starts, conversation opens and the like, which would otherwise each take SQLite's write
    /// lock and fsync alone. The result is returned only after the commit.
    pub(crate) async fn transaction<T, F>(&self, undo: Undo, body: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut AnyConnection,
            ) -> Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>
            + Send
            + 'static,
    {
        let (reply, rx) = oneshot::channel::<Result<T>>();
        let job: TxnBody = Box::new(move |conn| {
            Box::pin(async move {
                match body(conn).await {
                    Ok(value) => {
                        let deliver: Deliver = Box::new(move |commit: Result<()>| {
                            let _ = reply.send(commit.map(|()| value));
                        });
                        (true, deliver)
                    }
                    Err(e) => {
                        let deliver: Deliver = Box::new(move |_| {
                            let _ = reply.send(Err(e));
                        });
                        (false, deliver)
                    }
                }
            })
        });
        self.tx
            .send(Job::Txn(TxnJob { body: job, undo }))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        // Dropped unanswered: the batch's transaction failed before this body ran.
        rx.await.map_err(|_| StoreError::BatchFailed)?
    }

    /// Run `body` as a write transaction on the SQLite writer thread, sharing its commit with whatever else is
    /// waiting. Only for a store with that thread (SQLite); the caller checks the backend.
    pub(crate) async fn native_transaction<T, F>(&self, body: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        let (job, rx) = native_body(body);
        self.tx
            .send(Job::Native(job))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        // Dropped unanswered: the batch's transaction failed before this body ran.
        rx.await.map_err(|_| StoreError::BatchFailed)?
    }

    pub(crate) async fn audit(&self, entries: Vec<AuditEntry>) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Audit(entries, reply))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }

    pub(crate) async fn durability_settings(&self) -> Result<Vec<(String, Vec<(String, String)>)>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Settings(reply))
            .await
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }

    pub(crate) fn set_gate(&self, gate: Option<Arc<dyn CommitGate>>) {
        if let Ok(mut g) = self.gate.write() {
            *g = gate;
        }
    }

    pub(crate) async fn shutdown(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Job::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(
    mut conn: AnyConnection,
    backend: Backend,
    appender: Option<Appender>,
    mut rx: mpsc::Receiver<Job>,
    gate: Gate,
    stats: Arc<CommitStats>,
) {
    let mut batch: Vec<(AppendRequest, oneshot::Sender<Result<AppendOutcome>>)> = Vec::new();
    let mut audits: Vec<(Vec<AuditEntry>, oneshot::Sender<Result<()>>)> = Vec::new();
    let mut txns: std::collections::VecDeque<TxnJob> = std::collections::VecDeque::new();
    let mut natives: Vec<NativeBody> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        let mut shutdown = None;
        while let Some(job) = next.take() {
            match job {
                Job::Append(req, reply) => batch.push((req, reply)),
                Job::Audit(entries, reply) => audits.push((entries, reply)),
                Job::Txn(job) => txns.push_back(job),
                Job::Native(body) => natives.push(body),
                Job::Settings(reply) => {
                    let _ =
                        reply.send(writer_settings(backend, &mut conn, appender.as_ref()).await);
                }
                Job::Shutdown(reply) => shutdown = Some(reply),
            }
            if batch.len() + audits.len() + txns.len() + natives.len() < MAX_BATCH
                && shutdown.is_none()
            {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() || !natives.is_empty() {
            match &appender {
                Some(appender) => {
                    let current_gate = gate.read().ok().and_then(|g| g.clone());
                    let (emptied, report) = appender
                        .commit(
                            std::mem::take(&mut batch),
                            std::mem::take(&mut natives),
                            current_gate,
                        )
                        .await;
                    batch = emptied;
                    if report.messages > 0 {
                        stats.messages.fetch_add(report.messages, Ordering::Relaxed);
                        let counter = if report.committed {
                            &stats.batches
                        } else {
                            &stats.failed
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                    if report.txns > 0 {
                        stats.txn_batches.fetch_add(1, Ordering::Relaxed);
                        stats.txns.fetch_add(report.txns, Ordering::Relaxed);
                    }
                }
                None => {
                    // Native bodies are only sent to a store with the SQLite thread; dropping one tells its
                    // caller the write failed.
                    natives.clear();
                    if !batch.is_empty() {
                        commit_batch(&mut conn, backend, &mut batch, &gate, &stats).await;
                    }
                }
            }
        }
        if !audits.is_empty() {
            commit_audits(&mut conn, backend, &mut audits).await;
        }
        while !txns.is_empty() {
            commit_txns(&mut conn, backend, &mut txns, &stats).await;
        }
        if let Some(reply) = shutdown {
            let _ = reply.send(());
            return;
        }
    }
}

/// Each writer connection's durability settings: the loop's own, and the message thread's on SQLite.
async fn writer_settings(
    backend: Backend,
    conn: &mut AnyConnection,
    appender: Option<&Appender>,
) -> Result<Vec<(String, Vec<(String, String)>)>> {
    let mut all = vec![(
        "writer".to_string(),
        crate::read_durability(backend, conn).await?,
    )];
    if let Some(appender) = appender {
        all.push((
            "writer#messages".to_string(),
            appender.durability_settings().await?,
        ));
    }
    Ok(all)
}

async fn commit_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    batch: &mut Vec<(AppendRequest, oneshot::Sender<Result<AppendOutcome>>)>,
    gate: &Gate,
    stats: &CommitStats,
) {
    // Lock conversation rows in one global order, so batches of two processes cannot deadlock. The sort is
    // stable: messages of one conversation keep their arrival order.
    batch.sort_by(|a, b| a.0.conversation_id.cmp(&b.0.conversation_id));
    let current_gate = gate.read().ok().and_then(|g| g.clone());
    let refs: Vec<&AppendRequest> = batch.iter().map(|(r, _)| r).collect();
    let outcome = try_batch(conn, backend, &refs, current_gate.as_deref(), stats).await;
    stats
        .messages
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    match outcome {
        Ok(results) => {
            stats.batches.fetch_add(1, Ordering::Relaxed);
            for ((_, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(result);
            }
        }
        Err(err) => {
            // A database error aborts the whole transaction. Retry each message alone, so one bad request
            // (or a transient conflict) cannot fail its neighbours.
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %err, size = batch.len(), "group commit failed; retrying one by one");
            for (req, reply) in batch.drain(..) {
                let result =
                    match try_batch(conn, backend, &[&req], current_gate.as_deref(), stats).await {
                        Ok(mut r) => r
                            .pop()
                            .unwrap_or(Err(StoreError::Corrupt("empty batch result"))),
                        Err(e) => Err(e),
                    };
                let _ = reply.send(result);
            }
        }
    }
}

/// Write `reqs` in one transaction. Per-message outcomes (duplicate, closed, unknown) come back in order; a
/// database error fails the whole transaction, which is rolled back.
async fn try_batch(
    conn: &mut AnyConnection,
    backend: Backend,
    reqs: &[&AppendRequest],
    gate: Option<&dyn CommitGate>,
    stats: &CommitStats,
) -> Result<Vec<Result<AppendOutcome>>> {
    let begin = begin_write(backend);
    conn.execute(begin).await?;
    let results = match append_bulk(conn, backend, reqs).await {
        Ok(Some(results)) => results,
        // A retry of a stored message is in the batch: its seq must be given back under the row lock, which
        // the bulk statements cannot do. Start over one message at a time (rare: only client retries).
        Ok(None) => {
            stats.redone_for_retry.fetch_add(1, Ordering::Relaxed);
            conn.execute("ROLLBACK").await?;
            conn.execute(begin).await?;
            match append_each(conn, reqs).await {
                Ok(results) => results,
                Err(e) => {
                    rollback(conn).await;
                    return Err(e);
                }
            }
        }
        Err(e) => {
            rollback(conn).await;
            return Err(e);
        }
    };
    if let Some(g) = gate {
        g.before_commit().await;
    }
    if let Err(e) = conn.execute("COMMIT").await {
        rollback(conn).await;
        return Err(e.into());
    }
    if let Some(g) = gate {
        g.after_commit();
    }
    Ok(results)
}

async fn append_each(
    conn: &mut AnyConnection,
    reqs: &[&AppendRequest],
) -> Result<Vec<Result<AppendOutcome>>> {
    let mut results = Vec::with_capacity(reqs.len());
    for req in reqs {
        results.push(append_one(conn, req).await?);
    }
    Ok(results)
}

/// Power-of-two pieces of `0..len` (largest first, at most `MAX_BATCH` long), so the multi-row statements come
/// in at most ten shapes and stay in the prepared-statement cache.
fn pow2_chunks(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = len - start;
        if left == 0 {
            return None;
        }
        let size = (1usize << (usize::BITS - 1 - left.leading_zeros())).min(MAX_BATCH);
        let range = start..start + size;
        start += size;
        Some(range)
    })
}

/// One placeholder: `$n` on PostgreSQL; a plain `?` (bound in order) on SQLite, whose lookup of a numbered
/// parameter scans every parameter before it, which made binding a 4,096-parameter batch quadratic.
fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => "?".to_string(),
        Backend::Postgres => format!("${n}"),
    }
}

/// `($a, $b, $c), ($d, $e, $f), ...`: `rows` tuples of `cols` placeholders, numbered from `first`.
fn placeholders(backend: Backend, rows: usize, cols: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    let mut n = first;
    for r in 0..rows {
        out.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push_str(&placeholder(backend, n));
            n += 1;
        }
        out.push(')');
    }
    out
}

/// The common case in a few statements, whatever the batch size: one UPDATE bumps every conversation's sequencer
/// by its number of messages (taking the rows' write locks), one INSERT stores every message.
///
/// `Ok(None)`: some message is a retry of one already stored (the INSERT skipped it); the caller rolls back and
/// redoes the batch with `append_each`. Messages for closed or unknown conversations get their outcome from
/// `append_one`, which writes nothing for them.
async fn append_bulk(
    conn: &mut AnyConnection,
    backend: Backend,
    reqs: &[&AppendRequest],
) -> Result<Option<Vec<Result<AppendOutcome>>>> {
    let now = now_ms();
    // Messages per conversation, in batch order (the batch is sorted by conversation id).
    let mut groups: Vec<(&str, &str, i64)> = Vec::new();
    for req in reqs {
        match groups.last_mut() {
            Some((conv, tenant, n)) if *conv == req.conversation_id && *tenant == req.tenant_id => {
                *n += 1
            }
            _ => groups.push((&req.conversation_id, &req.tenant_id, 1)),
        }
    }
    // One conversation id under two tenant ids (a forged request) would match one row twice: go slowly.
    if groups.windows(2).any(|w| w[0].0 == w[1].0) {
        return Ok(None);
    }
    let position: HashMap<&str, usize> = groups
        .iter()
        .enumerate()
        .map(|(i, (conv, _, _))| (*conv, i))
        .collect();
    let mut last_seq: Vec<Option<i64>> = vec![None; groups.len()];
    for range in pow2_chunks(groups.len()) {
        // Placeholders are bound in the order they appear: the VALUES rows, then the time.
        let sql = format!(
            "WITH v (id, tenant_id, n) AS (VALUES {}) \
             UPDATE conversations SET last_seq = conversations.last_seq + v.n, updated_at = {} FROM v \
             WHERE conversations.id = v.id AND conversations.tenant_id = v.tenant_id \
             AND conversations.state <> 'closed' RETURNING conversations.id, conversations.last_seq",
            placeholders(backend, range.len(), 3, 1),
            placeholder(backend, range.len() * 3 + 1)
        );
        let mut query = sqlx::query(&sql);
        for (conv, tenant, n) in &groups[range] {
            query = query.bind(*conv).bind(*tenant).bind(*n);
        }
        let query = query.bind(now);
        for row in query.fetch_all(&mut *conn).await? {
            let id: String = row.try_get(0)?;
            let seq: i64 = row.try_get(1)?;
            if let Some(&i) = position.get(id.as_str()) {
                last_seq[i] = Some(seq);
            }
        }
    }
    // Hand out each conversation's new numbers in arrival order.
    let mut next_seq: HashMap<&str, i64> = groups
        .iter()
        .zip(&last_seq)
        .filter_map(|((conv, _, n), last)| last.map(|last| (*conv, last - n + 1)))
        .collect();
    let mut rows: Vec<(&AppendRequest, i64)> = Vec::with_capacity(reqs.len());
    let mut results: Vec<Option<Result<AppendOutcome>>> = Vec::with_capacity(reqs.len());
    for req in reqs {
        match next_seq.get_mut(req.conversation_id.as_str()) {
            Some(seq) => {
                rows.push((req, *seq));
                results.push(Some(Ok(AppendOutcome {
                    seq: *seq,
                    created_at: now,
                    duplicate: false,
                })));
                *seq += 1;
            }
            None => results.push(None),
        }
    }
    for range in pow2_chunks(rows.len()) {
        let sql = format!(
            "INSERT INTO messages (conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, body, \
             created_at) VALUES {} \
             ON CONFLICT (conversation_id, sender_kind, sender_id, client_msg_id) DO NOTHING",
            placeholders(backend, range.len(), 8, 1)
        );
        let mut query = sqlx::query(&sql);
        for (req, seq) in &rows[range.clone()] {
            query = query
                .bind(req.conversation_id.as_str())
                .bind(*seq)
                .bind(req.tenant_id.as_str())
                .bind(req.sender_kind.as_str())
                .bind(req.sender_id.as_str())
                .bind(req.client_msg_id.as_str())
                .bind((req.seal)(*seq))
                .bind(now);
        }
        if query.execute(&mut *conn).await?.rows_affected() != range.len() as u64 {
            return Ok(None);
        }
    }
    let mut out = Vec::with_capacity(reqs.len());
    for (req, result) in reqs.iter().zip(results) {
        out.push(match result {
            Some(r) => r,
            None => append_one(conn, req).await?,
        });
    }
    Ok(Some(out))
}

/// The statement that opens a writer transaction. SQLite: take the write lock now rather than upgrading a read
/// lock later (which fails at once under WAL when another connection wrote in between, instead of waiting on
/// busy_timeout).
/// Roll back after a failed write. A rollback that fails as well is logged rather than dropped: the connection
/// may still be inside the transaction, and every write after it fails until the connection is replaced.
async fn rollback(conn: &mut AnyConnection) {
    if let Err(e) = conn.execute("ROLLBACK").await {
        tracing::error!(error = %e, "rollback after a failed write failed");
    }
}

fn begin_write(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    }
}

async fn find_existing(
    conn: &mut AnyConnection,
    req: &AppendRequest,
) -> Result<Option<(i64, i64)>> {
    let row = sqlx::query(
        "SELECT seq, created_at FROM messages WHERE conversation_id = $1 AND sender_kind = $2 \
         AND sender_id = $3 AND client_msg_id = $4 AND tenant_id = $5",
    )
    .bind(&req.conversation_id)
    .bind(req.sender_kind.as_str())
    .bind(&req.sender_id)
    .bind(&req.client_msg_id)
    .bind(&req.tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
        None => None,
    })
}

/// Outer `Result`: database failure (aborts the batch). Inner: this message's own outcome.
///
/// The common path is two statements: bump the sequencer (taking the conversation row's write lock), then insert.
/// A duplicate client id is caught by the unique constraint (`ON CONFLICT DO NOTHING`) and its increment is given
/// back under the same lock, so sequence numbers stay gap-free.
async fn append_one(
    conn: &mut AnyConnection,
    req: &AppendRequest,
) -> Result<Result<AppendOutcome>> {
    let now = now_ms();
    let bumped = sqlx::query(
        "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $1 \
         WHERE tenant_id = $2 AND id = $3 AND state <> 'closed' RETURNING last_seq",
    )
    .bind(now)
    .bind(&req.tenant_id)
    .bind(&req.conversation_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = bumped else {
        // A retry of a message stored before the conversation closed still gets its original ack.
        if let Some((seq, created_at)) = find_existing(conn, req).await? {
            return Ok(Ok(AppendOutcome {
                seq,
                created_at,
                duplicate: true,
            }));
        }
        let exists = sqlx::query("SELECT 1 FROM conversations WHERE tenant_id = $1 AND id = $2")
            .bind(&req.tenant_id)
            .bind(&req.conversation_id)
            .fetch_optional(&mut *conn)
            .await?;
        return Ok(Err(if exists.is_some() {
            StoreError::ConversationClosed
        } else {
            StoreError::NotFound
        }));
    };
    let seq: i64 = row.try_get(0)?;
    let body = (req.seal)(seq);
    let inserted = sqlx::query(
        "INSERT INTO messages (conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, body, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (conversation_id, sender_kind, sender_id, client_msg_id) DO NOTHING",
    )
    .bind(&req.conversation_id)
    .bind(seq)
    .bind(&req.tenant_id)
    .bind(req.sender_kind.as_str())
    .bind(&req.sender_id)
    .bind(&req.client_msg_id)
    .bind(body)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = $1")
            .bind(&req.conversation_id)
            .execute(&mut *conn)
            .await?;
        let (seq, created_at) = find_existing(conn, req)
            .await?
            .ok_or(StoreError::Corrupt("duplicate message vanished"))?;
        return Ok(Ok(AppendOutcome {
            seq,
            created_at,
            duplicate: true,
        }));
    }
    Ok(Ok(AppendOutcome {
        seq,
        created_at: now,
        duplicate: false,
    }))
}

/// Run the waiting write transactions in one database transaction, each under its own savepoint where it needs
/// one, and commit once. A body that fails is rolled back without touching its neighbours. After a body without a
/// savepoint fails, the batch commits what ran before it and leaves the rest in `txns` for the next one: whether
/// SQLite kept the transaction open after that error is not known here, and nothing may run outside one.
async fn commit_txns(
    conn: &mut AnyConnection,
    backend: Backend,
    txns: &mut std::collections::VecDeque<TxnJob>,
    stats: &CommitStats,
) {
    let mut delivers: Vec<Deliver> = Vec::with_capacity(txns.len());
    let mut failure: Option<String> = conn
        .execute(begin_write(backend))
        .await
        .err()
        .map(|e| e.to_string());
    while let Some(job) = txns.pop_front() {
        if failure.is_some() {
            // The transaction is gone; the body is dropped unrun and its caller told (`BatchFailed`).
            drop(job);
            continue;
        }
        let savepoint = job.undo == Undo::Savepoint || backend == Backend::Postgres;
        if savepoint {
            if let Err(e) = conn.execute("SAVEPOINT w").await {
                failure = Some(e.to_string());
                continue;
            }
        }
        let (ok, deliver) = (job.body)(conn).await;
        delivers.push(deliver);
        if !savepoint {
            if ok {
                continue;
            }
            break;
        }
        let end = if ok {
            conn.execute("RELEASE SAVEPOINT w").await
        } else {
            match conn.execute("ROLLBACK TO SAVEPOINT w").await {
                Ok(_) => conn.execute("RELEASE SAVEPOINT w").await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = end {
            failure = Some(e.to_string());
        }
    }
    if failure.is_none() {
        if let Err(e) = conn.execute("COMMIT").await {
            failure = Some(e.to_string());
        }
    }
    stats.txn_batches.fetch_add(1, Ordering::Relaxed);
    stats
        .txns
        .fetch_add(delivers.len() as u64, Ordering::Relaxed);
    match failure {
        None => {
            for deliver in delivers {
                deliver(Ok(()));
            }
        }
        Some(reason) => {
            rollback(conn).await;
            tracing::warn!(error = %reason, "write transaction batch failed");
            for deliver in delivers {
                deliver(Err(StoreError::BatchFailed));
            }
        }
    }
}

/// Audit entries with no transaction of their own (reads, failed logins) share one commit.
async fn commit_audits(
    conn: &mut AnyConnection,
    backend: Backend,
    audits: &mut Vec<(Vec<AuditEntry>, oneshot::Sender<Result<()>>)>,
) {
    let all: Vec<AuditEntry> = audits.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
    match audit_txn(conn, backend, &all).await {
        Ok(()) => {
            for (_, reply) in audits.drain(..) {
                let _ = reply.send(Ok(()));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "audit group commit failed; retrying one by one");
            for (entries, reply) in audits.drain(..) {
                let _ = reply.send(audit_txn(conn, backend, &entries).await);
            }
        }
    }
}

async fn audit_txn(
    conn: &mut AnyConnection,
    backend: Backend,
    entries: &[AuditEntry],
) -> Result<()> {
    let begin = begin_write(backend);
    conn.execute(begin).await?;
    if let Err(e) = crate::audit::append(conn, entries).await {
        rollback(conn).await;
        return Err(e);
    }
    if let Err(e) = conn.execute("COMMIT").await {
        rollback(conn).await;
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pow2_chunks_cover_the_range_in_few_shapes() {
        for len in 0..1300 {
            let chunks: Vec<_> = pow2_chunks(len).collect();
            let mut at = 0;
            for c in &chunks {
                assert_eq!(c.start, at);
                assert!(c.len().is_power_of_two() && c.len() <= MAX_BATCH);
                at = c.end;
            }
            assert_eq!(at, len);
        }
        assert_eq!(
            pow2_chunks(7).map(|c| c.len()).collect::<Vec<_>>(),
            [4, 2, 1]
        );
    }

    #[test]
    fn placeholders_are_numbered_in_order() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3, 2),
            "($2, $3, $4), ($5, $6, $7)"
        );
        assert_eq!(placeholders(Backend::Postgres, 1, 1, 1), "($1)");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
    }
}
