//! Opening the database and keys, and running the server.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use anyhow::{bail, Context as _};
use cordon_crypto::SecretKey;
use cordon_server::{AppState, Config};
use cordon_service::{OpenError, Service, StoreConfig};

use crate::{GlobalArgs, ServeArgs};

pub(crate) fn block_on(
    fut: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?
        .block_on(fut)
}

pub(crate) fn database_url(global: &GlobalArgs) -> String {
    match &global.database {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}?mode=rwc",
            global.data.join("cordon.db").display()
        ),
    }
}

/// Write a file readable by its owner only (mode 0600), failing if it exists.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("could not create {}", path.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    Ok(())
}

/// The data dir holds wrapped keys and token hashes: readable by its owner only (0700), and the database file is
/// created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode).
fn create_private_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt as _;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .with_context(|| format!("could not create data dir {}", dir.display()))?;
    }
    let db = dir.join("cordon.db");
    if !db.exists() {
        // create_new fails harmlessly if another process created it first.
        let _ = write_private_file(&db, b"");
    }
    Ok(())
}

/// The master key: `CORDON_MASTER_KEY`, or with SQLite a key file created in the data dir on first start.
/// Also returns the key file's path when this call created it.
fn master_key(
    global: &GlobalArgs,
    url: &str,
) -> anyhow::Result<(SecretKey, Option<std::path::PathBuf>)> {
    if let Ok(text) = std::env::var("CORDON_MASTER_KEY") {
        return Ok((
            SecretKey::parse(&text).context("CORDON_MASTER_KEY is malformed")?,
            None,
        ));
    }
    if !url.starts_with("sqlite:") {
        bail!(
            "CORDON_MASTER_KEY is required with PostgreSQL (64 hex digits or base64 of 32 bytes)"
        );
    }
    let path = global.data.join("master.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((
            SecretKey::parse(&text).with_context(|| format!("{} is malformed", path.display()))?,
            None,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            write_private_file(&path, key.dangerous_export_hex().as_bytes())?;
            Ok((key, Some(path)))
        }
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

/// Open the configured database (migrating it) and bind the master key to it. The service starts with the
/// default settings; `serve` and `demo` give it the server's (`Service::with_settings`) once they know them.
pub(crate) async fn open(global: &GlobalArgs) -> anyhow::Result<Service> {
    let url = database_url(global);
    if url.starts_with("sqlite:") {
        create_private_data_dir(&global.data)?;
    }
    let (key, created) = master_key(global, &url)?;
    // A key file made by this run is kept only if the database accepts it: a run that forgot
    // CORDON_MASTER_KEY must not leave a wrong key behind for the next one.
    let discard = |e: anyhow::Error| {
        if let Some(path) = &created {
            let _ = std::fs::remove_file(path);
        }
        e
    };
    let settings =
        Config::for_listen(std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).service_settings();
    Service::open(&StoreConfig::new(url), key, settings)
        .await
        .map_err(|e| {
            discard(match e {
                OpenError::WrongMasterKey => anyhow::anyhow!(
                    "the master key does not match this database (check CORDON_MASTER_KEY or the data dir's master.key)"
                ),
                other => anyhow::anyhow!("{other}"),
            })
        })
}

/// The server's configuration. `local` is the bound address: with `--listen HOST:0` the console origin must
/// name the port the OS picked, or logins and agent sockets from the real URL are refused as cross-origin.
pub(crate) fn config(args: &ServeArgs, local: std::net::SocketAddr) -> Config {
    let mut config = Config::for_listen(local);
    if let Some(u) = &args.console_url {
        config.console_origin = origin_of(u);
    }
    if let Some(u) = &args.widget_url {
        config.widget_origin = origin_of(u);
    }
    config.node_id = match &args.node_id {
        Some(n) => n.clone(),
        None => default_node_id(),
    };
    config.https = args.https;
    // Only positive, finite values replace the defaults (a zero rate would refuse every frame).
    if let Some(r) = args
        .max_frames_per_sec
        .filter(|r| r.is_finite() && *r > 0.0)
    {
        config.limits.frames_per_sec = r;
    }
    if let Some(b) = args.frame_burst.filter(|b| b.is_finite() && *b >= 1.0) {
        config.limits.frame_burst = b;
    }
    config.limits.fragment_window = std::time::Duration::from_millis(args.fragment_window_ms);
    // A zero timeout would close every connection before its first request: keep a floor of 100 ms.
    config.limits.header_read_timeout =
        std::time::Duration::from_millis(args.header_timeout_ms.max(100));
    config.limits.max_connections_per_ip = args.max_connections_per_ip;
    let rate = if args.new_connections_per_ip.is_finite() {
        args.new_connections_per_ip.max(0.0)
    } else {
        0.0
    };
    config.limits.new_connections_per_ip_per_sec = rate;
    config.limits.new_connections_per_ip_burst = rate * 4.0;
    config.limits.max_file_bytes = args.max_file_bytes.max(1024);
    config.webhooks.allow_private_targets = args.webhooks_allow_private;
    config.webhooks.max_attempts = args.webhook_max_attempts.max(1);
    config.payments.vault_origin = args.vault_url.as_deref().map(origin_of);
    config.payments.allow_private_processors = args.payments_allow_private;
    config
}

/// `CORDON_VAULT_KEY` (64 hex digits or base64 of 32 bytes): wraps the card vault's key instead of the master
/// key, so the vault can be keyed apart from the chat. An environment variable only, never a flag.
fn vault_key_from_env() -> anyhow::Result<Option<SecretKey>> {
    match std::env::var("CORDON_VAULT_KEY") {
        Ok(text) if !text.trim().is_empty() => Ok(Some(
            SecretKey::parse(&text).context("CORDON_VAULT_KEY is malformed")?,
        )),
        _ => Ok(None),
    }
}

/// Bind the vault's own listener: `--vault-listen`, else the `--vault-url` address when it is a literal
/// `http://IP:PORT`, else `default` (the demo's 127.0.0.4). Sets the vault origin from what was bound when no
/// URL was given.
pub(crate) fn bind_vault(
    args: &ServeArgs,
    config: &mut Config,
    default: Option<std::net::SocketAddr>,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    config.payments.vault_kek = vault_key_from_env()?;
    let from_url = args.vault_url.as_deref().and_then(|u| {
        origin_of(u)
            .strip_prefix("http://")?
            .parse::<std::net::SocketAddr>()
            .ok()
    });
    let Some(addr) = args.vault_listen.or(from_url).or(default) else {
        if config.payments.vault_origin.is_some() {
            bail!("--vault-url needs --vault-listen (the vault has a listener of its own)");
        }
        return Ok(None);
    };
    let listener = cordon_server::bind_listener(addr)
        .with_context(|| format!("could not listen on {addr} for the card vault"))?;
    if config.payments.vault_origin.is_none() {
        config.payments.vault_origin = Some(format!("http://{}", listener.local_addr()?));
    }
    let vault = config.payments.vault_origin.clone().unwrap_or_default();
    if vault == config.console_origin || vault == config.widget_origin {
        bail!("the card vault needs an origin of its own, apart from the console and the widget");
    }
    Ok(Some(listener))
}

/// The host name (as far as it is fit for a node id) and a random suffix, so two processes never share one.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(48)
        .collect();
    let suffix: String = cordon_crypto::new_id("n").chars().skip(2).take(8).collect();
    if host.is_empty() {
        format!("node-{suffix}")
    } else {
        format!("{host}-{suffix}")
    }
}

