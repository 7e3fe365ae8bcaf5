//! Cordon's storage: one interface over SQLite (the default) and PostgreSQL.
//!
//! The database is the single source of truth for everything two processes could disagree on: per-conversation
//! sequence numbers, assignment against capacity, and revocation of keys and sessions. Every query that touches
//! tenant data takes the tenant id and filters on it here, not only in handlers.
//!
//! Both backends share one implementation on sqlx's `Any` driver: the SQL is written once, with `$n` placeholders
//! that both engines accept. Where the engines differ (pragmas, settings read-back) the code says so. Each backend
//! has its own migrations folder.
#![forbid(unsafe_code)]

mod audit;
mod availability;
mod canned;
mod contacts;
mod conversations;
mod directory;
mod exposure;
mod files;
mod grants;
mod impact;
mod lifecycle;
mod mfa;
mod notes;
mod operators;
mod ratings;
mod reads;
mod releases;
mod sqlite_appender;
mod sqlite_sessions;
mod tenant_cache;
#[cfg(feature = "testing")]
pub mod testing;
mod transcripts;
mod vault;
mod visitor_profiles;
mod webhooks;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _, Connection as _, Executor as _, Row as _};

pub use audit::{AuditEntry, StoredCheckpoint, PLATFORM_LOG};
pub use availability::Staffing;
pub use canned::{StoredCannedReply, MAX_CANNED_REPLIES};
pub use contacts::ChatForms;
pub use conversations::{
    AppendOutcome, AppendRequest, ConversationFilter, NewMessageSealer, StoredMessage,
};
pub use exposure::{is_sha384_hex, ExposureQuery};
pub use files::{StoredFile, StoredFileMeta, MAX_FILES_PER_CONVERSATION};
pub use grants::{NewGrant, OperatorGrant};
pub use impact::{
    CardMention, CardMentionSource, ExposureHit, ImpactWindow, StoredCardMention,
    CARD_MENTION_BRANDS,
};
pub use lifecycle::{DeletedCounts, Purged, Retention, OTHER_TABLES, VISITOR_TABLES};
pub use mfa::AgentTotp;
pub use notes::{ConversationMeta, StoredNote, MAX_NOTES_PER_CONVERSATION};
pub use operators::{NewOperator, Operator, OperatorCredentials, OperatorSession};
pub use ratings::{ReportRow, StoredRating, MAX_REPORT_ROWS};
pub use releases::{Release, ReleaseKey};
pub use tenant_cache::TENANT_CACHE_TTL;
pub use transcripts::TranscriptJob;
pub use vault::{NewVaultToken, PaymentRequest, PaymentSettings, PaymentState, VaultToken};
pub use visitor_profiles::StoredVisitorProfile;
pub use webhooks::{
    ClaimedDelivery, DeliveryState, NewWebhookEndpoint, WebhookDelivery, WebhookEndpoint,
    WEBHOOK_EVENTS,
};
pub use writer::{CommitGate, CommitStats};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Storage errors. `Display` is safe to log; it never includes row contents. Handlers map these to public codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("conversation is closed")]
    ConversationClosed,
    #[error("agent has no free capacity")]
    NoCapacity,
    #[error("database schema version {found} is newer than this binary supports ({supported}); upgrade cordon")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("unsupported database URL (use sqlite://PATH or postgres://...)")]
    UnsupportedUrl,
    /// The shared transaction a write ran in could not commit (the cause is logged once by the writer).
    #[error("the write could not be committed")]
    BatchFailed,
    #[error("storage is shutting down")]
    ShuttingDown,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the SQLite message writer thread (rusqlite).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(&'static str),
}

