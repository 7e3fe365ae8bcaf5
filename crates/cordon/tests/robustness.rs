//! Bad input, slow consumers and durability ordering: typed errors, usable connections, bounded memory, and
//! acknowledgements that never precede the commit.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::TestServer;
use futures_util::SinkExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn bad_input_gets_typed_errors_and_the_connection_stays_usable() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let other = srv.fixture("voltmart").await;
    let (mut bystander, _) = srv.visitor(&other.tenant.widget_key, None).await;
    let bystander_conv = bystander.open().await;

    let url = format!("ws://{}/ws/visitor", srv.addr);
    let mut ws = common::Ws::connect(&url, &[]).await;
    // Before hello.
    ws.send(json!({"type": "conversation.open"})).await;
    assert_eq!(ws.recv_error().await["code"], "not_authenticated");
    ws.send(json!({"type": "hello", "v": 99, "widget_key": fx.tenant.widget_key}))
        .await;
    assert_eq!(ws.recv_error().await["code"], "unsupported_version");
    ws.send(json!({"type": "hello", "v": 1, "widget_key": "wk_doesnotexist"}))
        .await;
    assert_eq!(ws.recv_error().await["code"], "unknown_tenant");
    ws.send(json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key}))
        .await;
    ws.recv_type("welcome").await;
    let conv = ws.open().await;

    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "bad_frame"),
        ("[1,2,3]".into(), "bad_frame"),
        (json!({"type": "launch.missiles"}).to_string(), "unknown_type"),
        (json!({"type": "message.send", "conversation_id": conv}).to_string(), "bad_frame"),
        (json!({"type": "message.send", "conversation_id": "c_nope", "client_msg_id": "m1", "text": "x"}).to_string(), "not_found"),
        (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "m2", "text": "x".repeat(4001)}).to_string(), "text_too_long"),
        (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "m3", "text": "   "}).to_string(), "text_empty"),
        (json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "bad id!", "text": "x"}).to_string(), "invalid_id"),
        (json!({"type": "sync", "conversation_id": "c_nope", "after_seq": 0}).to_string(), "not_found"),
        (json!({"type": "hello", "v": 1}).to_string(), "already_authenticated"),
        (format!("{{\"type\":\"message.send\",\"text\":\"{}\"}}", "y".repeat(70 * 1024)), "frame_too_large"),
    ];
    for (frame, code) in &cases {
        ws.send_text(frame).await;
        let e = ws.recv_error().await;
        assert_eq!(e["code"], *code, "for {}", &frame[..frame.len().min(80)]);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        // Usable afterwards.
        ws.send(json!({"type": "ping"})).await;
        ws.recv_type("pong").await;
    }
    ws.inner
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(ws.recv_error().await["code"], "bad_frame");
    // Nothing half-written: no message was stored by any of the failures.
    assert_eq!(
        srv.store()
            .message_count(&fx.tenant.id, &conv)
            .await
            .unwrap(),
        0
    );

    // Too many messages per second: refused with rate_limited, later ones accepted again.
    for i in 0..60 {
        ws.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": format!("r{i}"), "text": "flood"})).await;
    }
    let limited = ws
        .recv_where(|f| f["type"] == "error" && f["code"] == "rate_limited")
        .await;
    assert!(limited["message"].is_string());
    tokio::time::sleep(Duration::from_millis(600)).await;
    ws.say(&conv, "after-flood", "calm now").await;

    // Frames beyond the hard cap end the connection (the library refuses to buffer them).
    let mut big = common::Ws::connect(&url, &[]).await;
    let _ = big
        .inner
        .send(Message::Text("z".repeat(2 * 1024 * 1024).into()))
        .await;
    assert!(big.closed(Duration::from_secs(5)).await.is_some());

    // The server is up and another tenant's traffic was undisturbed throughout.
    bystander.say(&bystander_conv, "ok", "still here").await;
    assert_eq!(srv.http().get("/healthz").await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_disconnected_and_others_continue() {
    let limits = cordon_server::Limits {
        outbound_buffer: 8,
        write_timeout: Duration::from_millis(500),
        frames_per_sec: 100_000.0,
        frame_burst: 100_000.0,
        ..Default::default()
    };
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), limits).await;
    let fx = srv.fixture("skyway").await;
    let (mut sender, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
    let token = welcome["visitor_token"].as_str().unwrap().to_string();
    let conv = sender.open().await;

    // The slow reader: a second connection of the same visitor with a tiny receive buffer that never reads.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(srv.addr).await.unwrap();
    let (mut slow, _) =
        tokio_tungstenite::client_async(format!("ws://{}/ws/visitor", srv.addr), stream)
            .await
            .unwrap();
    slow.send(Message::Text(json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key, "visitor_token": token}).to_string().into())).await.unwrap();
    slow.send(Message::Text(
        json!({"type": "sync", "conversation_id": conv, "after_seq": 0})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();

    let text = "x".repeat(4000);
    let mut sent = 0;
    while srv.state.metrics().slow_consumer_disconnects.get() == 0 && sent < 4000 {
        for _ in 0..50 {
            sender
                .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": format!("m{sent}"), "text": text}))
                .await;
            sent += 1;
        }
        let last = format!("m{}", sent - 1);
        sender
            .recv_where(move |f| f["type"] == "message.ack" && f["client_msg_id"] == last.as_str())
            .await;
        sender.backlog.clear();
    }
    assert!(
        srv.state.metrics().slow_consumer_disconnects.get() >= 1,
        "slow consumer was never disconnected after {sent} messages"
    );
    // The sender, who reads, is fine and keeps going.
    sender.say(&conv, "after", "still flowing").await;
    drop(slow);
    srv.stop().await;
}

/// Holds every message commit until released, and records when commits happen.
#[derive(Debug, Default)]
struct Gate {
    open: tokio::sync::Notify,
    committed: AtomicBool,
}

impl cordon_store::CommitGate for Gate {
    fn before_commit(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move { self.open.notified().await })
    }

    fn after_commit(&self) {
        self.committed.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn no_ack_leaves_before_its_commit() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        let gate = Arc::new(Gate::default());
        srv.store().set_commit_gate(Some(gate.clone()));
        visitor
            .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "held", "text": "wait for it"}))
            .await;
        let early = visitor
            .try_recv_where(
                &|f: &serde_json::Value| f["type"] == "message.ack",
                Duration::from_millis(500),
            )
            .await;
        assert!(
            early.is_none(),
            "an ack escaped while the commit was held: {early:?}"
        );
        assert!(!gate.committed.load(Ordering::SeqCst));
        gate.open.notify_one();
        let ack = visitor.recv_type("message.ack").await;
        assert!(
            gate.committed.load(Ordering::SeqCst),
            "ack seen before commit returned"
        );
        assert_eq!(ack["seq"], 1);
        srv.store().set_commit_gate(None);
        srv.stop().await;
    }
}

