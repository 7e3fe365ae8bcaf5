//! Synthetic exposure records for the impact benchmark (issue 11): `seed-exposure` writes N visitor sessions
//! with realistic widget-asset hashes straight into a Cordon database, and `impact-bench` times the asset-hash
//! impact query against it.
//!
//! The shape, over `--days` ending at `--end`: a widget release every 14 days (new frame page, script and
//! style), each tenant's pinned loader moving to the current release every ~90 days (snippets are updated
//! rarely), tenant sizes falling off as 1/rank, sessions in time order as a live service writes them, 4 nodes,
//! 1-30 minute sessions with 0.5 % never ended (a node that died). Inside `--breach-days` starting
//! `--breach-start`, the first `--breach-tenants` tenants are served a tampered loader: the 2017 shape.
//! Every hash is derived from a label, so a run prints the tampered one for `impact-bench`.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use rand::{Rng as _, SeedableRng as _};
use sha2::{Digest as _, Sha384};
use sqlx::{Connection as _, Executor as _, Row as _};

const DAY: i64 = 86_400_000;
const NODES: usize = 4;

#[derive(Debug, Clone, Args)]
pub(crate) struct SeedArgs {
    /// The database (sqlite://PATH or postgres://…); migrated first, like `cordon migrate`.
    #[arg(long)]
    database: String,
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u64,
    #[arg(long, default_value_t = 20)]
    tenants: usize,
    /// The span the sessions cover, in days, ending at --end.
    #[arg(long, default_value_t = 365)]
    days: i64,
    /// End of the span, RFC 3339.
    #[arg(long, default_value = "2018-03-01T00:00:00Z")]
    end: String,
    #[arg(long, default_value = "2017-09-26T00:00:00Z")]
    breach_start: String,
    #[arg(long, default_value_t = 16)]
    breach_days: i64,
    #[arg(long, default_value_t = 3)]
    breach_tenants: usize,
    /// Rows per multi-row INSERT (SQLite) or per COPY chunk (PostgreSQL).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct BenchArgs {
    #[arg(long)]
    database: String,
    /// The tampered file (hex or sha384-…); default: the one seed-exposure serves in the breach.
    #[arg(long)]
    asset_hash: Option<String>,
    #[arg(long, default_value = "2017-09-26T00:00:00Z")]
    from: String,
    #[arg(long, default_value = "2017-10-12T00:00:00Z")]
    to: String,
    /// Timed runs after one untimed warm-up; the median is reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
}

/// The SHA-384 (hex) standing for a synthetic widget file.
fn fake_hash(label: &str) -> String {
    hex::encode(Sha384::digest(label.as_bytes()))
}

/// The loader served in the breach window (what `impact-bench` looks for by default).
pub(crate) fn tampered_loader() -> String {
    fake_hash("tampered loader")
}

fn millis(rfc3339: &str) -> anyhow::Result<i64> {
    cordon_impact::time::parse_rfc3339(rfc3339).map_err(|e| anyhow::anyhow!("{rfc3339:?}: {e}"))
}

/// The asset list a session of `tenant` starting at `at` runs.
fn assets_at(args: &Shape, tenant: usize, at: i64) -> [String; 4] {
    let release = (at - args.start) / (14 * DAY);
    // Tenants update their snippet at different times: each moves every ~90 days, offset by its rank.
    let offset = (tenant as i64 * 17) % 90;
    let pinned_day = (((at - args.start) / DAY + offset) / 90 * 90 - offset).max(0);
    let loader_release = pinned_day / 14;
    let breached = tenant < args.breach_tenants && (args.breach_from..args.breach_to).contains(&at);
    let loader = if breached {
        tampered_loader()
    } else {
        fake_hash(&format!("loader r{}", loader_release.min(release)))
    };
    [
        loader,
        fake_hash(&format!("frame page r{release}")),
        fake_hash(&format!("frame script r{release}")),
        fake_hash(&format!("frame style r{release}")),
    ]
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    start: i64,
    end: i64,
    breach_from: i64,
    breach_to: i64,
    breach_tenants: usize,
}

