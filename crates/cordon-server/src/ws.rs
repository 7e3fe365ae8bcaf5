//! The two sockets, `/ws/visitor` and `/ws/agent`, over one connection engine.
//!
//! Delivery model (docs/PROTOCOL.md, "Delivery"): per conversation, each connection has a cursor, the last seq
//! it has sent to the client. A conversation streams to a connection only once it has a cursor (set by `sync`,
//! by opening a conversation, or by an assignment to the agent). Live events at `cursor + 1` are forwarded;
//! older ones are skipped; a gap, or a hub lag signal, is filled from storage. So every committed message
//! reaches a connected client exactly once, in order, with bounded memory.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cordon_store::{
    Agent, AgentStatus, Conversation, ConversationState, SenderKind, Tenant, Visitor,
};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;

use crate::auth::Scope;
use crate::error::{code, ApiError};
use crate::hub::{Event, Inbox, Mailbox, Topic};
use crate::pipeline::{self, Names, Refusal};
use crate::protocol::{
    self, AgentRef, ClientFrame, Hello, Party, ProtocolLimits, ServerFrame, PROTOCOL_VERSIONS,
};
use crate::AppState;

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

pub async fn visitor_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    configure(ws, &state).on_upgrade(move |socket| async move {
        state.metrics.visitor_connections.inc();
        let st = state.clone();
        let visitor = VisitorState {
            peer: Some(peer.ip()),
            ..VisitorState::default()
        };
        run(socket, state, Role::Visitor(visitor)).await;
        st.metrics.visitor_connections.dec();
    })
}