impl StoreError {
    /// A unique-constraint violation, as both engines report it.
    fn is_unique_violation(err: &sqlx::Error) -> bool {
        match err {
            sqlx::Error::Database(db) => {
                matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_audit.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_api_key_creator.sql"),
    ),
    (4, include_str!("../migrations/sqlite/0004_impact.sql")),
    (5, include_str!("../migrations/sqlite/0005_operators.sql")),
    (
        6,
        include_str!("../migrations/sqlite/0006_operator_grants.sql"),
    ),
    (7, include_str!("../migrations/sqlite/0007_agent_totp.sql")),
    (8, include_str!("../migrations/sqlite/0008_releases.sql")),
    (9, include_str!("../migrations/sqlite/0009_webhooks.sql")),
    (10, include_str!("../migrations/sqlite/0010_retention.sql")),
    (
        11,
        include_str!("../migrations/sqlite/0011_break_glass_events.sql"),
    ),
    (
        12,
        include_str!("../migrations/sqlite/0012_sequencer_off_conversation_row.sql"),
    ),
    (13, include_str!("../migrations/sqlite/0013_vault.sql")),
    (
        14,
        include_str!("../migrations/sqlite/0014_agent_reads.sql"),
    ),
    (
        15,
        include_str!("../migrations/sqlite/0015_visitor_profiles.sql"),
    ),
    (
        16,
        include_str!("../migrations/sqlite/0016_canned_replies.sql"),
    ),
    (17, include_str!("../migrations/sqlite/0017_notes_tags.sql")),
    (18, include_str!("../migrations/sqlite/0018_ratings.sql")),
    (19, include_str!("../migrations/sqlite/0019_chat_forms.sql")),
    (
        20,
        include_str!("../migrations/sqlite/0020_conversation_files.sql"),
    ),
    (
        21,
        include_str!("../migrations/sqlite/0021_transcript_emails.sql"),
    ),
    (
        22,
        include_str!("../migrations/sqlite/0022_files_by_uploader.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (2, include_str!("../migrations/postgres/0002_audit.sql")),
    (
        3,
        include_str!("../migrations/postgres/0003_api_key_creator.sql"),
    ),
    (4, include_str!("../migrations/postgres/0004_impact.sql")),
    (5, include_str!("../migrations/postgres/0005_operators.sql")),
    (
        6,
        include_str!("../migrations/postgres/0006_operator_grants.sql"),
    ),
    (
        7,
        include_str!("../migrations/postgres/0007_agent_totp.sql"),
    ),
    (8, include_str!("../migrations/postgres/0008_releases.sql")),
    (9, include_str!("../migrations/postgres/0009_webhooks.sql")),
    (
        10,
        include_str!("../migrations/postgres/0010_retention.sql"),
    ),
    (
        11,
        include_str!("../migrations/postgres/0011_break_glass_events.sql"),
    ),
    (
        12,
        include_str!("../migrations/postgres/0012_sequencer_off_conversation_row.sql"),
    ),
    (13, include_str!("../migrations/postgres/0013_vault.sql")),
    (
        14,
        include_str!("../migrations/postgres/0014_agent_reads.sql"),
    ),
    (
        15,
        include_str!("../migrations/postgres/0015_visitor_profiles.sql"),
    ),
    (
        16,
        include_str!("../migrations/postgres/0016_canned_replies.sql"),
    ),
    (
        17,
        include_str!("../migrations/postgres/0017_notes_tags.sql"),
    ),
    (18, include_str!("../migrations/postgres/0018_ratings.sql")),
    (
        19,
        include_str!("../migrations/postgres/0019_chat_forms.sql"),
    ),
    (
        20,
        include_str!("../migrations/postgres/0020_conversation_files.sql"),
    ),
    (
        21,
        include_str!("../migrations/postgres/0021_transcript_emails.sql"),
    ),
    (
        22,
        include_str!("../migrations/postgres/0022_files_by_uploader.sql"),
    ),
];

/// The newest schema version this binary knows.
pub fn supported_schema_version() -> i64 {
    newest_migration(Backend::Sqlite)
}

/// The highest version in a backend's list. Versions are numbers, not positions: several people add
/// migrations at once, each with a number set aside, so the list may have a gap until theirs lands.
fn newest_migration(backend: Backend) -> i64 {
    migrations(backend)
        .iter()
        .map(|(v, _)| *v)
        .max()
        .unwrap_or(0)
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    pub max_connections: u32,
    /// Apply pending migrations at open (serve does; management commands too).
    pub migrate: bool,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            max_connections: 8,
            migrate: true,
        }
    }
}

/// Durability settings read back from one live connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurabilitySettings {
    pub connection: String,
    /// SQLite: `journal_mode` and `synchronous` (2 = FULL). PostgreSQL: `synchronous_commit` and `fsync`.
    pub settings: Vec<(String, String)>,
}

/// A handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    backend: Backend,
    writer: writer::WriterHandle,
    /// Committed audit nodes never change, so proofs and tree heads may reuse them.
    node_cache: audit::NodeCache,
    /// Tenants by widget key for `hello`, for up to a second.
    tenant_cache: tenant_cache::TenantCache,
}

