//! Cluster mode (issue 14): three real `cordon serve` processes on one PostgreSQL database and one NATS broker.
//!
//! - live delivery across nodes (a visitor on node 1, its agent on node 2), typing across nodes, tenant
//!   isolation, agent presence held by a socket on another node, `/readyz` and `/metrics`;
//! - SIGKILL of one node mid-traffic: its clients reconnect to the others and resume (PROTOCOL.md 8.5);
//! - the broker stopped and restarted mid-traffic (a private `nats-server` on an ephemeral port).
//!
//! In every traffic test each client checks what it saw: every message of its conversations exactly once, in
//! seq order, none missing; every acknowledged message is stored once with its acknowledged seq.
//!
//! `CORDON_TEST_POSTGRES` and `CORDON_TEST_NATS` switch the suite on (`.ci/run` sets both); the broker restart
//! test also needs the `nats-server` binary. Under `CI=true` a missing one fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{MASTER_KEY_HEX, PASSWORD};
use cordon_service::management::{self, Actor, AgentRequest};
use cordon_service::model::AgentRole;
use cordon_service::{Service, StoreConfig};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
const START_TIMEOUT: Duration = Duration::from_secs(60);
const CORDON_ENV: &[&str] = &[
    "CORDON_DATA",
    "CORDON_DATABASE",
    "CORDON_LISTEN",
    "CORDON_CONSOLE_URL",
    "CORDON_WIDGET_URL",
    "CORDON_NODE_ID",
    "CORDON_BROKER",
    "CORDON_MASTER_KEY",
    "RUST_LOG",
];

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The shared broker, or `None` (skip) outside CI.
fn nats_url() -> Option<String> {
    match std::env::var("CORDON_TEST_NATS") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if in_ci() => {
            panic!("CI=true but CORDON_TEST_NATS is not set: the cluster suite must run in CI")
        }
        _ => {
            eprintln!(
                "skipping cluster test: set CORDON_TEST_NATS=nats://127.0.0.1:4222 to enable"
            );
            None
        }
    }
}

fn nats_server_bin() -> Option<String> {
    for p in [
        "nats-server",
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
    ] {
        if Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            return Some(p.to_string());
        }
    }
    if in_ci() {
        panic!("CI=true but nats-server is not installed: the broker restart test must run in CI");
    }
    eprintln!("skipping broker restart test: nats-server is not installed");
    None
}

/// Everything a cluster test needs, or `None` to skip.
async fn services() -> Option<(cordon_store::testing::TestDatabase, String)> {
    let pg = cordon_store::testing::postgres_server();
    let nats = nats_url();
    let (pg, nats) = (pg?, nats?);
    Some((cordon_store::testing::postgres(&pg).await, nats))
}

// ---- processes -------------------------------------------------------------------------------------------

