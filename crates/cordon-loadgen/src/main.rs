//! `cordon-loadgen`: load scenarios against Cordon (or the relay baseline), and the relay itself.
//!
//! It speaks only the documented protocol (docs/PROTOCOL.md) plus the documented login endpoint, and sets up
//! tenants and agents with the `cordon` CLI, as an operator would.
#![forbid(unsafe_code)]

mod cards;
mod chat;
mod client;
mod coord;
mod exposure;
mod frames;
mod idle;
mod relay;
mod report;
mod report_cluster;
mod setup;
mod slow;
mod stats;
mod storm;
mod worker;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::coord::Common;
use crate::setup::{Admin, ServerKind};

#[derive(Debug, Parser)]
#[command(
    name = "cordon-loadgen",
    version,
    about = "Load generator for Cordon, and the bare relay it is compared with",
    long_about = "Load generator for Cordon, and the bare relay it is compared with.\n\n\
Scenarios: idle (memory per held socket), chat (open-loop message rate, latency from the intended send time; \
--card-fragment-share mixes in card numbers typed in pieces, which Cordon holds, and reports them apart), \
storm (new sessions per second), reconnect (drops under traffic; counts lost and duplicated messages). \
Targets must be loopback addresses. Every run stops by itself."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Hold N visitor sockets past hello; report the server's resident memory per socket.
    Idle(IdleArgs),
    /// Conversations with visitors sending at an open-loop rate; latency and throughput (--sweep: find the
    /// highest rate within the p99 limit).
    Chat(ChatArgs),
    /// New visitor sessions per second (connect, hello, open, message, ack, close), ramped until errors.
    Storm(StormArgs),
    /// Chat traffic while a share of the clients is dropped and resumes; every seq is checked.
    Reconnect(ReconnectArgs),
    /// Run the bare relay baseline.
    Relay(RelayArgs),
    /// Turn result files into BENCHMARKS.md tables and the latency chart.
    Report(report::ReportArgs),
    /// Write N synthetic visitor sessions (exposure records) straight into a database, with a tampered loader
    /// served to some tenants inside a window (the 2017 shape).
    SeedExposure(exposure::SeedArgs),
    /// Time the asset-hash impact query against a seeded database.
    ImpactBench(exposure::BenchArgs),
    /// (internal) a worker process; reads its spec on stdin.
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Clone, Args)]
struct CommonArgs {
    /// The server's base URL (loopback only). A comma-separated list names the nodes of one cluster: setup
    /// uses the first; chat spreads visitors over all of them and puts each agent on another node than the
    /// visitors beside it, so most messages cross nodes (docs/DEPLOYMENT.md).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// What runs there: cordon (tenants and agents are made with the cordon CLI) or the relay.
    #[arg(long, value_enum, default_value = "cordon")]
    server: ServerKind,
    /// The cordon binary for setup (default: `cordon` beside this executable, else on PATH).
    #[arg(long)]
    cordon_bin: Option<PathBuf>,
    /// The server's data dir (passed to `cordon --data`).
    #[arg(long)]
    data: Option<PathBuf>,
    /// The server's database URL (passed to `cordon --database`).
    #[arg(long)]
    database: Option<String>,
    /// The server's process id, to read its memory and CPU time from /proc; a comma-separated list for a
    /// cluster (CPU is summed over them).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Worker processes holding the sockets (0: as many as the socket count needs, ~9,000 each).
    #[arg(long, default_value_t = 0)]
    processes: usize,
    /// Runtime threads per worker process.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Source addresses to spread sockets over (127.0.0.2 and up; 0: let the kernel pick).
    #[arg(long, default_value_t = 8)]
    sources: usize,
    /// Write the result as JSON here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A label stored in the result.
    #[arg(long, default_value = "")]
    label: String,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Clone, Args)]
