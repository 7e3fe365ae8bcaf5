//! The `cordon` binary: every subcommand of the service.
#![forbid(unsafe_code)]

mod audit_cmd;
mod demo;
mod demo_processor;
mod demo_store;
mod impact_cmd;
mod manage;
mod monitor_cmd;
mod operator_cmd;
mod redact;
mod release_cmd;
mod runtime;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cordon",
    version,
    about = "Multi-tenant live chat that keeps card numbers out",
    long_about = "Multi-tenant live chat that keeps card numbers out.\n\nQuick start: `cordon demo` runs the service with two demo tenants on SQLite under ./cordon-data/."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Flags every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub(crate) struct GlobalArgs {
    /// Data directory: the SQLite database and, without CORDON_MASTER_KEY, the master key file.
    #[arg(
        long,
        global = true,
        env = "CORDON_DATA",
        default_value = "./cordon-data"
    )]
    pub(crate) data: std::path::PathBuf,
    /// Database URL: sqlite://PATH (default: DATA/cordon.db) or postgres://USER@HOST:PORT/DB.
    #[arg(long, global = true, env = "CORDON_DATABASE")]
    pub(crate) database: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CORDON_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// Public URL of the console and API (its origin is the only one allowed on /ws/agent and for cookies).
    #[arg(long, env = "CORDON_CONSOLE_URL")]
    pub(crate) console_url: Option<String>,
    /// Public URL of the widget frame (a different site from the console).
    #[arg(long, env = "CORDON_WIDGET_URL")]
    pub(crate) widget_url: Option<String>,
    /// Address for the widget's own site. Default: with --listen 127.0.0.1:PORT, 127.0.0.2:PORT (a separate
    /// site on loopback); otherwise the widget is reached through --widget-url on the same listener.
    #[arg(long, env = "CORDON_WIDGET_LISTEN")]
    pub(crate) widget_listen: Option<std::net::SocketAddr>,
    /// Name of this node in session records, logs, metrics and the cluster: letters, digits, '.', '_', '-'
    /// (default: the host name and a random suffix).
    #[arg(long, env = "CORDON_NODE_ID")]
    pub(crate) node_id: Option<String>,
    /// The cluster's NATS broker (nats://HOST:4222): live events reach the sockets of every node on the same
    /// PostgreSQL database (docs/DEPLOYMENT.md). Without it the node delivers only to its own sockets.
    #[arg(long, env = "CORDON_BROKER", value_name = "URL")]
    pub(crate) broker: Option<String>,
    /// Send HSTS: set when clients reach Cordon over HTTPS (e.g. behind a TLS-terminating proxy).
    #[arg(long, env = "CORDON_HTTPS", default_value_t = false)]
    pub(crate) https: bool,
    /// Frames per second each socket may send (token-bucket refill; default 20). Raise only for load tests.
    #[arg(long, env = "CORDON_MAX_FRAMES_PER_SEC", value_name = "N")]
    pub(crate) max_frames_per_sec: Option<f64>,
    /// Burst of frames each socket may send at once (default 40). Raise only for load tests.
    #[arg(long, env = "CORDON_FRAME_BURST", value_name = "N")]
    pub(crate) frame_burst: Option<f64>,
    /// How long a visitor message that may begin a card number typed in pieces is held for the next piece.
    #[arg(
        long,
        env = "CORDON_FRAGMENT_WINDOW_MS",
        value_name = "MS",
        default_value_t = 5000
    )]
    pub(crate) fragment_window_ms: u64,
    /// Time a client has to send a complete HTTP request head; slower clients are closed.
    #[arg(
        long,
        env = "CORDON_HEADER_TIMEOUT_MS",
        value_name = "MS",
        default_value_t = 10_000
    )]
    pub(crate) header_timeout_ms: u64,
    /// Let webhook endpoints be on loopback, private, link-local and other non-public addresses (and plain
    /// http). Off by default: a tenant admin could otherwise make Cordon call into the operator's network.
    #[arg(long, env = "CORDON_WEBHOOKS_ALLOW_PRIVATE")]
    pub(crate) webhooks_allow_private: bool,
    /// Public URL of the card vault (issue 15, docs/PAYMENTS.md): a site of its own, apart from the console
    /// and the widget. With it (or --vault-listen) agents can ask for payments. The vault key is wrapped by
    /// CORDON_VAULT_KEY when that is set, else by the master key.
    #[arg(long, env = "CORDON_VAULT_URL")]
    pub(crate) vault_url: Option<String>,
    /// Address of the card vault's own listener (it serves nothing else). Default with --vault-url
    /// http://IP:PORT: that address. `cordon demo` uses 127.0.0.4 at the console's port.
    #[arg(long, env = "CORDON_VAULT_LISTEN")]
    pub(crate) vault_listen: Option<std::net::SocketAddr>,
    /// Let tenants' payment processor URLs be on loopback, private and other non-public addresses (and plain
    /// http). Off by default, as for webhooks (tests and internal processors only).
    #[arg(long, env = "CORDON_PAYMENTS_ALLOW_PRIVATE")]
    pub(crate) payments_allow_private: bool,
    /// Attempts before a webhook delivery goes to the dead letters (retries back off from 5 s to 4 h).
    #[arg(
        long,
        env = "CORDON_WEBHOOK_MAX_ATTEMPTS",
        value_name = "N",
        default_value_t = 8
    )]
    pub(crate) webhook_max_attempts: u32,
    /// Open connections one IP address may hold (0: no limit). Behind a load balancer, limit there and set 0.
    #[arg(
        long,
        env = "CORDON_MAX_CONNECTIONS_PER_IP",
        value_name = "N",
        default_value_t = 512
    )]
    pub(crate) max_connections_per_ip: u32,
    /// New connections one IP address may open per second, after a burst of four times as many (0: no limit).
    #[arg(
        long,
        env = "CORDON_NEW_CONNECTIONS_PER_IP",
        value_name = "N",
        default_value_t = 64.0
    )]
    pub(crate) new_connections_per_ip: f64,
    /// The largest file or image a visitor or an agent may send in a chat, in bytes (issue 20; 1 KiB at least).
    #[arg(
        long,
        env = "CORDON_MAX_FILE_BYTES",
        value_name = "BYTES",
        default_value_t = 10 * 1024 * 1024
    )]
    pub(crate) max_file_bytes: usize,
    /// The SMTP server transcript emails are sent through (issue 20; docs/TRANSCRIPT_EMAIL.md):
    /// smtp://127.0.0.1:2525 (plain, loopback only), smtp://user:password@host:587 (STARTTLS required),
    /// smtps://user:password@host:465 (TLS from the start). Prefer the environment variable: a flag's password
    /// shows in the process list. None: no transcripts are emailed.
    #[arg(long, env = "CORDON_SMTP_URL", value_name = "URL")]
    pub(crate) smtp_url: Option<SmtpUrlArg>,
    /// The From address of transcript emails, e.g. "Acme Support <chat@acme.example>" (needed with --smtp-url).
    #[arg(long, env = "CORDON_SMTP_FROM", value_name = "ADDRESS")]
    pub(crate) smtp_from: Option<String>,
}

