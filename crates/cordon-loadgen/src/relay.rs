//! The baseline: a bare chat relay on the same WebSocket stack as Cordon.
//!
//! Same library (axum's WebSocket over tungstenite), same buffer sizes and frame limits, same connection shape
//! (a reader loop, a writer task behind a bounded queue with a write timeout, pings), same JSON frames. It parses
//! every frame into a typed enum, routes by conversation, numbers messages per conversation, acks the sender and
//! delivers to both participants. What it leaves out is what Cordon adds: persistence (and so durable acks,
//! resume and history), encryption, redaction, authentication and the audit trail. It is written to be fast:
//! sharded conversation table, one serialisation per message, no database on any path.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash as _, Hasher as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Router;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};

/// The same sizes as Cordon's socket engine (crates/cordon-server/src/ws.rs).
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 4 * 1024;
const WRITE_BURST: usize = 64;
const HARD_FRAME_BYTES: usize = 1024 * 1024;
const MAX_FRAME_BYTES: usize = 64 * 1024;
const MAX_TEXT_CHARS: usize = 4000;
const OUTBOUND_BUFFER: usize = 256;
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const PING_INTERVAL: Duration = Duration::from_secs(20);
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
const SHARDS: usize = 64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct RelayLimits {
    pub(crate) frames_per_sec: f64,
    pub(crate) frame_burst: f64,
}

type Out = cordon_outbound::Sender<Message>;
type Shard = Mutex<HashMap<Arc<str>, Arc<Mutex<Conv>>>>;

#[derive(Debug)]
struct AgentSlot {
    id: Arc<str>,
    name: Arc<str>,
    conn: u64,
    out: Out,
    load: usize,
    online: bool,
}

#[derive(Debug)]
struct Conv {
    id: Arc<str>,
    tenant: Arc<str>,
    visitor_id: Arc<str>,
    seq: i64,
    closed: bool,
    created_at: i64,
    visitor: Option<Out>,
    agent: Option<(Arc<str>, Arc<str>, Out)>,
}

#[derive(Debug)]
pub(crate) struct Relay {
    limits: RelayLimits,
    tenants: Mutex<HashMap<Arc<str>, Vec<AgentSlot>>>,
    convs: Vec<Shard>,
    next: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) connections: AtomicU64,
}

impl Relay {
    pub(crate) fn new(limits: RelayLimits) -> Arc<Relay> {
        Arc::new(Relay {
            limits,
            tenants: Mutex::new(HashMap::new()),
            convs: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next: AtomicU64::new(1),
            messages: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        })
    }

    fn shard(&self, id: &str) -> &Shard {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        &self.convs[(h.finish() as usize) % SHARDS]
    }

    fn conv(&self, id: &str) -> Option<Arc<Mutex<Conv>>> {
        self.shard(id).lock().ok()?.get(id).cloned()
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next.fetch_add(1, Ordering::Relaxed))
    }
}

pub(crate) fn router(relay: Arc<Relay>) -> Router {
    Router::new()
        .route("/ws/visitor", axum::routing::get(visitor_upgrade))
        .route("/ws/agent", axum::routing::get(agent_upgrade))
        .route("/healthz", axum::routing::get(|| async { "relay" }))
        .with_state(relay)
}

fn configure(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(HARD_FRAME_BYTES * 2)
        .max_message_size(HARD_FRAME_BYTES)
        .max_frame_size(HARD_FRAME_BYTES)
}

async fn visitor_upgrade(ws: WebSocketUpgrade, State(relay): State<Arc<Relay>>) -> Response {
    configure(ws).on_upgrade(move |socket| run(socket, relay, false))
}

async fn agent_upgrade(ws: WebSocketUpgrade, State(relay): State<Arc<Relay>>) -> Response {
    configure(ws).on_upgrade(move |socket| run(socket, relay, true))
}