/// `--broker`: join the cluster (PostgreSQL only: every node must share one database).
pub(crate) async fn join_cluster(
    global: &GlobalArgs,
    args: &ServeArgs,
    service: &Service,
) -> anyhow::Result<()> {
    let Some(url) = &args.broker else {
        return Ok(());
    };
    if database_url(global).starts_with("sqlite:") {
        bail!("--broker needs --database postgres://…: the nodes of a cluster share one PostgreSQL database");
    }
    cordon_service::cluster::join(service, url)
        .await
        .context("could not join the cluster")?;
    Ok(())
}

/// `http://host:port/path` → `http://host:port`.
fn origin_of(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    match trimmed.find("://") {
        Some(i) => match trimmed[i + 3..].find('/') {
            Some(j) => trimmed[..i + 3 + j].to_string(),
            None => trimmed.to_string(),
        },
        None => trimmed.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The sockets a server listens on, and the configuration that follows from them.
pub(crate) struct Bound {
    /// The console and API listener first, then the widget's own, if it has one.
    pub(crate) listeners: Vec<tokio::net::TcpListener>,
    pub(crate) config: Config,
    /// Whether the widget is on a site of its own (otherwise the frame is refused; see `--widget-url`).
    pub(crate) widget_separate: bool,
    /// The card vault's own listener, when payments are on.
    pub(crate) vault: Option<tokio::net::TcpListener>,
}

/// Where the widget listens when `--widget-listen` is not given. A literal `http://IP:PORT` widget URL that
/// this process does not already listen on is bound; a loopback console (127.0.0.1) without a widget URL
/// gets the sibling loopback host 127.0.0.2 on the same port, a separate site (cookies ignore ports, so a
/// second port alone would not do).
fn derived_widget_listen(
    args: &ServeArgs,
    local: std::net::SocketAddr,
) -> Option<std::net::SocketAddr> {
    if let Some(a) = args.widget_listen {
        return Some(a);
    }
    if let Some(url) = &args.widget_url {
        let addr: std::net::SocketAddr = origin_of(url).strip_prefix("http://")?.parse().ok()?;
        let covered = addr == local || (local.ip().is_unspecified() && addr.port() == local.port());
        return (!covered).then_some(addr);
    }
    if local.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST) {
        let port = if args.listen.port() == 0 {
            0
        } else {
            local.port()
        };
        return Some(std::net::SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            port,
        ));
    }
    None
}

