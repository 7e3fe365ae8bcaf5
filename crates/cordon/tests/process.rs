//! The real `cordon` binary as a child process: SIGKILL at random points while clients send, log hygiene with
//! every log target at trace level, the demo, the management CLI beside a running server, and two servers on
//! one PostgreSQL database.
//!
//! Servers start with `--listen 127.0.0.1:0`; the test reads the `cordon listening on http://ADDR` line from
//! the child's stdout as its readiness signal. Every child is killed when its guard is dropped.
//! `CORDON_TEST_SEED` replays the crash test's random kill points.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Auth, Http, Ws, MASTER_KEY_HEX};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
const PASSWORD: &str = "a long test password";
/// How long a child may take to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

// ---- child processes ---------------------------------------------------------------------------------------

/// Environment the binary reads that must not leak in from the developer's shell.
const CORDON_ENV: &[&str] = &[
    "CORDON_DATA",
    "CORDON_DATABASE",
    "CORDON_LISTEN",
    "CORDON_CONSOLE_URL",
    "CORDON_WIDGET_URL",
    "CORDON_NODE_ID",
    "CORDON_HTTPS",
    "CORDON_STORE_LISTEN",
    "CORDON_MASTER_KEY",
    "RUST_LOG",
];

/// How to start a server; kept so the crash test can restart the same one.
#[derive(Debug, Clone)]
struct Spec {
    /// `serve` or `demo`.
    sub: &'static str,
    data: PathBuf,
    database: Option<String>,
    /// Set CORDON_MASTER_KEY to the fixed test key (otherwise SQLite gets a key file in the data dir).
    master_key: bool,
    rust_log: String,
    /// stdout.log and stderr.log are appended here, across restarts.
    logs: PathBuf,
    /// `--listen` (default `127.0.0.1:0`; the demo's stores then use free ports too).
    listen: String,
    extra: Vec<String>,
}

impl Spec {
    fn serve(data: &Path, logs: &Path) -> Spec {
        Spec {
            sub: "serve",
            data: data.to_path_buf(),
            database: None,
            master_key: true,
            rust_log: "info".into(),
            logs: logs.to_path_buf(),
            listen: "127.0.0.1:0".into(),
            extra: Vec::new(),
        }
    }

    fn cli(&self) -> Cli {
        Cli {
            data: self.data.clone(),
            database: self.database.clone(),
            key: self.master_key.then(|| MASTER_KEY_HEX.to_string()),
        }
    }

    fn stdout_path(&self) -> PathBuf {
        self.logs.join("stdout.log")
    }

    fn stderr_path(&self) -> PathBuf {
        self.logs.join("stderr.log")
    }

    /// Start the child and wait for its listening line.
    async fn start(&self) -> Proc {
        std::fs::create_dir_all(&self.logs).expect("logs dir");
        let mut cmd = Command::new(BIN);
        cmd.arg(self.sub)
            .args(["--listen", &self.listen, "--data"])
            .arg(&self.data);
        if let Some(db) = &self.database {
            cmd.args(["--database", db]);
        }
        cmd.args(&self.extra);
        for k in CORDON_ENV {
            cmd.env_remove(k);
        }
        if self.master_key {
            cmd.env("CORDON_MASTER_KEY", MASTER_KEY_HEX);
        }
        cmd.env("RUST_LOG", &self.rust_log);
        let stderr = append(&self.stderr_path());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr));
        let mut child = cmd.spawn().expect("spawn cordon");
        let stdout = child.stdout.take().expect("stdout");
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel::<String>();
        let (line_tx, line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut file = append(&self.stdout_path());
        // Tee stdout to a file (raw bytes) and hand the lines to the test.
        let tee = std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut addr_tx = Some(addr_tx);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let _ = file.write_all(&buf);
                        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                        match (line.strip_prefix("cordon listening on http://"), &addr_tx) {
                            (Some(a), Some(_)) => {
                                if let Some(tx) = addr_tx.take() {
                                    let _ = tx.send(a.to_string());
                                }
                            }
                            _ => {
                                let _ = line_tx.send(line);
                            }
                        }
                    }
                }
            }
            let _ = file.flush();
        });
        let mut proc = Proc {
            child,
            addr: "127.0.0.1:1".parse().expect("addr"),
            base: String::new(),
            lines: line_rx,
            tee: Some(tee),
            stderr_path: self.stderr_path(),
        };
        match tokio::time::timeout(START_TIMEOUT, addr_rx).await {
            Ok(Ok(a)) => {
                proc.addr = a.parse().expect("listening address");
                proc.base = format!("http://{}", proc.addr);
                proc
            }
            _ => {
                proc.kill();
                panic!(
                    "cordon {} did not print its listening line; stderr:\n{}",
                    self.sub,
                    tail(&self.stderr_path())
                );
            }
        }
    }
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

fn tail(path: &Path) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).to_string();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A running `cordon serve` or `cordon demo`, killed (SIGKILL) when dropped.
struct Proc {
    child: Child,
    addr: SocketAddr,
    base: String,
    /// stdout lines after the listening line.
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    tee: Option<std::thread::JoinHandle<()>>,
    stderr_path: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Proc {
    /// SIGKILL, then reap the child and finish copying its stdout.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.tee.take() {
            let _ = t.join();
        }
    }

    /// SIGTERM (graceful shutdown); waits for the exit. Falls back to SIGKILL after 15 s and fails.
    async fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                if let Some(t) = self.tee.take() {
                    let _ = t.join();
                }
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "cordon did not stop within 15 s of SIGTERM; stderr:\n{}",
                    tail(&self.stderr_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn http(&self) -> Http {
        Http {
            base: self.base.clone(),
            client: reqwest::Client::new(),
            auth: Auth::None,
        }
    }

    fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The next stdout line, if one comes within `d`.
    async fn line(&mut self, d: Duration) -> Option<String> {
        tokio::time::timeout(d, self.lines.recv())
            .await
            .ok()
            .flatten()
    }

    async fn visitor(&self, widget_key: &str, token: Option<&str>) -> (Ws, Value) {
        let mut ws = Ws::connect(&self.ws_url("/ws/visitor"), &[]).await;
        let mut hello = json!({"type": "hello", "v": 1, "widget_key": widget_key});
        if let Some(t) = token {
            hello["visitor_token"] = json!(t);
        }
        ws.send(hello).await;
        let welcome = ws
            .recv_where(|f| f["type"] == "welcome" || f["type"] == "error")
            .await;
        assert_eq!(welcome["type"], "welcome", "visitor hello: {welcome}");
        (ws, welcome)
    }

    /// Sign in through the API (with the console's Origin) and return the session cookie pair.
    async fn login(&self, slug: &str, username: &str, password: &str) -> String {
        let res = self.login_raw(slug, username, password).await;
        let status = res.status();
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = res.text().await.unwrap_or_default();
        assert_eq!(
            status, 200,
            "login {slug}/{username} at {}: {body}",
            self.base
        );
        let cookie = cookie.expect("set-cookie");
        cookie.split(';').next().unwrap_or_default().to_string()
    }

    async fn login_raw(&self, slug: &str, username: &str, password: &str) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .header("origin", &self.base)
            .json(&json!({"tenant": slug, "username": username, "password": password}))
            .send()
            .await
            .expect("login request")
    }

    async fn agent_ws(&self, cookie: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(
            &self.ws_url("/ws/agent"),
            &[("cookie", cookie), ("origin", &self.base)],
        )
        .await;
        ws.send(json!({"type": "hello", "v": 1})).await;
        let welcome = ws.recv_type("welcome").await;
        (ws, welcome)
    }

    async fn online(&self, cookie: &str) -> Ws {
        let (mut ws, _) = self.agent_ws(cookie).await;
        ws.send(json!({"type": "status.set", "status": "online"}))
            .await;
        ws.recv_where(|f| f["type"] == "notice" && f["code"] == "status")
            .await;
        ws
    }
}

/// Runs management commands on the same data dir / database as a server.
#[derive(Debug, Clone)]
struct Cli {
    data: PathBuf,
    database: Option<String>,
    /// CORDON_MASTER_KEY, if set.
    key: Option<String>,
}

impl Cli {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(args).arg("--data").arg(&self.data);
        if let Some(db) = &self.database {
            cmd.args(["--database", db]);
        }
        for k in CORDON_ENV {
            cmd.env_remove(k);
        }
        if let Some(key) = &self.key {
            cmd.env("CORDON_MASTER_KEY", key);
        }
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn cordon");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt as _;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("stdin");
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("cordon {args:?} took over 60 s"))
            .expect("cordon output")
    }

    /// Run a command that must succeed; returns its stdout.
    async fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin).await;
        assert!(
            out.status.success(),
            "cordon {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("stdout is UTF-8")
    }

    async fn json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.ok(args, stdin).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("cordon {args:?} --json printed no JSON ({e}): {out}"))
    }

    /// Run a command that must fail with one clear line on stderr; returns that line.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args, None).await;
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "cordon {args:?} should fail");
        assert!(
            out.stdout.is_empty(),
            "cordon {args:?} printed to stdout while failing"
        );
        let lines: Vec<&str> = stderr.trim_end().lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "cordon {args:?}: an error is one line, got {stderr:?}"
        );
        assert!(
            lines[0].starts_with("cordon: ") && lines[0].len() > "cordon: ".len() + 10,
            "cordon {args:?}: unclear error {stderr:?}"
        );
        lines[0].to_string()
    }

    async fn tenant(&self, slug: &str) -> Value {
        let t = self
            .json(
                &[
                    "tenant",
                    "create",
                    "--slug",
                    slug,
                    "--name",
                    "Test tenant",
                    "--json",
                ],
                None,
            )
            .await;
        assert_eq!(t["slug"], slug);
        t
    }

    async fn agent(&self, tenant: &str, username: &str, role: &str, capacity: u32) -> Value {
        let cap = capacity.to_string();
        let a = self
            .json(
                &[
                    "agent",
                    "create",
                    "--tenant",
                    tenant,
                    "--username",
                    username,
                    "--name",
                    username,
                    "--role",
                    role,
                    "--capacity",
                    &cap,
                    "--password-stdin",
                    "--json",
                ],
                Some(&format!("{PASSWORD}\n")),
            )
            .await;
        assert_eq!(a["username"], username);
        assert!(
            a.get("password").is_none(),
            "no password is generated with --password-stdin"
        );
        a
    }

    /// Create an API key; returns (id, key).
    async fn apikey(&self, tenant: &str, scope: &str) -> (String, String) {
        let k = self
            .json(
                &[
                    "apikey", "create", "--tenant", tenant, "--scope", scope, "--json",
                ],
                None,
            )
            .await;
        (
            k["id"].as_str().expect("key id").to_string(),
            k["key"].as_str().expect("key").to_string(),
        )
    }
}