// ---- frames (the shapes of docs/PROTOCOL.md) --------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum ClientFrame {
    #[serde(rename = "hello")]
    Hello {
        v: u32,
        #[serde(default)]
        widget_key: Option<String>,
        #[serde(default)]
        visitor_token: Option<String>,
    },
    #[serde(rename = "conversation.open")]
    ConversationOpen {},
    #[serde(rename = "message.send")]
    MessageSend {
        conversation_id: String,
        client_msg_id: String,
        text: String,
    },
    #[serde(rename = "sync")]
    Sync {
        conversation_id: String,
        // Parsed so a frame without it is refused, as Cordon does; the relay has no history to replay.
        #[allow(dead_code)]
        after_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: String,
        active: bool,
    },
    #[serde(rename = "read")]
    Read { conversation_id: String, seq: i64 },
    #[serde(rename = "ping")]
    Ping {},
    #[serde(rename = "conversation.close")]
    ConversationClose { conversation_id: String },
    #[serde(rename = "status.set")]
    StatusSet { status: String },
}

#[derive(Debug, Serialize)]
struct Party<'a> {
    kind: &'a str,
    id: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct AgentRef<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct ConvView<'a> {
    id: &'a str,
    state: &'a str,
    visitor_id: &'a str,
    agent: Option<AgentRef<'a>>,
    last_seq: i64,
    created_at: i64,
    updated_at: i64,
}

#[derive(Debug, Serialize)]
struct Limits {
    max_frame_bytes: usize,
    max_text_chars: usize,
    frames_per_sec: f64,
    frame_burst: f64,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum ServerFrame<'a> {
    #[serde(rename = "welcome")]
    Welcome {
        v: u32,
        role: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        visitor_id: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        visitor_token: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        agent: Option<AgentRef<'a>>,
        conversations: Vec<ConvView<'a>>,
        limits: Limits,
    },
    #[serde(rename = "conversation")]
    Conversation { conversation: ConvView<'a> },
    #[serde(rename = "conversation.updated")]
    ConversationUpdated { conversation: ConvView<'a> },
    #[serde(rename = "message")]
    Message {
        conversation_id: &'a str,
        seq: i64,
        sender: Party<'a>,
        client_msg_id: &'a str,
        text: &'a str,
        created_at: i64,
    },
    #[serde(rename = "message.ack")]
    MessageAck {
        conversation_id: &'a str,
        client_msg_id: &'a str,
        seq: i64,
        created_at: i64,
        duplicate: bool,
    },
    #[serde(rename = "synced")]
    Synced {
        conversation_id: &'a str,
        last_seq: i64,
    },
    #[serde(rename = "typing")]
    Typing {
        conversation_id: &'a str,
        from: Party<'a>,
        active: bool,
    },
    #[serde(rename = "read")]
    Read {
        conversation_id: &'a str,
        by: Party<'a>,
        seq: i64,
    },
    #[serde(rename = "notice")]
    Notice {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<&'a str>,
    },
    #[serde(rename = "pong")]
    Pong {},
    #[serde(rename = "error")]
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
    },
}

fn text(frame: &ServerFrame<'_>) -> Message {
    // Plain structs with string keys: serialisation cannot fail.
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(frame).unwrap_or_default(),
    ))
}

fn now_ms() -> i64 {
    crate::worker::unix_us() as i64 / 1000
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

fn view<'a>(c: &'a Conv) -> ConvView<'a> {
    ConvView {
        id: &c.id,
        state: if c.closed {
            "closed"
        } else if c.agent.is_some() {
            "assigned"
        } else {
            "queued"
        },
        visitor_id: &c.visitor_id,
        agent: c.agent.as_ref().map(|(id, name, _)| AgentRef { id, name }),
        last_seq: c.seq,
        created_at: c.created_at,
        updated_at: c.created_at,
    }
}

// ---- connections ----------------------------------------------------------------------------------------------

struct Conn {
    relay: Arc<Relay>,
    id: u64,
    agent: bool,
    out: Out,
    tenant: Option<Arc<str>>,
    me: Option<(Arc<str>, Arc<str>)>,
    owned: HashSet<Arc<str>>,
    tokens: f64,
    at: Instant,
}