impl Store {
    /// Open (and by default migrate) the database at `config.url`.
    pub async fn open(config: &StoreConfig) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if config.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if config.url.starts_with("postgres:") || config.url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let options: AnyConnectOptions = config.url.parse()?;
        let options = options.disable_statement_logging();
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    apply_connection_settings(backend, conn).await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        if config.migrate {
            migrate(&pool, backend).await?;
        } else {
            check_schema(&pool, backend).await?;
        }
        let mut writer_conn = sqlx::AnyConnection::connect_with(&options).await?;
        apply_connection_settings(backend, &mut writer_conn).await?;
        let appender = match backend {
            Backend::Sqlite => Some(sqlite_appender::Appender::start(&config.url)?),
            Backend::Postgres => None,
        };
        let writer = writer::spawn(writer_conn, backend, appender);
        Ok(Store {
            inner: Arc::new(Inner {
                pool,
                backend,
                writer,
                node_cache: audit::NodeCache::default(),
                tenant_cache: tenant_cache::TenantCache::default(),
            }),
        })
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Run a write transaction through the group-commit writer (see `writer::WriterHandle::transaction`).
    pub(crate) async fn write<T, F>(&self, undo: writer::Undo, body: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(
                &'c mut sqlx::AnyConnection,
            ) -> std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<T>> + Send + 'c>,
            > + Send
            + 'static,
    {
        self.inner.writer.transaction(undo, body).await
    }

    /// A transaction on a pooled connection that may write. On SQLite it is `BEGIN IMMEDIATE`, taking the write
    /// lock before its first read: a deferred transaction that reads and then writes fails at once (SQLITE_BUSY,
    /// no busy wait) when another connection committed in between, and the writer thread and the group-commit
    /// loop commit all the time. PostgreSQL's row locks need no such thing.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.inner.backend {
            Backend::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool().begin().await?,
        })
    }

    /// Does this store write through the SQLite writer thread (sqlite_appender.rs)?
    pub(crate) fn has_sqlite_writer(&self) -> bool {
        self.inner.backend == Backend::Sqlite
    }

    /// Run a write transaction on the SQLite writer thread, sharing its commit (SQLite only: check
    /// `has_sqlite_writer` first).
    pub(crate) async fn write_native<T, F>(&self, body: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> Result<T> + Send + 'static,
    {
        self.inner.writer.native_transaction(body).await
    }

    /// Is the database reachable? (for `/readyz`)
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(self.pool()).await.is_ok()
    }

    /// Install a gate that every message commit passes through (tests use it to hold a commit and prove that no
    /// acknowledgement escapes before it).
    pub fn set_commit_gate(&self, gate: Option<Arc<dyn CommitGate>>) {
        self.inner.writer.set_gate(gate);
    }

    /// The group-commit writer's counters.
    pub fn commit_stats(&self) -> &CommitStats {
        &self.inner.writer.stats
    }

    /// Read the durability settings back from every connection the server uses: each pooled connection (all
    /// opened and held at once, since SQLite's settings are per connection) and the group-commit writer's own.
    pub async fn durability_settings(&self) -> Result<Vec<DurabilitySettings>> {
        let pool = self.pool();
        let mut held = Vec::new();
        let target = pool.options().get_max_connections();
        for _ in 0..target {
            held.push(pool.acquire().await?);
        }
        let mut out = Vec::new();
        for (i, conn) in held.iter_mut().enumerate() {
            out.push(DurabilitySettings {
                connection: format!("pool#{i}"),
                settings: read_durability(self.backend(), conn).await?,
            });
        }
        drop(held);
        for (connection, settings) in self.inner.writer.durability_settings().await? {
            out.push(DurabilitySettings {
                connection,
                settings,
            });
        }
        Ok(out)
    }

    /// Close the pool and stop the writer after it drains.
    pub async fn close(&self) {
        self.inner.writer.shutdown().await;
        self.inner.pool.close().await;
    }

    /// A value from the keyring table (wrapped keys, the master key check).
    pub async fn keyring_get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT value FROM keyring WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get::<Vec<u8>, _>(0)?),
            None => None,
        })
    }

    /// Insert a keyring value unless one exists; returns the value now stored (so two processes starting at once
    /// agree on one key).
    pub async fn keyring_init(&self, name: &str, value: &[u8]) -> Result<Vec<u8>> {
        sqlx::query(
            "INSERT INTO keyring (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value.to_vec())
        .execute(self.pool())
        .await?;
        self.keyring_get(name)
            .await?
            .ok_or(StoreError::Corrupt("keyring row vanished"))
    }
}