/// A private nats-server, killed when dropped.
struct Broker {
    bin: String,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn start(bin: &str) -> Broker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut b = Broker {
            bin: bin.to_string(),
            port,
            child: None,
        };
        b.restart();
        b
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `cordon serve` node, SIGKILLed when dropped.
struct Node {
    child: Child,
    addr: SocketAddr,
    base: String,
    stderr: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    async fn start(dir: &Path, name: &str, database: &str, broker: &str) -> Node {
        let data = dir.join(name);
        std::fs::create_dir_all(&data).expect("data dir");
        let stderr = dir.join(format!("{name}.stderr.log"));
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .args([
                "--database",
                database,
                "--broker",
                broker,
                "--node-id",
                name,
            ])
            .args(["--max-frames-per-sec", "500", "--frame-burst", "500"]);
        for k in CORDON_ENV {
            cmd.env_remove(k);
        }
        cmd.env("CORDON_MASTER_KEY", MASTER_KEY_HEX)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(
                std::fs::File::create(&stderr).expect("stderr log"),
            ));
        let mut child = cmd.spawn().expect("spawn cordon");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = tokio::sync::oneshot::channel::<String>();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("cordon listening on http://") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(a.to_string());
                    }
                }
            }
        });
        let addr: SocketAddr = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(a)) => a.parse().expect("address"),
            _ => panic!(
                "node {name} did not start: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            ),
        };
        let node = Node {
            child,
            addr,
            base: format!("http://{addr}"),
            stderr,
        };
        node.wait_ready(Duration::from_secs(30)).await;
        node
    }

    async fn readyz(&self) -> (u16, String) {
        match reqwest::get(format!("{}/readyz", self.base)).await {
            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    async fn wait_ready(&self, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            let (status, body) = self.readyz().await;
            if status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} not ready: {status} {body}; stderr:\n{}",
                self.base,
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn login(&self, slug: &str, username: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .header("origin", &self.base)
            .json(&json!({"tenant": slug, "username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200, "login {slug}/{username}");
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("cookie")
            .to_string();
        cookie.split(';').next().unwrap_or_default().to_string()
    }

    async fn me(&self, cookie: &str) -> Value {
        let res = reqwest::Client::new()
            .get(format!("{}/api/v1/me", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .expect("me");
        res.json().await.expect("me json")
    }
}

/// Three nodes on one database and broker.
async fn cluster(dir: &Path, database: &str, broker: &str) -> Vec<Node> {
    let (a, b, c) = tokio::join!(
        Node::start(dir, "n1", database, broker),
        Node::start(dir, "n2", database, broker),
        Node::start(dir, "n3", database, broker),
    );
    vec![a, b, c]
}

/// A tenant with `agents` agents (capacity 10), made through the service on the nodes' database.
async fn tenant(database: &str, slug: &str, agents: usize) -> (String, String, Vec<String>) {
    let key = cordon_crypto::SecretKey::parse(MASTER_KEY_HEX).expect("key");
    let settings =
        cordon_server::Config::for_listen("127.0.0.1:0".parse().expect("addr")).service_settings();
    let svc = Service::open(&StoreConfig::new(database), key, settings)
        .await
        .expect("open");
    let (t, _) = management::create_tenant(&svc, slug, slug, &[], "test")
        .await
        .expect("tenant");
    let mut names = Vec::new();
    for i in 0..agents {
        let name = format!("agent{i}");
        let request = AgentRequest {
            username: &name,
            display_name: &name,
            role: AgentRole::Agent,
            capacity: 10,
            password: PASSWORD,
        };
        management::create_agent(&svc, &t.id, request, Actor::Operator("test"))
            .await
            .expect("agent");
        names.push(name);
    }
    svc.close().await;
    (t.id, t.widget_key, names)
}

// ---- clients -----------------------------------------------------------------------------------------------

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone)]
enum Who {
    Visitor {
        widget_key: String,
        token: Option<String>,
    },
    Agent {
        cookie: String,
    },
}

/// One chat client that follows conversations, sends messages and resumes after a disconnect as
/// PROTOCOL.md 8.5 says, on the next node of the list.
struct Client {
    name: String,
    who: Who,
    nodes: Vec<SocketAddr>,
    node: usize,
    sock: Option<Socket>,
    /// Per conversation: the seqs of the `message` frames seen, in arrival order (across sockets).
    seen: BTreeMap<String, Vec<i64>>,
    /// client_msg_id → acknowledged seq.
    acked: HashMap<String, (String, i64)>,
    /// Sent but not acknowledged, in send order.
    unacked: VecDeque<(String, String)>,
    reconnects: usize,
    /// Messages sent so far (the client_msg_id counter).
    sent: usize,
}

impl Client {
    fn new(name: &str, who: Who, nodes: Vec<SocketAddr>, node: usize) -> Client {
        Client {
            name: name.to_string(),
            who,
            nodes,
            node,
            sock: None,
            seen: BTreeMap::new(),
            acked: HashMap::new(),
            unacked: VecDeque::new(),
            reconnects: 0,
            sent: 0,
        }
    }

    fn last_seq(&self, conv: &str) -> i64 {
        self.seen
            .get(conv)
            .and_then(|s| s.iter().max().copied())
            .unwrap_or(0)
    }

    async fn raw_send(&mut self, v: &Value) -> bool {
        match self.sock.as_mut() {
            Some(s) => s.send(Message::Text(v.to_string().into())).await.is_ok(),
            None => false,
        }
    }

    /// Connect (trying each node in turn from the current one) and say hello; returns the welcome.
    async fn connect(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(
                Instant::now() < deadline,
                "{}: no node took the socket",
                self.name
            );
            let addr = self.nodes[self.node];
            let (path, headers) = match &self.who {
                Who::Visitor { .. } => ("visitor", vec![]),
                Who::Agent { cookie } => (
                    "agent",
                    vec![
                        ("cookie", cookie.clone()),
                        ("origin", format!("http://{addr}")),
                    ],
                ),
            };
            let mut req = format!("ws://{addr}/ws/{path}")
                .into_client_request()
                .expect("req");
            for (k, v) in headers {
                req.headers_mut().insert(k, v.parse().expect("header"));
            }
            let connected = tokio::time::timeout(
                Duration::from_secs(3),
                tokio_tungstenite::connect_async(req),
            )
            .await;
            let Ok(Ok((sock, _))) = connected else {
                self.node = (self.node + 1) % self.nodes.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            self.sock = Some(sock);
            let mut hello = json!({"type": "hello", "v": 1});
            if let Who::Visitor { widget_key, token } = &self.who {
                hello["widget_key"] = json!(widget_key);
                if let Some(t) = token {
                    hello["visitor_token"] = json!(t);
                }
            }
            if !self.raw_send(&hello).await {
                continue;
            }
            if let Some(w) = self.until(|f| f["type"] == "welcome").await {
                if let (Who::Visitor { token, .. }, Some(t)) =
                    (&mut self.who, w["visitor_token"].as_str())
                {
                    assert!(
                        token.is_none(),
                        "{}: the visitor was not recognised",
                        self.name
                    );
                    *token = Some(t.to_string());
                }
                return w;
            }
        }
    }

    /// Read frames (recording messages) until one matches; `None` if the socket ended or 10 s passed.
    async fn until(&mut self, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let sock = self.sock.as_mut()?;
            let next = tokio::time::timeout_at(deadline, sock.next()).await;
            let frame = match next {
                Ok(Some(Ok(Message::Text(t)))) => {
                    serde_json::from_str::<Value>(t.as_str()).expect("JSON frame")
                }
                Ok(Some(Ok(_))) => continue,
                Ok(_) => {
                    self.sock = None;
                    return None;
                }
                Err(_) => return None,
            };
            self.record(&frame);
            if pred(&frame) {
                return Some(frame);
            }
        }
    }

    fn record(&mut self, f: &Value) {
        if f["type"] == "message" {
            let conv = f["conversation_id"].as_str().expect("conv").to_string();
            let seq = f["seq"].as_i64().expect("seq");
            self.seen.entry(conv).or_default().push(seq);
        }
        if f["type"] == "message.ack" {
            let id = f["client_msg_id"].as_str().expect("id").to_string();
            let conv = f["conversation_id"].as_str().expect("conv").to_string();
            let seq = f["seq"].as_i64().expect("seq");
            if let Some(prev) = self.acked.insert(id.clone(), (conv, seq)) {
                assert_eq!(
                    prev.1, seq,
                    "{}: {id} acked twice with different seqs",
                    self.name
                );
            }
            self.unacked.retain(|(_, i)| *i != id);
        }
    }

    /// After a disconnect: the next node, hello, sync every conversation from the client's own last seq,
    /// resend what was not acknowledged.
    async fn resume(&mut self, convs: &[String]) {
        self.reconnects += 1;
        self.node = (self.node + 1) % self.nodes.len();
        'again: loop {
            self.connect().await;
            if matches!(self.who, Who::Agent { .. }) {
                if !self
                    .raw_send(&json!({"type": "status.set", "status": "online"}))
                    .await
                {
                    continue;
                }
            }
            for c in convs {
                let after = self.last_seq(c);
                let sync = json!({"type": "sync", "conversation_id": c, "after_seq": after});
                if !self.raw_send(&sync).await {
                    continue 'again;
                }
                let cc = c.clone();
                if self
                    .until(move |f| f["type"] == "synced" && f["conversation_id"] == cc.as_str())
                    .await
                    .is_none()
                {
                    continue 'again;
                }
            }
            let pending: Vec<(String, String)> = self.unacked.iter().cloned().collect();
            for (c, id) in pending {
                let send = json!({"type": "message.send", "conversation_id": c, "client_msg_id": id, "text": "a message sent again"});
                if !self.raw_send(&send).await {
                    continue 'again;
                }
            }
            return;
        }
    }

    /// Send `count` messages into each conversation, `gap` apart, each waited for until acknowledged;
    /// reconnect and resume whenever the socket ends.
    async fn chat(&mut self, convs: &[String], count: usize, gap: Duration) {
        for _ in 0..count {
            for c in convs {
                self.sent += 1;
                let id = format!("{}-{}", self.name, self.sent);
                self.unacked.push_back((c.clone(), id.clone()));
                let send = json!({"type": "message.send", "conversation_id": c, "client_msg_id": id, "text": "hello there from a test"});
                if !self.raw_send(&send).await {
                    self.resume(convs).await;
                }
                loop {
                    let want = id.clone();
                    let got = self
                        .until(move |f| {
                            f["type"] == "message.ack" && f["client_msg_id"] == want.as_str()
                        })
                        .await;
                    if got.is_some() || self.acked.contains_key(&id) {
                        break;
                    }
                    if self.sock.is_none() {
                        self.resume(convs).await;
                    } else {
                        panic!("{}: no ack for {id} within 10 s", self.name);
                    }
                }
                tokio::time::sleep(gap).await;
            }
        }
    }

    /// Keep reading until every conversation reached its last seq (resuming if the socket ends).
    async fn settle(&mut self, last: &HashMap<String, i64>, convs: &[String]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for c in convs {
            let want = last[c];
            while self.last_seq(c) < want {
                assert!(
                    Instant::now() < deadline,
                    "{}: {c} stuck at {} of {want}; seen {:?}",
                    self.name,
                    self.last_seq(c),
                    self.seen.get(c)
                );
                if self.sock.is_none() {
                    self.resume(convs).await;
                }
                let _ = self.until(|f| f["type"] == "message").await;
            }
        }
    }

    /// Every message of each conversation exactly once and in order, from where the client started.
    fn check(&self, convs: &[String], last: &HashMap<String, i64>, from_start: bool) {
        for c in convs {
            let seen = self.seen.get(c).cloned().unwrap_or_default();
            let first = if from_start {
                1
            } else {
                seen.first().copied().unwrap_or(1)
            };
            let want: Vec<i64> = (first..=last[c]).collect();
            assert_eq!(seen, want, "{}: {c}: a gap or a duplicate", self.name);
        }
    }
}

/// The stored messages of a conversation, as (seq, client_msg_id), read through the database.
async fn stored(database: &str, tenant_id: &str, conv: &str) -> Vec<(i64, String)> {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database)
        .await
        .expect("connect");
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT seq, client_msg_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY seq",
    )
    .bind(tenant_id)
    .bind(conv)
    .fetch_all(&mut conn)
    .await
    .expect("messages");
    rows
}

