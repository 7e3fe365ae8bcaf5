//! The SQLite message writer thread (issue 13).
//!
//! On SQLite every message batch is written by one OS thread that owns one rusqlite connection and runs the whole
//! batch there: `BEGIN IMMEDIATE`, a few prepared and cached statements per message, `COMMIT` (the fsync), and only
//! then an answer to each caller. The group-commit loop (writer.rs) hands it a batch and waits for it to finish:
//! one hand-off each way per batch. Through sqlx every statement was a hand-off to and from sqlx's own SQLite
//! worker thread, and in a storm of new sessions those wake-ups cost as much CPU as SQLite itself (BENCHMARKS.md).
//!
//! The sequencer is the messages table itself: under the write lock that `BEGIN IMMEDIATE` takes, the next seq of
//! a conversation is `max(seq) + 1`, read from the primary-key leaf the new message's entry is about to be
//! written to. No other connection, in this process or another, can write between that read and the commit, so
//! seq is gap-free and increases in commit order; a retried message (its client id already stored) takes no
//! number, so nothing has to be given back. The conversation row is only read (its state and tenant), never
//! written, by an append.
//!
//! The session path's write transactions run here too, as native bodies (sqlite_sessions.rs) sharing a commit.
//! Every other write transaction (audit entries, management writes) still runs through sqlx on the group-commit
//! loop's own connection, strictly after the work sent here has committed, so the two connections never wait on
//! each other for the write lock.

use std::sync::{mpsc as std_mpsc, Arc};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension as _};
use tokio::sync::oneshot;

use crate::conversations::{AppendOutcome, AppendRequest};
use crate::writer::CommitGate;
use crate::{now_ms, Result, StoreError};

/// One caller's request and where its outcome goes.
pub(crate) type Waiting = (AppendRequest, oneshot::Sender<Result<AppendOutcome>>);

/// A write transaction's body on this thread's connection (the SQLite form of a hot `Store::write` body): runs
/// inside the batch's transaction under a savepoint; `false` means it failed and is rolled back to it. The
/// `Deliver` hands the caller its result once the batch has committed (or failed to).
pub(crate) type NativeBody = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;
pub(crate) type Deliver = Box<dyn FnOnce(Result<()>) + Send>;

enum Job {
    /// Write these messages (sorted by conversation) in one transaction, then run `txns` in another; answer each
    /// caller after its commit, then give the emptied vector back (its allocation is reused) with the counts.
    Batch {
        batch: Vec<Waiting>,
        txns: Vec<NativeBody>,
        gate: Option<Arc<dyn CommitGate>>,
        done: oneshot::Sender<(Vec<Waiting>, BatchReport)>,
    },
    Settings(oneshot::Sender<Result<Vec<(String, String)>>>),
}

/// What became of one batch, for the writer's counters.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BatchReport {
    pub(crate) messages: u64,
    pub(crate) committed: bool,
    /// Native write transactions run, and whether their shared commit happened.
    pub(crate) txns: u64,
    pub(crate) txns_committed: bool,
}

/// The handle the group-commit loop holds. Dropping it ends the thread after its current batch.
#[derive(Debug)]
pub(crate) struct Appender {
    tx: std_mpsc::Sender<Job>,
}

impl Appender {
    /// Open the writer connection on the database file behind `url` and start its thread.
    pub(crate) fn start(url: &str) -> Result<Appender> {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let path = options.get_filename().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        apply_settings(&conn)?;
        // The handful of statements below, in both their batch and one-by-one forms.
        conn.set_prepared_statement_cache_capacity(16);
        let handle = tokio::runtime::Handle::current();
        let (tx, rx) = std_mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("cordon-sqlite-writer".into())
            .spawn(move || run(conn, rx, handle))
            .map_err(|_| StoreError::Corrupt("could not start the SQLite writer thread"))?;
        Ok(Appender { tx })
    }

    /// Write `batch` in one transaction and `txns` in another, answering every caller; returns the emptied vector.
    pub(crate) async fn commit(
        &self,
        batch: Vec<Waiting>,
        txns: Vec<NativeBody>,
        gate: Option<Arc<dyn CommitGate>>,
    ) -> (Vec<Waiting>, BatchReport) {
        let (done, rx) = oneshot::channel();
        let job = Job::Batch {
            batch,
            txns,
            gate,
            done,
        };
        if let Err(std_mpsc::SendError(job)) = self.tx.send(job) {
            // The thread is gone (it only ends when this handle is dropped, or by a panic): fail the callers.
            // Dropping a transaction body unrun drops its reply, which its caller reads as a failed batch.
            if let Job::Batch { batch, .. } = job {
                for (_, reply) in batch {
                    let _ = reply.send(Err(StoreError::ShuttingDown));
                }
            }
            return (Vec::new(), BatchReport::default());
        }
        // Dropped unanswered only if the thread died mid-batch; its callers' senders were dropped with it.
        rx.await.unwrap_or_default()
    }

