//! The service end to end: a real server on an ephemeral port, real HTTP and WebSocket clients, every backend.

mod common;

use std::time::Duration;

use common::{Auth, TestServer};
use serde_json::json;

#[tokio::test]
async fn a_full_conversation() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let (agent, _) = srv.online_agent("skyway", "agent").await;
        let (agent2, _) = srv.online_agent("skyway", "agent2").await;

        // A visitor opens a chat; it is assigned to an online agent with free capacity.
        let (mut visitor, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
        let token = welcome["visitor_token"]
            .as_str()
            .expect("token")
            .to_string();
        let conv = visitor.open().await;
        let assigned = visitor
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "assigned"
            })
            .await;
        let owner = assigned["conversation"]["agent"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (mut owner_ws, mut other_ws) = if owner == fx.agent_id {
            (agent, agent2)
        } else {
            (agent2, agent)
        };
        let other_id = if owner == fx.agent_id {
            fx.agent2_id.clone()
        } else {
            fx.agent_id.clone()
        };

        // Messages flow both ways.
        let s1 = visitor
            .say(&conv, "v1", "Hi, my flight was cancelled")
            .await;
        let m = owner_ws
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "v1")
            .await;
        assert_eq!(m["text"], "Hi, my flight was cancelled");
        assert_eq!(m["seq"], s1);
        let s2 = owner_ws
            .say(&conv, "a1", "Sorry to hear that! Let me look.")
            .await;
        assert!(s2 > s1);
        let m = visitor
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "a1")
            .await;
        assert_eq!(m["sender"]["kind"], "agent");

        // Transfer to the second agent, who gets the history and can reply.
        owner_ws
            .send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": other_id}))
            .await;
        other_ws
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "v1")
            .await;
        let s3 = other_ws.say(&conv, "a2", "I'm taking over.").await;
        visitor
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "a2")
            .await;
        // The first agent may no longer write.
        owner_ws
            .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "x", "text": "hi"}))
            .await;
        assert_eq!(owner_ws.recv_error().await["code"], "forbidden");

        // Close it.
        other_ws
            .send(json!({"type": "conversation.close", "conversation_id": conv}))
            .await;
        visitor
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
            })
            .await;
        drop(visitor);

        // The visitor returns with its token and sees the history.
        let (mut back, welcome) = srv.visitor(&fx.tenant.widget_key, Some(&token)).await;
        assert!(
            welcome.get("visitor_token").is_none(),
            "a known visitor gets no new token"
        );
        assert_eq!(welcome["conversations"][0]["id"], conv.as_str());
        back.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
            .await;
        let synced = back.recv_type("synced").await;
        let msgs = back
            .collect_messages(&conv, Duration::from_millis(50))
            .await;
        let ids: Vec<&str> = msgs
            .iter()
            .map(|m| m["client_msg_id"].as_str().unwrap())
            .collect();
        for want in ["v1", "a1", "a2"] {
            assert!(ids.contains(&want), "{want} in history {ids:?}");
        }
        assert!(synced["last_seq"].as_i64().unwrap() > s3);
        let seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "gap-free, in order, once"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn card_numbers_are_masked_everywhere_in_the_pipeline() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("voltmart").await;
    let (mut agent, _) = srv.online_agent("voltmart", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    visitor
        .say(&conv, "c1", "my card is 4111 1111 1111 1111 exp 12/29")
        .await;
    let notice = visitor
        .recv_where(|f| f["type"] == "notice" && f["code"] == "card_redacted")
        .await;
    assert!(notice["message"].as_str().unwrap().contains("card"));
    let m = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "c1")
        .await;
    let text = m["text"].as_str().unwrap();
    assert!(!text.contains("4111 1111 1111"), "{text}");
    assert!(text.contains("1111"), "last four stay: {text}");
    // A client id that is a card number is refused, not stored or echoed.
    visitor
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "4111111111111111", "text": "hi"}))
        .await;
    let err = visitor.recv_error().await;
    assert_eq!(err["code"], "invalid_id");
    assert!(!err.to_string().contains("4111111111111111"));
    srv.stop().await;
}