/// Every acked message stored once with its acked seq; the history gap-free. Returns each conversation's last seq.
async fn check_storage(
    database: &str,
    tenant_id: &str,
    convs: &[String],
    clients: &[&Client],
) -> HashMap<String, i64> {
    let mut last = HashMap::new();
    for c in convs {
        let rows = stored(database, tenant_id, c).await;
        let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
        assert_eq!(
            seqs,
            (1..=rows.len() as i64).collect::<Vec<_>>(),
            "{c}: stored gap-free"
        );
        let by_id: HashMap<&str, i64> = rows.iter().map(|(s, id)| (id.as_str(), *s)).collect();
        assert_eq!(by_id.len(), rows.len(), "{c}: one row per client_msg_id");
        for cl in clients {
            for (id, (conv, seq)) in &cl.acked {
                if conv == c {
                    assert_eq!(
                        by_id.get(id.as_str()),
                        Some(seq),
                        "{id}: acked {seq}, stored once"
                    );
                }
            }
        }
        last.insert(c.clone(), rows.len() as i64);
    }
    last
}

/// The conversation id a visitor opened, and the agent it went to (from the `conversation` frame).
async fn open(v: &mut Client) -> (String, Option<String>) {
    assert!(v.raw_send(&json!({"type": "conversation.open"})).await);
    let f = v
        .until(|f| f["type"] == "conversation")
        .await
        .expect("conversation");
    let conv = f["conversation"]["id"].as_str().expect("id").to_string();
    let agent = f["conversation"]["agent"]["id"]
        .as_str()
        .map(str::to_string);
    (conv, agent)
}