    /// The durability settings of the writer connection, read back from it.
    pub(crate) async fn durability_settings(&self) -> Result<Vec<(String, String)>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job::Settings(reply))
            .map_err(|_| StoreError::ShuttingDown)?;
        rx.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

/// The same settings as every sqlx connection (lib.rs `apply_connection_settings`, which says why each is set).
fn apply_settings(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(Duration::from_secs(10))?;
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = FULL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA wal_autocheckpoint = 1000",
        "PRAGMA temp_store = MEMORY",
        "PRAGMA journal_size_limit = 67108864",
    ] {
        // Some of these answer with a row (the new value); step through it.
        let mut stmt = conn.prepare(pragma)?;
        let mut rows = stmt.query([])?;
        while rows.next()?.is_some() {}
    }
    Ok(())
}

fn read_settings(conn: &Connection) -> Result<Vec<(String, String)>> {
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
    let autocheckpoint: i64 = conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
    Ok(vec![
        ("journal_mode".into(), mode),
        ("synchronous".into(), sync.to_string()),
        ("wal_autocheckpoint".into(), autocheckpoint.to_string()),
    ])
}

fn run(conn: Connection, rx: std_mpsc::Receiver<Job>, handle: tokio::runtime::Handle) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Batch {
                mut batch,
                txns,
                gate,
                done,
            } => {
                let mut report = BatchReport::default();
                if !batch.is_empty() {
                    report = commit_batch(&conn, &mut batch, gate.as_deref(), &handle);
                }
                if !txns.is_empty() {
                    report.txns = txns.len() as u64;
                    report.txns_committed = commit_txns(&conn, txns);
                }
                let _ = done.send((batch, report));
            }
            Job::Settings(reply) => {
                let _ = reply.send(read_settings(&conn));
            }
        }
    }
}

