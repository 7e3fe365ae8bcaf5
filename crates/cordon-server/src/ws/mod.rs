//! The two sockets, `/ws/visitor` and `/ws/agent`, over one connection engine: this module holds the upgrade,
//! the writer (with its slow-consumer rule), the event loop (heartbeat, hello timeout, frame budget) and the frame
//! dispatch; `visitor`, `agent` and `delivery` hold what each frame does, each by calling the service.
//!
//! Delivery model (docs/PROTOCOL.md, "Delivery"): see delivery.rs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cordon_service::access::{role_scopes, Principal, Scope};
use cordon_service::conversations::{Names, Viewer};
use cordon_service::hub::{Event, Inbox, Mailbox, Topic};
use cordon_service::messages::HoldBack;
use cordon_service::model::{Agent, SenderKind, Tenant, Visitor};
use cordon_service::protocol::{
    self, ClientFrame, Hello, Party, ProtocolLimits, ServerFrame, PROTOCOL_VERSIONS,
};
use cordon_service::{agents, code, messages, visitors};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::ApiError;
use crate::AppState;

mod agent;
mod delivery;
mod files;
mod payments;
mod visitor;
mod writer;

use writer::write_loop;

/// WebSocket library buffers: small, because idle connections dominate memory (tungstenite's 128 KiB default
/// read buffer alone would cost ~90 KiB per connection). The read buffer is allocated (and zero-filled) for
/// every socket up front, so it is 1 KiB: a chat frame fits, and a larger frame grows it as needed. The write
/// buffer only grows to the frames actually written.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
/// Most frames written behind one flush (bounds how long one burst holds the writer).
const WRITE_BURST: usize = 64;
/// Close codes (4000–4999 are for applications).
const CLOSE_SLOW: u16 = 4008;
const CLOSE_REVOKED: u16 = 4001;
const CLOSE_IDLE: u16 = 4002;
const CLOSE_HELLO_TIMEOUT: u16 = 4003;
const CLOSE_IDENTITY_EXPIRED: u16 = 4004;

/// RFC 6455 close codes for frames the library refuses.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_INVALID_PAYLOAD: u16 = 1007;
const CLOSE_TOO_BIG: u16 = 1009;

/// How a failed read ends the connection: a frame over the hard cap gets 1009, a text frame that is not UTF-8
/// 1007, any other protocol violation 1002; a vanished peer gets nothing.
fn read_failure(e: axum::Error) -> Exit {
    use tungstenite::error::Error as WsError;
    let inner = e.into_inner();
    match inner.downcast_ref::<WsError>() {
        Some(WsError::Capacity(_)) => Exit::Close(CLOSE_TOO_BIG, "frame too large"),
        Some(WsError::Utf8(_)) => Exit::Close(CLOSE_INVALID_PAYLOAD, "invalid utf-8"),
        Some(WsError::Protocol(_)) => Exit::Close(CLOSE_PROTOCOL_ERROR, "protocol error"),
        _ => Exit::Gone,
    }
}

fn configure(ws: WebSocketUpgrade, state: &AppState) -> WebSocketUpgrade {
    let hard = state.config.limits.hard_frame_bytes;
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(hard * 2)
        .max_message_size(hard)
        .max_frame_size(hard)
}

pub(crate) async fn visitor_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = broker_lost(&state) {
        return refused;
    }
    configure(ws, &state).on_upgrade(move |socket| async move {
        let metrics = state.service.metrics().clone();
        metrics.visitor_connections.inc();
        let visitor = VisitorState {
            peer: Some(peer.ip()),
            ..VisitorState::default()
        };
        run(socket, state, Role::Visitor(visitor)).await;
        metrics.visitor_connections.dec();
    })
}