struct SessionRow {
    id: String,
    tenant: usize,
    visitor: u64,
    node: usize,
    started_at: i64,
    ended_at: Option<i64>,
    set_id: i64,
}

/// Asset sets, keyed by (tenant, JSON hash list), with the ids the database gave them.
struct Sets {
    ids: std::collections::HashMap<(usize, String), i64>,
}

pub(crate) async fn seed(args: SeedArgs) -> anyhow::Result<serde_json::Value> {
    if args.tenants == 0 || args.sessions == 0 || args.days <= 0 || args.batch == 0 {
        bail!("--sessions, --tenants, --days and --batch must be positive");
    }
    let end = millis(&args.end)?;
    let breach_from = millis(&args.breach_start)?;
    let shape = Shape {
        start: end - args.days * DAY,
        end,
        breach_from,
        breach_to: breach_from + args.breach_days * DAY,
        breach_tenants: args.breach_tenants.min(args.tenants),
    };
    // Migrate with Cordon's own code, and make the tenants as Cordon stores them.
    let store = cordon_store::Store::open(&cordon_store::StoreConfig::new(&args.database))
        .await
        .context("open the database")?;
    for t in 0..args.tenants {
        let id = tenant_id(t);
        if store.tenant_by_slug(&format!("seed{t}")).await?.is_none() {
            store
                .create_tenant(
                    cordon_store::NewTenant {
                        id: id.clone(),
                        slug: format!("seed{t}"),
                        display_name: format!("Seeded shop {t}"),
                        widget_key: format!("wk_seed{t}"),
                        allowed_origins: vec![origin(t)],
                        identity_secret_wrapped: vec![0; 8],
                        data_key_wrapped: vec![0; 8],
                    },
                    &[],
                )
                .await?;
        }
    }
    let backend = store.backend();
    store.close().await;

    let started = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let weights: Vec<f64> = (0..args.tenants).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let dist = rand::distributions::WeightedIndex::new(&weights)?;
    let span = (shape.end - shape.start) as f64;
    // Every asset list a session can get, found before any session is written (the lists only change at day
    // boundaries and at the breach's ends), so the bulk writer holds the only write lock from then on.
    let mut sets = Sets {
        ids: Default::default(),
    };
    {
        let mut conn = sqlx::AnyConnection::connect(&args.database).await?;
        let mut points: Vec<i64> = (0..args.days).map(|d| shape.start + d * DAY).collect();
        points.extend([shape.breach_from, shape.breach_to]);
        for tenant in 0..args.tenants {
            for at in points
                .iter()
                .copied()
                .filter(|at| (shape.start..shape.end).contains(at))
            {
                let assets = assets_at(&shape, tenant, at);
                let json = serde_json::to_string(&assets)?;
                if !sets.ids.contains_key(&(tenant, json.clone())) {
                    let id = insert_set(&mut conn, &tenant_id(tenant), &json, &assets).await?;
                    sets.ids.insert((tenant, json), id);
                }
            }
        }
        conn.close().await?;
    }
    let mut pending: Vec<SessionRow> = Vec::with_capacity(args.batch);
    let mut writer = Writer::new(backend, &args.database).await?;
    let mut affected = 0u64;
    let bad = tampered_loader();
    for i in 0..args.sessions {
        let started_at = shape.start + (i as f64 * span / args.sessions as f64) as i64;
        let tenant = rand::distributions::Distribution::sample(&dist, &mut rng);
        let assets = assets_at(&shape, tenant, started_at);
        let json = serde_json::to_string(&assets)?;
        let Some(&set_id) = sets.ids.get(&(tenant, json)) else {
            bail!("an asset list that the precomputation missed");
        };
        let ended_at =
            (!rng.gen_bool(0.005)).then(|| started_at + rng.gen_range(60_000..1_800_000));
        if assets[0] == bad && (ended_at.is_none_or(|e| e >= shape.breach_from)) {
            affected += 1;
        }
        pending.push(SessionRow {
            id: format!("vs_{i:012}"),
            tenant,
            visitor: rng.gen_range(0..args.sessions / 3 + 1),
            node: rng.gen_range(0..NODES),
            started_at,
            ended_at,
            set_id,
        });
        if pending.len() == args.batch {
            writer.write(&pending, &sets).await?;
            pending.clear();
        }
        if i > 0 && i % 1_000_000 == 0 {
            eprintln!("seed-exposure: {i} sessions in {:.0?}", started.elapsed());
        }
    }
    writer.write(&pending, &sets).await?;
    writer.finish().await?;
    let elapsed = started.elapsed();
    Ok(serde_json::json!({
        "sessions": args.sessions,
        "tenants": args.tenants,
        "asset_sets": sets.ids.len(),
        "breach_sessions": affected,
        "tampered_loader": bad,
        "seconds": elapsed.as_secs_f64(),
        "rows_per_second": args.sessions as f64 / elapsed.as_secs_f64(),
    }))
}