#[tokio::test]
async fn queued_until_an_agent_comes_online() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let notice = visitor
        .recv_where(|f| f["type"] == "notice" && f["code"] == "queued")
        .await;
    assert!(notice["message"].as_str().unwrap().contains("reply here"));
    // Nothing is lost while waiting.
    visitor.say(&conv, "q1", "anyone there?").await;
    let (mut agent, _) = srv.online_agent("skyway", "agent").await;
    let m = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "q1")
        .await;
    assert_eq!(m["text"], "anyone there?");
    visitor
        .recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "assigned"
        })
        .await;
    srv.stop().await;
}

#[tokio::test]
async fn the_last_page_has_no_next_field() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        for i in 0..3 {
            visitor
                .say(&conv, &format!("p{i}"), &format!("page {i}"))
                .await;
        }
        let reader = srv.http().with(Auth::Bearer(
            srv.api_key(&fx.tenant, &["conversations:read"]).await,
        ));
        // Messages: a full page names the next `after_seq`; the last page has no such field (PROTOCOL §15.3),
        // not a null one.
        let path = format!("/api/v1/conversations/{conv}/messages");
        let (s, page) = reader.get(&format!("{path}?limit=2")).await;
        assert_eq!(s, 200, "{page}");
        let seqs: Vec<i64> = page["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs.len(), 2);
        assert_eq!(page["next_after_seq"], json!(seqs[1]), "{page}");
        let mut after = seqs[1];
        loop {
            let (s, page) = reader
                .get(&format!("{path}?limit=2&after_seq={after}"))
                .await;
            assert_eq!(s, 200, "{page}");
            match page["next_after_seq"].as_i64() {
                Some(next) => after = next,
                None => {
                    assert!(
                        !page.as_object().unwrap().contains_key("next_after_seq"),
                        "absent, not null, on the last page: {page}"
                    );
                    assert!(page["messages"].as_array().unwrap().len() < 2, "{page}");
                    break;
                }
            }
        }
        // Conversations: the same rule for `next_cursor`.
        let (s, page) = reader.get("/api/v1/conversations?limit=1").await;
        assert_eq!(s, 200, "{page}");
        let cursor = page["next_cursor"]
            .as_str()
            .expect("a full page has a cursor");
        let (s, page) = reader
            .get(&format!("/api/v1/conversations?limit=1&cursor={cursor}"))
            .await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["conversations"], json!([]));
        assert!(
            !page.as_object().unwrap().contains_key("next_cursor"),
            "absent, not null, on the last page: {page}"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn retries_never_duplicate() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let a = visitor.say(&conv, "same", "hello").await;
    visitor
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "same", "text": "hello"}))
        .await;
    let ack = visitor
        .recv_where(|f| f["type"] == "message.ack" && f["duplicate"] == true)
        .await;
    assert_eq!(ack["seq"], a);
    assert_eq!(
        srv.store()
            .message_count(&fx.tenant.id, &conv)
            .await
            .unwrap(),
        1
    );
    srv.stop().await;
}

#[tokio::test]
async fn api_errors_are_typed_json() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let http = srv.http();
    let (status, body) = http.get("/api/v1/me").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "not_authenticated");
    let (status, body) = http.get("/api/v1/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = http
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"tenant": "4111111111111111"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(!body.to_string().contains("4111"));
    let (status, body) = http
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"tenant": "x1", "username": "u", "password": "p"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "bad_credentials");
    let bad = http.with(Auth::Bearer("ck_nonsense".into()));
    assert_eq!(bad.get("/api/v1/me").await.0, 401);
    srv.stop().await;
}

