//! Cordon's transports: the HTTP API, the two WebSockets, the web assets, and the front door they share. Every
//! use case behind them is `cordon_service`'s; this crate reads requests and frames, calls one use case, and
//! writes its answer (docs/ARCHITECTURE.md).
//!
//! One message, start to end: socket frame (bounded, ws/) → decode and validate (typed error, input never
//! echoed) → the service's message path (check, redact, seal, group commit, publish) → ack to the sender →
//! fan-out to participants through the hub (ws/delivery.rs). Nothing flows back up that chain.
#![forbid(unsafe_code)]

mod accept;
mod auth;
mod error;
mod http;
pub mod logging;
// The outbound frame queue lives in its own crate so the benchmark relay uses the same one.
use cordon_outbound as outbound;
mod vault;
pub mod web;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cordon_service::Service;

pub use error::ApiError;

/// How one back-off limiter counts failures (part of [`Limits`]).
pub use cordon_service::throttle::Policy;

/// The listen backlog: bursts of new visitors (thousands per second) overflow the usual 128, and the kernel then
/// drops SYNs that clients retry only a second later. The kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Bind a listening socket with Cordon's backlog (and `SO_REUSEADDR`, as `TcpListener::bind` sets it).
pub fn bind_listener(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Limits that protect the service from clients. Defaults are the documented protocol limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest text frame accepted (bytes). Larger frames get `frame_too_large`.
    pub max_frame_bytes: usize,
    /// Hard cap handed to the WebSocket library; beyond it the connection is closed (1009).
    pub hard_frame_bytes: usize,
    /// Longest message text, in characters.
    pub max_text_chars: usize,
    /// Frames per second per connection (token bucket refill) and burst.
    pub frames_per_sec: f64,
    pub frame_burst: f64,
    /// Frames waiting to be written to one client before it counts as a slow consumer.
    pub outbound_buffer: usize,
    /// How long a write may block before a slow consumer is disconnected.
    pub write_timeout: Duration,
    /// Ping interval, and how long without any inbound traffic before a connection is reaped.
    pub ping_interval: Duration,
    pub idle_timeout: Duration,
    /// Time allowed for the `hello` frame.
    pub hello_timeout: Duration,
    /// Agent sessions: idle and absolute lifetimes.
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// How often open agent sockets re-check their session (revocation latency bound).
    pub session_recheck: Duration,
    /// How long a visitor message that may begin a split card number is held for the next fragment.
    pub fragment_window: Duration,
    /// Failed sign-ins per account (agent, or tenant and name when there is no such agent), from any address.
    pub login_per_account: Policy,
    /// Failed sign-ins per client address (IPv6 by /64), to any account. Kept apart from the account's limit.
    pub login_per_address: Policy,
    /// Unknown, expired or revoked `Authorization: Bearer` keys per client address.
    pub api_key_per_address: Policy,
    /// Unknown visitor tokens in `hello` per client address.
    pub visitor_token_per_address: Policy,
    /// Time a client has to send a complete HTTP request head (the first one, and each one on a kept-alive
    /// connection). A client that trickles headers is closed after it.
    pub header_read_timeout: Duration,
    /// Open connections one IP address may hold (0: no limit).
    pub max_connections_per_ip: u32,
    /// New connections one IP address may open per second, sustained (0: no limit), after a burst of
    /// `new_connections_per_ip_burst`.
    pub new_connections_per_ip_per_sec: f64,
    pub new_connections_per_ip_burst: f64,
    /// The largest file a visitor or an agent may send (issue 20), in bytes; a larger body is refused as
    /// `file_too_large` as soon as it passes the limit.
    pub max_file_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            hard_frame_bytes: 1024 * 1024,
            max_text_chars: 4000,
            frames_per_sec: 20.0,
            frame_burst: 40.0,
            outbound_buffer: 256,
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            hello_timeout: Duration::from_secs(10),
            session_idle: Duration::from_secs(12 * 3600),
            session_absolute: Duration::from_secs(7 * 24 * 3600),
            session_recheck: Duration::from_millis(500),
            fragment_window: Duration::from_secs(5),
            // Five wrong passwords, then 1 s, 2 s, 4 s ... at most 15 min: slow enough to stop guessing, never
            // a lock-out, and an attacker cannot hold an account for longer than the cap per failure.
            login_per_account: Policy {
                failures_before_backoff: 5,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            // Offices and carriers put many people behind one address: a higher threshold than per account.
            login_per_address: Policy {
                failures_before_backoff: 20,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            api_key_per_address: Policy {
                failures_before_backoff: 20,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            // Stale tokens are normal (cleared data, another site's token), so a generous threshold and a short
            // cap: the tokens are 256-bit, the limit is there to stop a flood of look-ups.
            visitor_token_per_address: Policy {
                failures_before_backoff: 50,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(5 * 60),
                forget_after: Duration::from_secs(600),
                max_entries: 100_000,
            },
            header_read_timeout: Duration::from_secs(10),
            // Generous enough for a NAT full of shoppers, far below the ~20,000 sockets one node holds.
            max_connections_per_ip: 512,
            new_connections_per_ip_per_sec: 64.0,
            new_connections_per_ip_burst: 256.0,
            max_file_bytes: cordon_service::files::DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// Everything the service needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The console and API's public origin, e.g. `http://127.0.0.1:8080`. `/ws/agent` accepts only this Origin.
    pub console_origin: String,
    /// The widget frame's public origin, e.g. `http://127.0.0.2:8080`. Must differ from the console's site.
    pub widget_origin: String,
    /// This process's name in session records.
    pub node_id: String,
    /// Send HSTS (only when served over TLS, directly or behind a terminating proxy).
    pub https: bool,
    pub limits: Limits,
    /// How webhooks are sent (private targets, attempts).
    pub webhooks: cordon_service::webhooks::WebhookSettings,
    /// The card vault (issue 15): its public origin (`--vault-url`, served by [`serve_vault`] on a listener of
    /// its own), the vault key's wrapper, the processor rules. No origin: no vault.
    pub payments: cordon_service::payments::PaymentConfig,
    /// Outgoing mail (issue 20): the SMTP server and From address transcripts are sent with (none: no mail).
    pub mail: cordon_service::mail::MailSettings,
}

impl Config {
    pub fn for_listen(addr: SocketAddr) -> Self {
        let origin = format!("http://{addr}");
        Config {
            console_origin: origin.clone(),
            widget_origin: origin,
            node_id: format!("node-{}", std::process::id()),
            https: false,
            limits: Limits::default(),
            webhooks: Default::default(),
            payments: Default::default(),
            mail: Default::default(),
        }
    }
}

impl Config {
    /// What the service's use cases need of this configuration.
    pub fn service_settings(&self) -> cordon_service::Settings {
        let l = &self.limits;
        cordon_service::Settings {
            node_id: self.node_id.clone(),
            max_text_chars: l.max_text_chars,
            session_idle: l.session_idle,
            session_absolute: l.session_absolute,
            throttle: cordon_service::throttle::Policies {
                login_per_account: l.login_per_account,
                login_per_address: l.login_per_address,
                api_key_per_address: l.api_key_per_address,
                visitor_token_per_address: l.visitor_token_per_address,
            },
            webhooks: self.webhooks.clone(),
            payments: self.payments.clone(),
            max_file_bytes: l.max_file_bytes,
            mail: self.mail.clone(),
        }
    }
}

/// Shared state of one process: the service (store, keys, hub, counters) and what the transports add.
#[derive(Debug, Clone)]
pub struct AppState {
    service: Service,
    config: Arc<Config>,
    /// Per-address connection limits, shared by every listener of this process.
    gate: Arc<accept::Gate>,
    /// Signed widget releases on disk (none until [`AppState::with_releases_dir`]: no widget is served).
    releases: Arc<web::Releases>,
}

impl AppState {
    /// The transports over `service`, which was made with `config.service_settings()`.
    pub fn new(service: Service, config: Config) -> Self {
        AppState {
            service,
            gate: accept::Gate::new(&config.limits),
            config: Arc::new(config),
            releases: Arc::new(web::Releases::new(None)),
        }
    }

    /// Serve the widget from the signed, approved releases under `dir` (`DATA/releases/<id>/`).
    pub fn with_releases_dir(self, dir: std::path::PathBuf) -> Self {
        AppState {
            releases: Arc::new(web::Releases::new(Some(dir))),
            ..self
        }
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// The counters `/metrics` shows.
    pub fn metrics(&self) -> &cordon_service::metrics::Metrics {
        self.service.metrics()
    }
}

/// The whole router: API (with its OpenAPI document), sockets, web assets, health and metrics.
pub fn app(state: AppState) -> Router {
    let (api_router, openapi) = http::router().split_for_parts();
    Router::new()
        .merge(api_router)
        .merge(http::openapi::router(openapi))
        .route("/ws/visitor", axum::routing::get(ws::visitor_upgrade))
        .route("/ws/agent", axum::routing::get(ws::agent_upgrade))
        .merge(http::health::router())
        .merge(web::router())
        .fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::security_headers,
        ))
        .with_state(state)
}

/// The OpenAPI document, built by the same registration as the router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    http::router().split_for_parts().1
}

/// The card vault's router (issue 15): the vault form, its two files and the card endpoint, and nothing else
/// (no API, no sockets, no widget or console), for the vault's own listener.
pub fn vault_app(state: AppState) -> Router {
    vault::router(state)
}

/// Serve the vault on its own listener until `shutdown` resolves, through the same front door (per-address
/// caps, header timeout) as the main listener. The background work is the main listener's to start.
pub async fn serve_vault(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let gate = state.gate.clone();
    let limits = state.config.limits.clone();
    let metrics = state.service.metrics().clone();
    accept::serve(listener, vault_app(state), &limits, gate, metrics, shutdown).await
}

/// Raise the open-file soft limit to the hard limit (each socket is a file); returns the resulting limit.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Bind and serve until `shutdown` resolves. The service's background work (the checkpoint signer) starts here;
/// queue assignment and session rechecks are driven by the sockets themselves. Each connection first passes the
/// per-address gate (accept.rs).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.service.spawn_background();
    let gate = state.gate.clone();
    let limits = state.config.limits.clone();
    let metrics = state.service.metrics().clone();
    accept::serve(listener, app(state), &limits, gate, metrics, shutdown).await
}