pub(crate) async fn agent_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if let Some(refused) = broker_lost(&state) {
        return refused;
    }
    // Only the console may open agent sockets: browsers always send Origin on WebSocket handshakes.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin != Some(state.config.console_origin.as_str()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            code::CSRF,
            "agent sockets are accepted only from the console's origin",
        )
        .into_response();
    }
    let principal =
        match crate::auth::authenticate(&method, &headers, Some(peer.ip()), &state).await {
            Ok(p) => p,
            Err(e) => return e.into_response(),
        };
    let (session_id, agent) = match principal {
        Principal::Agent { session_id, agent } => (session_id, agent),
        Principal::ApiKey(_) => return ApiError::forbidden().into_response(),
    };
    if !role_scopes(agent.role).contains(&Scope::ConversationsRead) {
        return ApiError::forbidden().into_response();
    }
    configure(ws, &state).on_upgrade(move |socket| async move {
        let svc = state.service.clone();
        svc.metrics().agent_connections.inc();
        svc.hub().agent_connected(&agent.id);
        let (tenant_id, agent_id) = (agent.tenant_id.clone(), agent.id.clone());
        run(
            socket,
            state,
            Role::Agent(AgentState {
                session_id,
                agent,
                hello_done: false,
            }),
        )
        .await;
        svc.metrics().agent_connections.dec();
        agents::went_away(&svc, &tenant_id, &agent_id).await;
    })
}

/// A node of a cluster that has lost its broker would serve a socket only what it commits itself: it refuses
/// new ones until the broker is back, so the client (or the load balancer) goes to a node that has it.
fn broker_lost(state: &AppState) -> Option<Response> {
    (!state.service.broker_ready()).then(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "this node has lost its message broker; retry, or connect to another node",
        )
        .into_response()
    })
}

#[derive(Debug, Default)]
struct VisitorState {
    tenant: Option<Tenant>,
    visitor: Option<Visitor>,
    /// Set when the tenant enforces verification: the proof's expiry (unix seconds).
    identity_expires: Option<i64>,
    /// Conversations known to belong to this visitor.
    owned: HashSet<String>,
    session_record: Option<String>,
    agents_seen: HashSet<String>,
    cards: i64,
    /// The TCP peer's address: unknown visitor tokens are throttled by it.
    peer: Option<std::net::IpAddr>,
}

#[derive(Debug)]
struct AgentState {
    session_id: String,
    agent: Agent,
    hello_done: bool,
}

// Most sockets are visitors': boxing their state would cost every one an allocation to spare the few agents'.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Role {
    Visitor(VisitorState),
    Agent(AgentState),
}

/// Who this connection is, as the service's conversation rules see it (once authenticated).
fn viewer(role: &Role) -> Option<Viewer<'_>> {
    match role {
        Role::Visitor(v) => match (&v.tenant, &v.visitor) {
            (Some(t), Some(vis)) => Some(Viewer::Visitor {
                tenant_id: &t.id,
                visitor_id: &vis.id,
            }),
            _ => None,
        },
        Role::Agent(a) => Some(Viewer::Agent(&a.agent)),
    }
}