#[tokio::test]
async fn scopes_expiry_and_revocation() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let http = srv.http();
        // An admin key manages settings but cannot read transcripts.
        let admin = http.with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
        assert_eq!(admin.get("/api/v1/tenant").await.0, 200);
        let (s, body) = admin.get("/api/v1/conversations").await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );
        // A reader reads history but cannot change settings or agents.
        let reader = http.with(Auth::Bearer(
            srv.api_key(&fx.tenant, &["conversations:read"]).await,
        ));
        assert_eq!(reader.get("/api/v1/conversations").await.0, 200);
        assert_eq!(
            reader
                .call(
                    "PATCH",
                    "/api/v1/tenant",
                    Some(json!({"display_name": "x"}))
                )
                .await
                .0,
            403
        );
        assert_eq!(reader.get("/api/v1/apikeys").await.0, 403);
        // Agents read history; auditors read history but do not chat or administer.
        let auditor = http.with(Auth::Cookie(srv.login("skyway", "auditor").await));
        assert_eq!(auditor.get("/api/v1/conversations").await.0, 200);
        assert_eq!(auditor.get("/api/v1/tenant").await.0, 403);

        // Expired and revoked keys are refused at once.
        let expired_token = "ck_expired-test-token";
        srv.store()
            .create_api_key(
                &fx.tenant.id,
                cordon_store::NewApiKey {
                    id: "k_expired".into(),
                    key_hash: cordon_crypto::hash_token(expired_token).to_vec(),
                    prefix: "ck_expir".into(),
                    scopes: vec!["admin".into()],
                    expires_at: cordon_store::now_ms() - 1,
                },
                &[],
            )
            .await
            .unwrap();
        assert_eq!(
            http.with(Auth::Bearer(expired_token.into()))
                .get("/api/v1/me")
                .await
                .0,
            401
        );
        let key = srv.api_key(&fx.tenant, &["admin"]).await;
        let keyed = http.with(Auth::Bearer(key.clone()));
        let (_, keys) = keyed.get("/api/v1/apikeys").await;
        let id = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| key.starts_with(k["prefix"].as_str().unwrap()) && k["revoked_at"].is_null())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            !keys.to_string().contains(&key),
            "key secrets never appear in listings"
        );
        assert_eq!(
            keyed
                .call("DELETE", &format!("/api/v1/apikeys/{id}"), None)
                .await
                .0,
            204
        );
        assert_eq!(keyed.get("/api/v1/me").await.0, 401);

        // Revoking a session refuses it on HTTP and closes the open socket within a second.
        let cookie = srv.login("skyway", "agent").await;
        let (mut ws, _) = srv.agent_ws(&cookie).await;
        let admin_http = http.with(Auth::Cookie(srv.login("skyway", "admin").await));
        let started = std::time::Instant::now();
        let (s, _) = admin_http
            .call(
                "POST",
                &format!("/api/v1/agents/{}/revoke-sessions", fx.agent_id),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(
            http.with(Auth::Cookie(cookie.clone()))
                .get("/api/v1/me")
                .await
                .0,
            401
        );
        let err = ws
            .recv_where(|f| f["type"] == "error" && f["code"] == "session_revoked")
            .await;
        assert!(err["message"].is_string());
        assert_eq!(ws.closed(Duration::from_secs(2)).await, Some(4001));
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "revocation took {:?}",
            started.elapsed()
        );
        // A revoked session cannot open a socket either.
        let refused = common::Ws::try_connect(
            &format!("ws://{}/ws/agent", srv.addr),
            &[("cookie", &cookie), ("origin", &srv.base)],
        )
        .await;
        assert!(refused.is_err());
        srv.stop().await;
    }
}