/// Every message of a conversation through the API, paging by `after_seq`.
async fn history(http: &Http, conv: &str, page: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after = 0i64;
    loop {
        let (status, body) = http
            .get(&format!(
                "/api/v1/conversations/{conv}/messages?after_seq={after}&limit={page}"
            ))
            .await;
        assert_eq!(status, 200, "history of {conv}: {body}");
        let msgs = body["messages"].as_array().expect("messages").clone();
        assert!(msgs.len() <= page, "a page holds at most `limit` messages");
        out.extend(msgs);
        match body["next_after_seq"].as_i64() {
            Some(next) => {
                assert_eq!(
                    Some(next),
                    out.last().and_then(|m| m["seq"].as_i64()),
                    "next_after_seq is the last seq of the page"
                );
                after = next;
            }
            None => return out,
        }
    }
}

/// Assert seqs are exactly 1..=n and client ids are unique; returns client_msg_id -> seq.
fn gap_free(conv: &str, msgs: &[Value]) -> HashMap<String, i64> {
    let seqs: Vec<i64> = msgs
        .iter()
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect();
    let want: Vec<i64> = (1..=msgs.len() as i64).collect();
    assert_eq!(seqs, want, "{conv}: seqs must be gap-free 1..n");
    let mut ids = HashMap::new();
    for m in msgs {
        let id = m["client_msg_id"]
            .as_str()
            .expect("client_msg_id")
            .to_string();
        let seq = m["seq"].as_i64().expect("seq");
        if let Some(prev) = ids.insert(id.clone(), seq) {
            panic!("{conv}: client_msg_id {id} stored twice (seq {prev} and {seq})");
        }
    }
    ids
}

/// A small deterministic generator (splitmix64) for the crash test's kill points.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("CORDON_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("crash test seed: CORDON_TEST_SEED={seed}");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

// ---- 1. crash ----------------------------------------------------------------------------------------------

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A visitor that sends numbered messages, one in flight at a time, across server crashes.
#[derive(Debug, Clone, Default)]
struct Sender {
    idx: usize,
    token: Option<String>,
    conv: Option<String>,
    next: u64,
    /// Sent, not yet acknowledged: resent with the same id after a reconnect.
    pending: Option<(String, String)>,
    /// client_msg_id -> seq, from acks.
    acked: BTreeMap<String, i64>,
    /// Every client_msg_id ever sent -> its text.
    texts: HashMap<String, String>,
    /// client_msg_id -> seq, from `message` frames (live or synced).
    delivered: HashMap<String, i64>,
    /// The last seq received, in order, as a `message` frame.
    seen: i64,
    resumes: u32,
    duplicate_acks: u32,
}

enum Got {
    Frame(Value),
    Gone,
}

