//! Cluster mode (issue 14): the hub's uplink over NATS, so a message committed on one node reaches the
//! sockets of every node. docs/DEPLOYMENT.md explains it for operators.
//!
//! - **Subjects** are scoped by tenant: `cordon.t.<tenant>.c.<conversation>` (messages, conversation updates,
//!   typing and read receipts), `cordon.t.<tenant>.agents`, `cordon.t.<tenant>.a.<agent>`, and the presence
//!   query `cordon.t.<tenant>.p.<agent>`. A node delivers what it receives only to local subscriptions of the
//!   tenant and conversation the *subject* names; nothing in the payload can redirect it. What is published is
//!   the frame every local socket gets, already redacted: no card number is ever in a payload.
//! - **At most once.** Core NATS may lose what is in flight when a node or the broker goes away, or drop what a
//!   slow subscriber cannot take. Nothing is repaired from the broker: messages are published only after they
//!   are committed, so PostgreSQL holds all of them, and each socket already repairs from it (the per-
//!   conversation seq is gap-free: a message after a gap triggers a catch-up, an older one is skipped). For loss
//!   without a later message to reveal it, the hub's lag flag is raised on every socket of a node
//!   ([`Hub::lag_all`]) when that node (re)connects to the broker, when its subscription reports a slow consumer,
//!   and when another node announces on `cordon.sys.resync` that it could not publish something.
//! - **Readiness.** Until the broker is connected and the subscription confirmed, the node is not ready: new
//!   sockets are refused (`503 unavailable`) and `/readyz` says so. It reconnects by itself.
//! - **Presence.** An agent's last socket closing on one node asks the others (`…p.<agent>`, a request) whether
//!   they still hold one before the agent is set offline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::hub::{Event, Hub, Topic, Uplink};
use crate::Service;

const PREFIX: &str = "cordon";
const RESYNC_SUBJECT: &str = "cordon.sys.resync";
/// Events waiting for the broker connection; beyond this they are dropped (and a resync announced).
const OUTBOUND_QUEUE: usize = 16_384;
/// Messages the subscription holds before the client drops them (and reports a slow consumer).
const SUBSCRIPTION_CAPACITY: usize = 65_536;
/// How long an agent's last socket on a node waits for another node to say it holds one.
const PRESENCE_TIMEOUT: Duration = Duration::from_millis(500);
/// Confirming the subscription after a (re)connect (a PING/PONG round trip).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a node could not join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("each broker URL must be nats://HOST:PORT (or tls://), several separated by commas")]
    BadUrl,
    #[error("the node id must be 1-64 letters, digits, '.', '_' or '-'")]
    BadNodeId,
    #[error("could not connect to the broker")]
    Connect,
    #[error("could not subscribe on the broker")]
    Subscribe,
}