#[tokio::test]
async fn agent_socket_checks_origin() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    srv.fixture("skyway").await;
    let cookie = srv.login("skyway", "agent").await;
    let url = format!("ws://{}/ws/agent", srv.addr);
    assert!(common::Ws::try_connect(
        &url,
        &[("cookie", &cookie), ("origin", "http://127.0.0.2:9")]
    )
    .await
    .is_err());
    assert!(common::Ws::try_connect(&url, &[("cookie", &cookie)])
        .await
        .is_err());
    assert!(
        common::Ws::try_connect(&url, &[("cookie", &cookie), ("origin", &srv.base)])
            .await
            .is_ok()
    );
    // Cookie-authenticated writes from another origin are refused (CSRF).
    let (s, body) = reqwest::Client::new()
        .patch(format!("{}/api/v1/tenant", srv.base))
        .header("cookie", srv.login("skyway", "admin").await)
        .header("origin", "http://evil.example")
        .json(&json!({"display_name": "pwned"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 403);
    assert!(body.text().await.unwrap().contains("csrf_rejected"));
    srv.stop().await;
}

/// Open `/ws/agent` from the console's origin with `authorization`; the refusal's status and error code.
async fn agent_socket_refusal(srv: &TestServer, authorization: &str) -> (u16, Option<String>) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let mut req = format!("ws://{}/ws/agent", srv.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    req.headers_mut()
        .insert("origin", srv.base.parse().unwrap());
    match tokio_tungstenite::connect_async(req).await {
        Ok(_) => panic!("{authorization:?} opened an agent socket"),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let code = res
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v["error"]["code"].as_str().map(str::to_string));
            (res.status().as_u16(), code)
        }
        Err(e) => panic!("{authorization:?}: not an HTTP refusal: {e}"),
    }
}

#[tokio::test]
async fn agent_socket_refuses_api_keys_invalid_ones_with_401() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        // PROTOCOL §3.2: a key that is not live is not an identity at all (401, as on HTTP); a live key is an
        // identity that may not open sockets (403).
        let (status, code) = agent_socket_refusal(&srv, "Bearer ck_nonsense").await;
        assert_eq!(status, 401, "an invalid key");
        assert_eq!(
            code.as_deref().unwrap_or("not_authenticated"),
            "not_authenticated"
        );
        let (status, code) = agent_socket_refusal(&srv, "Basic c2FtOnB3").await;
        assert_eq!(status, 401, "not a bearer key");
        assert_eq!(
            code.as_deref().unwrap_or("not_authenticated"),
            "not_authenticated"
        );
        let key = srv
            .api_key(&fx.tenant, &["admin", "conversations:read"])
            .await;
        let (status, code) = agent_socket_refusal(&srv, &format!("Bearer {key}")).await;
        assert_eq!(status, 403, "a valid key cannot open a socket");
        assert_eq!(code.as_deref().unwrap_or("forbidden"), "forbidden");
        srv.stop().await;
    }
}

fn identity(secret: &str, user: &str, expires: i64) -> serde_json::Value {
    json!({"user_id": user, "expires": expires, "signature": cordon_crypto::identity_hmac(secret.as_bytes(), user, expires)})
}