#[tokio::test]
async fn durability_settings_hold_on_every_server_connection() {
    for db in cordon_store::testing::all_backends().await {
        let backend = db.backend;
        let srv = TestServer::start(db).await;
        // Exercise the pool first so it has opened connections the way the server uses them.
        srv.fixture("skyway").await;
        for conn in srv.store().durability_settings().await.unwrap() {
            let get = |k: &str| {
                conn.settings
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            match backend {
                cordon_store::Backend::Sqlite => {
                    assert_eq!(get("journal_mode").as_deref(), Some("wal"), "{conn:?}");
                    assert_eq!(
                        get("synchronous").as_deref(),
                        Some("2"),
                        "synchronous=FULL on {conn:?}"
                    );
                }
                cordon_store::Backend::Postgres => {
                    assert_eq!(get("synchronous_commit").as_deref(), Some("on"), "{conn:?}");
                }
            }
        }
        srv.stop().await;
    }
}

#[tokio::test]
async fn dead_connections_are_reaped() {
    let limits = cordon_server::Limits {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..Default::default()
    };
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), limits).await;
    let fx = srv.fixture("skyway").await;
    // A client that completes the handshake and hello, then goes silent: it never reads, so it never answers
    // the server's pings.
    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    assert_eq!(srv.state.metrics().visitor_connections.get(), 1);
    let started = std::time::Instant::now();
    while srv.state.metrics().visitor_connections.get() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "a silent connection was never reaped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ws.closed(Duration::from_secs(2)).await.is_some());
    srv.stop().await;
}

#[tokio::test]
async fn health_metrics_and_security_headers() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut v, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = v.open().await;
    v.say(&conv, "m", "card 4111 1111 1111 1111").await;
    v.send(json!({"type": "nope"})).await;
    v.recv_error().await;
    let client = reqwest::Client::new();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
        "/api/v1/me",
        "/nope",
    ] {
        let res = client
            .get(format!("{}{path}", srv.base))
            .send()
            .await
            .unwrap();
        let h = res.headers();
        assert!(h.contains_key("content-security-policy"), "{path}: CSP");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(
            !h.contains_key("strict-transport-security"),
            "{path}: no HSTS without TLS"
        );
    }
    assert_eq!(
        client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        "cordon_connections{kind=\"visitor\"} 1",
        "cordon_messages_total",
        "cordon_cards_redacted_total 1",
        "cordon_message_commit_seconds_bucket",
        "cordon_errors_total{code=\"unknown_type\"} 1",
    ] {
        assert!(metrics.contains(want), "metrics lack {want}:\n{metrics}");
    }
    // No tenant data in label values.
    assert!(
        !metrics.contains(&fx.tenant.id) && !metrics.contains("skyway") && !metrics.contains(&conv)
    );
    srv.stop().await;
}