fn tenant_id(t: usize) -> String {
    format!("t_seed{t}")
}

fn origin(t: usize) -> String {
    format!("https://shop{t}.example")
}

async fn insert_set(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    json: &str,
    assets: &[String; 4],
) -> anyhow::Result<i64> {
    sqlx::query("INSERT INTO exposure_asset_sets (tenant_id, hashes) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(tenant_id)
        .bind(json)
        .execute(&mut *conn)
        .await?;
    let id: i64 =
        sqlx::query("SELECT id FROM exposure_asset_sets WHERE tenant_id = $1 AND hashes = $2")
            .bind(tenant_id)
            .bind(json)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    for h in assets {
        sqlx::query(
            "INSERT INTO exposure_set_assets (asset_sha384, tenant_id, set_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(h.as_str())
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Bulk writer: multi-row INSERTs in large transactions on SQLite, COPY on PostgreSQL.
enum Writer {
    Sqlite {
        conn: sqlx::SqliteConnection,
        in_txn: u64,
    },
    Postgres {
        conn: sqlx::PgConnection,
        buffer: String,
    },
}

const COLS: &str =
    "id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin, asset_hashes, asset_set_id";

impl Writer {
    async fn new(backend: cordon_store::Backend, url: &str) -> anyhow::Result<Self> {
        Ok(match backend {
            cordon_store::Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(url).await?;
                conn.execute("PRAGMA synchronous = OFF; PRAGMA busy_timeout = 10000; BEGIN")
                    .await?;
                Writer::Sqlite { conn, in_txn: 0 }
            }
            cordon_store::Backend::Postgres => Writer::Postgres {
                conn: sqlx::PgConnection::connect(url).await?,
                buffer: String::new(),
            },
        })
    }

    async fn write(&mut self, rows: &[SessionRow], sets: &Sets) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let json_of: std::collections::HashMap<i64, &str> = sets
            .ids
            .iter()
            .map(|((_, j), id)| (*id, j.as_str()))
            .collect();
        match self {
            Writer::Sqlite { conn, in_txn } => {
                let placeholders = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
                let sql = format!("INSERT INTO visitor_sessions ({COLS}) VALUES {placeholders}");
                let mut q = sqlx::query(&sql);
                for r in rows {
                    q = q
                        .bind(r.id.clone())
                        .bind(tenant_id(r.tenant))
                        .bind(format!("v_{:010}", r.visitor))
                        .bind(format!("node-{}", r.node))
                        .bind(r.started_at)
                        .bind(r.ended_at)
                        .bind(origin(r.tenant))
                        .bind(json_of.get(&r.set_id).copied().unwrap_or("[]").to_string())
                        .bind(r.set_id);
                }
                q.execute(&mut *conn).await?;
                *in_txn += rows.len() as u64;
                if *in_txn >= 200_000 {
                    conn.execute("COMMIT; BEGIN").await?;
                    *in_txn = 0;
                }
            }
            Writer::Postgres { conn, buffer } => {
                use std::fmt::Write as _;
                buffer.clear();
                for r in rows {
                    let ended = r.ended_at.map_or("\\N".to_string(), |e| e.to_string());
                    // COPY text format: the JSON holds no tab, newline or backslash (hex digits only).
                    let _ = writeln!(
                        buffer,
                        "{}\t{}\tv_{:010}\tnode-{}\t{}\t{ended}\t{}\t{}\t{}",
                        r.id,
                        tenant_id(r.tenant),
                        r.visitor,
                        r.node,
                        r.started_at,
                        origin(r.tenant),
                        json_of.get(&r.set_id).copied().unwrap_or("[]"),
                        r.set_id
                    );
                }
                let mut copy = conn
                    .copy_in_raw(&format!("COPY visitor_sessions ({COLS}) FROM STDIN"))
                    .await?;
                copy.send(buffer.as_bytes()).await?;
                copy.finish().await?;
            }
        }
        Ok(())
    }

    async fn finish(self) -> anyhow::Result<()> {
        match self {
            Writer::Sqlite { mut conn, .. } => {
                conn.execute("COMMIT").await?;
                conn.execute("ANALYZE").await?;
                conn.close().await?;
            }
            Writer::Postgres { mut conn, .. } => {
                // As autovacuum would soon: statistics, and the visibility map index-only scans need.
                conn.execute("VACUUM (ANALYZE) visitor_sessions").await?;
                conn.close().await?;
            }
        }
        Ok(())
    }
}

/// Time the asset-hash impact query: every affected session fetched (what a report reads), and the
/// per-tenant counts alone.
pub(crate) async fn bench(args: BenchArgs) -> anyhow::Result<serde_json::Value> {
    let hash = match &args.asset_hash {
        Some(h) => cordon_impact::component::sha384_hex_from_input(h)?,
        None => tampered_loader(),
    };
    let mut cfg = cordon_store::StoreConfig::new(&args.database);
    cfg.migrate = false;
    let store = cordon_store::Store::open(&cfg).await?;
    let window = cordon_store::ImpactWindow {
        tenant_id: None,
        from: millis(&args.from)?,
        to: millis(&args.to)?,
    };
    let mut fetch = Vec::new();
    let mut count = Vec::new();
    let mut rows = 0usize;
    let mut first = None;
    for run in 0..=args.repeat {
        let t = Instant::now();
        let hits = store.sessions_by_asset(&hash, window).await?;
        let fetched = t.elapsed();
        let t = Instant::now();
        let counts = store.count_sessions_by_asset(&hash, window).await?;
        let counted = t.elapsed();
        let total: i64 = counts.iter().map(|(_, n)| n).sum();
        if total as usize != hits.len() {
            bail!("count {total} and fetch {} disagree", hits.len());
        }
        rows = hits.len();
        if run == 0 {
            first = Some((fetched, counted));
        } else {
            fetch.push(fetched);
            count.push(counted);
        }
    }
    store.close().await;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied().map(ms)
    };
    Ok(serde_json::json!({
        "backend": store.backend().name(),
        "asset_hash": cordon_impact::component::sri_from_hex(&hash),
        "affected_sessions": rows,
        "first_run_ms": first.map(|(f, c)| serde_json::json!({"fetch": ms(f), "count": ms(c)})),
        "fetch_ms": fetch.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "count_ms": count.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        "fetch_median_ms": median(&mut fetch),
        "count_median_ms": median(&mut count),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breach_is_served_only_to_its_tenants_inside_its_window() {
        let from = millis("2017-09-26T00:00:00Z").unwrap();
        let shape = Shape {
            start: from - 200 * DAY,
            end: from + 165 * DAY,
            breach_from: from,
            breach_to: from + 16 * DAY,
            breach_tenants: 3,
        };
        let bad = tampered_loader();
        assert_eq!(assets_at(&shape, 0, from)[0], bad);
        assert_eq!(assets_at(&shape, 2, from + 16 * DAY - 1)[0], bad);
        assert_ne!(assets_at(&shape, 3, from)[0], bad);
        assert_ne!(assets_at(&shape, 0, from - 1)[0], bad);
        assert_ne!(assets_at(&shape, 0, from + 16 * DAY)[0], bad);
        // Releases move on every 14 days; the frame page of one release is shared by every tenant.
        assert_eq!(assets_at(&shape, 0, from)[1], assets_at(&shape, 5, from)[1]);
        assert_ne!(
            assets_at(&shape, 0, from)[1],
            assets_at(&shape, 0, from + 14 * DAY)[1]
        );
    }
}