/// Is this usable as one token of a NATS subject? (Cordon's ids are `prefix_base64url`.)
fn token_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A node id fit for subjects' payloads, logs and metric labels.
pub fn valid_node_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `nats://user:secret@host:4222` → `nats://host:4222`, for logs (each of a comma-separated list).
pub fn redacted_url(url: &str) -> String {
    url.split(',')
        .map(|u| {
            let u = u.trim();
            match (u.find("://"), u.rfind('@')) {
                (Some(i), Some(j)) if j > i => format!("{}{}", &u[..i + 3], &u[j + 1..]),
                _ => u.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The subject of a topic and its suffix relative to the tenant (`c.<id>`, `agents`, `a.<id>`).
fn relative(topic: &Topic) -> Option<String> {
    match topic {
        Topic::Conversation(_, c) if token_ok(c) => Some(format!("c.{c}")),
        Topic::TenantAgents(_) => Some("agents".to_string()),
        Topic::Agent(_, a) if token_ok(a) => Some(format!("a.{a}")),
        _ => None,
    }
}

fn parse_relative(tenant: &str, rel: &str) -> Option<Topic> {
    match rel.split_once('.') {
        Some(("c", id)) if token_ok(id) => {
            Some(Topic::Conversation(tenant.to_string(), id.to_string()))
        }
        Some(("a", id)) if token_ok(id) => Some(Topic::Agent(tenant.to_string(), id.to_string())),
        None if rel == "agents" => Some(Topic::TenantAgents(tenant.to_string())),
        _ => None,
    }
}

/// What a subject names.
#[derive(Debug, PartialEq, Eq)]
enum Addressed {
    Topic(Topic),
    Presence { tenant: String, agent: String },
    Resync,
}

fn parse_subject(subject: &str) -> Option<Addressed> {
    if subject == RESYNC_SUBJECT {
        return Some(Addressed::Resync);
    }
    let rest = subject.strip_prefix("cordon.t.")?;
    let (tenant, rel) = rest.split_once('.')?;
    if !token_ok(tenant) {
        return None;
    }
    if let Some(agent) = rel.strip_prefix("p.") {
        return token_ok(agent).then(|| Addressed::Presence {
            tenant: tenant.to_string(),
            agent: agent.to_string(),
        });
    }
    parse_relative(tenant, rel).map(Addressed::Topic)
}

/// The payload: who published it, the event's kind and its ready frame. The conversation an event is about is
/// the one its subject names.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The publishing node.
    n: String,
    /// `m` message, `c` conversation update, `e` ephemeral (typing, read).
    k: char,
    #[serde(default, skip_serializing_if = "is_zero")]
    s: i64,
    /// The conversation's agent (conversation updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    /// The frame, exactly as local sockets get it.
    f: String,
    /// Other topics of the same tenant the event is published on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    also: Vec<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Encode a local publish: the subject of its first topic and the payload. `None` if a topic cannot be named
/// (never for Cordon's own ids) or the topics are of different tenants.
fn encode(node: &str, topics: &[Topic], event: &Event) -> Option<(String, String)> {
    let (first, rest) = topics.split_first()?;
    let tenant = first.tenant();
    if !token_ok(tenant) || rest.iter().any(|t| t.tenant() != tenant) {
        return None;
    }
    let subject = format!("{PREFIX}.t.{tenant}.{}", relative(first)?);
    let also = rest.iter().map(relative).collect::<Option<Vec<_>>>()?;
    let wire = match event {
        Event::Message { seq, frame, .. } => Wire {
            n: node.to_string(),
            k: 'm',
            s: *seq,
            a: None,
            f: frame.to_string(),
            also,
        },
        Event::Conversation {
            agent_id, frame, ..
        } => Wire {
            n: node.to_string(),
            k: 'c',
            s: 0,
            a: agent_id.as_deref().map(str::to_string),
            f: frame.to_string(),
            also,
        },
        Event::Ephemeral { frame, .. } => Wire {
            n: node.to_string(),
            k: 'e',
            s: 0,
            a: None,
            f: frame.to_string(),
            also,
        },
    };
    Some((subject, serde_json::to_string(&wire).ok()?))
}

/// Decode what another node published on `topic`: the topics to deliver it to (all of the subject's tenant)
/// and the event. `None` for our own echo or anything malformed.
fn decode(node: &str, topic: Topic, payload: &[u8]) -> Option<(Vec<Topic>, Event)> {
    let wire: Wire = serde_json::from_slice(payload).ok()?;
    if wire.n == node {
        return None;
    }
    let tenant = topic.tenant().to_string();
    let conversation = match &topic {
        Topic::Conversation(_, c) => Some(Arc::<str>::from(c.as_str())),
        _ => None,
    };
    let frame: Arc<str> = Arc::from(wire.f);
    let event = match (wire.k, conversation) {
        ('m', Some(conversation_id)) if wire.s > 0 => Event::Message {
            conversation_id,
            seq: wire.s,
            frame,
        },
        ('c', Some(conversation_id)) => Event::Conversation {
            conversation_id,
            agent_id: wire.a.filter(|a| token_ok(a)).map(Arc::from),
            frame,
        },
        // No local connection has id 0: an ephemeral event from elsewhere reaches every local subscriber.
        ('e', _) => Event::Ephemeral {
            from_connection: 0,
            frame,
        },
        _ => return None,
    };
    let mut topics = vec![topic];
    for rel in &wire.also {
        topics.push(parse_relative(&tenant, rel)?);
    }
    Some((topics, event))
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    resyncs: AtomicU64,
    disconnects: AtomicU64,
}

/// The NATS uplink of one node.
#[derive(Debug)]
struct NatsUplink {
    node: String,
    client: async_nats::Client,
    tx: mpsc::Sender<(String, String)>,
    /// Connected and subscribed (the node serves new sockets).
    ready: AtomicBool,
    /// Something this node published may not have reached the others: announce a resync when connected.
    lost: AtomicBool,
    stats: Stats,
}

impl Uplink for NatsUplink {
    fn forward(&self, topics: &[Topic], event: &Event) {
        let Some(out) = encode(&self.node, topics, event) else {
            return;
        };
        if !self.ready.load(Ordering::Acquire) {
            self.lost.store(true, Ordering::Release);
        }
        if self.tx.try_send(out).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            self.lost.store(true, Ordering::Release);
        }
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn agent_elsewhere<'a>(
        &'a self,
        tenant_id: &'a str,
        agent_id: &'a str,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !token_ok(tenant_id) || !token_ok(agent_id) || !self.ready() {
                return false;
            }
            let subject = format!("{PREFIX}.t.{tenant_id}.p.{agent_id}");
            let asked = self.client.request(subject, Vec::<u8>::new().into());
            matches!(
                tokio::time::timeout(PRESENCE_TIMEOUT, asked).await,
                Ok(Ok(reply)) if &reply.payload[..] == b"1"
            )
        })
    }

    fn render_metrics(&self, out: &mut String) {
        use std::fmt::Write as _;
        let s = &self.stats;
        let ready = u8::from(self.ready());
        let _ = writeln!(
            out,
            "# HELP cordon_broker_connected Whether this node is connected to the broker and subscribed.\n# TYPE cordon_broker_connected gauge\ncordon_broker_connected {ready}"
        );
        for (name, help, v) in [
            ("published", "Events published to the broker.", &s.published),
            ("received", "Events received from other nodes.", &s.received),
            (
                "dropped",
                "Events not published (queue full or broker error); repaired by a resync.",
                &s.dropped,
            ),
            (
                "resyncs",
                "Times every socket of this node was made to catch up from storage.",
                &s.resyncs,
            ),
            ("disconnects", "Broker disconnections.", &s.disconnects),
        ] {
            let _ = writeln!(
                out,
                "# HELP cordon_broker_{name}_total {help}\n# TYPE cordon_broker_{name}_total counter\ncordon_broker_{name}_total {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

impl NatsUplink {
    fn resync(&self, hub: &Hub) {
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
        hub.lag_all();
    }
}

/// Join the cluster on `url`: connect (retrying in the background if the broker is away), subscribe, and attach
/// the uplink to the service's hub. Returns at once; the node is ready when the broker confirms.
pub async fn join(svc: &Service, url: &str) -> Result<(), ClusterError> {
    // One URL or several, comma-separated (the servers of a NATS cluster).
    let mut servers: Vec<async_nats::ServerAddr> = Vec::new();
    for u in url.split(',').map(str::trim) {
        if !(u.starts_with("nats://") || u.starts_with("tls://")) {
            return Err(ClusterError::BadUrl);
        }
        servers.push(u.parse().map_err(|_| ClusterError::BadUrl)?);
    }
    let node = svc.settings().node_id.clone();
    if !valid_node_id(&node) {
        return Err(ClusterError::BadNodeId);
    }
    let (events_tx, events_rx) = mpsc::unbounded_channel::<async_nats::Event>();
    let client = async_nats::ConnectOptions::new()
        .name(format!("cordon {node}"))
        .no_echo()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .subscription_capacity(SUBSCRIPTION_CAPACITY)
        .connection_timeout(Duration::from_secs(3))
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((attempts as u64 * 100).clamp(100, 2000))
        })
        .event_callback(move |event| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.send(event);
            }
        })
        .connect(servers)
        .await
        .map_err(|_| ClusterError::Connect)?;
    let subscription = client
        .subscribe(format!("{PREFIX}.>"))
        .await
        .map_err(|_| ClusterError::Subscribe)?;
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let uplink = Arc::new(NatsUplink {
        node,
        client,
        tx,
        ready: AtomicBool::new(false),
        lost: AtomicBool::new(false),
        stats: Stats::default(),
    });
    if !svc.hub().attach(uplink.clone()) {
        return Ok(());
    }
    tracing::info!(broker = %redacted_url(url), node = %uplink.node, "joining the cluster");
    tokio::spawn(outbound(uplink.clone(), rx));
    tokio::spawn(inbound(svc.clone(), uplink.clone(), subscription));
    tokio::spawn(connection_events(svc.clone(), uplink, events_rx));
    Ok(())
}