struct IdleArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Sockets to open and hold.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// How long to hold them once open (seconds); > 20 s covers one server ping round.
    #[arg(long, default_value_t = 25)]
    hold: u64,
    /// Handshakes in flight at once (all processes together).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Tenants the visitors are spread over.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
}

#[derive(Debug, Clone, Args)]
struct ChatShape {
    /// Concurrent conversations (one visitor socket each).
    #[arg(long, default_value_t = 200)]
    conversations: usize,
    /// Tenants.
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Agents per tenant (one socket each).
    #[arg(long, default_value_t = 5)]
    agents: usize,
    /// Each agent's capacity (chats at once, at most 100).
    #[arg(long, default_value_t = 100)]
    capacity: u32,
    /// Seconds per step.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds to wait after a step for outstanding acks and deliveries.
    #[arg(long, default_value_t = 5)]
    drain: u64,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 100)]
    message_size: usize,
    /// Seconds of unreported load at the first rate before the measured steps.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
}

#[derive(Debug, Clone, Args)]
struct ChatArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    shape: ChatShape,
    /// Aggregate visitor message rate (messages/s), or a comma-separated list of rates (one step each).
    #[arg(long, default_value = "1000", value_delimiter = ',')]
    rate: Vec<f64>,
    /// Step the rate upward until a step misses the limit (p99 visitor→agent, errors, delivered share): from
    /// --rate by ×--sweep-factor, or through the --rate list.
    #[arg(long)]
    sweep: bool,
    #[arg(long, default_value_t = 1.5)]
    sweep_factor: f64,
    #[arg(long, default_value_t = 100_000.0)]
    sweep_max: f64,
    /// The p99 latency limit (ms) a step must stay under to count (ordinary messages).
    #[arg(long, default_value_t = 50.0)]
    p99_limit_ms: f64,
    /// Share (0–1) of visitor turns that type a published test card in 2–4 pieces, one piece per scheduled
    /// message, then an ordinary message. Cordon holds such pieces until the visitor's next message or its
    /// fragment window; their latency and counts are reported apart ("held"), the ordinary figures exclude them,
    /// and agents count any card readable from what they received as error card_leak.
    #[arg(long, default_value_t = 0.0)]
    card_fragment_share: f64,
    /// The server's fragment window (its --fragment-window-ms), to warn when a visitor's messages are further
    /// apart than that (the pieces would not be joined).
    #[arg(long, default_value_t = 5000)]
    fragment_window_ms: u64,
    /// Also run a slow-client flood: this many sockets from --slow-source that each send a request line, then
    /// one header line every --slow-trickle seconds and never finish, reconnecting when dropped. The result
    /// gets a `slow_clients` section (how many the server held at once, refused, dropped).
    #[arg(long, default_value_t = 0)]
    slow_clients: usize,
    /// The flood's one source address (loopback, apart from the --sources the chat uses).
    #[arg(long, default_value = "127.0.0.250")]
    slow_source: std::net::IpAddr,
    #[arg(long, default_value_t = 5.0)]
    slow_trickle: f64,
    /// New flood sockets per second.
    #[arg(long, default_value_t = 1000.0)]
    slow_open_rate: f64,
}

#[derive(Debug, Clone, Args)]
struct StormArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// First rate (sessions/s).
    #[arg(long, default_value_t = 500.0)]
    start_rate: f64,
    /// Added each step.
    #[arg(long, default_value_t = 500.0)]
    step_rate: f64,
    /// Last rate tried.
    #[arg(long, default_value_t = 10_000.0)]
    max_rate: f64,
    /// The rates to step through instead (comma-separated), e.g. 100,200,500,1000,2000.
    #[arg(long, value_delimiter = ',')]
    rates: Vec<f64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 5)]
    step_duration: u64,
    #[arg(long, default_value_t = 4)]
    tenants: usize,
    /// Sessions in flight at once before new ones are shed (counted as errors).
    #[arg(long, default_value_t = 4000)]
    max_inflight: usize,
    /// A session not done after this many seconds is an error.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// A step also fails when the p99 session time exceeds this (ms).
    #[arg(long, default_value_t = 1000.0)]
    p99_limit_ms: f64,
}

