//! Test harness: a real server on an ephemeral port (in-process, or the real binary as a child process) and
//! clients that speak to it as browsers and integrators do: HTTP with cookies or bearer keys, WebSockets.
#![allow(dead_code, unreachable_pub)]

pub mod processor;
pub mod receiver;
pub mod smtp;

use std::net::SocketAddr;
use std::time::Duration;

use cordon_server::{AppState, Config, Limits};
use cordon_service::keys::Keys;
use cordon_service::management::{self, Actor, AgentRequest};
use cordon_service::Service;
use cordon_store::testing::TestDatabase;
use cordon_store::{AgentRole, Store, StoreConfig, Tenant};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const PASSWORD: &str = "correct horse battery staple";

/// A fixed master key for tests that restart servers on one database.
pub const MASTER_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

pub fn master_key() -> cordon_crypto::SecretKey {
    cordon_crypto::SecretKey::parse(MASTER_KEY_HEX).expect("test key")
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    /// The card vault's own listener (issue 15), on 127.0.0.4 (a site apart from the console's).
    pub vault_addr: SocketAddr,
    pub vault_base: String,
    pub state: AppState,
    pub db: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// A tenant made for a test, with an admin, two agents and an auditor (all with PASSWORD).
#[derive(Debug, Clone)]
pub struct Fixture {
    pub tenant: Tenant,
    pub admin_id: String,
    pub agent_id: String,
    pub agent2_id: String,
    pub auditor_id: String,
}

impl TestServer {
    pub async fn start(db: TestDatabase) -> TestServer {
        Self::start_with(db, Limits::default()).await
    }

    pub async fn start_with(db: TestDatabase, limits: Limits) -> TestServer {
        Self::start_configured(db, |c| c.limits = limits).await
    }

    /// A server whose configuration `configure` adjusts (limits, webhooks, …) before it starts.
    pub async fn start_configured(
        db: TestDatabase,
        configure: impl FnOnce(&mut Config),
    ) -> TestServer {
        let mut cfg = StoreConfig::new(&db.url);
        cfg.max_connections = 4;
        let store = Store::open(&cfg).await.expect("open store");
        let keys = Keys::open(&store, master_key()).await.expect("keys");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut config = Config::for_listen(addr);
        // Tests' webhook receivers are on loopback (the SSRF tests turn this off again), and a failed delivery
        // goes to the dead letters at once, so route sweeps have one to redeliver.
        config.webhooks.allow_private_targets = true;
        config.webhooks.max_attempts = 1;
        // The card vault on a loopback host of its own; the tests' fake processor is on loopback too.
        let vault_listener = tokio::net::TcpListener::bind("127.0.0.4:0")
            .await
            .expect("bind the vault");
        let vault_addr = vault_listener.local_addr().expect("vault addr");
        config.payments.vault_origin = Some(format!("http://{vault_addr}"));
        config.payments.allow_private_processors = true;
        configure(&mut config);
        let service = Service::new(store, keys, config.service_settings());
        let state = AppState::new(service, config);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        let vault_state = state.clone();
        let handle = tokio::spawn(async move {
            let vault = tokio::spawn(async move {
                let _ = cordon_server::serve_vault(
                    vault_listener,
                    vault_state,
                    std::future::pending::<()>(),
                )
                .await;
            });
            let _ = cordon_server::serve(listener, st, async {
                let _ = rx.await;
            })
            .await;
            vault.abort();
        });
        TestServer {
            addr,
            base: format!("http://{addr}"),
            vault_addr,
            vault_base: format!("http://{vault_addr}"),
            state,
            db,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
            let _ = h.await;
        }
        self.state.service().close().await;
    }

    /// Stop the server and hand back its database, for a test that starts another server on it.
    pub async fn stop_keeping_db(mut self) -> TestDatabase {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
            let _ = h.await;
        }
        self.state.service().close().await;
        self.db
    }

    pub fn store(&self) -> &Store {
        self.state.service().store()
    }

    pub fn service(&self) -> &Service {
        self.state.service()
    }

    pub async fn fixture(&self, slug: &str) -> Fixture {
        let svc = self.service();
        let (tenant, _) = management::create_tenant(
            svc,
            slug,
            &format!("{slug} Inc"),
            &["https://shop.example".to_string()],
            "test",
        )
        .await
        .expect("tenant");
        let mk = |name: &str, role| {
            let tid = tenant.id.clone();
            let name = name.to_string();
            async move {
                let request = AgentRequest {
                    username: &name,
                    display_name: &name,
                    role,
                    capacity: 2,
                    password: PASSWORD,
                };
                management::create_agent(svc, &tid, request, Actor::Operator("test"))
                    .await
                    .expect("agent")
                    .id
            }
        };
        Fixture {
            admin_id: mk("admin", AgentRole::Admin).await,
            agent_id: mk("agent", AgentRole::Agent).await,
            agent2_id: mk("agent2", AgentRole::Agent).await,
            auditor_id: mk("auditor", AgentRole::Auditor).await,
            tenant,
        }
    }

    /// A pending operator grant on the tenant `slug`, requested by a fresh operator (issue 12): for the route
    /// sweeps, whose `{grant_id}` it fills.
    pub async fn pending_grant(&self, slug: &str) -> String {
        let svc = self.service();
        let name = cordon_crypto::new_id("op");
        let made = cordon_service::operators::create(svc, &name, PASSWORD, "test")
            .await
            .expect("operator");
        let who = cordon_service::operators::OperatorPrincipal {
            session_id: "os_test".into(),
            operator: made.operator,
        };
        cordon_service::grants::request(svc, &who, slug, "a test", 1, false)
            .await
            .expect("grant")
            .id
    }

    /// Sign in and return the session cookie pair (`cordon_session=...`).
    pub async fn login(&self, slug: &str, username: &str) -> String {
        let res = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .header("origin", &self.base)
            .json(&json!({"tenant": slug, "username": username, "password": PASSWORD}))
            .send()
            .await
            .expect("login request");
        assert_eq!(res.status(), 200, "login {slug}/{username}");
        let cookie = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("set-cookie")
            .to_string();
        cookie.split(';').next().unwrap_or_default().to_string()
    }

    pub async fn api_key(&self, tenant: &Tenant, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        management::create_api_key(
            self.service(),
            &tenant.id,
            &scopes,
            None,
            Actor::Operator("test"),
        )
        .await
        .expect("api key")
        .1
    }

    /// A webhook endpoint of the tenant (its admin signed in as `admin_cookie`) at a loopback port where nothing
    /// listens, and one dead delivery of it: (webhook id, delivery id). For route sweeps.
    pub async fn webhook_fixture(&self, admin_cookie: &str, widget_key: &str) -> (String, String) {
        let admin = self.http().with(Auth::Cookie(admin_cookie.to_string()));
        let (status, created) = admin
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(
                    json!({"url": "http://127.0.0.1:9/hooks", "events": ["conversation.created"]}),
                ),
            )
            .await;
        assert_eq!(status, 201, "webhook fixture: {created}");
        let webhook_id = created["webhook"]["id"].as_str().expect("id").to_string();
        let (mut visitor, _) = self.visitor(widget_key, None).await;
        visitor.open().await;
        let started = std::time::Instant::now();
        loop {
            let (_, dead) = admin.get("/api/v1/webhooks/deliveries?state=dead").await;
            if let Some(id) = dead[0]["id"].as_str() {
                return (webhook_id, id.to_string());
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no dead delivery: {dead}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Two visitors of the tenant with the verified user ids `sweep-export` and `sweep-delete`, for route sweeps
    /// of `POST /api/v1/visitor-requests/export` and `/delete` (each sweep's body names one of them).
    pub async fn sweep_visitors(&self, tenant_id: &str) {
        for user in ["sweep-export", "sweep-delete"] {
            let (_, hash) = cordon_crypto::new_token("cv");
            self.store()
                .create_visitor(&cordon_crypto::new_id("v"), tenant_id, &hash, Some(user))
                .await
                .expect("sweep visitor");
        }
    }

    /// A card saved through the vault (issue 15), as a browser would: `agent` (assigned to `conv`) asks for a
    /// payment, `visitor` (its visitor) opens the form, the card is posted to the vault from the vault's own
    /// origin. Answers (request id, token id, the `payment.form` frame).
    pub async fn pay(
        &self,
        agent: &mut Ws,
        visitor: &mut Ws,
        conv: &str,
        number: &str,
    ) -> (String, String, Value) {
        agent
            .send(
                json!({"type": "payment.request", "conversation_id": conv, "amount_minor": 4900,
                "currency": "EUR", "description": "Change fee"}),
            )
            .await;
        let requested = agent.recv_type("payment.requested").await;
        let request_id = requested["request"]["id"]
            .as_str()
            .expect("request id")
            .to_string();
        visitor
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        let form = visitor.recv_type("payment.form").await;
        let (status, saved) = self.post_card(&form, number, "123").await;
        assert_eq!(status, 201, "card saved: {saved}");
        let token_id = saved["token_id"].as_str().expect("token id").to_string();
        (request_id, token_id, form)
    }

    /// Post a card to the vault with the capability of a `payment.form` frame, from the vault's origin.
    pub async fn post_card(&self, form: &Value, number: &str, cvv: &str) -> (u16, Value) {
        let url = form["url"].as_str().expect("form url");
        let (page, token) = url
            .split_once('#')
            .expect("the capability is in the fragment");
        let request_id = page.rsplit('/').next().expect("request id");
        let res = reqwest::Client::new()
            .post(format!("{}/v/cards", self.vault_base))
            .header("origin", &self.vault_base)
            .json(&json!({"request_id": request_id, "form_token": token,
                "card": {"number": number, "exp_month": 12, "exp_year": 2030, "name": "Ada Lovelace", "cvv": cvv}}))
            .send()
            .await
            .expect("post card");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A token of the tenant `slug` for route sweeps (issue 15): the tenant's processor set to the tests'
    /// fake processor and detokenization on (by its admin, signed in), a conversation with its agent online,
    /// and a Visa paid into it. Answers the token id.
    pub async fn token_fixture(&self, slug: &str, widget_key: &str) -> String {
        let admin = self
            .http()
            .with(Auth::Cookie(self.login(slug, "admin").await));
        let (s, b) = admin
            .call(
                "PUT",
                "/api/v1/payments/settings",
                Some(json!({"processor_url": processor::url(), "detokenize_enabled": true})),
            )
            .await;
        assert_eq!(s, 200, "payment settings: {b}");
        // A desk agent with room for every queued chat, online, so the new chat is assigned at once; the
        // request is then made as whichever agent got it (the sweeps may have other agents online).
        let tenant = cordon_service::visitors::tenant_by_widget_key(self.service(), widget_key)
            .await
            .expect("tenant")
            .expect("tenant of the widget key");
        let desk = format!("desk{}", &cordon_crypto::new_id("d")[2..10]).to_lowercase();
        management::create_agent(
            self.service(),
            &tenant.id,
            AgentRequest {
                username: &desk,
                display_name: "Desk",
                role: AgentRole::Agent,
                capacity: 100,
                password: PASSWORD,
            },
            Actor::Operator("test"),
        )
        .await
        .expect("desk agent");
        let (_desk_ws, _) = self.online_agent(slug, &desk).await;
        let (mut visitor, _) = self.visitor(widget_key, None).await;
        let conv = visitor.open().await;
        let started = std::time::Instant::now();
        let agent_id = loop {
            let c = self
                .store()
                .conversation(&tenant.id, &conv)
                .await
                .expect("conversation");
            if let Some(a) = c.agent_id {
                break a;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the chat was not assigned"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let agent = self
            .store()
            .agent(&tenant.id, &agent_id)
            .await
            .expect("agent");
        let request = cordon_service::payments::request_payment(
            self.service(),
            &agent,
            &conv,
            4900,
            "EUR",
            "Change fee",
        )
        .await
        .expect("payment request");
        visitor
            .send(json!({"type": "payment.open", "request_id": request.id}))
            .await;
        let form = visitor.recv_type("payment.form").await;
        let (status, saved) = self.post_card(&form, "4111 1111 1111 1111", "123").await;
        assert_eq!(status, 201, "card saved: {saved}");
        saved["token_id"].as_str().expect("token id").to_string()
    }

    pub fn http(&self) -> Http {
        Http {
            base: self.base.clone(),
            client: reqwest::Client::new(),
            auth: Auth::None,
        }
    }

    pub async fn visitor(&self, widget_key: &str, token: Option<&str>) -> (Ws, Value) {
        let mut ws = Ws::connect(&format!("ws://{}/ws/visitor", self.addr), &[]).await;
        let mut hello = json!({"type": "hello", "v": 1, "widget_key": widget_key});
        if let Some(t) = token {
            hello["visitor_token"] = json!(t);
        }
        ws.send(hello).await;
        let welcome = ws.recv_type("welcome").await;
        (ws, welcome)
    }

    pub async fn agent_ws(&self, cookie: &str) -> (Ws, Value) {
        let mut ws = Ws::connect(
            &format!("ws://{}/ws/agent", self.addr),
            &[("cookie", cookie), ("origin", &self.base)],
        )
        .await;
        ws.send(json!({"type": "hello", "v": 1})).await;
        let welcome = ws.recv_type("welcome").await;
        (ws, welcome)
    }

    /// An agent socket that has gone online.
    pub async fn online_agent(&self, slug: &str, username: &str) -> (Ws, Value) {
        let cookie = self.login(slug, username).await;
        let (mut ws, welcome) = self.agent_ws(&cookie).await;
        ws.send(json!({"type": "status.set", "status": "online"}))
            .await;
        ws.recv_where(|f| f["type"] == "notice" && f["code"] == "status")
            .await;
        (ws, welcome)
    }
}

#[derive(Clone)]
pub enum Auth {
    None,
    Cookie(String),
    Bearer(String),
}

#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
    pub auth: Auth,
}

impl Http {
    pub fn with(&self, auth: Auth) -> Http {
        Http {
            auth,
            ..self.clone()
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(m, format!("{}{}", self.base, path));
        req = req.header("origin", &self.base);
        match &self.auth {
            Auth::None => {}
            Auth::Cookie(c) => req = req.header("cookie", c),
            Auth::Bearer(k) => req = req.header("authorization", format!("Bearer {k}")),
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }
}

pub struct Ws {
    pub inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames received but not yet consumed by a `recv_*` call.
    pub backlog: Vec<Value>,
}

pub const RECV_TIMEOUT: Duration = Duration::from_secs(10);

impl Ws {
    pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Ws {
        let mut req = url.into_client_request().expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).expect("header"),
                v.parse().expect("header value"),
            );
        }
        let (inner, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        Ws {
            inner,
            backlog: Vec::new(),
        }
    }

    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Ws, String> {
        let mut req = url.into_client_request().map_err(|e| e.to_string())?;
        for (k, v) in headers {
            req.headers_mut().insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?,
                v.parse().map_err(|_| "bad header".to_string())?,
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((inner, _)) => Ok(Ws {
                inner,
                backlog: Vec::new(),
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    pub async fn send(&mut self, v: Value) {
        self.inner
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }

    pub async fn send_text(&mut self, t: &str) {
        self.inner
            .send(Message::Text(t.to_string().into()))
            .await
            .expect("ws send");
    }

    /// The next JSON frame from the socket (not the backlog), or None on close/timeout.
    async fn next_frame(&mut self, timeout: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(timeout, self.inner.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server frames are JSON"))
                }
                Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                    return None
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Wait for a frame matching `pred`; frames skipped on the way stay in the backlog.
    pub async fn recv_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        self.try_recv_where(&pred, RECV_TIMEOUT)
            .await
            .unwrap_or_else(|| {
                panic!(
                    "no matching frame within {RECV_TIMEOUT:?}; backlog: {:?}",
                    self.backlog
                )
            })
    }

    pub async fn try_recv_where(
        &mut self,
        pred: &impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Option<Value> {
        if let Some(i) = self.backlog.iter().position(|f| pred(f)) {
            return Some(self.backlog.remove(i));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let f = self.next_frame(left).await?;
            if pred(&f) {
                return Some(f);
            }
            self.backlog.push(f);
        }
    }

    pub async fn recv_type(&mut self, t: &str) -> Value {
        self.recv_where(|f| f["type"] == t).await
    }

    pub async fn recv_error(&mut self) -> Value {
        self.recv_type("error").await
    }

    /// Read everything that arrives within `d` into the backlog.
    pub async fn drain(&mut self, d: Duration) {
        while let Some(f) = self.next_frame(d).await {
            self.backlog.push(f);
        }
    }

    /// Wait until the server closes the socket; returns the close code if one was sent.
    pub async fn closed(&mut self, timeout: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.inner.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005))
                }
                Ok(None) | Ok(Some(Err(_))) => return Some(1006),
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Ok(v) = serde_json::from_str(t.as_str()) {
                        self.backlog.push(v);
                    }
                }
                Ok(Some(Ok(_))) => {}
                Err(_) => return None,
            }
        }
    }

    /// Send a message and wait for its ack; returns the seq.
    pub async fn say(&mut self, conversation_id: &str, client_msg_id: &str, text: &str) -> i64 {
        self.send(json!({"type": "message.send", "conversation_id": conversation_id, "client_msg_id": client_msg_id, "text": text}))
            .await;
        let id = client_msg_id.to_string();
        let ack = self
            .recv_where(move |f| {
                (f["type"] == "message.ack" || f["type"] == "error")
                    && (f["client_msg_id"] == id.as_str() || f["ref"] == id.as_str())
            })
            .await;
        assert_eq!(ack["type"], "message.ack", "expected an ack, got {ack}");
        ack["seq"].as_i64().expect("seq")
    }

    /// Open (or get) the visitor's conversation; returns its id.
    /// As the agent: close the conversation, and wait until the visitor's socket sees it closed.
    pub async fn close_chat(&mut self, visitor: &mut Ws, conversation_id: &str) {
        self.send(
            serde_json::json!({"type": "conversation.close", "conversation_id": conversation_id}),
        )
        .await;
        visitor
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
            })
            .await;
    }

    pub async fn open(&mut self) -> String {
        self.send(json!({"type": "conversation.open"})).await;
        let c = self.recv_type("conversation").await;
        c["conversation"]["id"].as_str().expect("id").to_string()
    }

    /// Messages of a conversation in the backlog and arriving within `d`, by seq.
    pub async fn collect_messages(&mut self, conversation_id: &str, d: Duration) -> Vec<Value> {
        self.drain(d).await;
        let mut out: Vec<Value> = Vec::new();
        self.backlog.retain(|f| {
            if f["type"] == "message" && f["conversation_id"] == conversation_id {
                out.push(f.clone());
                false
            } else {
                true
            }
        });
        out
    }
}