async fn apply_connection_settings(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
) -> sqlx::Result<()> {
    match backend {
        // WAL lets readers run beside the writer; synchronous=FULL fsyncs the WAL at every commit, so an ack
        // (sent after commit) means the message survives power loss, not just a process crash.
        Backend::Sqlite => {
            //
            // Statement journals (multi-row statements, savepoints) stay in memory. The page cache stays at
            // SQLite's default (2 MiB per connection): 32 MiB showed no gain under chat load and cost ~0.5 KiB of
            // resident memory per idle visitor (their rows stay cached).
            //
            // Checkpoints stay SQLite's automatic ones (every 1,000 WAL pages, inside the commit that crosses the
            // threshold), set explicitly: running them on another connection instead, every 250 ms, let the WAL
            // grow between resets and doubled p99 under load (BENCHMARKS.md). `journal_size_limit` trims the WAL
            // file back to 64 MiB after a burst.
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
                 PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 1000; PRAGMA temp_store = MEMORY; \
                 PRAGMA journal_size_limit = 67108864;",
            )
            .await?;
        }
        // The server's default is on; set it explicitly so a permissive role default cannot weaken acks.
        Backend::Postgres => {
            conn.execute("SET synchronous_commit = on").await?;
        }
    }
    Ok(())
}

async fn read_durability(
    backend: Backend,
    conn: &mut sqlx::AnyConnection,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    match backend {
        Backend::Sqlite => {
            let mode: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            let sync: i64 = sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            let autocheckpoint: i64 = sqlx::query("PRAGMA wal_autocheckpoint")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
            out.push(("journal_mode".into(), mode));
            out.push(("synchronous".into(), sync.to_string()));
            out.push(("wal_autocheckpoint".into(), autocheckpoint.to_string()));
        }
        Backend::Postgres => {
            for name in ["synchronous_commit", "fsync"] {
                let v: String = sqlx::query(&format!("SHOW {name}"))
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                out.push((name.to_string(), v));
            }
        }
    }
    Ok(out)
}

fn migrations(backend: Backend) -> &'static [(i64, &'static str)] {
    match backend {
        Backend::Sqlite => SQLITE_MIGRATIONS,
        Backend::Postgres => POSTGRES_MIGRATIONS,
    }
}

async fn current_version(conn: &mut sqlx::AnyConnection) -> Result<i64> {
    let row = sqlx::query("SELECT COALESCE(MAX(version), 0) FROM cordon_schema")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// Apply pending migrations in one transaction. The first statement is a write, which takes SQLite's write lock
/// and, on PostgreSQL, the advisory lock serialises concurrent starters.
async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7415320001)) AS l")
            .fetch_one(&mut *tx)
            .await?;
    }
    tx.execute(
        "CREATE TABLE IF NOT EXISTS cordon_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let found = current_version(&mut tx).await?;
    let supported = newest_migration(backend);
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    // Each version not yet recorded, so one numbered below the newest applied (a gap filled later) still runs.
    let applied: std::collections::HashSet<i64> = sqlx::query("SELECT version FROM cordon_schema")
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<std::result::Result<_, _>>()?;
    for (version, sql) in migrations(backend) {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, backend = backend.name(), "applying migration");
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO cordon_schema (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn check_schema(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let found = current_version(&mut conn).await?;
    let supported = newest_migration(backend);
    if found > supported {
        return Err(StoreError::SchemaTooNew { found, supported });
    }
    Ok(())
}

/// The schema version recorded in the database.
pub async fn schema_version(store: &Store) -> Result<i64> {
    let mut conn = store.pool().acquire().await?;
    current_version(&mut conn).await
}

pub use conversations::{Conversation, ConversationState, SenderKind, Visitor};
pub use directory::{
    Agent, AgentPatch, AgentRole, AgentStatus, ApiKey, NewAgent, NewApiKey, NewTenant, Session,
    SessionLookup, Tenant, TenantPatch, VisitorSessionRecord, VisitorSessionStart,
};
