//! Opening the database and keys, and running the server.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use cordon_crypto::SecretKey;
use cordon_server::keys::Keys;
use cordon_server::{AppState, Config};
use cordon_store::{Store, StoreConfig};

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

/// Open the configured database (migrating it) and bind the master key to it.
pub(crate) async fn open(global: &GlobalArgs) -> anyhow::Result<(Store, Keys)> {
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
    let store = Store::open(&StoreConfig::new(url))
        .await
        .context("could not open the database")
        .map_err(discard)?;
    let keys = Keys::open(&store, key).await.map_err(|e| discard(match e {
        cordon_server::keys::KeyError::Crypto(cordon_crypto::CryptoError::WrongMasterKey) => anyhow::anyhow!(
            "the master key does not match this database (check CORDON_MASTER_KEY or the data dir's master.key)"
        ),
        other => anyhow::anyhow!("could not load keys: {other}"),
    }))?;
    if keys.created_audit_key {
        store
            .append_audit_batch(&[cordon_server::audit::platform_entry(
                "system",
                "key.create",
                "audit_signing_key",
            )])
            .await?;
    }
    Ok((store, keys))
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
    if let Some(n) = &args.node_id {
        config.node_id = n.clone();
    }
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
    config
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

/// Text printed once the socket is bound, given the console's URL (the demo prints its URLs there).
pub(crate) type Banner = Box<dyn FnOnce(&str) -> String + Send>;

/// Run the server, printing `banner` once the socket is bound.
pub(crate) async fn serve(
    global: &GlobalArgs,
    args: &ServeArgs,
    opened: Option<(Store, Keys, Banner)>,
) -> anyhow::Result<()> {
    cordon_server::logging::init();
    let limit = cordon_server::raise_fd_limit();
    let (store, keys, banner) = match opened {
        Some(x) => x,
        None => {
            let (s, k) = open(global).await?;
            let none: Banner = Box::new(|_| String::new());
            (s, k, none)
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("could not listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let config = config(args, local);
    tracing::info!(
        listen = %local,
        backend = store.backend().name(),
        fd_limit = limit.unwrap_or(0),
        connection_capacity = limit.map(|l| l.saturating_sub(64)).unwrap_or(0),
        "cordon serving"
    );
    // Tests and scripts read this line to find an ephemeral port.
    println!("cordon listening on http://{local}");
    let console = args
        .console_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let banner = banner(console.trim_end_matches('/'));
    if !banner.is_empty() {
        println!("{banner}");
    }
    let state = AppState::new(store.clone(), keys, config);
    cordon_server::serve(listener, state, shutdown_signal())
        .await
        .context("server failed")?;
    store.close().await;
    Ok(())
}