/// Why a connection ends.
#[derive(Debug)]
enum Exit {
    /// Closed by the client or the network.
    Gone,
    /// Close with a code and reason.
    Close(u16, &'static str),
}

struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl TokenBucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Conn {
    state: AppState,
    /// Agents: the conversations assigned to this agent, as last seen.
    assigned: HashSet<String>,
    /// Conversation updates recently forwarded (by identity), to drop the copies other topics bring.
    recent_updates: VecDeque<Arc<str>>,
    last_touch: Instant,
    /// Visitors: the split-card hold-back, and when what it holds is released.
    hold: HoldBack,
    held_deadline: Option<tokio::time::Instant>,
    out: crate::outbound::Sender<Message>,
    /// This connection's hub identity. The mailbox itself (a bounded channel) is made on the first subscription:
    /// an idle visitor with no conversation never needs one.
    mailbox_id: u64,
    mailbox: Option<Mailbox>,
    /// A mailbox's receiving end, made by `subscribe`, waiting for the event loop to take it.
    new_inbox: Option<Inbox>,
    topics: HashSet<Topic>,
    cursors: HashMap<String, i64>,
    bucket: TokenBucket,
    names: Names,
    role: Role,
}

async fn run(socket: WebSocket, state: AppState, role: Role) {
    let limits = state.config.limits.clone();
    let (sink, mut stream) = socket.split();
    let (out_tx, out_rx) = crate::outbound::queue::<Message>(limits.outbound_buffer);
    let metrics = state.service.metrics().clone();
    let mut writer = tokio::spawn(write_loop(sink, out_rx, limits.write_timeout, metrics));

    let mut conn = Conn {
        state: state.clone(),
        assigned: HashSet::new(),
        recent_updates: VecDeque::new(),
        last_touch: Instant::now(),
        hold: HoldBack::default(),
        held_deadline: None,
        out: out_tx,
        mailbox_id: cordon_service::hub::next_mailbox_id(),
        mailbox: None,
        new_inbox: None,
        topics: HashSet::new(),
        cursors: HashMap::new(),
        bucket: TokenBucket {
            tokens: limits.frame_burst,
            rate: limits.frames_per_sec,
            burst: limits.frame_burst,
            at: Instant::now(),
        },
        names: Names::default(),
        role,
    };
    let exit = conn.event_loop(&mut stream, &mut writer).await;
    Box::pin(conn.finish()).await;
    if let Exit::Close(code, reason) = exit {
        let _ = conn
            .out
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    }
    drop(conn);
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut writer).await;
    writer.abort();
}

type Stream = futures_util::stream::SplitStream<WebSocket>;