async fn online_agent(
    node: &Node,
    nodes: &[SocketAddr],
    i: usize,
    slug: &str,
    name: &str,
) -> (Client, String) {
    let cookie = node.login(slug, name).await;
    let mut a = Client::new(
        name,
        Who::Agent {
            cookie: cookie.clone(),
        },
        nodes.to_vec(),
        i,
    );
    let w = a.connect().await;
    let id = w["agent"]["id"].as_str().expect("agent id").to_string();
    assert!(
        a.raw_send(&json!({"type": "status.set", "status": "online"}))
            .await
    );
    a.until(|f| f["type"] == "notice" && f["code"] == "status")
        .await
        .expect("online");
    (a, id)
}

/// A three-node chat: `agents` agents (agent i on node i), `visitors` visitors (visitor v on node v+1 mod 3),
/// each conversation assigned by the database. Returns clients, and each agent's conversations.
struct Scene {
    tenant_id: String,
    agents: Vec<Client>,
    agent_convs: Vec<Vec<String>>,
    visitors: Vec<(Client, String)>,
}

async fn scene(nodes: &[Node], database: &str, slug: &str, visitors: usize) -> Scene {
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();
    let (tenant_id, widget_key, names) = tenant(database, slug, 3).await;
    let mut agents = Vec::new();
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (a, id) = online_agent(&nodes[i], &addrs, i, slug, name).await;
        agents.push(a);
        ids.push(id);
    }
    let mut agent_convs = vec![Vec::new(); agents.len()];
    let mut vs = Vec::new();
    for v in 0..visitors {
        let who = Who::Visitor {
            widget_key: widget_key.clone(),
            token: None,
        };
        let mut c = Client::new(&format!("v{v}"), who, addrs.clone(), (v + 1) % nodes.len());
        c.connect().await;
        let (conv, agent) = open(&mut c).await;
        let i = ids
            .iter()
            .position(|id| Some(id) == agent.as_ref())
            .expect("assigned to one of the agents at once");
        agent_convs[i].push(conv.clone());
        vs.push((c, conv));
    }
    // Each agent was told of its conversations, across nodes, and follows them from seq 1.
    for (a, convs) in agents.iter_mut().zip(&agent_convs) {
        for c in convs {
            let cc = c.clone();
            a.until(move |f| {
                f["type"] == "conversation.updated" && f["conversation"]["id"] == cc.as_str()
            })
            .await
            .unwrap_or_else(|| panic!("{}: not told of {c}", a.name));
        }
    }
    Scene {
        tenant_id,
        agents,
        agent_convs,
        visitors: vs,
    }
}