#[derive(Debug, Clone, Args)]
struct ReconnectArgs {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    shape: ChatShape,
    /// Aggregate visitor message rate (messages/s).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Share of the clients dropped each round.
    #[arg(long, default_value_t = 0.1)]
    drop_share: f64,
    /// Milliseconds between drop rounds.
    #[arg(long, default_value_t = 1000)]
    drop_every: u64,
    /// Drop visitors only (agents stay connected).
    #[arg(long)]
    visitors_only: bool,
}

#[derive(Debug, Clone, Args)]
struct RelayArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: std::net::SocketAddr,
    /// Frames per second per socket (token bucket, as Cordon's --max-frames-per-sec).
    #[arg(long, default_value_t = 20.0)]
    max_frames_per_sec: f64,
    /// Burst per socket.
    #[arg(long, default_value_t = 40.0)]
    frame_burst: f64,
    /// Exit after this many seconds (a bound, so a forgotten relay stops by itself).
    #[arg(long, default_value_t = 3600)]
    exit_after: u64,
    /// Runtime threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn common(a: &CommonArgs) -> anyhow::Result<Common> {
    let nodes = a
        .target
        .split(',')
        .map(|t| client::Target::parse(t.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let target = nodes[0].clone();
    let bin = match &a.cordon_bin {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("cordon")))
            .filter(|p| p.exists())
            .unwrap_or_else(|| PathBuf::from("cordon")),
    };
    if a.threads == 0 {
        bail!("--threads must be at least 1");
    }
    Ok(Common {
        target,
        nodes,
        kind: a.server,
        admin: Admin {
            bin,
            data: a.data.clone(),
            database: a.database.clone(),
        },
        processes: a.processes,
        threads: a.threads,
        sources: a.sources,
        server_pids: a.server_pid.clone(),
        label: a.label.clone(),
        quiet: a.quiet,
    })
}