pub async fn agent_upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
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
        crate::auth::Principal::Agent { session_id, agent } => (session_id, agent),
        crate::auth::Principal::ApiKey(_) => return ApiError::forbidden().into_response(),
    };
    if !crate::auth::role_scopes(agent.role).contains(&Scope::ConversationsRead) {
        return ApiError::forbidden().into_response();
    }
    configure(ws, &state).on_upgrade(move |socket| async move {
        state.metrics.agent_connections.inc();
        state.hub.agent_connected(&agent.id);
        let (tenant_id, agent_id) = (agent.tenant_id.clone(), agent.id.clone());
        let st = state.clone();
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
        st.metrics.agent_connections.dec();
        // The agent's last console socket here closed: stop routing new chats to someone who left. (With
        // several nodes, another node may still hold a socket; it sets the status again on its next change.)
        if st.hub.agent_disconnected(&agent_id) == 0 {
            if let Err(e) = st
                .store
                .set_agent_status(&tenant_id, &agent_id, AgentStatus::Offline)
                .await
            {
                tracing::warn!(error = %e, "could not mark agent offline");
            }
        }
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

#[derive(Debug)]
enum Role {
    Visitor(VisitorState),
    Agent(AgentState),
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

/// A visitor message held back because it may be the first part of a card number typed in pieces.
#[derive(Debug)]
struct Held {
    conversation_id: String,
    client_msg_id: String,
    text: String,
}

struct Conn {
    state: AppState,
    /// Agents: the conversations assigned to this agent, as last seen.
    assigned: HashSet<String>,
    /// Conversation updates recently forwarded (by identity), to drop the copies other topics bring.
    recent_updates: std::collections::VecDeque<Arc<str>>,
    last_touch: Instant,
    held: Vec<Held>,
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
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = crate::outbound::queue::<Message>(limits.outbound_buffer);
    let write_timeout = limits.write_timeout;
    let metrics = state.metrics.clone();
    // The writer: a client that does not read for `write_timeout` is disconnected, so its buffers stay bounded.
    let mut writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let mut closing = matches!(msg, Message::Close(_));
            // Frames that are already queued go out with the first one and a single flush: one write syscall
            // for a burst (an ack and its echo, an agent's fan-out) instead of one per frame.
            let burst = async {
                sink.feed(msg).await?;
                let mut more = 0;
                while !closing && more < WRITE_BURST {
                    let Some(next) = out_rx.try_recv() else { break };
                    closing = matches!(next, Message::Close(_));
                    sink.feed(next).await?;
                    more += 1;
                }
                sink.flush().await
            };
            match tokio::time::timeout(write_timeout, burst).await {
                Ok(Ok(())) if !closing => {}
                Ok(Ok(())) => break,
                Ok(Err(_)) => break,
                Err(_) => {
                    metrics.slow_consumer_disconnects.inc();
                    let close = Message::Close(Some(CloseFrame {
                        code: CLOSE_SLOW,
                        reason: Utf8Bytes::from_static("slow consumer"),
                    }));
                    let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    });

    let mut conn = Conn {
        state: state.clone(),
        assigned: HashSet::new(),
        recent_updates: std::collections::VecDeque::new(),
        last_touch: Instant::now(),
        held: Vec::new(),
        held_deadline: None,
        out: out_tx,
        mailbox_id: crate::hub::next_mailbox_id(),
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
    /// this loop's small state, not the largest handler's (the pipeline, storage calls), which would otherwise
    /// be reserved inline in every connection's future, used or not.
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

    async fn push(&mut self, msg: Message) -> Result<(), Exit> {
        let timeout = self.state.config.limits.write_timeout;
        match tokio::time::timeout(timeout, self.out.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => {
                self.state.metrics.slow_consumer_disconnects.inc();
                Err(Exit::Close(CLOSE_SLOW, "slow consumer"))
            }
        }
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), Exit> {
        self.push(Message::Text(frame.to_json().into())).await
    }

    async fn send_raw(&mut self, frame: &str) -> Result<(), Exit> {
        self.push(Message::Text(Utf8Bytes::from(frame))).await
    }

    async fn send_error(
        &mut self,
        code: &'static str,
        message: &str,
        reference: Option<&str>,
    ) -> Result<(), Exit> {
        self.state.metrics.error(code);
        self.send(&ServerFrame::Error {
            code,
            message: message.to_string(),
            reference: reference.map(str::to_string),
        })
        .await
    }

    async fn refuse(&mut self, r: Refusal, reference: Option<&str>) -> Result<(), Exit> {
        self.send_error(r.code, &r.message, reference).await
    }

    fn subscribe(&mut self, topic: Topic) {
        if self.topics.insert(topic.clone()) {
            let capacity = self.state.config.limits.outbound_buffer;
            let id = self.mailbox_id;
            let new_inbox = &mut self.new_inbox;
            let mailbox = self.mailbox.get_or_insert_with(|| {
                let (mb, inbox) = crate::hub::mailbox_with_id(id, capacity);
                *new_inbox = Some(inbox);
                mb
            });
            self.state.hub.subscribe(topic, mailbox);
        }
    }

    fn unsubscribe(&mut self, topic: &Topic) {
        if self.topics.remove(topic) {
            self.state.hub.unsubscribe(topic, self.mailbox_id);
        }
    }

    async fn finish(&mut self) {
        for t in std::mem::take(&mut self.topics) {
            self.state.hub.unsubscribe(&t, self.mailbox_id);
        }
        if let Role::Visitor(v) = &self.role {
            if let (Some(t), Some(id)) = (&v.tenant, &v.session_record) {
                let agents: Vec<String> = v.agents_seen.iter().cloned().collect();
                if let Err(e) = self
                    .state
                    .store
                    .end_visitor_session(&t.id, id, &agents, v.cards)
                    .await
                {
                    tracing::warn!(error = %e, "could not close visitor session record");
                }
            }
        }
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
            if let Some(exp) = v.identity_expires {
                if cordon_store::now_ms() / 1000 > exp {
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
        }
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

    async fn visitor_hello(&mut self, h: Hello) -> Result<(), Exit> {
        let store = self.state.store.clone();
        let tenant = match h.widget_key.as_deref() {
            Some(k) if protocol::valid_client_id(k) => match store.tenant_by_widget_key(k).await {
                Ok(Some(t)) => t,
                Ok(None) => {
                    return self
                        .send_error(code::UNKNOWN_TENANT, "unknown widget key", None)
                        .await
                }
                Err(e) => return self.refuse(e.into(), None).await,
            },
            _ => {
                return self
                    .send_error(code::UNKNOWN_TENANT, "hello needs a valid widget_key", None)
                    .await
            }
        };
        // Identity: enforced for every visitor when the tenant turns it on; ignored (never trusted) otherwise.
        let mut verified_user: Option<(String, i64)> = None;
        if tenant.verify_identity {
            let Some(proof) = &h.identity else {
                return self
                    .send_error(
                        code::IDENTITY_REQUIRED,
                        "this site requires a verified identity",
                        None,
                    )
                    .await;
            };
            let secret = match self
                .state
                .keys
                .identity_secret(&tenant.id, &tenant.identity_secret_wrapped)
            {
                Ok(s) => s,
                Err(e) => return self.refuse(e.into(), None).await,
            };
            let user_ok = !proof.user_id.is_empty()
                && proof.user_id.len() <= 128
                && cordon_card::find(&proof.user_id).is_empty();
            if !user_ok
                || !cordon_crypto::verify_identity_hmac(
                    secret.dangerous_export_hex().as_bytes(),
                    &proof.user_id,
                    proof.expires,
                    &proof.signature,
                )
            {
                return self
                    .send_error(
                        code::IDENTITY_INVALID,
                        "the identity proof is not valid",
                        None,
                    )
                    .await;
            }
            if cordon_store::now_ms() / 1000 > proof.expires {
                return self
                    .send_error(
                        code::IDENTITY_EXPIRED,
                        "the identity proof has expired",
                        None,
                    )
                    .await;
            }
            verified_user = Some((proof.user_id.clone(), proof.expires));
        }
        let mut new_token = None;
        let mut new_visitor = None;
        let known = match h.visitor_token.as_deref() {
            Some(tok) if tok.len() <= 128 => {
                let peer = match &self.role {
                    Role::Visitor(v) => v.peer,
                    Role::Agent(_) => None,
                };
                let state = self.state.clone();
                let limit = crate::throttle::VisitorTokenLimit::new(&state, peer);
                if let Err(e) = limit.check() {
                    return self.refuse(e.into(), None).await;
                }
                match store
                    .visitor_by_token(&tenant.id, &cordon_crypto::hash_token(tok))
                    .await
                {
                    Ok(None) => match limit.unknown(&tenant.id).await {
                        Ok(()) => None,
                        Err(e) => return self.refuse(e.into(), None).await,
                    },
                    Ok(v) => v,
                    Err(e) => return self.refuse(e.into(), None).await,
                }
            }
            _ => None,
        };
        // A token only unlocks history if it matches the verified user (or no verification is in force).
        let visitor = match (known, &verified_user) {
            (Some(v), None) if v.user_id.is_none() => v,
            (Some(v), Some((uid, _))) if v.user_id.as_deref() == Some(uid.as_str()) => v,
            _ => {
                // Stored below, in the same write as the session record.
                let (token, hash) = cordon_crypto::new_token("cv");
                let visitor = Visitor {
                    id: cordon_crypto::new_id("v"),
                    tenant_id: tenant.id.clone(),
                    user_id: verified_user.as_ref().map(|(u, _)| u.clone()),
                    created_at: cordon_store::now_ms(),
                };
                new_token = Some(token);
                new_visitor = Some((visitor.clone(), hash.to_vec()));
                visitor
            }
        };
        // A visitor made just now has no conversations to list.
        let conversations = if new_visitor.is_some() {
            Vec::new()
        } else {
            match store
                .list_conversations(
                    &tenant.id,
                    &cordon_store::ConversationFilter {
                        visitor_id: Some(visitor.id.clone()),
                        limit: 50,
                        ..Default::default()
                    },
                )
                .await
            {
                Ok(c) => c,
                Err(e) => return self.refuse(e.into(), None).await,
            }
        };
        let record_id = cordon_crypto::new_id("vs");
        let origin = h
            .embed_origin
            .as_deref()
            // A well-formed origin without a card number (`find` on the whole URL reads the host as a path).
            .filter(|o| crate::ops::validate_origin(o).is_ok());
        let start = cordon_store::VisitorSessionStart {
            id: record_id.clone(),
            tenant_id: tenant.id.clone(),
            visitor_id: visitor.id.clone(),
            node: self.state.config.node_id.clone(),
            embed_origin: origin.map(str::to_string),
            asset_hashes: crate::web::session_asset_hashes().to_vec(),
        };
        if let Err(e) = store.start_visitor_session(new_visitor, start).await {
            return self.refuse(e.into(), None).await;
        }
        let mut views = Vec::new();
        for c in &conversations {
            views.push(pipeline::conversation_view(&self.state, &mut self.names, c).await);
        }
        let welcome = ServerFrame::Welcome {
            v: 1,
            role: "visitor",
            visitor_id: Some(visitor.id.clone()),
            visitor_token: new_token,
            agent: None,
            conversations: views,
            limits: self.limits_view(),
        };
        if let Role::Visitor(v) = &mut self.role {
            v.owned = conversations.iter().map(|c| c.id.clone()).collect();
            v.identity_expires = verified_user.map(|(_, e)| e);
            v.tenant = Some(tenant);
            v.visitor = Some(visitor);
            v.session_record = Some(record_id);
        }
        for c in &conversations {
            self.subscribe(Topic::Conversation(c.id.clone()));
        }
        self.send(&welcome).await
    }

    async fn agent_hello(&mut self) -> Result<(), Exit> {
        let Role::Agent(a) = &self.role else {
            return Ok(());
        };
        let (tenant_id, agent_id) = (a.agent.tenant_id.clone(), a.agent.id.clone());
        let agent = match self.state.store.agent(&tenant_id, &agent_id).await {
            Ok(a) => a,
            Err(e) => return self.refuse(e.into(), None).await,
        };
        let worklist = match self.state.store.agent_worklist(&tenant_id, &agent_id).await {
            Ok(w) => w,
            Err(e) => return self.refuse(e.into(), None).await,
        };
        self.subscribe(Topic::TenantAgents(tenant_id.clone()));
        self.subscribe(Topic::Agent(agent_id.clone()));
        let mut views = Vec::new();
        for c in &worklist {
            if c.agent_id.as_deref() == Some(agent_id.as_str()) {
                self.assigned.insert(c.id.clone());
                self.subscribe(Topic::Conversation(c.id.clone()));
            }
            views.push(pipeline::conversation_view(&self.state, &mut self.names, c).await);
        }
        if let Role::Agent(a) = &mut self.role {
            a.hello_done = true;
            a.agent = agent.clone();
        }
        let welcome = ServerFrame::Welcome {
            v: 1,
            role: "agent",
            visitor_id: None,
            visitor_token: None,
            agent: Some(AgentRef {
                id: agent.id.clone(),
                name: agent.display_name.clone(),
            }),
            conversations: views,
            limits: self.limits_view(),
        };
        self.send(&welcome).await
    }

    /// The conversation, if this connection may see it: a visitor's own, or any of the agent's tenant.
    async fn visible(&mut self, conversation_id: &str) -> Result<Conversation, Refusal> {
        let not_found = || Refusal::new(code::NOT_FOUND, "no such conversation");
        if !protocol::valid_client_id(conversation_id) {
            return Err(not_found());
        }
        let tenant_id = self.tenant_id().ok_or_else(not_found)?;
        let conv = self
            .state
            .store
            .conversation(&tenant_id, conversation_id)
            .await
            .map_err(Refusal::from)?;
        if let Role::Visitor(v) = &mut self.role {
            let mine = v.visitor.as_ref().map(|x| x.id.as_str()) == Some(conv.visitor_id.as_str());
            if !mine {
                return Err(not_found());
            }
            v.owned.insert(conv.id.clone());
        }
        Ok(conv)
    }

    fn me(&self) -> (Party, SenderKind) {
        match &self.role {
            Role::Visitor(v) => (
                pipeline::party(
                    SenderKind::Visitor,
                    v.visitor.as_ref().map(|x| x.id.as_str()).unwrap_or(""),
                    "Visitor",
                ),
                SenderKind::Visitor,
            ),
            Role::Agent(a) => (
                pipeline::party(SenderKind::Agent, &a.agent.id, &a.agent.display_name),
                SenderKind::Agent,
            ),
        }
    }

    async fn on_open(&mut self) -> Result<(), Exit> {
        let Role::Visitor(v) = &self.role else {
            return self
                .send_error(code::FORBIDDEN, "only visitors open conversations", None)
                .await;
        };
        let (Some(t), Some(vis)) = (&v.tenant, &v.visitor) else {
            return Ok(());
        };
        let (tenant_id, visitor_id) = (t.id.clone(), vis.id.clone());
        let id = cordon_crypto::new_id("c");
        let (conv, created) = match self
            .state
            .store
            .open_conversation(&id, &tenant_id, &visitor_id)
            .await
        {
            Ok(x) => x,
            Err(e) => return self.refuse(e.into(), None).await,
        };
        if let Role::Visitor(v) = &mut self.role {
            v.owned.insert(conv.id.clone());
        }
        self.subscribe(Topic::Conversation(conv.id.clone()));
        let view = pipeline::conversation_view(&self.state, &mut self.names, &conv).await;
        self.send(&ServerFrame::Conversation { conversation: view })
            .await?;
        if created {
            // The view above looked the agent's name up already; reuse it.
            let names = &mut self.names;
            if conv.state == ConversationState::Assigned {
                pipeline::announce_assignment(&self.state, names, &conv).await;
            } else {
                pipeline::publish_conversation(&self.state, names, &conv).await;
            }
        }
        if conv.state == ConversationState::Queued {
            self.send(&ServerFrame::Notice {
                code: "queued",
                message: "No agent is free right now. Leave a message and we'll reply here.",
                conversation_id: Some(conv.id.clone()),
            })
            .await?;
        }
        // Stream the conversation from its start; clients dedupe by seq. A conversation made just now holds
        // at most what was published to this socket's subscription since (the agent's join), so there is
        // nothing to read back.
        self.cursors.insert(conv.id.clone(), 0);
        if created {
            return Ok(());
        }
        self.catch_up(&conv.id).await
    }

    async fn on_message(
        &mut self,
        conversation_id: String,
        client_msg_id: String,
        text: String,
    ) -> Result<(), Exit> {
        if !protocol::valid_client_id(&client_msg_id) {
            return self
                .send_error(
                    code::INVALID_ID,
                    "client_msg_id must be 1-64 characters of A-Z a-z 0-9 . _ : - and not a card number",
                    None,
                )
                .await;
        }
        let reference = Some(client_msg_id.as_str());
        // A visitor's own conversation, already verified on this socket (at hello, open or an earlier frame),
        // stays the visitor's: its owner never changes and the writer refuses closed ones. So the per-message
        // database read is skipped for it.
        if let Role::Visitor(v) = &self.role {
            if v.owned.contains(&conversation_id) {
                if let Err(r) = pipeline::check_text(&text, self.state.config.limits.max_text_chars)
                {
                    return self.refuse(r, reference).await;
                }
                return self
                    .visitor_message(conversation_id, client_msg_id, text)
                    .await;
            }
        }
        let conv = match self.visible(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, reference).await,
        };
        if let Role::Agent(a) = &self.role {
            if conv.agent_id.as_deref() != Some(a.agent.id.as_str()) {
                return self
                    .send_error(
                        code::FORBIDDEN,
                        "accept the conversation before writing in it",
                        reference,
                    )
                    .await;
            }
        }
        if let Err(r) = pipeline::check_text(&text, self.state.config.limits.max_text_chars) {
            return self.refuse(r, reference).await;
        }
        if matches!(self.role, Role::Visitor(_)) {
            return self.visitor_message(conv.id, client_msg_id, text).await;
        }
        self.commit_message(&conv.tenant_id, &conv.id, &client_msg_id, &text, 0)
            .await
    }

    /// Visitors' messages pass the split-card hold-back (docs/CARD-REDACTION.md, "Split across messages"): a
    /// message made only of digit groups that could begin a card waits, unacknowledged, for the next one.
    async fn visitor_message(
        &mut self,
        conversation_id: String,
        client_msg_id: String,
        text: String,
    ) -> Result<(), Exit> {
        if self
            .held
            .iter()
            .any(|h| h.client_msg_id == client_msg_id && h.conversation_id == conversation_id)
        {
            // A resend of a message we are holding: it is acknowledged when released.
            return Ok(());
        }
        if self
            .held
            .first()
            .is_some_and(|h| h.conversation_id != conversation_id)
        {
            self.release_held().await?;
        }
        if !cordon_card::is_fragment(&text) {
            self.release_held().await?;
            let tenant_id = self.tenant_id().unwrap_or_default();
            return self
                .commit_message(&tenant_id, &conversation_id, &client_msg_id, &text, 0)
                .await;
        }
        self.held.push(Held {
            conversation_id,
            client_msg_id,
            text,
        });
        self.settle_held().await?;
        self.held_deadline = if self.held.is_empty() {
            None
        } else {
            Some(tokio::time::Instant::now() + self.state.config.limits.fragment_window)
        };
        Ok(())
    }

    /// Release what can no longer be part of a card, masking any card the held fragments form together. What to
    /// release and what to keep is `cordon_card::hold_decision` (docs/CARD-REDACTION.md, "Split across messages").
    async fn settle_held(&mut self) -> Result<(), Exit> {
        let texts: Vec<&str> = self.held.iter().map(|h| h.text.as_str()).collect();
        let released: Vec<(String, usize)> = cordon_card::hold_decision(&texts)
            .release
            .into_iter()
            .map(|r| (r.text.into_owned(), r.findings.len().min(1)))
            .collect();
        if released.is_empty() {
            return Ok(());
        }
        let out: Vec<Held> = self.held.drain(..released.len()).collect();
        self.commit_released(out, released).await
    }

    /// The window passed (or the sequence was interrupted): release every held fragment, masking any card
    /// they form together.
    async fn release_held(&mut self) -> Result<(), Exit> {
        self.held_deadline = None;
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let texts: Vec<&str> = held.iter().map(|h| h.text.as_str()).collect();
        let red: Vec<(String, usize)> = cordon_card::redact_fragments(&texts)
            .into_iter()
            .map(|r| (r.text.into_owned(), r.findings.len().min(1)))
            .collect();
        self.commit_released(held, red).await
    }

    /// Store released fragments (already masked) together, so they share one group commit rather than waiting
    /// for one commit each, then acknowledge them in order.
    async fn commit_released(
        &mut self,
        held: Vec<Held>,
        masked: Vec<(String, usize)>,
    ) -> Result<(), Exit> {
        let tenant_id = self.tenant_id().unwrap_or_default();
        let (me, kind) = self.me();
        // Prepared one by one (that may read the tenant's key), then stored together: one commit for all.
        let mut prepared = Vec::with_capacity(held.len());
        for (h, (text, _)) in held.iter().zip(&masked) {
            prepared.push(
                pipeline::prepare_message(
                    &self.state,
                    &tenant_id,
                    &h.conversation_id,
                    &me,
                    kind,
                    &h.client_msg_id,
                    text,
                )
                .await,
            );
        }
        let state = &self.state;
        let results = futures_util::future::join_all(prepared.into_iter().map(|p| async move {
            match p {
                Ok(p) => pipeline::store_message(state, p).await,
                Err(refusal) => Err(refusal),
            }
        }))
        .await;
        for ((h, (_, cards)), result) in held.iter().zip(masked).zip(results) {
            self.acknowledge(&h.conversation_id, &h.client_msg_id, result, cards)
                .await?;
        }
        Ok(())
    }

    /// Store one message and acknowledge it. `extra_cards` counts card pieces masked before this point (split
    /// cards), which the pipeline's own single-message redaction cannot see.
    async fn commit_message(
        &mut self,
        tenant_id: &str,
        conversation_id: &str,
        client_msg_id: &str,
        text: &str,
        extra_cards: usize,
    ) -> Result<(), Exit> {
        let (me, kind) = self.me();
        let result = pipeline::send_message(
            &self.state,
            tenant_id,
            conversation_id,
            &me,
            kind,
            client_msg_id,
            text,
        )
        .await;
        self.acknowledge(conversation_id, client_msg_id, result, extra_cards)
            .await
    }

    /// Answer a message's sender: the ack (the message is committed), or the refusal.
    async fn acknowledge(
        &mut self,
        conversation_id: &str,
        client_msg_id: &str,
        result: Result<pipeline::Sent, Refusal>,
        extra_cards: usize,
    ) -> Result<(), Exit> {
        let reference = Some(client_msg_id);
        let sent = match result {
            Ok(mut s) => {
                s.cards += extra_cards;
                s
            }
            Err(r) => return self.refuse(r, reference).await,
        };
        let conv_id = conversation_id.to_string();
        // The ack leaves only now: the message is committed.
        self.send(&ServerFrame::MessageAck {
            conversation_id: conv_id.clone(),
            client_msg_id: client_msg_id.to_string(),
            seq: sent.outcome.seq,
            created_at: sent.outcome.created_at,
            duplicate: sent.outcome.duplicate,
        })
        .await?;
        if sent.cards > 0 {
            if let Role::Visitor(v) = &mut self.role {
                v.cards += sent.cards as i64;
            }
            self.send(&ServerFrame::Notice {
                code: "card_redacted",
                message: "For your security, card numbers are removed from chat. Please never send card details here.",
                conversation_id: Some(conv_id),
            })
            .await?;
        }
        Ok(())
    }

    async fn on_sync(&mut self, conversation_id: String, after_seq: i64) -> Result<(), Exit> {
        let conv = match self.visible(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        // An agent opening a transcript from the start is a history read and is audited; resuming from a
        // later seq after a reconnect is delivery, and is not.
        if let (Role::Agent(a), true) = (&self.role, after_seq <= 0) {
            let e = crate::audit::entry(
                &conv.tenant_id,
                &format!("agent:{}", a.agent.id),
                "transcript.open",
                &format!("conversation:{}", conv.id),
            );
            if let Err(e) = self.state.store.append_audit(vec![e]).await {
                return self.refuse(e.into(), None).await;
            }
        }
        self.subscribe(Topic::Conversation(conv.id.clone()));
        // A cursor beyond the last message would silently skip live messages up to it.
        self.cursors
            .insert(conv.id.clone(), after_seq.clamp(0, conv.last_seq));
        self.catch_up(&conv.id).await?;
        let last = self.cursors.get(&conv.id).copied().unwrap_or(0);
        self.send(&ServerFrame::Synced {
            conversation_id: conv.id,
            last_seq: last,
        })
        .await
    }

    /// Send everything after the cursor from storage.
    async fn catch_up(&mut self, conversation_id: &str) -> Result<(), Exit> {
        let Some(tenant_id) = self.tenant_id() else {
            return Ok(());
        };
        loop {
            let Some(cursor) = self.cursors.get(conversation_id).copied() else {
                return Ok(());
            };
            let batch = match self
                .state
                .store
                .messages_after(&tenant_id, conversation_id, cursor, 200)
                .await
            {
                Ok(b) => b,
                Err(e) => return self.refuse(e.into(), None).await,
            };
            let n = batch.len();
            for m in &batch {
                let view = match pipeline::message_view(&self.state, &mut self.names, &tenant_id, m)
                    .await
                {
                    Ok(v) => v,
                    Err(r) => return self.refuse(r, None).await,
                };
                self.send(&ServerFrame::Message(view)).await?;
                self.cursors.insert(conversation_id.to_string(), m.seq);
            }
            if n < 200 {
                return Ok(());
            }
        }
    }

    /// Typing and read events come only from the conversation's own visitor or its assigned agent.
    async fn participant(&mut self, conversation_id: &str) -> Result<Conversation, Refusal> {
        let conv = self.visible(conversation_id).await?;
        if let Role::Agent(a) = &self.role {
            if conv.agent_id.as_deref() != Some(a.agent.id.as_str()) {
                return Err(Refusal::new(
                    code::FORBIDDEN,
                    "only the assigned agent takes part in this conversation",
                ));
            }
        }
        Ok(conv)
    }

    async fn on_typing(&mut self, conversation_id: String, active: bool) -> Result<(), Exit> {
        let conv = match self.participant(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        let (me, _) = self.me();
        let frame = ServerFrame::Typing {
            conversation_id: conv.id.clone(),
            from: me,
            active,
        };
        self.state.hub.publish(
            &Topic::Conversation(conv.id),
            Event::Ephemeral {
                from_connection: self.mailbox_id,
                frame: Arc::from(frame.to_json()),
            },
        );
        Ok(())
    }

    async fn on_read(&mut self, conversation_id: String, seq: i64) -> Result<(), Exit> {
        let conv = match self.participant(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        let (me, _) = self.me();
        let frame = ServerFrame::Read {
            conversation_id: conv.id.clone(),
            by: me,
            seq: seq.clamp(0, conv.last_seq),
        };
        self.state.hub.publish(
            &Topic::Conversation(conv.id),
            Event::Ephemeral {
                from_connection: self.mailbox_id,
                frame: Arc::from(frame.to_json()),
            },
        );
        Ok(())
    }

    async fn on_close(&mut self, conversation_id: String) -> Result<(), Exit> {
        let conv = match self.visible(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        if let Role::Agent(a) = &self.role {
            if conv.agent_id.as_deref() != Some(a.agent.id.as_str())
                && a.agent.role != cordon_store::AgentRole::Admin
            {
                return self
                    .send_error(
                        code::FORBIDDEN,
                        "only the assigned agent can close this conversation",
                        None,
                    )
                    .await;
            }
        }
        if conv.state == ConversationState::Closed {
            return self
                .send_error(
                    code::CONVERSATION_CLOSED,
                    "the conversation is already closed",
                    None,
                )
                .await;
        }
        let (me, _) = self.me();
        let who = if me.kind == "visitor" {
            "The visitor".to_string()
        } else {
            me.name.clone()
        };
        pipeline::system_message(
            &self.state,
            &conv.tenant_id,
            &conv.id,
            &format!("{who} closed the chat"),
        )
        .await;
        match self
            .state
            .store
            .close_conversation(&conv.tenant_id, &conv.id)
            .await
        {
            Ok(closed) => {
                pipeline::publish_conversation(&self.state, &mut self.names, &closed).await;
                pipeline::drain_queue(&self.state, &conv.tenant_id).await;
                Ok(())
            }
            Err(e) => self.refuse(e.into(), None).await,
        }
    }

    fn agent_only(&self) -> Option<(String, String)> {
        match &self.role {
            Role::Agent(a) if crate::auth::role_scopes(a.agent.role).contains(&Scope::Chat) => {
                Some((a.agent.tenant_id.clone(), a.agent.id.clone()))
            }
            _ => None,
        }
    }

    async fn on_accept(&mut self, conversation_id: String) -> Result<(), Exit> {
        let Some((tenant_id, agent_id)) = self.agent_only() else {
            return self
                .send_error(code::FORBIDDEN, "only agents accept conversations", None)
                .await;
        };
        match self.visible(&conversation_id).await {
            Err(r) => return self.refuse(r, None).await,
            Ok(c) if c.state == ConversationState::Closed => {
                return self
                    .send_error(
                        code::CONVERSATION_CLOSED,
                        "the conversation is closed",
                        None,
                    )
                    .await
            }
            // Already mine: nothing changes, so nothing is announced.
            Ok(c) if c.agent_id.as_deref() == Some(agent_id.as_str()) => return Ok(()),
            Ok(_) => {}
        }
        match self
            .state
            .store
            .accept_conversation(&tenant_id, &conversation_id, &agent_id)
            .await
        {
            Ok(conv) => {
                let mut names = Names::default();
                pipeline::announce_assignment(&self.state, &mut names, &conv).await;
                Ok(())
            }
            Err(e) => self.refuse(e.into(), None).await,
        }
    }

    async fn on_transfer(&mut self, conversation_id: String, to: String) -> Result<(), Exit> {
        let Some((tenant_id, agent_id)) = self.agent_only() else {
            return self
                .send_error(code::FORBIDDEN, "only agents transfer conversations", None)
                .await;
        };
        let conv = match self.visible(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        if conv.agent_id.as_deref() != Some(agent_id.as_str()) {
            return self
                .send_error(
                    code::FORBIDDEN,
                    "only the assigned agent can transfer this conversation",
                    None,
                )
                .await;
        }
        if to == agent_id {
            return self
                .send_error(code::CONFLICT, "the conversation is already yours", None)
                .await;
        }
        let target_ok = protocol::valid_client_id(&to)
            && matches!(
                self.state.store.agent(&tenant_id, &to).await,
                Ok(a) if !a.disabled && a.role.chats()
            );
        if !target_ok {
            return self
                .send_error(code::NOT_FOUND, "no such agent who takes chats", None)
                .await;
        }
        match self
            .state
            .store
            .transfer_conversation(&tenant_id, &conv.id, &to)
            .await
        {
            Ok(moved) => {
                let mut names = Names::default();
                let from_name = names.agent(&self.state, &tenant_id, &agent_id).await;
                let to_name = names.agent(&self.state, &tenant_id, &to).await;
                pipeline::system_message(
                    &self.state,
                    &tenant_id,
                    &moved.id,
                    &format!("{from_name} transferred the chat to {to_name}"),
                )
                .await;
                pipeline::publish_conversation(&self.state, &mut names, &moved).await;
                pipeline::drain_queue(&self.state, &tenant_id).await;
                Ok(())
            }
            Err(e) => self.refuse(e.into(), None).await,
        }
    }

    async fn on_status(&mut self, status: String) -> Result<(), Exit> {
        let Some((tenant_id, agent_id)) = self.agent_only() else {
            return self
                .send_error(code::FORBIDDEN, "only agents set a status", None)
                .await;
        };
        let Some(status) = AgentStatus::parse(&status) else {
            return self
                .send_error(
                    code::BAD_FRAME,
                    "status must be online, away or offline",
                    None,
                )
                .await;
        };
        if let Err(e) = self
            .state
            .store
            .set_agent_status(&tenant_id, &agent_id, status)
            .await
        {
            return self.refuse(e.into(), None).await;
        }
        self.send(&ServerFrame::Notice {
            code: "status",
            message: match status {
                AgentStatus::Online => "online",
                AgentStatus::Away => "away",
                AgentStatus::Offline => "offline",
            },
            conversation_id: None,
        })
        .await?;
        if status == AgentStatus::Online {
            pipeline::drain_queue(&self.state, &tenant_id).await;
        }
        Ok(())
    }

    async fn recheck_session(&mut self) -> Result<(), Exit> {
        let Role::Agent(a) = &self.role else {
            return Ok(());
        };
        let idle = self.state.config.limits.session_idle.as_millis() as i64;
        let session_id = a.session_id.clone();
        match self.state.store.session_is_live(&session_id, idle).await {
            Ok(true) => {
                // An open console socket is activity: keep the idle timer from signing out a working agent.
                if self.last_touch.elapsed() > Duration::from_secs(60) {
                    self.last_touch = Instant::now();
                    if let Err(e) = self.state.store.touch_session(&session_id).await {
                        tracing::warn!(error = %e, "session touch failed");
                    }
                }
                Ok(())
            }
            Ok(false) => {
                let _ = self
                    .send_error(
                        code::SESSION_REVOKED,
                        "your session ended; sign in again",
                        None,
                    )
                    .await;
                Err(Exit::Close(CLOSE_REVOKED, "session revoked"))
            }
            // A database hiccup is not a revocation; the next tick checks again.
            Err(e) => {
                tracing::warn!(error = %e, "session recheck failed");
                Ok(())
            }
        }
    }

    // ---- hub events ----------------------------------------------------------------------------------------

    async fn on_event(&mut self, event: Event) -> Result<(), Exit> {
        match event {
            Event::Message {
                conversation_id,
                seq,
                frame,
            } => {
                let Some(cursor) = self.cursors.get(conversation_id.as_ref()).copied() else {
                    return Ok(());
                };
                if seq <= cursor {
                    Ok(())
                } else if seq == cursor + 1 {
                    self.cursors.insert(conversation_id.to_string(), seq);
                    self.send_raw(&frame).await
                } else {
                    self.catch_up(&conversation_id).await
                }
            }
            Event::Conversation {
                conversation_id,
                agent_id,
                frame,
            } => {
                // One update reaches an agent through several topics (the conversation, the tenant's agents):
                // forward it once.
                if self.recent_updates.iter().any(|f| Arc::ptr_eq(f, &frame)) {
                    return Ok(());
                }
                if self.recent_updates.len() >= 16 {
                    self.recent_updates.pop_front();
                }
                self.recent_updates.push_back(frame.clone());
                if let Role::Agent(a) = &self.role {
                    let mine = agent_id.as_deref() == Some(a.agent.id.as_str());
                    let was_mine = self.assigned.contains(conversation_id.as_ref());
                    let topic = Topic::Conversation(conversation_id.to_string());
                    if mine && !was_mine {
                        // Newly assigned to me: follow it from the start (or from where I already am).
                        self.assigned.insert(conversation_id.to_string());
                        self.subscribe(topic);
                        self.send_raw(&frame).await?;
                        self.cursors.entry(conversation_id.to_string()).or_insert(0);
                        return self.catch_up(&conversation_id).await;
                    }
                    if !mine && was_mine {
                        // Moved away from me. A watcher who synced it keeps following it.
                        self.assigned.remove(conversation_id.as_ref());
                        self.unsubscribe(&topic);
                        self.cursors.remove(conversation_id.as_ref());
                    }
                } else if let (Role::Visitor(v), Some(agent)) =
                    (&mut self.role, agent_id.as_deref())
                {
                    v.agents_seen.insert(agent.to_string());
                }
                self.send_raw(&frame).await
            }
            Event::Ephemeral { frame, .. } => self.send_raw(&frame).await,
        }
    }

    /// The hub dropped events for us: refill every followed conversation from storage and refresh state.
    async fn on_lag(&mut self) -> Result<(), Exit> {
        let followed: Vec<String> = self.cursors.keys().cloned().collect();
        for c in followed {
            self.catch_up(&c).await?;
        }
        let Some(tenant_id) = self.tenant_id() else {
            return Ok(());
        };
        let convs = match &self.role {
            Role::Agent(a) => self
                .state
                .store
                .agent_worklist(&tenant_id, &a.agent.id)
                .await
                .unwrap_or_default(),
            Role::Visitor(v) => {
                let mut out = Vec::new();
                for id in &v.owned {
                    if let Ok(c) = self.state.store.conversation(&tenant_id, id).await {
                        out.push(c);
                    }
                }
                out
            }
        };
        for c in convs {
            let view = pipeline::conversation_view(&self.state, &mut self.names, &c).await;
            self.send(&ServerFrame::ConversationUpdated { conversation: view })
                .await?;
        }
        Ok(())
    }
}