enum Exit {
    Gone,
    Close(u16, &'static str),
}

async fn run(socket: WebSocket, relay: Arc<Relay>, agent: bool) {
    relay.connections.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    // Cordon's own queue (allocates only while frames wait), so idle memory compares like with like.
    let (out_tx, mut out_rx) = cordon_outbound::queue::<Message>(OUTBOUND_BUFFER);
    let mut writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            let mut closing = matches!(msg, Message::Close(_));
            // As Cordon's writer: what is already queued goes out behind one flush.
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
            match tokio::time::timeout(WRITE_TIMEOUT, burst).await {
                Ok(Ok(())) if !closing => {}
                _ => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    });
    let mut conn = Conn {
        id: relay.next.fetch_add(1, Ordering::Relaxed),
        relay: relay.clone(),
        agent,
        out: out_tx,
        tenant: None,
        me: None,
        owned: HashSet::new(),
        tokens: relay.limits.frame_burst,
        at: Instant::now(),
    };
    let mut ping = tokio::time::interval(PING_INTERVAL);
    ping.tick().await;
    let mut last_inbound = Instant::now();
    let hello_deadline = tokio::time::sleep(HELLO_TIMEOUT);
    tokio::pin!(hello_deadline);
    let exit = loop {
        let r = tokio::select! {
            biased;
            _ = &mut writer => break Exit::Gone,
            msg = stream.next() => {
                last_inbound = Instant::now();
                match msg {
                    Some(Ok(Message::Text(t))) => conn.on_text(t.as_str()).await,
                    Some(Ok(Message::Binary(_))) => conn.error("bad_frame", "binary frames are not supported", None).await,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Exit::Gone,
                }
            }
            _ = &mut hello_deadline, if conn.tenant.is_none() => break Exit::Close(4003, "hello timeout"),
            _ = ping.tick() => {
                if last_inbound.elapsed() > IDLE_TIMEOUT {
                    break Exit::Close(4002, "idle timeout");
                }
                conn.push(Message::Ping(Default::default())).await
            }
        };
        if let Err(e) = r {
            break e;
        }
    };
    conn.finish();
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
    relay.connections.fetch_sub(1, Ordering::Relaxed);
}