/// `--smtp-url` as given: it may hold a password, so its `Debug` shows none of it, and it is checked (with an
/// error that quotes none of it) when the server starts, not by clap (whose error would repeat the value).
#[derive(Clone)]
pub(crate) struct SmtpUrlArg(pub(crate) String);

impl std::fmt::Debug for SmtpUrlArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmtpUrlArg(***)")
    }
}

impl std::str::FromStr for SmtpUrlArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SmtpUrlArg(s.to_string()))
    }
}

/// `demo`: the service's flags, and where the demo stores listen.
#[derive(Debug, Clone, Args)]
pub(crate) struct DemoArgs {
    #[command(flatten)]
    pub(crate) serve: ServeArgs,
    /// Address of the first demo store (Skyway); the second (Voltmart) listens on 127.0.0.3 at the same port,
    /// a site of its own. Default: 127.0.0.1:8090, or a free port when 8090 is taken (or --listen has port
    /// 0). An address given here that is taken is an error.
    #[arg(long, env = "CORDON_STORE_LISTEN", value_name = "ADDR")]
    pub(crate) store_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Run the service with two demo tenants (created once, reused afterwards).
    Demo(DemoArgs),
    /// Apply schema migrations to the configured database and exit.
    Migrate,
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(manage::TenantCommand),
    /// Manage agents.
    #[command(subcommand)]
    Agent(manage::AgentCommand),
    /// Manage tenant API keys.
    #[command(subcommand)]
    Apikey(manage::ApikeyCommand),
    /// Manage the platform's named operator accounts (TOTP required).
    #[command(subcommand)]
    Operator(operator_cmd::OperatorCommand),
    /// Signed widget releases: keys, propose, approve (a second operator), list, pin a tenant.
    #[command(subcommand)]
    Release(release_cmd::ReleaseCommand),
    /// The tamper monitor: compare what a deployment serves with its signed releases (exit 2 on a difference).
    Monitor(monitor_cmd::MonitorArgs),
    /// Verify or watch the tamper-evident audit log.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Breach impact: which tenants, sessions, visitors and cards a compromised component reached in a window,
    /// as a signed report (docs/IMPACT.md); `impact verify REPORT` checks one.
    Impact(impact_cmd::ImpactArgs),
    /// Read text on stdin, write it to stdout with every card number masked.
    Redact(redact::RedactArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Redact(args) => redact::run(&args),
        other => runtime::block_on(run(cli.global, other)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cordon: {err:#}");
            // A watch alarm is not an ordinary failure: monitors page on exit status 2.
            if err.downcast_ref::<audit_cmd::Alert>().is_some() {
                std::process::ExitCode::from(2)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

async fn run(global: GlobalArgs, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => runtime::serve(&global, &args).await,
        Command::Demo(args) => demo::run(&global, &args).await,
        Command::Migrate => manage::migrate(&global).await,
        Command::Tenant(c) => manage::tenant(&global, c).await,
        Command::Agent(c) => manage::agent(&global, c).await,
        Command::Apikey(c) => manage::apikey(&global, c).await,
        Command::Operator(c) => operator_cmd::run(&global, c).await,
        Command::Release(c) => release_cmd::run(&global, c).await,
        Command::Monitor(a) => monitor_cmd::run(&global, a).await,
        Command::Audit(c) => audit_cmd::run(&global, c).await,
        Command::Impact(a) => impact_cmd::run(&global, a).await,
        Command::Redact(_) => Ok(()),
    }
}
