//! The Cordon service: HTTP API, WebSocket protocol, message pipeline, fan-out and auth.
//!
//! One message, start to end: socket frame (bounded) → decode and validate (typed error, input never echoed) →
//! authorise → redact every client string → seal (AEAD bound to tenant, conversation, seq) → group commit →
//! ack to the sender → fan-out to participants. Nothing flows back up that chain.
#![forbid(unsafe_code)]

mod accept;
pub mod api;
pub mod audit;
pub mod auth;
pub mod error;
pub mod exposure;
pub mod hub;
pub mod keys;
pub mod logging;
pub mod metrics;
mod outbound;

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
pub mod ops;
pub mod pipeline;
pub mod protocol;
pub mod throttle;
pub mod web;
pub mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use cordon_store::Store;

pub use error::ApiError;

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
    pub login_per_account: throttle::Policy,
    /// Failed sign-ins per client address (IPv6 by /64), to any account. Kept apart from the account's limit.
    pub login_per_address: throttle::Policy,
    /// Unknown, expired or revoked `Authorization: Bearer` keys per client address.
    pub api_key_per_address: throttle::Policy,
    /// Unknown visitor tokens in `hello` per client address.
    pub visitor_token_per_address: throttle::Policy,
    /// Time a client has to send a complete HTTP request head (the first one, and each one on a kept-alive
    /// connection). A client that trickles headers is closed after it.
    pub header_read_timeout: Duration,
    /// Open connections one IP address may hold (0: no limit).
    pub max_connections_per_ip: u32,
    /// New connections one IP address may open per second, sustained (0: no limit), after a burst of
    /// `new_connections_per_ip_burst`.
    pub new_connections_per_ip_per_sec: f64,
    pub new_connections_per_ip_burst: f64,
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
            login_per_account: throttle::Policy {
                failures_before_backoff: 5,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            // Offices and carriers put many people behind one address: a higher threshold than per account.
            login_per_address: throttle::Policy {
                failures_before_backoff: 20,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            api_key_per_address: throttle::Policy {
                failures_before_backoff: 20,
                first_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(15 * 60),
                forget_after: Duration::from_secs(3600),
                max_entries: 100_000,
            },
            // Stale tokens are normal (cleared data, another site's token), so a generous threshold and a short
            // cap: the tokens are 256-bit, the limit is there to stop a flood of look-ups.
            visitor_token_per_address: throttle::Policy {
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
        }
    }
}

/// Shared state of one process.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<keys::Keys>,
    pub hub: Arc<hub::Hub>,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    /// Back-off for failed sign-ins, API keys and visitor tokens (this process only).
    pub throttle: Arc<throttle::Throttles>,
    /// Per-address connection limits, shared by every listener of this process.
    gate: Arc<accept::Gate>,
}

impl AppState {
    pub fn new(store: Store, keys: keys::Keys, config: Config) -> Self {
        AppState {
            store,
            keys: Arc::new(keys),
            hub: Arc::new(hub::Hub::default()),
            metrics: Arc::new(metrics::Metrics::default()),
            throttle: Arc::new(throttle::Throttles::new(&config.limits)),
            gate: accept::Gate::new(&config.limits),
            config: Arc::new(config),
        }
    }
}

/// The whole router: API (with its OpenAPI document), sockets, web assets, health and metrics.
pub fn app(state: AppState) -> Router {
    let (api_router, openapi) = api::router().split_for_parts();
    let openapi = Arc::new(openapi);
    Router::new()
        .merge(api_router)
        .route(
            "/api/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/ws/visitor", axum::routing::get(ws::visitor_upgrade))
        .route("/ws/agent", axum::routing::get(ws::agent_upgrade))
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(api::readyz))
        .route("/metrics", axum::routing::get(metrics::handler))
        .merge(web::router())
        .fallback(api::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            web::security_headers,
        ))
        .with_state(state)
}

/// The OpenAPI document, built by the same registration as the router.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::router().split_for_parts().1
}

/// Raise the open-file soft limit to the hard limit (each socket is a file); returns the resulting limit.
pub fn raise_fd_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// Bind and serve until `shutdown` resolves. Background tasks (queue assignment, session rechecks) are spawned
/// by the sockets themselves. Each connection first passes the per-address gate (accept.rs).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    audit::spawn_checkpointer(state.clone());
    let gate = state.gate.clone();
    let limits = state.config.limits.clone();
    let metrics = state.metrics.clone();
    accept::serve(listener, app(state), &limits, gate, metrics, shutdown).await
}