/// The next JSON frame, or `Gone` when the connection ends. A live server answers within 15 s.
async fn next_frame(sock: &mut Socket, who: usize) -> Got {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), sock.next()).await {
            Err(_) => panic!("sender {who}: the server stopped answering on a live connection"),
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return Got::Gone,
            Ok(Some(Ok(Message::Text(t)))) => {
                return Got::Frame(
                    serde_json::from_str(t.as_str()).expect("server frames are JSON"),
                )
            }
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn send_frame(sock: &mut Socket, v: &Value) -> bool {
    sock.send(Message::Text(v.to_string().into())).await.is_ok()
}

impl Sender {
    /// A `message` frame must be the next seq: delivery is exactly once and in order.
    fn on_message(&mut self, f: &Value) {
        assert_eq!(
            f["conversation_id"].as_str(),
            self.conv.as_deref(),
            "sender {}: message of another conversation: {f}",
            self.idx
        );
        let seq = f["seq"].as_i64().expect("seq");
        assert_eq!(
            seq,
            self.seen + 1,
            "sender {}: messages must arrive exactly once, in order: {f}",
            self.idx
        );
        self.seen = seq;
        let id = f["client_msg_id"].as_str().expect("id").to_string();
        if let Some(text) = self.texts.get(&id) {
            assert_eq!(
                f["text"].as_str(),
                Some(text.as_str()),
                "sender {}",
                self.idx
            );
        } else {
            panic!("sender {}: a message it never sent: {f}", self.idx);
        }
        if let Some(prev) = self.delivered.insert(id, seq) {
            panic!(
                "sender {}: delivered twice (seq {prev} and {seq}): {f}",
                self.idx
            );
        }
    }

    /// One connection's life: hello (with the token after the first), open or resume with `sync`, resend the
    /// unacknowledged message, then send new ones until the server dies (or `budget` new ones are acked).
    async fn session(mut self, url: String, widget_key: String, budget: Option<u64>) -> Sender {
        let Ok((mut sock, _)) = tokio_tungstenite::connect_async(url.as_str()).await else {
            return self;
        };
        let mut hello = json!({"type": "hello", "v": 1, "widget_key": widget_key});
        if let Some(t) = &self.token {
            hello["visitor_token"] = json!(t);
        }
        if !send_frame(&mut sock, &hello).await {
            return self;
        }
        let welcome = loop {
            match next_frame(&mut sock, self.idx).await {
                Got::Gone => return self,
                Got::Frame(f) if f["type"] == "welcome" => break f,
                Got::Frame(f) if f["type"] == "error" => {
                    panic!("sender {}: hello refused: {f}", self.idx)
                }
                Got::Frame(_) => {}
            }
        };
        match &self.token {
            None => {
                self.token = Some(
                    welcome["visitor_token"]
                        .as_str()
                        .expect("a new visitor gets a token")
                        .to_string(),
                )
            }
            Some(_) => {
                assert!(
                    welcome.get("visitor_token").is_none(),
                    "sender {}: a returning visitor keeps its identity: {welcome}",
                    self.idx
                );
                if let Some(c) = &self.conv {
                    let listed = welcome["conversations"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|x| x["id"] == c.as_str()));
                    assert!(
                        listed,
                        "sender {}: welcome lists its conversation: {welcome}",
                        self.idx
                    );
                }
            }
        }
        match self.conv.clone() {
            None => {
                // A crash may have created the conversation without us learning its id: `open` returns it.
                if !send_frame(&mut sock, &json!({"type": "conversation.open"})).await {
                    return self;
                }
                loop {
                    match next_frame(&mut sock, self.idx).await {
                        Got::Gone => return self,
                        Got::Frame(f) if f["type"] == "conversation" => {
                            let id = f["conversation"]["id"].as_str().expect("id").to_string();
                            assert_eq!(f["conversation"]["last_seq"], 0, "sender {}", self.idx);
                            self.conv = Some(id);
                            break;
                        }
                        Got::Frame(f) if f["type"] == "error" => panic!("sender {}: {f}", self.idx),
                        Got::Frame(_) => {}
                    }
                }
            }
            Some(conv) => {
                let sync = json!({"type": "sync", "conversation_id": conv, "after_seq": self.seen});
                if !send_frame(&mut sock, &sync).await {
                    return self;
                }
                loop {
                    match next_frame(&mut sock, self.idx).await {
                        Got::Gone => return self,
                        Got::Frame(f) if f["type"] == "message" => self.on_message(&f),
                        Got::Frame(f) if f["type"] == "synced" => {
                            assert_eq!(
                                f["last_seq"].as_i64(),
                                Some(self.seen),
                                "sender {}: sync sends everything up to last_seq",
                                self.idx
                            );
                            break;
                        }
                        Got::Frame(f) if f["type"] == "error" => panic!("sender {}: {f}", self.idx),
                        Got::Frame(_) => {}
                    }
                }
                let max_acked = self.acked.values().copied().max().unwrap_or(0);
                assert!(
                    max_acked <= self.seen,
                    "sender {}: acked seq {max_acked} missing after resume (synced to {})",
                    self.idx,
                    self.seen
                );
                for (id, seq) in &self.acked {
                    assert_eq!(
                        self.delivered.get(id),
                        Some(seq),
                        "sender {}: acked {id} was not delivered at its seq",
                        self.idx
                    );
                }
                self.resumes += 1;
            }
        }
        let conv = self.conv.clone().expect("conversation");
        let mut new_acked = 0u64;
        loop {
            if self.pending.is_none() {
                if budget.is_some_and(|b| new_acked >= b) {
                    // Live fan-out is lossless: our own messages come back as `message` frames too.
                    let max_acked = self.acked.values().copied().max().unwrap_or(0);
                    while self.seen < max_acked {
                        match next_frame(&mut sock, self.idx).await {
                            Got::Gone => {
                                panic!("sender {}: connection lost on a live server", self.idx)
                            }
                            Got::Frame(f) if f["type"] == "message" => self.on_message(&f),
                            Got::Frame(_) => {}
                        }
                    }
                    let _ = sock.close(None).await;
                    return self;
                }
                let id = format!("s{}-m{}", self.idx, self.next);
                let text = format!("sender {} message {}", self.idx, self.next);
                self.next += 1;
                self.texts.insert(id.clone(), text.clone());
                self.pending = Some((id, text));
            }
            let Some((id, text)) = self.pending.clone() else {
                continue;
            };
            // After the sync, a message committed before a crash has been delivered: its resend must be
            // acknowledged as a duplicate with the same seq; any other must not be a duplicate.
            let committed = self.delivered.get(&id).copied();
            let frame = json!({"type": "message.send", "conversation_id": conv, "client_msg_id": id, "text": text});
            if !send_frame(&mut sock, &frame).await {
                return self;
            }
            loop {
                let f = match next_frame(&mut sock, self.idx).await {
                    Got::Gone => return self,
                    Got::Frame(f) => f,
                };
                match f["type"].as_str() {
                    Some("message") => self.on_message(&f),
                    Some("message.ack") if f["client_msg_id"] == id.as_str() => {
                        let seq = f["seq"].as_i64().expect("seq");
                        let dup = f["duplicate"] == true;
                        match committed {
                            Some(q) => {
                                assert!(
                                    dup && seq == q,
                                    "sender {}: resend of committed {id} (seq {q}) acked as {f}",
                                    self.idx
                                );
                                self.duplicate_acks += 1;
                            }
                            None => assert!(
                                !dup,
                                "sender {}: {id} was never stored, yet acked as duplicate: {f}",
                                self.idx
                            ),
                        }
                        self.acked.insert(id.clone(), seq);
                        self.pending = None;
                        new_acked += 1;
                        break;
                    }
                    Some("error") if f["code"] == "rate_limited" => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        break;
                    }
                    Some("error") => panic!("sender {}: unexpected error {f}", self.idx),
                    _ => {}
                }
            }
        }
    }

    /// The stored history (read through the API) holds every acked message exactly once at its seq, gap-free,
    /// and nothing else but, possibly, the one message in flight at the crash.
    async fn verify(&self, http: &Http, round: usize) -> usize {
        let Some(conv) = &self.conv else {
            return 0;
        };
        let msgs = history(http, conv, 97).await;
        let ids = gap_free(conv, &msgs);
        for m in &msgs {
            let id = m["client_msg_id"].as_str().unwrap_or_default();
            assert_eq!(m["sender"]["kind"], "visitor", "round {round}: {m}");
            assert_eq!(
                self.texts.get(id).map(String::as_str),
                m["text"].as_str(),
                "round {round}, sender {}: stored text of {id}",
                self.idx
            );
        }
        for (id, seq) in &self.acked {
            assert_eq!(
                ids.get(id),
                Some(seq),
                "round {round}, sender {}: acknowledged {id} (seq {seq}) lost after SIGKILL",
                self.idx
            );
        }
        let unacked: Vec<&String> = ids
            .keys()
            .filter(|id| !self.acked.contains_key(*id))
            .collect();
        let in_flight: Vec<&String> = self.pending.iter().map(|(id, _)| id).collect();
        assert!(
            unacked.iter().all(|id| in_flight.contains(id)),
            "round {round}, sender {}: stored but never acked: {unacked:?} (in flight: {in_flight:?})",
            self.idx
        );
        assert!(
            self.seen <= msgs.len() as i64,
            "round {round}: seen past the end"
        );
        msgs.len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    crash_loop(spec).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_no_acknowledged_message_on_postgres() {
    let Some(server) = cordon_store::testing::postgres_server() else {
        return;
    };
    let db = cordon_store::testing::postgres(&server).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    spec.database = Some(db.url.clone());
    crash_loop(spec).await;
}

/// Senders run while the server is killed with SIGKILL 22 times, 50-400 ms after each start.
async fn crash_loop(spec: Spec) {
    const SENDERS: usize = 5;
    const KILLS: usize = 22;
    let started = Instant::now();
    let cli = spec.cli();
    let tenant = cli.tenant("crash").await;
    let widget_key = tenant["widget_key"]
        .as_str()
        .expect("widget key")
        .to_string();
    let (_, key) = cli.apikey("crash", "conversations:read").await;
    let mut rng = Rng::seeded();
    let mut senders: Vec<Sender> = (0..SENDERS)
        .map(|idx| Sender {
            idx,
            ..Sender::default()
        })
        .collect();
    let mut in_flight_at_kill = 0;
    for round in 0..=KILLS {
        let mut srv = spec.start().await;
        let http = srv.http().with(Auth::Bearer(key.clone()));
        // After each restart: every acknowledged message is there exactly once, gap-free.
        for s in &senders {
            s.verify(&http, round).await;
        }
        let last = round == KILLS;
        let url = srv.ws_url("/ws/visitor");
        let tasks: Vec<_> = senders
            .drain(..)
            .map(|s| tokio::spawn(s.session(url.clone(), widget_key.clone(), last.then_some(5))))
            .collect();
        if !last {
            tokio::time::sleep(Duration::from_millis(rng.range(50, 400))).await;
            srv.kill();
        }
        for t in tasks {
            let s = tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("a sender hung")
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            in_flight_at_kill += usize::from(!last && s.pending.is_some());
            senders.push(s);
        }
        senders.sort_by_key(|s| s.idx);
        if last {
            // Clients resumed and finished cleanly: everything they sent is acked, and stored once.
            for s in &senders {
                assert!(
                    s.pending.is_none(),
                    "sender {} ends with nothing in flight",
                    s.idx
                );
                let n = s.verify(&http, round).await;
                assert_eq!(
                    n,
                    s.acked.len(),
                    "sender {}: exactly the acked messages",
                    s.idx
                );
                assert_eq!(
                    s.seen as usize, n,
                    "sender {}: saw its whole history",
                    s.idx
                );
                assert!(s.resumes >= 1, "sender {} resumed after a crash", s.idx);
            }
            let _ = srv.terminate().await;
        }
    }
    let acked: usize = senders.iter().map(|s| s.acked.len()).sum();
    let resumes: u32 = senders.iter().map(|s| s.resumes).sum();
    let dups: u32 = senders.iter().map(|s| s.duplicate_acks).sum();
    eprintln!(
        "crash test ({}): {KILLS} kills, {acked} acked messages, {resumes} resumes, {in_flight_at_kill} sends in flight at a kill, \
         {dups} resends acked as duplicates, {:?}",
        spec.database.as_deref().map_or("sqlite", |_| "postgres"),
        started.elapsed()
    );
    assert!(acked >= SENDERS * 5, "the senders made progress");
    assert!(resumes as usize >= KILLS, "clients resumed after crashes");
    assert!(in_flight_at_kill > 0, "some kills hit a message in flight");
}

// ---- 2. log hygiene ----------------------------------------------------------------------------------------

/// A test card: digits that pass Luhn and that cordon-card detects as `brand`, with the brand's usual grouping.
struct Card {
    brand: &'static str,
    digits: String,
    groups: &'static [usize],
}

fn luhn(body: &str) -> String {
    let mut sum = 0;
    for (k, c) in body.bytes().rev().enumerate() {
        let d = u32::from(c - b'0');
        sum += if k % 2 == 0 {
            let x = d * 2;
            if x > 9 {
                x - 9
            } else {
                x
            }
        } else {
            d
        };
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn corpus() -> Vec<Card> {
    let c = |brand, body: &str, groups| Card {
        brand,
        digits: luhn(body),
        groups,
    };
    vec![
        c("Visa", "453201511283036", &[4, 4, 4, 4]),
        c("Visa", "491761234567", &[4, 3, 3, 3]),
        c("Visa", "453957876362148611", &[4, 4, 4, 4, 3]),
        c("Mastercard", "537523945601834", &[4, 4, 4, 4]),
        c("Mastercard", "222300048827812", &[4, 4, 4, 4]),
        c("Amex", "34987162534901", &[4, 6, 5]),
        c("Discover", "601173648290155", &[4, 4, 4, 4]),
        c("Discover", "650031048293847", &[4, 4, 4, 4]),
        c("JCB", "356600202036050", &[4, 4, 4, 4]),
        c("Diners Club", "3621873465901", &[4, 6, 4]),
        c("UnionPay", "621483992301745", &[4, 4, 4, 4]),
        c("UnionPay", "817199992766012345", &[4, 4, 4, 4, 3]),
        c("Maestro", "675964982643610", &[4, 4, 4, 4]),
        c("Mir", "220138013431900", &[4, 4, 4, 4]),
    ]
}

impl Card {
    fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    fn grouped(&self, digits: &[char], sep: &str) -> String {
        let mut out = String::new();
        let mut i = 0;
        for (g, n) in self.groups.iter().enumerate() {
            if g > 0 {
                out.push_str(sep);
            }
            out.extend(&digits[i..i + n]);
            i += n;
        }
        out
    }

    /// The number as people type it: plain, spaced, dashed, dotted, with NBSP, and in full-width digits.
    fn variants(&self) -> Vec<(&'static str, String)> {
        let ascii: Vec<char> = self.digits.chars().collect();
        let wide: Vec<char> = ascii
            .iter()
            .map(|c| char::from_u32(0xFF10 + (*c as u32 - '0' as u32)).unwrap_or(*c))
            .collect();
        vec![
            ("plain", self.digits.clone()),
            ("spaces", self.grouped(&ascii, " ")),
            ("dashes", self.grouped(&ascii, "-")),
            ("dots", self.grouped(&ascii, ".")),
            ("nbsp", self.grouped(&ascii, "\u{a0}")),
            ("fullwidth", self.grouped(&wide, " ")),
            ("fullwidth-plain", wide.iter().collect()),
        ]
    }
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(data: &[u8], url: bool) -> String {
    let abc: &[u8; 64] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(abc[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The parts of standard base64 that encode `needle` whatever bytes surround it: one per alignment (0, 1 or 2
/// bytes before it in its 3-byte group). Any base64 of a text containing `needle` contains one of them.
fn base64_cores(needle: &[u8]) -> Vec<String> {
    (0..3)
        .map(|k| {
            let mut buf = vec![0u8; k];
            buf.extend_from_slice(needle);
            let enc = base64(&buf, false);
            let start = if k == 0 { 0 } else { 4 };
            enc[start..buf.len() / 3 * 4].to_string()
        })
        .collect()
}

/// Undo `\xNN`, `\u{..}` and `\uNNNN` escapes (Debug and JSON output), map digits of any width to ASCII and
/// drop everything else: a number then shows as its digits in a row, whatever separated or escaped them.
fn digit_stream(hay: &[u8]) -> Vec<u8> {
    fn hexval(b: u8) -> Option<u32> {
        (b as char).to_digit(16)
    }
    let mut bytes = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i] == b'\\' && i + 1 < hay.len() {
            if hay[i + 1] == b'x' && i + 3 < hay.len() {
                if let (Some(a), Some(b)) = (hexval(hay[i + 2]), hexval(hay[i + 3])) {
                    bytes.push((a * 16 + b) as u8);
                    i += 4;
                    continue;
                }
            }
            if hay[i + 1] == b'u' {
                let (digits, skip) = if hay.get(i + 2) == Some(&b'{') {
                    let end = hay[i + 3..].iter().take(8).position(|&b| b == b'}');
                    match end {
                        Some(e) => (&hay[i + 3..i + 3 + e], e + 4),
                        None => (&hay[0..0], 0),
                    }
                } else if i + 6 <= hay.len() {
                    (&hay[i + 2..i + 6], 6)
                } else {
                    (&hay[0..0], 0)
                };
                let value = digits
                    .iter()
                    .try_fold(0u32, |acc, &b| hexval(b).map(|v| acc * 16 + v));
                if let (false, Some(c)) = (digits.is_empty(), value.and_then(char::from_u32)) {
                    let mut tmp = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    i += skip;
                    continue;
                }
            }
        }
        bytes.push(hay[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes)
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(c as u8),
            '\u{FF10}'..='\u{FF19}' => Some(b'0' + (c as u32 - 0xFF10) as u8),
            _ => None,
        })
        .collect()
}

/// Needles to look for, by how the haystack is prepared before searching.
#[derive(Default)]
struct Needles {
    /// As sent (UTF-8), in the raw bytes.
    raw: Vec<(String, Vec<u8>)>,
    /// Lower-case hex, in the ASCII-lower-cased bytes.
    hex: Vec<(String, Vec<u8>)>,
    /// Standard base64, in the bytes with url-safe `-_` mapped to `+/`.
    base64: Vec<(String, Vec<u8>)>,
    /// ASCII digits, in the digit stream.
    digits: Vec<(String, Vec<u8>)>,
}

impl Needles {
    /// A number in all its forms: as typed, its digits, and the hex and base64 of each form.
    fn add_number(&mut self, label: &str, text: &str, digits: &str) {
        self.raw
            .push((format!("{label} as sent"), text.as_bytes().to_vec()));
        self.raw
            .push((format!("{label} digits"), digits.as_bytes().to_vec()));
        self.digits.push((
            format!("{label} digits (any separators)"),
            digits.as_bytes().to_vec(),
        ));
        for (what, form) in [("as sent", text), ("digits", digits)] {
            self.hex.push((
                format!("{label} {what} in hex"),
                hex(form.as_bytes()).into_bytes(),
            ));
            for (k, core) in base64_cores(form.as_bytes()).into_iter().enumerate() {
                self.base64.push((
                    format!("{label} {what} in base64 (alignment {k})"),
                    core.into_bytes(),
                ));
            }
        }
    }

    /// One piece of a card typed in several messages, as typed: in the raw bytes, in hex and in base64. (Not in
    /// the digit stream: a piece is too short to be told apart from other digits there.)
    fn add_piece(&mut self, label: &str, text: &str) {
        self.raw
            .push((format!("{label} as typed"), text.as_bytes().to_vec()));
        self.hex
            .push((format!("{label} in hex"), hex(text.as_bytes()).into_bytes()));
        for (k, core) in base64_cores(text.as_bytes()).into_iter().enumerate() {
            self.base64.push((
                format!("{label} in base64 (alignment {k})"),
                core.into_bytes(),
            ));
        }
    }

    /// A whole frame as sent: its hex and base64 (standard and url-safe, searched as one).
    fn add_frame(&mut self, label: &str, frame: &str) {
        self.hex.push((
            format!("hex of frame {label}"),
            hex(frame.as_bytes()).into_bytes(),
        ));
        let b64 = base64(frame.as_bytes(), false);
        self.base64.push((
            format!("base64 of frame {label}"),
            b64.trim_end_matches('=').as_bytes().to_vec(),
        ));
    }

    /// Every needle found in `hay`, as (needle label, byte offset in the prepared haystack).
    fn search(&self, hay: &[u8]) -> Vec<(String, usize)> {
        let lower = hay.to_ascii_lowercase();
        let b64: Vec<u8> = hay
            .iter()
            .map(|&b| match b {
                b'-' => b'+',
                b'_' => b'/',
                other => other,
            })
            .collect();
        let digits = digit_stream(hay);
        let mut hits = find_all(hay, &self.raw);
        hits.extend(find_all(&lower, &self.hex));
        hits.extend(find_all(&b64, &self.base64));
        hits.extend(find_all(&digits, &self.digits));
        hits
    }
}

/// Multi-needle search: one pass over `hay`, indexed by each needle's first four bytes.
fn find_all(hay: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<(String, usize)> {
    let mut first2 = vec![false; 1 << 16];
    let mut by_prefix: HashMap<[u8; 4], Vec<usize>> = HashMap::new();
    for (i, (_, n)) in needles.iter().enumerate() {
        assert!(n.len() >= 4, "needles are at least four bytes");
        first2[usize::from(n[0]) << 8 | usize::from(n[1])] = true;
        by_prefix
            .entry([n[0], n[1], n[2], n[3]])
            .or_default()
            .push(i);
    }
    let mut hits = Vec::new();
    if hay.len() < 4 {
        return hits;
    }
    for i in 0..hay.len() - 3 {
        if !first2[usize::from(hay[i]) << 8 | usize::from(hay[i + 1])] {
            continue;
        }
        if let Some(cands) = by_prefix.get(&[hay[i], hay[i + 1], hay[i + 2], hay[i + 3]]) {
            for &c in cands {
                if hay[i..].starts_with(&needles[c].1) {
                    hits.push((needles[c].0.clone(), i));
                }
            }
        }
    }
    hits
}

#[test]
fn the_search_finds_a_card_in_every_encoding() {
    let card = &corpus()[0];
    let variants = card.variants();
    let mut needles = Needles::default();
    for (label, text) in &variants {
        needles.add_number(label, text, &card.digits);
    }
    let frame = format!(
        r#"{{"type":"message.send","text":"card {}"}}"#,
        variants[4].1
    );
    needles.add_frame("f", &frame);
    let must_hit = |hay: Vec<u8>, what: &str| {
        assert!(!needles.search(&hay).is_empty(), "the search misses {what}");
    };
    // Hex as tungstenite logs payloads, base64 at every offset in both alphabets, Debug escapes.
    must_hit(
        format!("payload: 0x{}", hex(frame.as_bytes()).to_uppercase()).into_bytes(),
        "hex",
    );
    for pad in 0..3 {
        for url in [false, true] {
            let mut b = vec![b'x'; pad];
            b.extend_from_slice(frame.as_bytes());
            must_hit(base64(&b, url).into_bytes(), "base64");
        }
    }
    let escaped = format!("{:?}", variants[4].1); // NBSP as \u{a0}
    must_hit(escaped.into_bytes(), "a Debug-escaped number");
    let bytes_debug = format!("{:?}", bytes_debug(variants[5].1.as_bytes())); // full-width as \xef\xbc..
    must_hit(bytes_debug.into_bytes(), "escaped UTF-8 bytes");
    must_hit(variants[6].1.clone().into_bytes(), "full-width digits");
    // And not what may remain: the mask with the last four.
    let mask = format!(
        "card [{} •••• {}] and 12 other digits 2026-11-28",
        card.brand,
        card.last4()
    );
    assert!(
        needles.search(mask.as_bytes()).is_empty(),
        "a mask is not a hit"
    );
}

/// Renders bytes like `bytes::Bytes`'s Debug does (non-ASCII as `\xNN`).
fn bytes_debug(b: &[u8]) -> BytesDebug<'_> {
    BytesDebug(b)
}

struct BytesDebug<'a>(&'a [u8]);

impl std::fmt::Debug for BytesDebug<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// Every file in a directory (not recursive), by name.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read data dir").flatten() {
        if e.path().is_file() {
            let name = e.file_name().to_string_lossy().to_string();
            out.push((name, std::fs::read(e.path()).expect("read file")));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_card_number_reaches_logs_database_files_or_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut spec = Spec::serve(&data, &dir.path().join("logs"));
    spec.rust_log = "trace".into();
    let cli = spec.cli();
    let tenant = cli.tenant("hygiene").await;
    let wk = tenant["widget_key"]
        .as_str()
        .expect("widget key")
        .to_string();
    let agent = cli.agent("hygiene", "agent", "agent", 50).await;
    let agent_id = agent["id"].as_str().expect("agent id").to_string();
    let (_, read_key) = cli.apikey("hygiene", "conversations:read").await;
    let (_, admin_key) = cli.apikey("hygiene", "admin").await;
    let srv = spec.start().await;

    let cards = corpus();
    let mut needles = Needles::default();
    for card in &cards {
        for (label, text) in card.variants() {
            // Precondition: the corpus is made of numbers the detector knows, in every form.
            let line = format!("my card is {text} thanks");
            let found = cordon_card::find(&line);
            assert!(
                found.len() == 1
                    && found[0].brand.name() == card.brand
                    && found[0].last4 == card.last4(),
                "corpus: {} {label} {text:?} is not detected as one {} card: {found:?}",
                card.digits,
                card.brand
            );
            needles.add_number(
                &format!("{} {} {label}", card.brand, card.digits),
                &text,
                &card.digits,
            );
        }
    }
    let mut frames: Vec<String> = Vec::new();
    let mut received: Vec<Value> = Vec::new();

    let cookie = srv.login("hygiene", "agent", PASSWORD).await;
    let mut agent_ws = srv.online(&cookie).await;
    let mut convs = Vec::new();
    for (i, card) in cards.iter().enumerate() {
        let v = card.variants();
        let (mut ws, _) = srv.visitor(&wk, None).await;
        let conv = ws.open().await;
        agent_ws
            .recv_where(|f| {
                f["conversation"]["id"] == conv.as_str() && f["conversation"]["state"] == "assigned"
            })
            .await;
        // The card in every form, in real messages.
        for (k, (_, text)) in v.iter().enumerate() {
            let id = format!("c{i}-{k}");
            let body = format!("my card is {text} thanks");
            frames.push(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": id, "text": body}).to_string());
            ws.say(&conv, &id, &body).await;
        }
        ws.recv_where(|f| f["type"] == "notice" && f["code"] == "card_redacted")
            .await;
        // And in invalid frames, each with its error code.
        let long = format!("{} {} {}", "x".repeat(3990), v[1].1, "y".repeat(20));
        let mut bad: Vec<(String, &str)> = vec![
            (format!(r#"{{"type":"{}","conversation_id":"{conv}"}}"#, v[0].1), "unknown_type"),
            (format!(r#"{{"type":"message.{}"}}"#, v[2].1), "unknown_type"),
            (format!(r#"{{"type":"message.send","conversation_id":"{conv}","client_msg_id":"b{i}","text":"card {}""#, v[1].1), "bad_frame"),
            (format!("card {} {{", v[4].1), "bad_frame"),
            (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": format!("l{i}"), "text": long}).to_string(), "text_too_long"),
            (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": v[0].1, "text": "hi"}).to_string(), "invalid_id"),
            (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": v[2].1, "text": "hi"}).to_string(), "invalid_id"),
            (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": v[5].1, "text": "hi"}).to_string(), "invalid_id"),
            (format!(r#"{{"type":"sync","conversation_id":"{conv}","after_seq":"{}"}}"#, v[3].1), "bad_frame"),
            (format!(r#"{{"type":"message.send","conversation_id":"{conv}","client_msg_id":{},"text":"hi"}}"#, v[0].1), "bad_frame"),
            (json!({"type": "sync", "conversation_id": v[0].1, "after_seq": 0}).to_string(), "not_found"),
            (json!({"type": "typing", "conversation_id": v[2].1, "active": true}).to_string(), "not_found"),
        ];
        if i < 3 {
            let huge = json!({"type": "message.send", "conversation_id": conv, "client_msg_id": format!("h{i}"),
                "text": format!("{} {}", v[1].1, "z".repeat(70_000))});
            bad.push((huge.to_string(), "frame_too_large"));
        }
        for (frame, code) in bad {
            ws.send_text(&frame).await;
            let err = ws.recv_error().await;
            assert_eq!(err["code"], code, "error for {frame:.120}");
            frames.push(frame);
        }
        // The connection is still usable after all that.
        ws.say(&conv, &format!("ok{i}"), "still here").await;
        ws.drain(Duration::from_millis(20)).await;
        received.append(&mut ws.backlog);
        convs.push(conv);
    }
    // Cards typed in two pieces (issue 18): each piece alone is no card, so only the hold-back joins them, and
    // no library may log the frames that carry them, at any level.
    for (i, card) in cards.iter().enumerate() {
        let digits: Vec<char> = card.digits.chars().collect();
        let mut cut = 0;
        let mut split = 0;
        while cut < 8 {
            cut += card.groups[split];
            split += 1;
        }
        let pieces = [
            Card {
                groups: &card.groups[..split],
                brand: card.brand,
                digits: String::new(),
            }
            .grouped(&digits[..cut], " "),
            Card {
                groups: &card.groups[split..],
                brand: card.brand,
                digits: String::new(),
            }
            .grouped(&digits[cut..], " "),
        ];
        let (mut ws, _) = srv.visitor(&wk, None).await;
        let conv = ws.open().await;
        agent_ws
            .recv_where(|f| {
                f["conversation"]["id"] == conv.as_str() && f["conversation"]["state"] == "assigned"
            })
            .await;
        for (k, piece) in pieces.iter().enumerate() {
            let id = format!("p{i}-{k}");
            let frame = json!({"type": "message.send", "conversation_id": conv, "client_msg_id": id, "text": piece});
            frames.push(frame.to_string());
            if piece.len() >= 9 {
                needles.add_piece(&format!("{} {} piece {k}", card.brand, card.digits), piece);
            }
            if k + 1 < pieces.len() {
                ws.send(frame).await;
            } else {
                ws.say(&conv, &id, piece).await;
            }
        }
        ws.drain(Duration::from_millis(20)).await;
        received.append(&mut ws.backlog);
        convs.push(conv);
    }
    // Cards in an admin's settings: display names (stored masked) and an embedding origin.
    let m = cards[3].variants();
    let admin = srv.http().with(Auth::Bearer(admin_key.clone()));
    for (method, path, body) in [
        (
            "PATCH",
            "/api/v1/tenant".to_string(),
            json!({"display_name": format!("Shop {}", m[1].1)}),
        ),
        (
            "PATCH",
            "/api/v1/tenant".to_string(),
            json!({"allowed_origins": [format!("https://{}.example", m[2].1)]}),
        ),
        (
            "POST",
            "/api/v1/agents".to_string(),
            json!({"username": "agent2", "display_name": format!("Agent {}", m[4].1), "role": "agent", "password": PASSWORD}),
        ),
        (
            "POST",
            "/api/v1/agents".to_string(),
            json!({"username": m[0].1, "display_name": "x", "role": "agent", "password": PASSWORD}),
        ),
        (
            "PATCH",
            format!("/api/v1/agents/{agent_id}"),
            json!({"display_name": format!("Sam {}", m[3].1)}),
        ),
    ] {
        let (status, reply) = admin.call(method, &path, Some(body.clone())).await;
        assert!(status < 500, "{method} {path}: {status} {reply}");
        frames.push(body.to_string());
        received.push(reply);
    }
    for path in ["/api/v1/tenant", "/api/v1/agents"] {
        let (status, reply) = admin.get(path).await;
        assert_eq!(status, 200, "{path}: {reply}");
        received.push(reply);
    }
    // The agent sends card numbers too, and invalid frames of its own.
    for (i, (card, conv)) in cards.iter().zip(&convs).enumerate() {
        let v = card.variants();
        let body = format!(
            "Agent here: I see {} and {} in your message",
            v[1].1, v[5].1
        );
        frames.push(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": format!("a{i}"), "text": body}).to_string());
        agent_ws.say(conv, &format!("a{i}"), &body).await;
    }
    let v = cards[0].variants();
    for (frame, code) in [
        (format!(r#"{{"type":"{}"}}"#, v[2].1), "unknown_type"),
        (json!({"type": "message.send", "conversation_id": convs[0], "client_msg_id": v[0].1, "text": "x"}).to_string(), "invalid_id"),
        (json!({"type": "conversation.transfer", "conversation_id": convs[0], "agent_id": v[0].1}).to_string(), "not_found"),
        (json!({"type": "status.set", "status": v[1].1}).to_string(), "bad_frame"),
    ] {
        agent_ws.send_text(&frame).await;
        assert_eq!(agent_ws.recv_error().await["code"], code, "agent error for {frame}");
        frames.push(frame);
    }
    agent_ws.drain(Duration::from_millis(50)).await;
    received.append(&mut agent_ws.backlog);
    // Cards in a visitor's hello: as widget key, as visitor token and inside the embedding origin.
    for hello in [
        json!({"type": "hello", "v": 1, "widget_key": v[0].1}),
        json!({"type": "hello", "v": 1, "widget_key": wk, "visitor_token": v[0].1, "embed_origin": format!("https://{}.example", v[2].1)}),
        json!({"type": "hello", "v": 1, "widget_key": wk, "embed_origin": format!("https://{}.example", cards[2].digits)}),
    ] {
        let mut ws = Ws::connect(&srv.ws_url("/ws/visitor"), &[]).await;
        ws.send(hello.clone()).await;
        ws.recv_where(|f| f["type"] == "welcome" || f["type"] == "error")
            .await;
        frames.push(hello.to_string());
        ws.drain(Duration::from_millis(20)).await;
        received.append(&mut ws.backlog);
    }
    // Cards in HTTP requests: a login, a path, a query and a bearer key.
    let http = srv.http();
    for body in [
        json!({"tenant": v[0].1, "username": v[2].1, "password": v[1].1}),
        json!({"tenant": v[0].1.parse::<u64>().expect("digits")}),
    ] {
        let (status, reply) = http.call("POST", "/api/v1/auth/login", Some(body)).await;
        assert!(status == 400 || status == 401, "{status} {reply}");
        received.push(reply);
    }
    let reader = http.with(Auth::Bearer(read_key.clone()));
    for path in [
        format!("/api/v1/conversations/{}/messages", v[0].1),
        format!(
            "/api/v1/conversations?agent_id={}&cursor={}.x",
            v[0].1, v[2].1
        ),
        format!(
            "/api/v1/conversations/{}/messages?limit={}x",
            convs[0], v[0].1
        ),
    ] {
        let (status, reply) = reader.get(&path).await;
        assert!(status == 400 || status == 404, "{path}: {status} {reply}");
        received.push(reply);
    }
    let (status, _) = http
        .with(Auth::Bearer(v[0].1.clone()))
        .get("/api/v1/me")
        .await;
    assert_eq!(status, 401);

    // History through the API: every card is there, masked, with only its last four.
    let mut api_text = String::new();
    for (card, conv) in cards.iter().zip(&convs) {
        let msgs = history(&reader, conv, 500).await;
        gap_free(conv, &msgs);
        let all = serde_json::to_string(&msgs).expect("json");
        let mask = format!("[{} •••• {}]", card.brand, card.last4());
        let masks = all.matches(&mask).count();
        assert!(
            masks >= 9,
            "{conv}: every card message is stored with the mask {mask} ({masks} found)"
        );
        api_text.push_str(&all);
    }
    for f in &frames {
        needles.add_frame(&format!("{:.60}", f), f);
    }
    drop(agent_ws);
    // The database as it is while running (with its WAL), and again after a clean stop.
    let running = snapshot(&data);
    assert!(
        running
            .iter()
            .any(|(n, b)| n == "cordon.db-wal" && !b.is_empty()),
        "the WAL is there to search: {:?}",
        running.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    let status = srv.terminate().await;
    assert!(status.success(), "clean stop: {status}");
    let stopped = snapshot(&data);
    let stdout = std::fs::read(spec.stdout_path()).expect("stdout log");
    let stderr = std::fs::read(spec.stderr_path()).expect("stderr log");

    // The logs really are at trace level, and the redactor was at work on them; the libraries that log client
    // payloads (frames, close reasons, rejected values) are silent whatever RUST_LOG says.
    let log = String::from_utf8_lossy(&stderr).into_owned();
    let missing: Vec<&str> = ["TRACE cordon_server::accept", "INFO cordon"]
        .into_iter()
        .filter(|t| !log.contains(t))
        .collect();
    assert!(
        missing.is_empty(),
        "the log is at trace level; missing: {missing:?}"
    );
    // (No line of the log holds client text any more, masked or not: the redacting writer behind it is a last
    // line of defence, tested on its own in cordon-server's logging module.)

    let mut haystacks: Vec<(String, Vec<u8>)> = vec![
        ("stdout".into(), stdout),
        ("stderr".into(), stderr),
        ("history via API".into(), api_text.into_bytes()),
        (
            "frames and replies clients received".into(),
            serde_json::to_vec(&received).expect("json"),
        ),
    ];
    haystacks.extend(
        running
            .into_iter()
            .map(|(n, b)| (format!("{n} (running)"), b)),
    );
    haystacks.extend(
        stopped
            .into_iter()
            .map(|(n, b)| (format!("{n} (stopped)"), b)),
    );
    let mut report = Vec::new();
    for (name, hay) in &haystacks {
        let hits = needles.search(hay);
        let mut labels: Vec<&String> = hits.iter().map(|(l, _)| l).collect();
        labels.sort();
        labels.dedup();
        if !labels.is_empty() {
            report.push(format!(
                "{name} ({} bytes): {} hits, e.g. {:?}",
                hay.len(),
                hits.len(),
                &labels[..labels.len().min(8)]
            ));
        }
    }
    assert!(
        report.is_empty(),
        "card numbers found ({} needles searched):\n{}",
        needles.raw.len() + needles.hex.len() + needles.base64.len() + needles.digits.len(),
        report.join("\n")
    );
    for silent in [
        "tungstenite",
        "axum::rejection",
        "received frame",
        "Received message",
    ] {
        assert!(!log.contains(silent), "{silent} is in the log");
    }
}

// ---- 3. demo -----------------------------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

/// Start the demo and read its banner: (console URL, (tenant, username) -> password, widget keys).
async fn demo_banner(srv: &mut Proc) -> (String, BTreeMap<(String, String), String>, Vec<String>) {
    let mut console = String::new();
    let mut passwords = BTreeMap::new();
    let mut widget_keys = Vec::new();
    let mut lines = Vec::new();
    while widget_keys.len() < 2 {
        let line = srv
            .line(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("demo banner ended early: {lines:#?}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["console:", url] => console = url.trim_end_matches("/console").to_string(),
            ["tenant", slug, _role, user, "password", pw] => {
                passwords.insert((slug.to_string(), user.to_string()), pw.to_string());
            }
            ["widget", "key", "of", _, key] => widget_keys.push(key.to_string()),
            _ => {}
        }
        lines.push(line);
    }
    (console, passwords, widget_keys)
}

#[tokio::test]
async fn demo_runs_twice_on_one_data_dir_and_its_passwords_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("demo-data");
    let mut spec = Spec::serve(&data, &dir.path().join("logs"));
    spec.sub = "demo";
    // The quick start: no CORDON_MASTER_KEY, so the key lives in a file in the data dir.
    spec.master_key = false;
    let cli = spec.cli();
    let mut runs = Vec::new();
    for run in 0..2 {
        let mut srv = spec.start().await;
        let (console, printed, widget_keys) = demo_banner(&mut srv).await;
        assert_eq!(
            console, srv.base,
            "run {run}: the banner shows the console's real URL"
        );
        let creds_path = data.join("demo-credentials.json");
        #[cfg(unix)]
        {
            assert_eq!(mode(&creds_path), 0o600, "the credentials file is private");
            assert_eq!(
                mode(&data.join("master.key")),
                0o600,
                "the key file is private"
            );
            for db_file in ["cordon.db", "cordon.db-wal"] {
                assert_eq!(mode(&data.join(db_file)), 0o600, "{db_file} is private");
            }
            assert_eq!(mode(&data), 0o700, "the data dir is private");
        }
        let file: Value =
            serde_json::from_slice(&std::fs::read(&creds_path).expect("credentials file"))
                .expect("JSON");
        let stored: BTreeMap<(String, String), String> = file["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| {
                (
                    (
                        a["tenant"].as_str().unwrap_or_default().to_string(),
                        a["username"].as_str().unwrap_or_default().to_string(),
                    ),
                    a["password"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(
            printed, stored,
            "run {run}: printed passwords are the file's"
        );
        assert_eq!(
            printed.len(),
            6,
            "two tenants, each with an admin, an agent and an auditor"
        );
        let roles: HashSet<&str> = file["accounts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["role"].as_str())
            .collect();
        assert_eq!(roles, HashSet::from(["admin", "agent", "auditor"]));
        for ((slug, user), pw) in &printed {
            srv.login(slug, user, pw).await;
            let wrong = srv.login_raw(slug, user, "not the password at all").await;
            assert_eq!(wrong.status(), 401, "a wrong password is refused");
        }
        // Visitors can use the printed widget keys.
        for key in &widget_keys {
            srv.visitor(key, None).await;
        }
        // Management commands work beside the demo server.
        let tenants = cli.json(&["tenant", "list", "--json"], None).await;
        let status = srv.terminate().await;
        assert!(
            status.success(),
            "run {run}: the demo stops cleanly on SIGTERM: {status}"
        );
        runs.push((
            printed,
            widget_keys,
            tenants,
            std::fs::read(&creds_path).expect("file"),
            std::fs::read(data.join("master.key")).expect("key"),
        ));
    }
    let (a, b) = (&runs[0], &runs[1]);
    assert_eq!(a.0, b.0, "the second start prints the same passwords");
    assert_eq!(a.1, b.1, "and the same widget keys");
    assert_eq!(a.2, b.2, "tenants are reused, not duplicated");
    assert_eq!(a.3, b.3, "the credentials file is unchanged");
    assert_eq!(a.4, b.4, "the master key file is unchanged");
    let slugs: Vec<&str> =
        a.2.as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["slug"].as_str())
            .collect();
    assert_eq!(slugs.len(), 2, "two demo tenants: {slugs:?}");
    let stderr =
        String::from_utf8_lossy(&std::fs::read(spec.stderr_path()).unwrap_or_default()).to_string();
    assert!(
        !stderr.contains("ERROR"),
        "no error at either start:\n{stderr}"
    );
}

/// A port that was free a moment ago.
fn free_port(ip: [u8; 4]) -> u16 {
    std::net::TcpListener::bind(SocketAddr::from((ip, 0)))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The demo's store URLs from its banner lines (`store of SLUG URL/`).
fn store_urls(lines: &[String]) -> BTreeMap<String, String> {
    lines
        .iter()
        .filter_map(
            |l| match l.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["store", "of", slug, url] => {
                    Some((slug.to_string(), url.trim_end_matches('/').to_string()))
                }
                _ => None,
            },
        )
        .collect()
}

/// Read the demo's stdout until both widget keys are printed (the tenants exist by then).
async fn demo_lines(srv: &mut Proc) -> Vec<String> {
    let mut lines = Vec::new();
    while lines
        .iter()
        .filter(|l: &&String| l.contains("widget key of"))
        .count()
        < 2
    {
        let line = srv
            .line(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("demo banner ended early: {lines:#?}"));
        lines.push(line);
    }
    lines
}

#[tokio::test]
async fn demo_falls_back_to_a_free_store_port_when_8090_is_taken() {
    // Hold the default store port. If something else holds it already, it is just as taken.
    let _held = match std::net::TcpListener::bind("127.0.0.1:8090") {
        Ok(l) => Some(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => None,
        Err(e) => panic!("bind 127.0.0.1:8090: {e}"),
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    spec.sub = "demo";
    // A real port, not 0: only then does the demo try the default store port.
    spec.listen = format!("127.0.0.1:{}", free_port([127, 0, 0, 1]));
    let mut srv = spec.start().await;
    let lines = demo_lines(&mut srv).await;
    assert!(
        lines.iter().any(
            |l| l.starts_with("demo store of skyway: 127.0.0.1:8090 is not free")
                && l.contains("--store-listen")
        ),
        "the demo says the store moved, and how to choose: {lines:#?}"
    );
    let stores = store_urls(&lines);
    let skyway = stores.get("skyway").expect("skyway's store URL");
    assert!(skyway.starts_with("http://localhost:"), "{skyway}");
    assert_ne!(
        skyway, "http://localhost:8090",
        "the store moved off the taken port"
    );
    // The tenants exist, with the moved store's origin allowed, and the store serves its page.
    let tenants = spec.cli().json(&["tenant", "list", "--json"], None).await;
    let slugs: BTreeMap<String, Value> = tenants
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| {
            (
                t["slug"].as_str().unwrap_or_default().to_string(),
                t.clone(),
            )
        })
        .collect();
    assert_eq!(
        slugs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["skyway", "voltmart"],
        "{tenants}"
    );
    assert!(
        slugs["skyway"].to_string().contains(skyway.as_str()),
        "skyway allows its store's origin {skyway}: {}",
        slugs["skyway"]
    );
    let port = skyway.rsplit(':').next().expect("port");
    let page = reqwest::get(format!("http://127.0.0.1:{port}/"))
        .await
        .expect("the store answers");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("page").contains("Skyway"));
}

#[tokio::test]
async fn demo_store_listen_is_exact_and_a_taken_address_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let spec = {
        let mut s = Spec::serve(&data, &dir.path().join("logs"));
        s.sub = "demo";
        s
    };
    // Taken: a clear one-line error, and no fallback.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr");
    let args = [
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--store-listen",
        &taken.to_string(),
    ];
    let out = spec.cli().run(&args, None).await;
    assert!(!out.status.success(), "a taken --store-listen must fail");
    assert!(
        out.stdout.is_empty(),
        "it fails before announcing anything: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The last line is the error (log lines of the migrations may come before it).
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let err = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(err.starts_with("cordon: "), "{stderr}");
    assert!(
        err.contains(&format!("could not listen on {taken}")) && err.contains("--store-listen"),
        "{err}"
    );
    drop(held);
    // Free: both stores on that port, each on its own host.
    let port = free_port([127, 0, 0, 1]);
    let mut spec = spec;
    spec.extra = vec!["--store-listen".into(), format!("127.0.0.1:{port}")];
    let mut srv = spec.start().await;
    let stores = store_urls(&demo_lines(&mut srv).await);
    assert_eq!(stores["skyway"], format!("http://localhost:{port}"));
    assert_eq!(stores["voltmart"], format!("http://127.0.0.3:{port}"));
    for (host, name) in [("127.0.0.1", "Skyway"), ("127.0.0.3", "Voltmart")] {
        let page = reqwest::get(format!("http://{host}:{port}/"))
            .await
            .expect("the store answers");
        assert!(page.text().await.expect("page").contains(name));
    }
}

/// The transcript mail server through the real flags (issue 20): `cordon serve --smtp-url` names the server with
/// its password masked, and neither a good URL nor a bad one puts the password in stdout or the log.
#[tokio::test]
async fn serve_names_its_mail_server_without_the_password() {
    const SECRET: &str = "hunter2-smtp-secret";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    spec.extra = vec![
        "--smtp-url".into(),
        format!("smtps://ops:{SECRET}@127.0.0.1:465"),
        "--smtp-from".into(),
        "Skyway Support <chat@skyway.example>".into(),
    ];
    let mut srv = spec.start().await;
    let mut named = None;
    while let Some(line) = srv.line(Duration::from_secs(5)).await {
        if line.starts_with("cordon transcript emails via ") {
            named = Some(line);
            break;
        }
    }
    let named = named.expect("serve names its mail server");
    assert_eq!(
        named,
        "cordon transcript emails via smtps://ops:***@127.0.0.1:465"
    );
    srv.terminate().await;
    for log in [spec.stdout_path(), spec.stderr_path()] {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(!text.contains(SECRET), "{}: {text}", log.display());
    }
    // A URL that is refused: a clear error that quotes none of it.
    let bad = format!("ftp://ops:{SECRET}@127.0.0.1:21");
    let out = spec
        .cli()
        .run(
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--smtp-url",
                &bad,
                "--smtp-from",
                "chat@skyway.example",
            ],
            None,
        )
        .await;
    assert!(!out.status.success(), "an ftp:// mail server is refused");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(SECRET), "{all}");
    assert!(
        all.contains("the SMTP URL is smtp://"),
        "the error says what is expected: {all}"
    );
}

// ---- 4. CLI ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn cli_manages_tenants_agents_and_keys_beside_a_running_server() {
    // --help is clear and lists every command.
    let cli = Cli {
        data: PathBuf::from("/nonexistent-cordon-test-dir"),
        database: None,
        key: None,
    };
    let help = cli.ok(&["--help"], None).await;
    for cmd in [
        "serve",
        "demo",
        "migrate",
        "tenant",
        "agent",
        "apikey",
        "redact",
        "--data",
        "--database",
    ] {
        assert!(help.contains(cmd), "--help mentions {cmd}:\n{help}");
    }
    let sub = cli.ok(&["apikey", "create", "--help"], None).await;
    assert!(
        sub.contains("--scope") && sub.contains("--expires-in"),
        "{sub}"
    );
    assert!(
        !Path::new("/nonexistent-cordon-test-dir").exists(),
        "--help touches no data dir"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    let cli = spec.cli();
    // The server runs first; every command below works beside it on the same SQLite data dir.
    let srv = spec.start().await;
    let migrated = cli.ok(&["migrate"], None).await;
    assert!(migrated.contains("schema is at version"), "{migrated}");
    let t = cli.tenant("acme").await;
    for field in ["id", "widget_key", "identity_secret"] {
        assert!(
            t[field].as_str().is_some_and(|s| !s.is_empty()),
            "tenant create --json has {field}: {t}"
        );
    }
    let list = cli.json(&["tenant", "list", "--json"], None).await;
    assert!(
        list.as_array()
            .expect("array")
            .iter()
            .any(|x| x["slug"] == "acme"),
        "{list}"
    );
    let agent = cli.agent("acme", "alice", "agent", 3).await;
    cli.agent("acme", "bob", "admin", 3).await;
    let agents = cli
        .json(&["agent", "list", "--tenant", "acme", "--json"], None)
        .await;
    assert_eq!(agents.as_array().map(Vec::len), Some(2), "{agents}");
    assert!(agents.to_string().contains("alice"));
    assert!(
        !agents.to_string().contains(PASSWORD),
        "no password in listings"
    );

    // An API key from the CLI works as a Bearer key at once, and revoking it refuses it at once.
    let (key_id, key) = cli.apikey("acme", "conversations:read").await;
    let keys = cli
        .json(&["apikey", "list", "--tenant", "acme", "--json"], None)
        .await;
    assert!(keys.to_string().contains(&key_id), "{keys}");
    assert!(
        !keys.to_string().contains(&key),
        "apikey list never shows the secret"
    );
    let http = srv.http().with(Auth::Bearer(key.clone()));
    let (status, body) = http.get("/api/v1/conversations").await;
    assert_eq!(status, 200, "{body}");
    cli.ok(
        &["apikey", "revoke", "--tenant", "acme", "--id", &key_id],
        None,
    )
    .await;
    let (status, body) = http.get("/api/v1/conversations").await;
    assert_eq!(status, 401, "a revoked key is refused at once: {body}");
    let (_, admin_key) = cli.apikey("acme", "admin").await;
    let (status, _) = srv
        .http()
        .with(Auth::Bearer(admin_key))
        .get("/api/v1/conversations")
        .await;
    assert_eq!(status, 403, "an admin key does not read transcripts");

    // Disabling an agent ends its sessions: its requests and its open socket.
    let cookie = srv.login("acme", "alice", PASSWORD).await;
    let me = srv.http().with(Auth::Cookie(cookie.clone()));
    let (status, body) = me.get("/api/v1/me").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.to_string().contains(agent["id"].as_str().expect("id")),
        "{body}"
    );
    let mut ws = srv.online(&cookie).await;
    let out = cli
        .ok(
            &[
                "agent",
                "disable",
                "--tenant",
                "acme",
                "--username",
                "alice",
            ],
            None,
        )
        .await;
    assert!(out.contains("alice"), "{out}");
    let disabled_at = Instant::now();
    assert_eq!(
        me.get("/api/v1/me").await.0,
        401,
        "a disabled agent's session is refused at once"
    );
    let err = ws
        .try_recv_where(&|f: &Value| f["type"] == "error", Duration::from_secs(2))
        .await
        .expect("the open socket is told");
    assert_eq!(err["code"], "session_revoked");
    assert!(
        ws.closed(Duration::from_secs(2)).await.is_some(),
        "and closed"
    );
    assert!(
        disabled_at.elapsed() < Duration::from_millis(1500),
        "within about a second"
    );
    assert_eq!(
        srv.login_raw("acme", "alice", PASSWORD).await.status(),
        401,
        "and cannot sign in"
    );

    // Errors: one clear line and a non-zero exit.
    let e = cli
        .fails(&["apikey", "create", "--tenant", "nope", "--scope", "admin"])
        .await;
    assert!(e.contains("nope"), "{e}");
    let e = cli
        .fails(&[
            "apikey",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "everything",
        ])
        .await;
    assert!(e.contains("scope"), "{e}");
    let e = cli
        .fails(&[
            "apikey",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "admin",
            "--expires-in",
            "2y",
        ])
        .await;
    assert!(
        e.to_lowercase().contains("year") || e.contains("1y") || e.contains("365"),
        "{e}"
    );
    cli.fails(&[
        "agent",
        "create",
        "--tenant",
        "nope",
        "--username",
        "x",
        "--name",
        "x",
    ])
    .await;
    cli.fails(&[
        "agent",
        "disable",
        "--tenant",
        "acme",
        "--username",
        "nobody",
    ])
    .await;
    cli.fails(&["tenant", "create", "--slug", "acme", "--name", "again"])
        .await;
    cli.fails(&["apikey", "revoke", "--tenant", "acme", "--id", &key_id])
        .await;

    // A wrong or missing master key is refused with one clear line, by the CLI and by `serve` at start,
    // and a run without the key leaves no key file of its own behind.
    let data = dir.path().join("data");
    for key in [Some("ff".repeat(32)), None] {
        let wrong = Cli {
            key: key.clone(),
            ..cli.clone()
        };
        let e = wrong.fails(&["tenant", "list"]).await;
        assert!(e.contains("master key"), "{e}");
        let e = wrong.fails(&["serve", "--listen", "127.0.0.1:0"]).await;
        assert!(e.contains("master key"), "{e}");
        assert!(
            !data.join("master.key").exists(),
            "no stray key file (key {key:?})"
        );
    }
    // Flags have environment variables: CORDON_DATA instead of --data.
    let mut cmd = tokio::process::Command::new(BIN);
    for k in CORDON_ENV {
        cmd.env_remove(k);
    }
    let out = cmd
        .args(["tenant", "list", "--json"])
        .env("CORDON_DATA", &data)
        .env("CORDON_MASTER_KEY", MASTER_KEY_HEX)
        .output()
        .await
        .expect("cordon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(listed.to_string().contains("\"acme\""), "{listed}");
    let bad = Cli {
        key: Some("not a key".into()),
        ..cli.clone()
    };
    let e = bad.fails(&["tenant", "list"]).await;
    assert!(
        e.contains("CORDON_MASTER_KEY") && !e.contains("not a key"),
        "{e}"
    );

    // The server is still fine, and sees what the CLI made while it ran.
    let (status, _) = srv.http().get("/readyz").await;
    assert_eq!(status, 200);
    srv.login("acme", "bob", PASSWORD).await;
    let status = srv.terminate().await;
    assert!(status.success(), "{status}");
}

// ---- 5. two processes on PostgreSQL ------------------------------------------------------------------------

/// Send `n` messages, one at a time; returns the socket and (client_msg_id, seq) of each ack.
async fn send_many(mut ws: Ws, conv: String, prefix: String, n: usize) -> (Ws, Vec<(String, i64)>) {
    let mut out = Vec::new();
    for i in 0..n {
        let id = format!("{prefix}-{i}");
        let seq = ws.say(&conv, &id, &format!("{prefix} number {i}")).await;
        if let Some((_, prev)) = out.last() {
            assert!(
                seq > *prev,
                "{prefix}: seqs increase in commit order ({prev} then {seq})"
            );
        }
        out.push((id, seq));
    }
    (ws, out)
}

/// A frame after which every earlier frame of this socket has been handled.
async fn settle(ws: &mut Ws) {
    ws.send(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
}

async fn conversations(http: &Http, query: &str) -> Vec<Value> {
    let (status, body) = http
        .get(&format!("/api/v1/conversations?limit=200&{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["conversations"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_database() {
    let Some(server) = cordon_store::testing::postgres_server() else {
        return;
    };
    let db = cordon_store::testing::postgres(&server).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = |name: &str| {
        let mut s = Spec::serve(
            &dir.path().join(name),
            &dir.path().join(format!("logs-{name}")),
        );
        s.database = Some(db.url.clone());
        s.extra = vec!["--node-id".into(), name.into()];
        s
    };
    let (spec_a, spec_b) = (node("a"), node("b"));
    let cli = spec_a.cli();
    // Both nodes start at once on the fresh database (each migrates it and sets up its keys), then `migrate`
    // runs beside them.
    let (a, b) = tokio::join!(spec_a.start(), spec_b.start());
    let migrated = cli.ok(&["migrate"], None).await;
    assert!(migrated.contains("schema is at version"), "{migrated}");

    // -- Shared conversations: visitors and the agent write through both nodes at once.
    cli.tenant("twin").await;
    let ann = cli.agent("twin", "ann", "agent", 10).await;
    let ann_id = ann["id"].as_str().expect("id").to_string();
    let (_, read_key) = cli.apikey("twin", "conversations:read").await;
    let (_, admin_key) = cli.apikey("twin", "admin").await;
    let wk = cli
        .json(&["tenant", "list", "--json"], None)
        .await
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["slug"] == "twin")
        .expect("twin")["widget_key"]
        .as_str()
        .expect("wk")
        .to_string();
    let cookie = a.login("twin", "ann", PASSWORD).await;
    let ann_a = a.online(&cookie).await;
    let ann_b = b.online(&cookie).await;
    let mut tasks = Vec::new();
    let mut convs = Vec::new();
    for v in 0..3 {
        let (mut on_a, welcome) = a.visitor(&wk, None).await;
        let token = welcome["visitor_token"]
            .as_str()
            .expect("token")
            .to_string();
        let conv = on_a.open().await;
        let (mut on_b, welcome_b) = b.visitor(&wk, Some(&token)).await;
        assert_eq!(
            welcome_b["conversations"][0]["id"],
            conv.as_str(),
            "node b knows the visitor"
        );
        on_b.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
            .await;
        on_b.recv_type("synced").await;
        tasks.push(tokio::spawn(send_many(
            on_a,
            conv.clone(),
            format!("va{v}"),
            25,
        )));
        tasks.push(tokio::spawn(send_many(
            on_b,
            conv.clone(),
            format!("vb{v}"),
            25,
        )));
        convs.push(conv);
    }
    // The agent writes into all three from both nodes, interleaved.
    let agent_task = |mut ws: Ws, tag: &'static str, convs: Vec<String>| async move {
        let mut acks = Vec::new();
        for i in 0..8 {
            for c in &convs {
                let id = format!("{tag}-{i}-{}", &c[c.len() - 4..]);
                acks.push((c.clone(), id.clone(), ws.say(c, &id, "agent reply").await));
            }
        }
        (ws, acks)
    };
    let agent_a = tokio::spawn(agent_task(ann_a, "aa", convs.clone()));
    let agent_b = tokio::spawn(agent_task(ann_b, "ab", convs.clone()));
    let mut acked: HashMap<String, i64> = HashMap::new();
    for t in tasks {
        let (_ws, acks) = t.await.expect("visitor sender");
        acked.extend(acks);
    }
    let (mut ann_a, acks_a) = agent_a.await.expect("agent on a");
    let (mut ann_b, acks_b) = agent_b.await.expect("agent on b");
    for (_, id, seq) in acks_a.into_iter().chain(acks_b) {
        acked.insert(id, seq);
    }
    let read_a = a.http().with(Auth::Bearer(read_key.clone()));
    let read_b = b.http().with(Auth::Bearer(read_key.clone()));
    for conv in &convs {
        let msgs = history(&read_a, conv, 50).await;
        let ids = gap_free(conv, &msgs);
        assert_eq!(
            msgs,
            history(&read_b, conv, 200).await,
            "both nodes read the same history"
        );
        for (id, seq) in &acked {
            if let Some(stored) = ids.get(id) {
                assert_eq!(stored, seq, "{id}: acked seq is the stored seq");
            }
        }
        let mine = acked.keys().filter(|id| ids.contains_key(*id)).count();
        assert_eq!(
            mine,
            2 * 25 + 2 * 8,
            "{conv}: every acked message stored once"
        );
    }
    assert_eq!(acked.len(), 3 * (2 * 25 + 2 * 8), "every send was acked");

    // -- Capacity: an agent with capacity 2, six conversations opened across both nodes at once.
    cli.tenant("cap").await;
    let cal = cli.agent("cap", "cal", "agent", 2).await;
    let cal_id = cal["id"].as_str().expect("id").to_string();
    let (_, cap_key) = cli.apikey("cap", "conversations:read").await;
    let cap_wk = cli
        .json(&["tenant", "list", "--json"], None)
        .await
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["slug"] == "cap")
        .expect("cap")["widget_key"]
        .as_str()
        .expect("wk")
        .to_string();
    let cal_cookie = b.login("cap", "cal", PASSWORD).await;
    let mut cal_a = a.online(&cal_cookie).await;
    let mut cal_b = b.agent_ws(&cal_cookie).await.0;
    let mut visitors = Vec::new();
    for i in 0..6 {
        let node = if i % 2 == 0 { &a } else { &b };
        visitors.push(node.visitor(&cap_wk, None).await.0);
    }
    let opened = futures_util::future::join_all(visitors.iter_mut().map(|v| v.open())).await;
    let cap_http = a.http().with(Auth::Bearer(cap_key.clone()));
    let held = |http: Http, id: String| async move {
        conversations(&http, &format!("state=assigned&agent_id={id}"))
            .await
            .len()
    };
    assert_eq!(
        held(cap_http.clone(), cal_id.clone()).await,
        2,
        "capacity 2 is filled, never exceeded"
    );
    assert_eq!(conversations(&cap_http, "state=queued").await.len(), 4);
    // Both nodes race to accept every queued conversation for the full agent: all refused.
    let queued: Vec<String> = conversations(&cap_http, "state=queued")
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap_or_default().to_string())
        .collect();
    for q in &queued {
        cal_a
            .send(json!({"type": "conversation.accept", "conversation_id": q}))
            .await;
        cal_b
            .send(json!({"type": "conversation.accept", "conversation_id": q}))
            .await;
    }
    for ws in [&mut cal_a, &mut cal_b] {
        for _ in &queued {
            let e = ws.recv_error().await;
            assert_eq!(e["code"], "no_capacity", "{e}");
        }
    }
    assert_eq!(held(cap_http.clone(), cal_id.clone()).await, 2);
    // Close one on node a (the queue drains into the free slot) while node b races to accept them all.
    let assigned: Vec<String> =
        conversations(&cap_http, &format!("state=assigned&agent_id={cal_id}"))
            .await
            .iter()
            .map(|c| c["id"].as_str().unwrap_or_default().to_string())
            .collect();
    cal_a
        .send(json!({"type": "conversation.close", "conversation_id": assigned[0]}))
        .await;
    for q in &queued {
        cal_b
            .send(json!({"type": "conversation.accept", "conversation_id": q}))
            .await;
    }
    settle(&mut cal_a).await;
    settle(&mut cal_b).await;
    assert_eq!(
        held(cap_http.clone(), cal_id.clone()).await,
        2,
        "after the race the agent holds exactly 2"
    );
    assert_eq!(conversations(&cap_http, "state=queued").await.len(), 3);
    assert_eq!(opened.len(), 6);

    // -- A key revoked through node a is refused by node b at once.
    let (doomed_id, doomed) = cli.apikey("twin", "conversations:read").await;
    let doomed_b = b.http().with(Auth::Bearer(doomed));
    assert_eq!(doomed_b.get("/api/v1/conversations").await.0, 200);
    let (status, body) = a
        .http()
        .with(Auth::Bearer(admin_key.clone()))
        .call("DELETE", &format!("/api/v1/apikeys/{doomed_id}"), None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        doomed_b.get("/api/v1/conversations").await.0,
        401,
        "node b refuses a key revoked through node a at once"
    );

    // -- Revocation through node a is honoured by node b within 1 s, on its open socket too.
    let me_b = b.http().with(Auth::Cookie(cookie.clone()));
    assert_eq!(me_b.get("/api/v1/me").await.0, 200);
    let (status, body) = a
        .http()
        .with(Auth::Bearer(admin_key))
        .call(
            "POST",
            &format!("/api/v1/agents/{ann_id}/revoke-sessions"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revoked"].as_u64().unwrap_or(0) >= 1, "{body}");
    let revoked_at = Instant::now();
    assert_eq!(
        me_b.get("/api/v1/me").await.0,
        401,
        "node b refuses the session at once"
    );
    let err = ann_b
        .try_recv_where(&|f: &Value| f["type"] == "error", Duration::from_secs(1))
        .await
        .expect("node b's socket gets an error frame within 1 s");
    assert_eq!(err["code"], "session_revoked", "{err}");
    assert!(
        revoked_at.elapsed() < Duration::from_secs(1),
        "within 1 s: {:?}",
        revoked_at.elapsed()
    );
    assert_eq!(
        ann_b.closed(Duration::from_secs(1)).await,
        Some(4001),
        "and closes it"
    );
    let err = ann_a
        .try_recv_where(&|f: &Value| f["type"] == "error", Duration::from_secs(1))
        .await
        .expect("node a's socket too");
    assert_eq!(err["code"], "session_revoked");
    assert!(
        Ws::try_connect(
            &b.ws_url("/ws/agent"),
            &[("cookie", &cookie), ("origin", &b.base)]
        )
        .await
        .is_err(),
        "a new socket with the revoked session is refused"
    );
    drop(visitors);
    let (sa, sb) = tokio::join!(a.terminate(), b.terminate());
    assert!(sa.success() && sb.success(), "{sa} {sb}");
}

/// Issue 16: a server SIGKILLed while it still owes webhook deliveries sends them after it restarts: the outbox
/// row was committed with the event, so nothing in memory was needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_owed_at_a_sigkill_are_sent_after_the_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = Spec::serve(&dir.path().join("data"), &dir.path().join("logs"));
    spec.extra = vec!["--webhooks-allow-private".into()];
    let cli = spec.cli();
    let rx = common::receiver::Receiver::start(&dir.path().join("receiver"), "fail");
    let mut srv = spec.start().await;
    let t = cli.tenant("acme").await;
    cli.agent("acme", "boss", "admin", 3).await;
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "boss", PASSWORD).await));
    let (status, created) = admin
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": rx.url, "events": ["conversation.created"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    rx.set("secret", created["secret"].as_str().expect("secret"));
    let (mut visitor, _) = srv
        .visitor(t["widget_key"].as_str().expect("key"), None)
        .await;
    visitor.send(json!({"type": "conversation.open"})).await;
    let conv = visitor.recv_type("conversation").await["conversation"]["id"]
        .as_str()
        .expect("conversation id")
        .to_string();
    // The first attempt fails (the receiver answers 500); the retry is due 5 s later. Kill the server now.
    rx.wait_for(Duration::from_secs(20), |r| !r.is_empty())
        .await;
    // Let the attempt's outcome commit (a kill before it leaves the row claimed: it is then sent when its
    // 60-second lease ends, which this test does not wait for).
    tokio::time::sleep(Duration::from_secs(1)).await;
    srv.kill();
    rx.set("mode", "ok");
    let srv = spec.start().await;
    let reqs = rx
        .wait_for(Duration::from_secs(30), |r| {
            r.iter().any(|x| x["answered"] == 200)
        })
        .await;
    let ok: Vec<&Value> = reqs.iter().filter(|r| r["answered"] == 200).collect();
    assert_eq!(ok.len(), 1, "delivered once after the restart: {reqs:?}");
    assert_eq!(ok[0]["verified"], true);
    assert_eq!(ok[0]["body"]["data"]["conversation_id"], conv.as_str());
    assert_eq!(
        ok[0]["id"], reqs[0]["id"],
        "the same webhook-id as the attempt before the kill"
    );
    drop(srv);
}