/// Publish what this node commits, in order; announce a resync once something may have been lost.
async fn outbound(up: Arc<NatsUplink>, mut rx: mpsc::Receiver<(String, String)>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            next = rx.recv() => {
                let Some((subject, payload)) = next else { return };
                match up.client.publish(subject, payload.into()).await {
                    Ok(()) => { up.stats.published.fetch_add(1, Ordering::Relaxed); }
                    Err(_) => {
                        up.stats.dropped.fetch_add(1, Ordering::Relaxed);
                        up.lost.store(true, Ordering::Release);
                    }
                }
            }
            _ = tick.tick() => {}
        }
        if up.ready() && up.lost.swap(false, Ordering::AcqRel) {
            let payload = up.node.clone();
            if up
                .client
                .publish(RESYNC_SUBJECT, payload.into())
                .await
                .is_err()
            {
                up.lost.store(true, Ordering::Release);
            }
        }
    }
}

/// Deliver what other nodes publish to this node's subscribers; answer presence queries.
async fn inbound(svc: Service, up: Arc<NatsUplink>, mut sub: async_nats::Subscriber) {
    while let Some(msg) = sub.next().await {
        match parse_subject(msg.subject.as_str()) {
            Some(Addressed::Topic(topic)) => {
                if let Some((topics, event)) = decode(&up.node, topic, &msg.payload) {
                    up.stats.received.fetch_add(1, Ordering::Relaxed);
                    svc.hub().deliver(&topics, event);
                }
            }
            Some(Addressed::Presence { agent, .. }) => {
                if let Some(reply) = msg.reply {
                    if svc.hub().agent_sockets(&agent) > 0 {
                        let _ = up.client.publish(reply, b"1".to_vec().into()).await;
                    }
                }
            }
            Some(Addressed::Resync) if msg.payload.as_ref() != up.node.as_bytes() => {
                up.resync(svc.hub());
            }
            Some(Addressed::Resync) => {}
            None => {}
        }
    }
    tracing::warn!("broker subscription ended");
    up.ready.store(false, Ordering::Release);
}