/// Bind the console/API socket and the widget's, and derive the origins from what was bound.
pub(crate) async fn bind(args: &ServeArgs) -> anyhow::Result<Bound> {
    let console = cordon_server::bind_listener(args.listen)
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let local = console.local_addr()?;
    let mut config = config(args, local);
    config
        .mail
        .configure(
            args.smtp_url.as_ref().map(|u| u.0.as_str()),
            args.smtp_from.as_deref(),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut listeners = vec![console];
    if let Some(addr) = derived_widget_listen(args, local) {
        match cordon_server::bind_listener(addr) {
            Ok(l) => {
                if args.widget_url.is_none() {
                    config.widget_origin = format!("http://{}", l.local_addr()?);
                }
                listeners.push(l);
            }
            // An explicit address must work; the derived loopback one may be missing (macOS has only
            // 127.0.0.1 unless an alias is added).
            Err(e) if args.widget_listen.is_some() || args.widget_url.is_some() => {
                return Err(e).with_context(|| format!("could not listen on {addr} for the widget"))
            }
            Err(e) => tracing::warn!(
                error = %e,
                %addr,
                "no separate widget site: the chat frame stays off until --widget-listen or --widget-url is set"
            ),
        }
    }
    let widget_separate = config.widget_origin != config.console_origin;
    let vault = bind_vault(args, &mut config, None)?;
    Ok(Bound {
        listeners,
        config,
        widget_separate,
        vault,
    })
}

/// Log and print where the server listens. Tests and scripts read the first line to find an ephemeral port.
pub(crate) fn announce(bound: &Bound, service: &Service) -> anyhow::Result<()> {
    let limit = cordon_server::raise_fd_limit();
    let local = bound.listeners[0].local_addr()?;
    tracing::info!(
        listen = %local,
        node = %bound.config.node_id,
        clustered = service.hub().clustered(),
        backend = service.backend().name(),
        fd_limit = limit.unwrap_or(0),
        connection_capacity = limit.map(|l| l.saturating_sub(64)).unwrap_or(0),
        "cordon serving"
    );
    println!("cordon listening on http://{local}");
    println!("cordon console and API at {}", bound.config.console_origin);
    if bound.widget_separate {
        println!("cordon widget at {}", bound.config.widget_origin);
    } else {
        println!(
            "cordon widget: off (it needs a site of its own: set --widget-url or --widget-listen)"
        );
    }
    if let Some(v) = &bound.config.payments.vault_origin {
        println!("cordon card vault at {v}");
    }
    // The server as smtp://user:***@host:port: the password is never printed.
    if let Some(smtp) = &bound.config.mail.smtp {
        println!("cordon transcript emails via {smtp}");
    }
    Ok(())
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Serve the service on every listener (and any extra sites, such as the demo's stores) until a signal.
pub(crate) async fn run(
    state: AppState,
    listeners: Vec<tokio::net::TcpListener>,
    vault: Option<tokio::net::TcpListener>,
    extra: Vec<(tokio::net::TcpListener, axum::Router)>,
) -> anyhow::Result<()> {
    // A wrong CORDON_VAULT_KEY stops the start here, with its reason, not at the first card.
    cordon_service::payments::open_vault(state.service())
        .await
        .map_err(|e| anyhow::anyhow!("the card vault cannot start: {e}"))?;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(listener) = vault {
        let (state, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move { cordon_server::serve_vault(listener, state, stopped(rx)).await });
    }
    for listener in listeners {
        let (state, rx) = (state.clone(), stop_rx.clone());
        tasks.spawn(async move { cordon_server::serve(listener, state, stopped(rx)).await });
    }
    for (listener, router) in extra {
        let rx = stop_rx.clone();
        tasks.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped(rx))
                .await
        });
    }
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    while let Some(done) = tasks.join_next().await {
        done.context("server task failed")?
            .context("server failed")?;
    }
    Ok(())
}

/// Run the server.
pub(crate) async fn serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    cordon_server::logging::init();
    let service = open(global).await?;
    let bound = bind(args).await?;
    let service = service.with_settings(bound.config.service_settings());
    if !cordon_service::cluster::valid_node_id(&bound.config.node_id) {
        bail!("--node-id must be 1-64 letters, digits, '.', '_' or '-'");
    }
    join_cluster(global, args, &service).await?;
    announce(&bound, &service)?;
    let state = AppState::new(service.clone(), bound.config)
        .with_releases_dir(global.data.join(crate::release_cmd::RELEASES_DIR));
    run(state, bound.listeners, bound.vault, Vec::new()).await?;
    service.close().await;
    Ok(())
}