#[tokio::test]
async fn verified_identity_is_enforced_for_every_frame() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        let (_, secret) = admin
            .call("POST", "/api/v1/tenant/identity-secret", None)
            .await;
        let secret = secret["identity_secret"].as_str().unwrap().to_string();
        let (s, t) = admin
            .call(
                "PATCH",
                "/api/v1/tenant",
                Some(json!({"verify_identity": true})),
            )
            .await;
        assert_eq!((s, &t["verify_identity"]), (200, &json!(true)));
        let url = format!("ws://{}/ws/visitor", srv.addr);
        let future = cordon_store::now_ms() / 1000 + 3600;
        let hello = |identity: Option<serde_json::Value>| {
            let mut h = json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key});
            if let Some(i) = identity {
                h["identity"] = i;
            }
            h
        };
        let mut ws = common::Ws::connect(&url, &[]).await;
        // Missing, forged and expired proofs are refused, and no other frame works without a valid hello.
        ws.send(hello(None)).await;
        assert_eq!(ws.recv_error().await["code"], "identity_required");
        let mut forged = identity(&secret, "alice", future);
        forged["user_id"] = json!("mallory");
        ws.send(hello(Some(forged))).await;
        assert_eq!(ws.recv_error().await["code"], "identity_invalid");
        ws.send(hello(Some(identity("wrong-secret", "alice", future))))
            .await;
        assert_eq!(ws.recv_error().await["code"], "identity_invalid");
        ws.send(hello(Some(identity(&secret, "alice", 1000)))).await;
        assert_eq!(ws.recv_error().await["code"], "identity_expired");
        for t in cordon_service::protocol::client_frame_types() {
            if t == "hello" || t == "ping" {
                continue;
            }
            ws.send(json!({"type": t, "conversation_id": "c_x", "client_msg_id": "m", "text": "x", "after_seq": 0, "active": true, "seq": 0, "agent_id": "a", "status": "online",
                "amount_minor": 1, "currency": "EUR", "description": "x", "request_id": "pr_x", "score": 3, "email": "a@example.com"})).await;
            let e = ws.recv_error().await;
            assert_eq!(e["code"], "not_authenticated", "{t}: {e}");
        }
        // A valid proof works; alice's history is hers.
        ws.send(hello(Some(identity(&secret, "alice", future))))
            .await;
        let welcome = ws.recv_type("welcome").await;
        let alice_token = welcome["visitor_token"].as_str().unwrap().to_string();
        let conv = ws.open().await;
        ws.say(&conv, "a1", "alice's secret order").await;
        drop(ws);
        // Bob, presenting alice's token with his own valid proof, does not get her history.
        let mut bob = common::Ws::connect(&url, &[]).await;
        let mut h = hello(Some(identity(&secret, "bob", future)));
        h["visitor_token"] = json!(alice_token);
        bob.send(h).await;
        let w = bob.recv_type("welcome").await;
        assert!(w["conversations"].as_array().unwrap().is_empty(), "{w}");
        // Alice comes back with her token and proof and sees her conversation.
        let mut again = common::Ws::connect(&url, &[]).await;
        let mut h = hello(Some(identity(&secret, "alice", future)));
        h["visitor_token"] = json!(alice_token);
        again.send(h).await;
        let w = again.recv_type("welcome").await;
        assert_eq!(w["conversations"][0]["id"], conv.as_str());
        srv.stop().await;
    }
}

#[tokio::test]
async fn unverified_user_ids_unlock_nothing() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let url = format!("ws://{}/ws/visitor", srv.addr);
    let mut a = common::Ws::connect(&url, &[]).await;
    a.send(json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key, "identity": {"user_id": "alice", "expires": 9999999999i64, "signature": "00"}})).await;
    a.recv_type("welcome").await;
    let conv = a.open().await;
    a.say(&conv, "m", "hello").await;
    let mut b = common::Ws::connect(&url, &[]).await;
    b.send(json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key, "identity": {"user_id": "alice", "expires": 9999999999i64, "signature": "00"}})).await;
    let w = b.recv_type("welcome").await;
    assert!(w["conversations"].as_array().unwrap().is_empty());
    srv.stop().await;
}

#[tokio::test]
async fn resume_after_disconnect_delivers_exactly_once() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let cookie = srv.login("skyway", "agent").await;
        let (mut agent, _) = srv.agent_ws(&cookie).await;
        agent
            .send(json!({"type": "status.set", "status": "online"}))
            .await;
        let (mut visitor, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
        let token = welcome["visitor_token"].as_str().unwrap().to_string();
        let conv = visitor.open().await;
        for i in 0..5 {
            visitor
                .say(&conv, &format!("v{i}"), &format!("before {i}"))
                .await;
        }
        let seen = agent
            .collect_messages(&conv, Duration::from_millis(300))
            .await;
        let agent_last = seen
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .max()
            .unwrap();
        let visitor_last = visitor
            .collect_messages(&conv, Duration::from_millis(100))
            .await
            .iter()
            .map(|m| m["seq"].as_i64().unwrap())
            .max()
            .unwrap();
        // Both drop. Messages arrive while they are away.
        drop(agent);
        drop(visitor);
        let (mut agent2, _) = srv.online_agent("skyway", "agent2").await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, Some(&token)).await;
        for i in 5..10 {
            visitor
                .say(&conv, &format!("v{i}"), &format!("while away {i}"))
                .await;
        }
        drop(
            agent2
                .collect_messages(&conv, Duration::from_millis(10))
                .await,
        );
        drop(visitor);
        // Both come back and resume from what they last saw.
        let (mut agent, _) = srv.agent_ws(&srv.login("skyway", "agent").await).await;
        agent
            .send(json!({"type": "sync", "conversation_id": conv, "after_seq": agent_last}))
            .await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, Some(&token)).await;
        visitor
            .send(json!({"type": "sync", "conversation_id": conv, "after_seq": visitor_last}))
            .await;
        visitor.recv_type("synced").await;
        agent.recv_type("synced").await;
        visitor.say(&conv, "v10", "back again").await;
        let last = srv
            .store()
            .conversation(&fx.tenant.id, &conv)
            .await
            .unwrap()
            .last_seq;
        for (who, ws, from) in [
            ("agent", &mut agent, agent_last),
            ("visitor", &mut visitor, visitor_last),
        ] {
            let got: Vec<i64> = ws
                .collect_messages(&conv, Duration::from_millis(300))
                .await
                .iter()
                .map(|m| m["seq"].as_i64().unwrap())
                .collect();
            assert_eq!(
                got,
                ((from + 1)..=last).collect::<Vec<_>>(),
                "{who} gets each missed message once, in order"
            );
        }
        let _ = agent2;
        srv.stop().await;
    }
}