/// Follow the connection: not ready while it is down; once it is back and the subscription is confirmed,
/// every socket catches up from storage, then the node is ready again.
async fn connection_events(
    svc: Service,
    up: Arc<NatsUplink>,
    mut events: mpsc::UnboundedReceiver<async_nats::Event>,
) {
    use async_nats::Event as E;
    while let Some(event) = events.recv().await {
        match event {
            E::Connected => {
                let confirmed = tokio::time::timeout(FLUSH_TIMEOUT, up.client.flush()).await;
                if matches!(confirmed, Ok(Ok(()))) {
                    up.resync(svc.hub());
                    up.ready.store(true, Ordering::Release);
                    tracing::info!(node = %up.node, "broker connected");
                } else {
                    tracing::warn!("broker connected but did not confirm the subscription");
                }
            }
            E::Disconnected => {
                up.ready.store(false, Ordering::Release);
                up.stats.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(node = %up.node, "broker disconnected; refusing new sockets until it is back");
            }
            E::SlowConsumer(_) => {
                tracing::warn!("broker subscription dropped events; every socket catches up");
                up.resync(svc.hub());
            }
            E::Closed => up.ready.store(false, Ordering::Release),
            other => tracing::debug!(event = %other, "broker event"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv() -> Topic {
        Topic::Conversation("t_A".into(), "c_1".into())
    }

    #[test]
    fn events_round_trip_on_a_tenant_scoped_subject() {
        let topics = [conv(), Topic::TenantAgents("t_A".into())];
        let event = Event::Conversation {
            conversation_id: "c_1".into(),
            agent_id: Some("a_9".into()),
            frame: "{\"type\":\"conversation.updated\"}".into(),
        };
        let (subject, payload) = encode("n1", &topics, &event).expect("encodes");
        assert_eq!(subject, "cordon.t.t_A.c.c_1");
        let Some(Addressed::Topic(topic)) = parse_subject(&subject) else {
            panic!("parses")
        };
        let (got, ev) = decode("n2", topic, payload.as_bytes()).expect("decodes");
        assert_eq!(got, topics.to_vec());
        assert!(matches!(ev, Event::Conversation { agent_id: Some(a), .. } if &*a == "a_9"));
        assert!(
            decode("n1", conv(), payload.as_bytes()).is_none(),
            "own echo dropped"
        );
    }

    #[test]
    fn the_subject_decides_the_tenant_not_the_payload() {
        let event = Event::Message {
            conversation_id: "c_1".into(),
            seq: 3,
            frame: "{}".into(),
        };
        let (_, payload) = encode("n1", &[conv()], &event).expect("encodes");
        let other = Topic::Conversation("t_B".into(), "c_1".into());
        let (topics, _) = decode("n2", other.clone(), payload.as_bytes()).expect("decodes");
        assert_eq!(topics, vec![other]);
        // Topics of two tenants in one publish are refused.
        let mixed = [conv(), Topic::TenantAgents("t_B".into())];
        assert!(encode("n1", &mixed, &event).is_none());
    }

    #[test]
    fn bad_subjects_and_payloads_are_ignored() {
        for s in [
            "cordon.t.a.b.c.d",
            "cordon.t.t_A.c.",
            "cordon.t..c.x",
            "cordon.t.t_A.x.y",
            "other.t.t_A.c.c_1",
            "cordon.t.t_A.p.",
        ] {
            assert_eq!(parse_subject(s), None, "{s}");
        }
        for p in [
            &b"not json"[..],
            br#"{"n":"x","k":"m","f":"{}"}"#,
            br#"{"n":"x","k":"z","f":"{}"}"#,
        ] {
            assert!(decode("n1", conv(), p).is_none());
        }
        let bad = Topic::Conversation("t A".into(), "c_1".into());
        let ev = Event::Ephemeral {
            from_connection: 1,
            frame: "{}".into(),
        };
        assert!(encode("n1", &[bad], &ev).is_none());
    }

    #[test]
    fn urls_lose_their_credentials_in_logs() {
        assert_eq!(redacted_url("nats://u:s3cret@h:4222"), "nats://h:4222");
        assert_eq!(redacted_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(
            redacted_url("nats://u:p@a:4222, nats://b:4222"),
            "nats://a:4222,nats://b:4222"
        );
        assert!(valid_node_id("node-1.eu"));
        assert!(!valid_node_id("a b") && !valid_node_id(""));
    }
}