/// Run every client's chat at once; `during` runs meanwhile (the fault). Then settle and check everything.
async fn run_traffic<F: std::future::Future<Output = ()>>(
    scene: Scene,
    database: &str,
    count: usize,
    during: F,
) -> Vec<Client> {
    let gap = Duration::from_millis(40);
    let mut tasks = Vec::new();
    for (mut a, convs) in scene.agents.into_iter().zip(scene.agent_convs) {
        tasks.push(tokio::spawn(async move {
            a.chat(&convs, count, gap).await;
            (a, convs)
        }));
    }
    for (mut v, conv) in scene.visitors {
        tasks.push(tokio::spawn(async move {
            let convs = vec![conv];
            v.chat(&convs, count, gap).await;
            (v, convs)
        }));
    }
    during.await;
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.expect("client task"));
    }
    let all: Vec<String> = done.iter().flat_map(|(_, c)| c.clone()).collect();
    let refs: Vec<&Client> = done.iter().map(|(c, _)| c).collect();
    let last = check_storage(database, &scene.tenant_id, &all, &refs).await;
    let mut out = Vec::new();
    for (mut cl, convs) in done {
        cl.settle(&last, &convs).await;
        cl.check(&convs, &last, true);
        let mine = cl.acked.keys().count();
        assert_eq!(mine, count * convs.len(), "{}: every send acked", cl.name);
        out.push(cl);
    }
    out
}