fn commit_batch(
    conn: &Connection,
    batch: &mut Vec<Waiting>,
    gate: Option<&dyn CommitGate>,
    handle: &tokio::runtime::Handle,
) -> BatchReport {
    let report = BatchReport {
        messages: batch.len() as u64,
        committed: true,
        ..BatchReport::default()
    };
    let reqs: Vec<&AppendRequest> = batch.iter().map(|(r, _)| r).collect();
    match try_batch(conn, &reqs, gate, handle) {
        Ok(results) => {
            for ((_, reply), result) in batch.drain(..).zip(results) {
                let _ = reply.send(result);
            }
            report
        }
        Err(err) => {
            // The whole transaction was rolled back. Retry each message alone, so one bad request (or a transient
            // failure) cannot fail its neighbours.
            tracing::warn!(error = %err, size = batch.len(), "group commit failed; retrying one by one");
            for (req, reply) in batch.drain(..) {
                let result = match try_batch(conn, &[&req], gate, handle) {
                    Ok(mut r) => r
                        .pop()
                        .unwrap_or(Err(StoreError::Corrupt("empty batch result"))),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            BatchReport {
                committed: false,
                ..report
            }
        }
    }
}

/// Write `reqs` in one transaction and commit it. Per-message outcomes (duplicate, closed, unknown) come back in
/// order; a database error rolls the whole transaction back.
fn try_batch(
    conn: &Connection,
    reqs: &[&AppendRequest],
    gate: Option<&dyn CommitGate>,
    handle: &tokio::runtime::Handle,
) -> Result<Vec<Result<AppendOutcome>>> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let results = match append_all(conn, reqs) {
        Ok(results) => results,
        Err(e) => {
            rollback(conn);
            return Err(e);
        }
    };
    if let Some(g) = gate {
        // Tests hold the commit here; this thread is not a runtime thread, so it may block on the future.
        handle.block_on(g.before_commit());
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        rollback(conn);
        return Err(e.into());
    }
    if let Some(g) = gate {
        g.after_commit();
    }
    Ok(results)
}

/// Run write transaction bodies in one transaction, each under its own savepoint (a body that fails is rolled
/// back without touching its neighbours), and commit once. Returns whether the commit happened; every body's
/// caller is told either way.
fn commit_txns(conn: &Connection, txns: Vec<NativeBody>) -> bool {
    let mut delivers: Vec<Deliver> = Vec::with_capacity(txns.len());
    let mut failure: Option<rusqlite::Error> = conn.execute_batch("BEGIN IMMEDIATE").err();
    for body in txns {
        if failure.is_some() {
            // The transaction is gone; the body is dropped unrun and its caller told (`BatchFailed`).
            drop(body);
            continue;
        }
        if let Err(e) = conn.execute_batch("SAVEPOINT w") {
            failure = Some(e);
            continue;
        }
        let (ok, deliver) = body(conn);
        delivers.push(deliver);
        let end = if ok {
            conn.execute_batch("RELEASE SAVEPOINT w")
        } else {
            conn.execute_batch("ROLLBACK TO SAVEPOINT w; RELEASE SAVEPOINT w")
        };
        if let Err(e) = end {
            failure = Some(e);
        }
    }
    if failure.is_none() {
        if let Err(e) = conn.execute_batch("COMMIT") {
            failure = Some(e);
        }
    }
    match failure {
        None => {
            for deliver in delivers {
                deliver(Ok(()));
            }
            true
        }
        Some(e) => {
            rollback(conn);
            tracing::warn!(error = %e, "write transaction batch failed");
            for deliver in delivers {
                deliver(Err(StoreError::BatchFailed));
            }
            false
        }
    }
}

/// Wrap a body that returns a value into a [`NativeBody`] and the receiver its caller awaits.
pub(crate) fn native_body<T, F>(body: F) -> (NativeBody, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    let (reply, rx) = oneshot::channel::<Result<T>>();
    let job: NativeBody = Box::new(move |conn| match body(conn) {
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
    });
    (job, rx)
}

/// A rollback that fails as well is logged: the connection may still be inside the transaction, and the next
/// `BEGIN IMMEDIATE` then fails, which fails that batch rather than writing outside a transaction.
fn rollback(conn: &Connection) {
    if conn.is_autocommit() {
        return;
    }
    if let Err(e) = conn.execute_batch("ROLLBACK") {
        tracing::error!(error = %e, "rollback after a failed write failed");
    }
}

/// Where the batch stands for the conversation it is writing.
enum Target {
    /// Open: the next seq to hand out.
    Open(i64),
    Closed,
    Unknown,
}

const STATE: &str = "SELECT state FROM conversations WHERE id = ?1 AND tenant_id = ?2";
const LAST_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE conversation_id = ?1";
const INSERT: &str = "INSERT INTO messages (conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, \
     body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
     ON CONFLICT (conversation_id, sender_kind, sender_id, client_msg_id) DO NOTHING";
const EXISTING: &str =
    "SELECT seq, created_at FROM messages WHERE conversation_id = ?1 AND sender_kind = ?2 \
     AND sender_id = ?3 AND client_msg_id = ?4 AND tenant_id = ?5";

/// Outer `Result`: database failure (aborts the batch). Inner: each message's own outcome.
///
/// The batch is sorted by conversation, so each conversation's state and last seq are read once per run of its
/// messages. Reads see this transaction's own writes, so a conversation met again later (one id sent under two
/// tenant ids, say) simply reads again.
fn append_all(conn: &Connection, reqs: &[&AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
    let now = now_ms();
    let mut state = conn.prepare_cached(STATE)?;
    let mut last_seq = conn.prepare_cached(LAST_SEQ)?;
    let mut insert = conn.prepare_cached(INSERT)?;
    let mut existing = conn.prepare_cached(EXISTING)?;
    let mut find_existing = |req: &AppendRequest| -> rusqlite::Result<Option<(i64, i64)>> {
        existing
            .query_row(
                params![
                    req.conversation_id,
                    req.sender_kind.as_str(),
                    req.sender_id,
                    req.client_msg_id,
                    req.tenant_id
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
    };
    let mut out = Vec::with_capacity(reqs.len());
    let mut current: Option<(&str, &str, Target)> = None;
    for req in reqs {
        let same =
            matches!(&current, Some((c, t, _)) if *c == req.conversation_id && *t == req.tenant_id);
        if !same {
            let found: Option<String> = state
                .query_row(params![req.conversation_id, req.tenant_id], |r| r.get(0))
                .optional()?;
            let target = match found.as_deref() {
                None => Target::Unknown,
                Some("closed") => Target::Closed,
                Some(_) => {
                    let last: i64 =
                        last_seq.query_row(params![req.conversation_id], |r| r.get(0))?;
                    Target::Open(last + 1)
                }
            };
            current = Some((&req.conversation_id, &req.tenant_id, target));
        }
        let Some((_, _, target)) = current.as_mut() else {
            return Err(StoreError::Corrupt("append target missing"));
        };
        let outcome = match target {
            Target::Open(next) => {
                let seq = *next;
                let inserted = insert.execute(params![
                    req.conversation_id,
                    seq,
                    req.tenant_id,
                    req.sender_kind.as_str(),
                    req.sender_id,
                    req.client_msg_id,
                    (req.seal)(seq),
                    now
                ])?;
                if inserted == 1 {
                    *next += 1;
                    Ok(AppendOutcome {
                        seq,
                        created_at: now,
                        duplicate: false,
                    })
                } else {
                    // A retry of a stored message: its original ack; it took no number.
                    let (seq, created_at) = find_existing(req)?
                        .ok_or(StoreError::Corrupt("duplicate message vanished"))?;
                    Ok(AppendOutcome {
                        seq,
                        created_at,
                        duplicate: true,
                    })
                }
            }
            // A retry of a message stored before the conversation closed still gets its original ack.
            Target::Closed | Target::Unknown => match find_existing(req)? {
                Some((seq, created_at)) => Ok(AppendOutcome {
                    seq,
                    created_at,
                    duplicate: true,
                }),
                None if matches!(target, Target::Closed) => Err(StoreError::ConversationClosed),
                None => Err(StoreError::NotFound),
            },
        };
        out.push(outcome);
    }
    Ok(out)
}