impl Conn {
    /// The connection's life. Handlers are boxed where they are awaited: an idle socket's task then holds only
    /// this loop's small state, not the largest handler's (the message path, storage calls), which would
    /// otherwise be reserved inline in every connection's future, used or not.
    async fn event_loop(
        &mut self,
        stream: &mut Stream,
        writer: &mut tokio::task::JoinHandle<()>,
    ) -> Exit {
        let limits = self.state.config.limits.clone();
        let mut ping = tokio::time::interval(limits.ping_interval);
        ping.tick().await;
        let mut recheck = tokio::time::interval(limits.session_recheck);
        let mut last_inbound = Instant::now();
        let hello_deadline = tokio::time::sleep(limits.hello_timeout);
        tokio::pin!(hello_deadline);
        let mut events: Option<mpsc::Receiver<Event>> = None;
        let mut wake: Option<Arc<tokio::sync::Notify>> = None;
        let mut lagged: Option<Arc<std::sync::atomic::AtomicBool>> = None;
        loop {
            if events.is_none() {
                if let Some(inbox) = self.new_inbox.take() {
                    events = Some(inbox.rx);
                    wake = Some(inbox.wake);
                    lagged = Some(inbox.lagged);
                }
            }
            let result = tokio::select! {
                biased;
                _ = &mut *writer => return Exit::Gone,
                msg = stream.next() => {
                    last_inbound = Instant::now();
                    match msg {
                        Some(Ok(Message::Text(text))) => Box::pin(self.on_text(text.as_str())).await,
                        Some(Ok(Message::Binary(_))) => {
                            if self.bucket.take() {
                                self.send_error(code::BAD_FRAME, "binary frames are not supported", None).await
                            } else {
                                self.send_error(code::RATE_LIMITED, "too many frames; slow down and retry", None).await
                            }
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | None => return Exit::Gone,
                        // Protocol violations, including frames beyond the hard size cap: the socket can still
                        // carry a close frame that says why (RFC 6455 §7.4.1).
                        Some(Err(e)) => return read_failure(e),
                    }
                }
                Some(event) = async {
                    match events.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => Box::pin(self.on_event(event)).await,
                _ = async {
                    match wake.as_ref() {
                        Some(w) => w.notified().await,
                        None => std::future::pending().await,
                    }
                } => {
                    let was_lagged = lagged
                        .as_ref()
                        .is_some_and(|l| l.swap(false, std::sync::atomic::Ordering::AcqRel));
                    if was_lagged { Box::pin(self.on_lag()).await } else { Ok(()) }
                }
                _ = &mut hello_deadline, if !self.authenticated() => {
                    return Exit::Close(CLOSE_HELLO_TIMEOUT, "hello timeout");
                }
                _ = ping.tick() => {
                    if last_inbound.elapsed() > limits.idle_timeout {
                        return Exit::Close(CLOSE_IDLE, "idle timeout");
                    }
                    self.push(Message::Ping(Default::default())).await
                }
                _ = recheck.tick(), if matches!(self.role, Role::Agent(_)) => Box::pin(self.recheck_session()).await,
                _ = tokio::time::sleep_until(self.held_deadline.unwrap_or_else(tokio::time::Instant::now)),
                    if self.held_deadline.is_some() => Box::pin(self.release_held()).await,
            };
            if let Err(exit) = result {
                return exit;
            }
        }
    }

    fn authenticated(&self) -> bool {
        match &self.role {
            Role::Visitor(v) => v.visitor.is_some(),
            Role::Agent(a) => a.hello_done,
        }
    }

    fn tenant_id(&self) -> Option<String> {
        match &self.role {
            Role::Visitor(v) => v.tenant.as_ref().map(|t| t.id.clone()),
            Role::Agent(a) => Some(a.agent.tenant_id.clone()),
        }
    }

    async fn finish(&mut self) {
        for t in std::mem::take(&mut self.topics) {
            self.state.service.hub().unsubscribe(&t, self.mailbox_id);
        }
        if let Role::Visitor(v) = &self.role {
            if let (Some(t), Some(id)) = (&v.tenant, &v.session_record) {
                let agents: Vec<String> = v.agents_seen.iter().cloned().collect();
                visitors::end_session(&self.state.service, &t.id, id, &agents, v.cards).await;
            }
        }
    }

    /// How this connection's messages are signed: the visitor, or the agent with its display name.
    fn sender(&self) -> messages::Sender {
        let tenant_id = self.tenant_id().unwrap_or_default();
        match &self.role {
            Role::Visitor(v) => messages::Sender {
                tenant_id,
                kind: SenderKind::Visitor,
                id: v.visitor.as_ref().map(|x| x.id.clone()).unwrap_or_default(),
                name: "Visitor".into(),
            },
            Role::Agent(a) => messages::Sender {
                tenant_id,
                kind: SenderKind::Agent,
                id: a.agent.id.clone(),
                name: a.agent.display_name.clone(),
            },
        }
    }

    fn me(&self) -> Party {
        self.sender().party()
    }

    // ---- inbound -------------------------------------------------------------------------------------------

    async fn on_text(&mut self, text: &str) -> Result<(), Exit> {
        let decoded = protocol::decode(text, self.state.config.limits.max_frame_bytes);
        // Every frame but ping spends a token, malformed ones included, so errors cannot be farmed.
        let is_ping = matches!(decoded, Ok(ClientFrame::Ping {}));
        if !is_ping && !self.bucket.take() {
            let reference = match &decoded {
                Ok(ClientFrame::MessageSend { client_msg_id, .. })
                    if protocol::valid_client_id(client_msg_id) =>
                {
                    Some(client_msg_id.clone())
                }
                _ => None,
            };
            return self
                .send_error(
                    code::RATE_LIMITED,
                    "too many frames; slow down and retry",
                    reference.as_deref(),
                )
                .await;
        }
        let frame = match decoded {
            Ok(f) => f,
            Err(e) => return self.send_error(e.code, e.message, None).await,
        };
        if let ClientFrame::Ping {} = frame {
            return self.send(&ServerFrame::Pong {}).await;
        }
        if let ClientFrame::Hello(h) = frame {
            return self.on_hello(h).await;
        }
        if !self.authenticated() {
            return self
                .send_error(code::NOT_AUTHENTICATED, "send a valid hello first", None)
                .await;
        }
        if let Role::Visitor(v) = &self.role {
            if v.identity_expires.is_some_and(visitors::identity_expired) {
                self.send_error(
                    code::IDENTITY_EXPIRED,
                    "the identity proof has expired; reconnect with a fresh one",
                    None,
                )
                .await?;
                // Nothing more can succeed on this socket: close it rather than leave it dead.
                return Err(Exit::Close(CLOSE_IDENTITY_EXPIRED, "identity expired"));
            }
        }
        self.dispatch(frame).await
    }

    async fn dispatch(&mut self, frame: ClientFrame) -> Result<(), Exit> {
        match frame {
            ClientFrame::ConversationOpen {} => self.on_open().await,
            ClientFrame::MessageSend {
                conversation_id,
                client_msg_id,
                text,
            } => self.on_message(conversation_id, client_msg_id, text).await,
            ClientFrame::Sync {
                conversation_id,
                after_seq,
            } => self.on_sync(conversation_id, after_seq).await,
            ClientFrame::Typing {
                conversation_id,
                active,
            } => self.on_typing(conversation_id, active).await,
            ClientFrame::Read {
                conversation_id,
                seq,
            } => self.on_read(conversation_id, seq).await,
            ClientFrame::ConversationClose { conversation_id } => {
                self.on_close(conversation_id).await
            }
            ClientFrame::ConversationAccept { conversation_id } => {
                self.on_accept(conversation_id).await
            }
            ClientFrame::ConversationTransfer {
                conversation_id,
                agent_id,
            } => self.on_transfer(conversation_id, agent_id).await,
            ClientFrame::StatusSet { status } => self.on_status(status).await,
            ClientFrame::PaymentRequest {
                conversation_id,
                amount_minor,
                currency,
                description,
            } => {
                self.on_payment_request(conversation_id, amount_minor, currency, description)
                    .await
            }
            ClientFrame::PaymentOpen { request_id } => self.on_payment_open(request_id).await,
            ClientFrame::RatingSubmit {
                conversation_id,
                score,
                comment,
            } => self.on_rating(conversation_id, score, comment).await,
            ClientFrame::ContactSet { name, email } => self.on_contact(name, email).await,
            ClientFrame::FileTicket {} => self.on_file_ticket().await,
            ClientFrame::Hello(_) | ClientFrame::Ping {} => Ok(()),
        }
    }

    fn limits_view(&self) -> ProtocolLimits {
        let l = &self.state.config.limits;
        ProtocolLimits {
            max_frame_bytes: l.max_frame_bytes,
            max_text_chars: l.max_text_chars,
            frames_per_sec: l.frames_per_sec,
            frame_burst: l.frame_burst,
        }
    }

    async fn on_hello(&mut self, h: Hello) -> Result<(), Exit> {
        if self.authenticated() {
            return self
                .send_error(
                    code::ALREADY_AUTHENTICATED,
                    "hello was already accepted",
                    None,
                )
                .await;
        }
        if !PROTOCOL_VERSIONS.contains(&h.v) {
            return self
                .send_error(
                    code::UNSUPPORTED_VERSION,
                    "this server speaks protocol version 1",
                    None,
                )
                .await;
        }
        match &self.role {
            Role::Agent(_) => self.agent_hello().await,
            Role::Visitor(_) => self.visitor_hello(h).await,
        }
    }

    /// Remember a conversation this visitor was shown to own (no-op for agents).
    fn owns(&mut self, conversation_id: &str) {
        if let Role::Visitor(v) = &mut self.role {
            v.owned.insert(conversation_id.to_string());
        }
    }
}