#[tokio::test]
async fn agent_actions_are_answered_and_leaving_takes_an_agent_offline() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut agent, _) = srv.online_agent("skyway", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    agent
        .recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "assigned"
        })
        .await;
    // Transfer to oneself, or to an auditor, is refused with a clear code.
    agent.send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": fx.agent_id})).await;
    assert_eq!(agent.recv_error().await["code"], "conflict");
    agent.send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": fx.auditor_id})).await;
    assert_eq!(agent.recv_error().await["code"], "not_found");
    // …and so is one to a colleague who is offline: nobody would see the chat. Away is a deliberate handover.
    agent.send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": fx.agent2_id})).await;
    let e = agent.recv_error().await;
    assert_eq!(
        (e["code"].as_str(), e["message"].as_str()),
        (Some("agent_offline"), Some("the agent is offline"))
    );
    let (mut agent2, _) = srv.online_agent("skyway", "agent2").await;
    agent2
        .send(json!({"type": "status.set", "status": "away"}))
        .await;
    agent2
        .recv_where(|f| f["type"] == "notice" && f["message"] == "away")
        .await;
    agent.send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": fx.agent2_id})).await;
    agent2
        .recv_where(|f| {
            f["type"] == "conversation.updated"
                && f["conversation"]["agent"]["id"] == fx.agent2_id.as_str()
        })
        .await;
    agent2.send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": fx.agent_id})).await;
    agent
        .recv_where(|f| {
            f["type"] == "conversation.updated"
                && f["conversation"]["agent"]["id"] == fx.agent_id.as_str()
        })
        .await;
    // A sync beyond the end is capped, so later live messages still arrive.
    agent
        .send(json!({"type": "sync", "conversation_id": conv, "after_seq": 999}))
        .await;
    let synced = agent.recv_type("synced").await;
    assert!(synced["last_seq"].as_i64().unwrap() < 999);
    visitor.say(&conv, "after-sync", "still there?").await;
    agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "after-sync")
        .await;
    // Closing twice: the second is an error.
    agent
        .send(json!({"type": "conversation.close", "conversation_id": conv}))
        .await;
    agent
        .recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
        })
        .await;
    agent
        .send(json!({"type": "conversation.close", "conversation_id": conv}))
        .await;
    assert_eq!(agent.recv_error().await["code"], "conversation_closed");
    // The agent's last socket closes: no new chats are routed to it.
    drop(agent);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = srv
            .store()
            .agent(&fx.tenant.id, &fx.agent_id)
            .await
            .unwrap();
        if a.status == cordon_store::AgentStatus::Offline {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "agent still {:?} after leaving",
            a.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut v2, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    v2.open().await;
    v2.recv_where(|f| f["type"] == "notice" && f["code"] == "queued")
        .await;
    srv.stop().await;
}