fn finish(a: &CommonArgs, result: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", report::table(result));
    if let Some(path) = &a.out {
        coord::write_result(path, result)
            .with_context(|| format!("could not write {}", path.display()))?;
        eprintln!("result written to {}", path.display());
    }
    Ok(())
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?)
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let _ = worker::rlimit_raise();
    match cli.command {
        Cmd::Worker => worker::main_process(),
        Cmd::Report(args) => report::run(&args),
        Cmd::SeedExposure(a) => {
            let summary = runtime(2)?.block_on(exposure::seed(a))?;
            println!("{summary}");
            Ok(())
        }
        Cmd::ImpactBench(a) => {
            let result = runtime(2)?.block_on(exposure::bench(a))?;
            println!("{result}");
            Ok(())
        }
        Cmd::Relay(a) => runtime(a.threads)?.block_on(relay::serve(
            a.listen,
            relay::RelayLimits {
                frames_per_sec: a.max_frames_per_sec,
                frame_burst: a.frame_burst,
            },
            Duration::from_secs(a.exit_after),
        )),
        Cmd::Idle(a) => {
            let c = common(&a.common)?;
            let p = coord::IdleParams {
                connections: a.connections,
                hold: Duration::from_secs(a.hold),
                concurrency: a.concurrency,
                tenants: a.tenants,
            };
            let r = runtime(c.threads)?.block_on(coord::idle(&c, &p))?;
            finish(&a.common, &r)
        }
        Cmd::Chat(a) => {
            let c = common(&a.common)?;
            let mut rates = a.rate.clone();
            // --sweep with one rate: step up from it by --sweep-factor; with a list: the list, in order.
            if a.sweep && rates.len() == 1 {
                let mut r = rates.first().copied().unwrap_or(1000.0);
                rates.clear();
                while r <= a.sweep_max && rates.len() < 40 {
                    rates.push(r.round());
                    r *= a.sweep_factor.max(1.05);
                }
            }
            if rates.is_empty() || rates.iter().any(|r| *r <= 0.0) {
                bail!("--rate must be positive");
            }
            if !(0.0..=1.0).contains(&a.card_fragment_share) {
                bail!("--card-fragment-share must be between 0 and 1");
            }
            let mut p = chat_params(&a.shape, rates, a.p99_limit_ms, a.sweep, None);
            p.card_fragment_share = a.card_fragment_share;
            p.fragment_window = Duration::from_millis(a.fragment_window_ms);
            if a.slow_clients > 0 && !a.slow_source.is_loopback() {
                bail!("--slow-source must be a loopback address");
            }
            let slow = (a.slow_clients > 0).then(|| slow::SlowSpec {
                sockets: a.slow_clients,
                source: a.slow_source,
                trickle: Duration::from_secs_f64(a.slow_trickle.clamp(0.1, 60.0)),
                open_rate: a.slow_open_rate,
            });
            let r = runtime(c.threads)?.block_on(async {
                let flood = slow.map(|spec| slow::Flood::start(&c.target, spec));
                let mut r = coord::chat(&c, &p).await?;
                if let Some(flood) = flood {
                    let figures = flood.stop().await;
                    eprintln!("slow-client flood: {figures}");
                    r["slow_clients"] = figures;
                }
                anyhow::Ok(r)
            })?;
            finish(&a.common, &r)
        }
        Cmd::Reconnect(a) => {
            let c = common(&a.common)?;
            if c.kind == ServerKind::Relay {
                bail!(
                    "the relay keeps no history, so it cannot resume: run reconnect against Cordon"
                );
            }
            let drops = worker::DropSpec {
                share: a.drop_share.clamp(0.0, 1.0),
                every_ms: a.drop_every,
                agents: !a.visitors_only,
            };
            let p = chat_params(&a.shape, vec![a.rate], f64::INFINITY, false, Some(drops));
            let r = runtime(c.threads)?.block_on(coord::chat(&c, &p))?;
            finish(&a.common, &r)?;
            if r["result"]["check"]["pass"].as_bool() != Some(true) {
                bail!("messages were lost or duplicated");
            }
            Ok(())
        }
        Cmd::Storm(a) => {
            let c = common(&a.common)?;
            let mut rates: Vec<f64> = a.rates.iter().copied().filter(|r| *r > 0.0).collect();
            let mut r = a.start_rate;
            while rates.is_empty() && r <= a.max_rate {
                while r <= a.max_rate && rates.len() < 100 {
                    rates.push(r);
                    r += a.step_rate.max(1.0);
                }
            }
            if rates.is_empty() {
                bail!("no storm rates between --start-rate and --max-rate");
            }
            let p = coord::StormParams {
                rates,
                step: Duration::from_secs(a.step_duration.max(1)),
                tenants: a.tenants,
                max_inflight: a.max_inflight,
                timeout: Duration::from_secs(a.timeout.max(1)),
                p99_limit_ms: a.p99_limit_ms,
            };
            let r = runtime(c.threads)?.block_on(coord::storm(&c, &p))?;
            finish(&a.common, &r)
        }
    }
}

fn chat_params(
    s: &ChatShape,
    rates: Vec<f64>,
    p99_limit_ms: f64,
    stop_on_fail: bool,
    drops: Option<worker::DropSpec>,
) -> coord::ChatParams {
    coord::ChatParams {
        conversations: s.conversations,
        tenants: s.tenants,
        agents: s.agents,
        capacity: s.capacity,
        rates,
        duration: Duration::from_secs(s.duration.max(1)),
        drain: Duration::from_secs(s.drain),
        message_size: s.message_size.clamp(1, 4000),
        p99_limit_ms,
        warmup: Duration::from_secs(s.warmup),
        stop_on_fail,
        drops,
        card_fragment_share: 0.0,
        fragment_window: Duration::from_secs(5),
    }
}
