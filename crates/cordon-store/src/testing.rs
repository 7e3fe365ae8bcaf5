//! Test support shared by the storage and server suites: one fresh database per backend under test.
//!
//! SQLite always runs. PostgreSQL runs when `CORDON_TEST_POSTGRES` names a server (for example
//! `postgres://root@127.0.0.1:5432/test`); each call creates a new database there, so tests never share state.
//! Without the variable the PostgreSQL run is skipped with a message, except under `CI=true`, where a missing
//! service is a failure.

use sqlx::{Connection as _, Executor as _};

/// A database for one test. SQLite files live in `dir`, which is removed on drop.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub backend: crate::Backend,
    pub dir: Option<tempfile::TempDir>,
}

/// The PostgreSQL server URL for tests, if configured. Panics under `CI=true` when it is missing.
pub fn postgres_server() -> Option<String> {
    match std::env::var("CORDON_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI")
                .map(|v| v == "true" || v == "1")
                .unwrap_or(false)
            {
                panic!("CI=true but CORDON_TEST_POSTGRES is not set: the PostgreSQL suite must run in CI");
            }
            eprintln!("skipping PostgreSQL run: set CORDON_TEST_POSTGRES=postgres://root@127.0.0.1:5432/test to enable");
            None
        }
    }
}

/// A fresh SQLite database in its own temporary directory.
pub fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cordon.db").display()
    );
    TestDatabase {
        url,
        backend: crate::Backend::Sqlite,
        dir: Some(dir),
    }
}

/// A fresh, empty PostgreSQL database on the configured server.
pub async fn postgres(server: &str) -> TestDatabase {
    sqlx::any::install_default_drivers();
    let name = format!(
        "cordon_t_{}",
        crate::now_ms().to_string() + &format!("_{}", rand_suffix())
    );
    let mut conn = sqlx::AnyConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("connect to CORDON_TEST_POSTGRES: {e}"));
    drop_stale_databases(&mut conn).await;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap_or_else(|e| panic!("create test database: {e}"));
    let base = match server.rfind('/') {
        Some(i) if server[..i].contains("://") && i > server.find("://").unwrap_or(0) + 2 => {
            &server[..i]
        }
        _ => server,
    };
    TestDatabase {
        url: format!("{base}/{name}"),
        backend: crate::Backend::Postgres,
        dir: None,
    }
}

/// Test databases are not dropped at the end of each test (a failing test's database is worth keeping for a
/// while); databases older than an hour are dropped the next time tests run, once per process.
async fn drop_stale_databases(conn: &mut sqlx::AnyConnection) {
    use sqlx::Row as _;
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(rows) = sqlx::query("SELECT datname FROM pg_database WHERE datname LIKE 'cordon_t_%'")
        .fetch_all(&mut *conn)
        .await
    else {
        return;
    };
    let cutoff = crate::now_ms() - 3_600_000;
    for row in rows {
        let Ok(name) = row.try_get::<String, _>(0) else {
            continue;
        };
        let created: Option<i64> = name
            .strip_prefix("cordon_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|ts| ts.parse().ok());
        if created.is_some_and(|t| t < cutoff)
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(crate::now_ms() as u64);
    h.finish() % 1_000_000_000
}

/// Every backend to run a test against: SQLite always, PostgreSQL when configured.
pub async fn all_backends() -> Vec<TestDatabase> {
    let mut out = vec![sqlite()];
    if let Some(server) = postgres_server() {
        out.push(postgres(&server).await);
    }
    out
}

/// Bring a fresh database to schema `version` and no further, as an older release left its data (upgrade tests:
/// fill it with that release's SQL, then open it with [`crate::Store::open`], which applies the rest).
pub async fn migrate_to_version(db: &TestDatabase, version: i64) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    conn.execute(
        "CREATE TABLE IF NOT EXISTS cordon_schema (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await
    .unwrap_or_else(|e| panic!("schema table: {e}"));
    for (v, sql) in crate::migrations(db.backend) {
        if *v > version {
            continue;
        }
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("migration {v}: {e}"));
        sqlx::query("INSERT INTO cordon_schema (version, applied_at) VALUES ($1, $2)")
            .bind(*v)
            .bind(crate::now_ms())
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("record migration {v}: {e}"));
    }
    conn
}