// ---- the tests ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_deliver_live_across_nodes() {
    let Some((db, nats)) = services().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = cluster(dir.path(), &db.url, &nats).await;
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr).collect();

    // A visitor on node 1, the tenant's only agent on node 2.
    let (_, wk, names) = tenant(&db.url, "solo", 1).await;
    let (mut agent, agent_id) = online_agent(&nodes[1], &addrs, 1, "solo", &names[0]).await;
    let who = Who::Visitor {
        widget_key: wk,
        token: None,
    };
    let mut visitor = Client::new("visitor", who, addrs.clone(), 0);
    visitor.connect().await;
    let (conv, assigned) = open(&mut visitor).await;
    assert_eq!(assigned.as_deref(), Some(agent_id.as_str()));
    let cc = conv.clone();
    agent
        .until(move |f| {
            f["type"] == "conversation.updated" && f["conversation"]["id"] == cc.as_str()
        })
        .await
        .expect("the agent on node 2 hears of the assignment made on node 1");
    // Another tenant's agent on node 3 follows its own tenant: it must hear nothing of this one.
    let (_, _, other) = tenant(&db.url, "other", 1).await;
    let (mut outsider, _) = online_agent(&nodes[2], &addrs, 2, "other", &other[0]).await;

    let convs = vec![conv.clone()];
    for i in 0..5 {
        visitor.chat(&convs, 1, Duration::ZERO).await;
        let want = visitor.acked[&format!("visitor-{}", i + 1)].1;
        let cc = conv.clone();
        agent
            .until(move |f| {
                f["type"] == "message" && f["conversation_id"] == cc.as_str() && f["seq"] == want
            })
            .await
            .expect("the visitor's message reaches node 2 live");
        agent.chat(&convs, 1, Duration::ZERO).await;
        let want = agent.acked[&format!("{}-{}", agent.name, agent.sent)].1;
        let cc = conv.clone();
        visitor
            .until(move |f| {
                f["type"] == "message" && f["conversation_id"] == cc.as_str() && f["seq"] == want
            })
            .await
            .expect("the agent's reply reaches node 1 live");
    }
    // Typing crosses nodes too.
    assert!(
        visitor
            .raw_send(&json!({"type": "typing", "conversation_id": conv, "active": true}))
            .await
    );
    agent
        .until(|f| f["type"] == "typing")
        .await
        .expect("typing on node 2");

    let last = check_storage(
        &db.url,
        &visitor_tenant(&db.url, &conv).await,
        &convs,
        &[&visitor, &agent],
    )
    .await;
    visitor.settle(&last, &convs).await;
    agent.settle(&last, &convs).await;
    visitor.check(&convs, &last, true);
    agent.check(&convs, &last, true);
    let leaked = outsider.until(|f| f.to_string().contains(&conv)).await;
    assert!(leaked.is_none(), "another tenant's socket got {leaked:?}");

    // Presence is cluster-wide: a second socket of the agent on node 3 keeps it online when node 2's closes.
    let cookie = match &agent.who {
        Who::Agent { cookie } => cookie.clone(),
        Who::Visitor { .. } => unreachable!(),
    };
    let mut second = Client::new(
        "agent-again",
        Who::Agent {
            cookie: cookie.clone(),
        },
        addrs.clone(),
        2,
    );
    second.connect().await;
    drop(agent);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        nodes[0].me(&cookie).await["agent"]["status"],
        "online",
        "held by node 3's socket"
    );
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    while nodes[0].me(&cookie).await["agent"]["status"] != "offline" {
        assert!(
            Instant::now() < deadline,
            "the agent's last socket closed: offline"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Health: ready, and every series names its node.
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n.readyz().await.0, 200);
        let m = reqwest::get(format!("{}/metrics", n.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let label = format!("node=\"n{}\"", i + 1);
        assert!(
            m.contains(&format!("cordon_broker_connected{{{label}}} 1")),
            "{m}"
        );
        for line in m
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            assert!(line.contains(&label), "unlabelled series: {line}");
        }
    }
    assert!(outsider.sock.is_some());
}