impl Conn {
    async fn push(&mut self, msg: Message) -> Result<(), Exit> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.out.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => Err(Exit::Close(4008, "slow consumer")),
        }
    }

    async fn send(&mut self, frame: &ServerFrame<'_>) -> Result<(), Exit> {
        self.push(text(frame)).await
    }

    async fn error(
        &mut self,
        code: &str,
        message: &str,
        reference: Option<&str>,
    ) -> Result<(), Exit> {
        self.send(&ServerFrame::Error {
            code,
            message,
            reference,
        })
        .await
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let l = self.relay.limits;
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * l.frames_per_sec)
            .min(l.frame_burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn finish(&mut self) {
        if !self.agent {
            return;
        }
        if let (Some(t), Ok(mut tenants)) = (&self.tenant, self.relay.tenants.lock()) {
            if let Some(slots) = tenants.get_mut(t) {
                slots.retain(|s| s.conn != self.id);
            }
        }
    }

    async fn on_text(&mut self, raw: &str) -> Result<(), Exit> {
        if raw.len() > MAX_FRAME_BYTES {
            return self
                .error("frame_too_large", "frame exceeds 65536 bytes", None)
                .await;
        }
        let frame: ClientFrame = match serde_json::from_str(raw) {
            Ok(f) => f,
            Err(_) => return self.error("bad_frame", "frame is not valid", None).await,
        };
        if !matches!(frame, ClientFrame::Ping {}) && !self.take_token() {
            return self
                .error("rate_limited", "too many frames; slow down and retry", None)
                .await;
        }
        match frame {
            ClientFrame::Ping {} => self.send(&ServerFrame::Pong {}).await,
            ClientFrame::Hello {
                v,
                widget_key,
                visitor_token,
            } => self.on_hello(v, widget_key, visitor_token).await,
            _ if self.tenant.is_none() => {
                self.error("not_authenticated", "send a valid hello first", None)
                    .await
            }
            ClientFrame::ConversationOpen {} => self.on_open().await,
            ClientFrame::MessageSend {
                conversation_id,
                client_msg_id,
                text,
            } => {
                self.on_message(&conversation_id, &client_msg_id, &text)
                    .await
            }
            ClientFrame::Sync {
                conversation_id, ..
            } => self.on_sync(&conversation_id).await,
            ClientFrame::Typing {
                conversation_id,
                active,
            } => {
                let Some((id, name)) = self.me.clone() else {
                    return Ok(());
                };
                let kind = if self.agent { "agent" } else { "visitor" };
                let frame = text(&ServerFrame::Typing {
                    conversation_id: &conversation_id,
                    from: Party {
                        kind,
                        id: &id,
                        name: &name,
                    },
                    active,
                });
                self.to_other_party(&conversation_id, frame);
                Ok(())
            }
            ClientFrame::Read {
                conversation_id,
                seq,
            } => {
                let Some((id, name)) = self.me.clone() else {
                    return Ok(());
                };
                let kind = if self.agent { "agent" } else { "visitor" };
                let frame = text(&ServerFrame::Read {
                    conversation_id: &conversation_id,
                    by: Party {
                        kind,
                        id: &id,
                        name: &name,
                    },
                    seq,
                });
                self.to_other_party(&conversation_id, frame);
                Ok(())
            }
            ClientFrame::ConversationClose { conversation_id } => {
                self.on_close(&conversation_id).await
            }
            ClientFrame::StatusSet { status } => self.on_status(&status).await,
        }
    }

    async fn on_hello(
        &mut self,
        v: u32,
        widget_key: Option<String>,
        visitor_token: Option<String>,
    ) -> Result<(), Exit> {
        if self.tenant.is_some() {
            return self
                .error("already_authenticated", "hello was already accepted", None)
                .await;
        }
        if v != 1 {
            return self
                .error(
                    "unsupported_version",
                    "this server speaks protocol version 1",
                    None,
                )
                .await;
        }
        let Some(key) = widget_key.filter(|k| valid_id(k)) else {
            return self
                .error("unknown_tenant", "hello needs a valid widget_key", None)
                .await;
        };
        let tenant: Arc<str> = Arc::from(key);
        let limits = Limits {
            max_frame_bytes: MAX_FRAME_BYTES,
            max_text_chars: MAX_TEXT_CHARS,
            frames_per_sec: self.relay.limits.frames_per_sec,
            frame_burst: self.relay.limits.frame_burst,
        };
        if self.agent {
            let id: Arc<str> = Arc::from(self.relay.id("ra_"));
            let name: Arc<str> = Arc::from(format!("Agent {id}"));
            if let Ok(mut tenants) = self.relay.tenants.lock() {
                tenants.entry(tenant.clone()).or_default().push(AgentSlot {
                    id: id.clone(),
                    name: name.clone(),
                    conn: self.id,
                    out: self.out.clone(),
                    load: 0,
                    online: false,
                });
            }
            self.tenant = Some(tenant);
            self.me = Some((id.clone(), name.clone()));
            self.send(&ServerFrame::Welcome {
                v: 1,
                role: "agent",
                visitor_id: None,
                visitor_token: None,
                agent: Some(AgentRef {
                    id: &id,
                    name: &name,
                }),
                conversations: vec![],
                limits,
            })
            .await
        } else {
            // The token is the visitor id itself: the relay keeps no accounts.
            let (id, token) =
                match visitor_token.and_then(|t| t.strip_prefix("rt_").map(str::to_string)) {
                    Some(id) if valid_id(&id) => (id, None),
                    _ => {
                        let id = self.relay.id("rv_");
                        let token = format!("rt_{id}");
                        (id, Some(token))
                    }
                };
            let id: Arc<str> = Arc::from(id);
            self.tenant = Some(tenant);
            self.me = Some((id.clone(), Arc::from("Visitor")));
            self.send(&ServerFrame::Welcome {
                v: 1,
                role: "visitor",
                visitor_id: Some(&id),
                visitor_token: token.as_deref(),
                agent: None,
                conversations: vec![],
                limits,
            })
            .await
        }
    }

    async fn on_status(&mut self, status: &str) -> Result<(), Exit> {
        if !self.agent {
            return self
                .error("forbidden", "only agents set a status", None)
                .await;
        }
        let online = match status {
            "online" => true,
            "away" | "offline" => false,
            _ => {
                return self
                    .error("bad_frame", "status must be online, away or offline", None)
                    .await
            }
        };
        if let (Some(t), Ok(mut tenants)) = (&self.tenant, self.relay.tenants.lock()) {
            if let Some(s) = tenants
                .get_mut(t)
                .and_then(|slots| slots.iter_mut().find(|s| s.conn == self.id))
            {
                s.online = online;
            }
        }
        let message = if online { "online" } else { "offline" };
        self.send(&ServerFrame::Notice {
            code: "status",
            message,
            conversation_id: None,
        })
        .await
    }

    async fn on_open(&mut self) -> Result<(), Exit> {
        if self.agent {
            return self
                .error("forbidden", "only visitors open conversations", None)
                .await;
        }
        let (Some(tenant), Some((visitor_id, _))) = (self.tenant.clone(), self.me.clone()) else {
            return Ok(());
        };
        // Least-loaded online agent of the tenant.
        let agent = self.relay.tenants.lock().ok().and_then(|mut tenants| {
            let slots = tenants.get_mut(&tenant)?;
            let best = slots
                .iter_mut()
                .filter(|s| s.online)
                .min_by_key(|s| s.load)?;
            best.load += 1;
            Some((best.id.clone(), best.name.clone(), best.out.clone()))
        });
        let id: Arc<str> = Arc::from(self.relay.id("rc_"));
        let now = now_ms();
        let mut conv = Conv {
            id: id.clone(),
            tenant,
            visitor_id,
            seq: 0,
            closed: false,
            created_at: now,
            visitor: Some(self.out.clone()),
            agent,
        };
        let opened = text(&ServerFrame::Conversation {
            conversation: view(&conv),
        });
        if let Some((_, name, agent_out)) = &conv.agent {
            // As Cordon does: the assignment is announced with a system message (seq 1) and an update to the
            // agent.
            conv.seq = 1;
            let joined = format!("{name} joined the chat");
            let msg = text(&ServerFrame::Message {
                conversation_id: &id,
                seq: 1,
                sender: Party {
                    kind: "system",
                    id: "system",
                    name: "Cordon",
                },
                client_msg_id: "sys_joined",
                text: &joined,
                created_at: now,
            });
            let updated = text(&ServerFrame::ConversationUpdated {
                conversation: view(&conv),
            });
            let _ = agent_out.try_send(updated);
            let _ = agent_out.try_send(msg.clone());
            self.push(opened).await?;
            self.push(msg).await?;
        } else {
            self.push(opened).await?;
            self.send(&ServerFrame::Notice {
                code: "queued",
                message: "No agent is free right now.",
                conversation_id: Some(&id),
            })
            .await?;
        }
        if let Ok(mut shard) = self.relay.shard(&id).lock() {
            shard.insert(id.clone(), Arc::new(Mutex::new(conv)));
        }
        self.owned.insert(id);
        Ok(())
    }

    /// The conversation, if this connection takes part in it.
    fn visible(&self, conversation_id: &str) -> Option<Arc<Mutex<Conv>>> {
        let conv = self.relay.conv(conversation_id)?;
        let ok = {
            let c = conv.lock().ok()?;
            let (me, _) = self.me.as_ref()?;
            Some(&c.tenant) == self.tenant.as_ref()
                && if self.agent {
                    c.agent.as_ref().is_some_and(|(a, _, _)| a == me)
                } else {
                    &c.visitor_id == me
                }
        };
        ok.then_some(conv)
    }

    async fn on_message(
        &mut self,
        conversation_id: &str,
        client_msg_id: &str,
        body: &str,
    ) -> Result<(), Exit> {
        if !valid_id(client_msg_id) {
            return self
                .error(
                    "invalid_id",
                    "client_msg_id must be 1-64 characters of A-Z a-z 0-9 . _ : -",
                    None,
                )
                .await;
        }
        if body.trim().is_empty() {
            return self
                .error("text_empty", "message text is empty", Some(client_msg_id))
                .await;
        }
        if body.chars().count() > MAX_TEXT_CHARS {
            return self
                .error(
                    "text_too_long",
                    "message text exceeds 4000 characters",
                    Some(client_msg_id),
                )
                .await;
        }
        let Some(conv) = self.visible(conversation_id) else {
            return self
                .error("not_found", "no such conversation", Some(client_msg_id))
                .await;
        };
        let Some((me, name)) = self.me.clone() else {
            return Ok(());
        };
        let kind = if self.agent { "agent" } else { "visitor" };
        let now = now_ms();
        let unsent_ack = 'locked: {
            let Ok(mut c) = conv.lock() else {
                return Ok(());
            };
            if c.closed {
                break 'locked Err(());
            }
            c.seq += 1;
            let seq = c.seq;
            let frame = text(&ServerFrame::Message {
                conversation_id,
                seq,
                sender: Party {
                    kind,
                    id: &me,
                    name: &name,
                },
                client_msg_id,
                text: body,
                created_at: now,
            });
            let ack = text(&ServerFrame::MessageAck {
                conversation_id,
                client_msg_id,
                seq,
                created_at: now,
                duplicate: false,
            });
            // Deliver under the conversation's lock so every participant sees seq order. The ack goes first,
            // into this connection's own queue, as Cordon acks before it fans out; if that queue is full the ack
            // waits for room below (never dropped).
            let unsent = match self.out.try_send(ack) {
                Ok(()) => None,
                Err(cordon_outbound::TrySendError::Full(m)) => Some(m),
                Err(cordon_outbound::TrySendError::Closed(_)) => return Err(Exit::Gone),
            };
            if let Some(v) = &c.visitor {
                let _ = v.try_send(frame.clone());
            }
            if let Some((_, _, a)) = &c.agent {
                let _ = a.try_send(frame);
            }
            Ok(unsent)
        };
        match unsent_ack {
            Err(()) => {
                self.error(
                    "conversation_closed",
                    "the conversation is closed",
                    Some(client_msg_id),
                )
                .await
            }
            Ok(unsent) => {
                self.relay.messages.fetch_add(1, Ordering::Relaxed);
                if let Some(m) = unsent {
                    self.push(m).await?;
                }
                Ok(())
            }
        }
    }

    async fn on_sync(&mut self, conversation_id: &str) -> Result<(), Exit> {
        let Some(conv) = self.visible(conversation_id) else {
            return self.error("not_found", "no such conversation", None).await;
        };
        // No history here: re-attach this connection and report where the conversation stands.
        let last = match conv.lock() {
            Ok(mut c) => {
                if self.agent {
                    if let Some((_, _, out)) = &mut c.agent {
                        *out = self.out.clone();
                    }
                } else {
                    c.visitor = Some(self.out.clone());
                }
                c.seq
            }
            Err(_) => 0,
        };
        self.send(&ServerFrame::Synced {
            conversation_id,
            last_seq: last,
        })
        .await
    }

    fn to_other_party(&self, conversation_id: &str, frame: Message) {
        let Some(conv) = self.visible(conversation_id) else {
            return;
        };
        if let Ok(c) = conv.lock() {
            let other = if self.agent {
                c.visitor.as_ref()
            } else {
                c.agent.as_ref().map(|(_, _, o)| o)
            };
            if let Some(o) = other {
                let _ = o.try_send(frame);
            }
        };
    }

    async fn on_close(&mut self, conversation_id: &str) -> Result<(), Exit> {
        let Some(conv) = self.visible(conversation_id) else {
            return self.error("not_found", "no such conversation", None).await;
        };
        let (update, agent_id, tenant) = {
            let Ok(mut c) = conv.lock() else {
                return Ok(());
            };
            if c.closed {
                return Ok(());
            }
            c.closed = true;
            let update = text(&ServerFrame::ConversationUpdated {
                conversation: view(&c),
            });
            if let Some(v) = &c.visitor {
                let _ = v.try_send(update.clone());
            }
            if let Some((_, _, a)) = &c.agent {
                let _ = a.try_send(update.clone());
            }
            (
                update,
                c.agent.as_ref().map(|(id, _, _)| id.clone()),
                c.tenant.clone(),
            )
        };
        drop(update);
        if let (Some(a), Ok(mut tenants)) = (agent_id, self.relay.tenants.lock()) {
            if let Some(s) = tenants
                .get_mut(&tenant)
                .and_then(|slots| slots.iter_mut().find(|s| s.id == a))
            {
                s.load = s.load.saturating_sub(1);
            }
        }
        Ok(())
    }
}

/// `cordon-loadgen relay`: serve until Ctrl-C, SIGTERM or `exit_after`.
pub(crate) async fn serve(
    listen: SocketAddr,
    limits: RelayLimits,
    exit_after: Duration,
) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        anyhow::bail!("the relay listens on loopback only");
    }
    let _ = crate::worker::rlimit_raise();
    let relay = Relay::new(limits);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("relay listening on http://{}", listener.local_addr()?);
    // As Cordon: TCP_NODELAY on accepted sockets.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(relay))
        .with_graceful_shutdown(async move {
            let term = async {
                #[cfg(unix)]
                if let Ok(mut s) =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                {
                    s.recv().await;
                    return;
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term => {},
                _ = tokio::time::sleep(exit_after) => {},
            }
        })
        .await?;
    Ok(())
}