async fn visitor_tenant(database: &str, conv: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(database)
        .await
        .expect("connect");
    let (t,): (String,) = sqlx::query_as("SELECT tenant_id FROM conversations WHERE id = $1")
        .bind(conv)
        .fetch_one(&mut conn)
        .await
        .expect("conversation");
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_traffic_loses_and_repeats_nothing() {
    let Some((db, nats)) = services().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut nodes = cluster(dir.path(), &db.url, &nats).await;
    let scene = scene(&nodes, &db.url, "crash", 6).await;
    let victim = &mut nodes[1];
    let clients = run_traffic(scene, &db.url, 30, async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        victim.sigkill();
    })
    .await;
    // Node 2's clients (agent1; visitors v0 and v3) moved to another node.
    let moved: Vec<&str> = clients
        .iter()
        .filter(|c| c.reconnects > 0)
        .map(|c| c.name.as_str())
        .collect();
    assert!(moved.len() >= 3, "node 2's clients reconnected: {moved:?}");
    // The checkpoint signer lease moves on with the nodes that are left, and the log stays one log.
    let out = Command::new(BIN)
        .args(["audit", "verify", "--database", &db.url])
        .env("CORDON_MASTER_KEY", MASTER_KEY_HEX)
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_broker_restarted_mid_traffic_loses_nothing() {
    let Some((db, _)) = services().await else {
        return;
    };
    let Some(bin) = nats_server_bin() else { return };
    let mut broker = Broker::start(&bin);
    let dir = tempfile::tempdir().expect("tempdir");
    let nodes = cluster(dir.path(), &db.url, &broker.url()).await;
    let scene = scene(&nodes, &db.url, "outage", 6).await;
    let nodes_ref = &nodes;
    let broker_ref = &mut broker;
    run_traffic(scene, &db.url, 30, async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        broker_ref.kill();
        // Without the broker a node is not ready and refuses new sockets, typed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while nodes_ref[0].readyz().await.0 != 503 {
            assert!(
                Instant::now() < deadline,
                "readyz still 200 without the broker"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(nodes_ref[0].readyz().await.1.contains("broker"));
        let url = format!("ws://{}/ws/visitor", nodes_ref[0].addr);
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 503);
                let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default())
                    .expect("a typed error");
                assert_eq!(body["error"]["code"], "unavailable");
            }
            other => panic!("a new socket without the broker: {:?}", other.map(|_| ())),
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        broker_ref.restart();
        for n in nodes_ref {
            n.wait_ready(Duration::from_secs(20)).await;
        }
    })
    .await;
}
