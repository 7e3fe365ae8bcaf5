//! Tenant isolation: every HTTP route (taken from the OpenAPI document, which the router's own registration
//! builds) and every socket operation (taken from the protocol schema's frame types) is tried by tenant A's
//! principals against tenant B's data, with guessed and leaked ids. Every attempt must be refused with nothing
//! of B in the response. Each probe has a positive control: B's own principal makes the same call and succeeds,
//! so a server that refuses everything fails this test.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Auth, Fixture, TestServer, Ws};
use serde_json::{json, Value};

/// Strings that identify tenant B's data; none may appear in anything tenant A receives.
fn secrets_of_b(fx: &Fixture, conv: &str, key_id: &str, visitor_id: &str) -> Vec<String> {
    vec![
        fx.tenant.id.clone(),
        fx.tenant.widget_key.clone(),
        fx.admin_id.clone(),
        fx.agent_id.clone(),
        fx.agent2_id.clone(),
        fx.auditor_id.clone(),
        conv.to_string(),
        key_id.to_string(),
        visitor_id.to_string(),
        "tenant-b Inc".to_string(),
        "B-SECRET-MESSAGE".to_string(),
    ]
}

fn assert_clean(what: &str, body: &Value, secrets: &[String]) {
    let text = body.to_string();
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what}: response leaks tenant B data ({s}): {text}"
        );
    }
}

/// A request body for each mutating route. A route missing here fails the test: new routes cannot escape.
fn body_for(method: &str, path: &str, n: usize) -> Option<Value> {
    match (method, path) {
        ("PATCH", "/api/v1/tenant") => Some(json!({"display_name": format!("renamed {n}")})),
        ("POST", "/api/v1/agents") => Some(json!({
            "username": format!("newbie{n}"), "display_name": "New", "role": "agent", "password": "a long enough password"
        })),
        ("PATCH", "/api/v1/agents/{agent_id}") => {
            Some(json!({"display_name": format!("changed {n}")}))
        }
        ("POST", "/api/v1/apikeys") => Some(json!({"scopes": ["conversations:read"]})),
        ("POST", "/api/v1/auth/logout")
        | ("POST", "/api/v1/operator-grants/{grant_id}/approve")
        | ("POST", "/api/v1/operator-grants/{grant_id}/revoke")
        | ("POST", "/api/v1/tenant/identity-secret")
        | ("POST", "/api/v1/agents/{agent_id}/revoke-sessions")
        | ("DELETE", "/api/v1/apikeys/{key_id}") => None,
        ("POST", "/api/v1/impact") => Some(
            json!({"kind": "platform", "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}),
        ),
        ("POST", "/api/v1/transparency/checkpoint-check") => Some(json!({})),
        ("POST", "/api/v1/me/totp") => Some(json!({})),
        ("PATCH", "/api/v1/tenant/mfa") => Some(json!({"require_totp": false})),
        ("PUT", "/api/v1/tenant/release") => Some(json!({"release_id": null})),
        ("PUT", "/api/v1/tenant/chat-forms") => Some(json!({"prechat": false, "offline": true})),
        ("POST", "/api/v1/canned-replies") => {
            Some(json!({"shortcut": format!("probe{n}"), "text": "Probe reply"}))
        }
        ("PUT", "/api/v1/canned-replies/{reply_id}") => {
            Some(json!({"shortcut": format!("probed{n}"), "text": "Probed reply"}))
        }
        ("DELETE", "/api/v1/canned-replies/{reply_id}") => None,
        ("POST", "/api/v1/conversations/{conversation_id}/notes") => {
            Some(json!({"text": format!("Probe note {n}")}))
        }
        ("PUT", "/api/v1/conversations/{conversation_id}/meta") => {
            Some(json!({"tags": ["probe"], "priority": "high"}))
        }
        ("POST", "/api/v1/webhooks") => {
            Some(json!({"url": "http://127.0.0.1:9/probe", "events": ["conversation.closed"]}))
        }
        ("PUT", "/api/v1/tenant/retention") => {
            Some(json!({"transcript_days": 3650, "exposure_days": 3650}))
        }
        ("POST", "/api/v1/visitor-requests/export") => Some(json!({"user_id": "sweep-export"})),
        ("POST", "/api/v1/visitor-requests/delete") => Some(json!({"user_id": "sweep-delete"})),
        ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver")
        | ("DELETE", "/api/v1/webhooks/{webhook_id}") => None,
        ("PUT", "/api/v1/payments/settings") => {
            Some(json!({"processor_url": common::processor::url(), "detokenize_enabled": true}))
        }
        ("POST", "/api/v1/payments/tokens/{token_id}/forward") => Some(json!({})),
        ("POST", "/api/v1/payments/tokens/{token_id}/detokenize") => None,
        ("GET", _) => None,
        _ => panic!("route {method} {path} has no isolation probe: add one to body_for"),
    }
}

/// A file ticket from a visitor socket (issue 20).
async fn file_ticket(ws: &mut Ws) -> String {
    ws.send(json!({"type": "file.ticket"})).await;
    let t = ws.recv_type("file.ticket").await;
    t["ticket"].as_str().expect("a ticket").to_string()
}

/// A request with a raw body (the file routes), answered as JSON when it is JSON and as text otherwise.
async fn raw_call(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(m, format!("{base}{path}"))
        .header("origin", base);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some((ty, bytes)) = body {
        req = req.header("content-type", ty).body(bytes);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Query parameters a route needs to succeed.
fn query_for(path: &str) -> &'static str {
    match path {
        "/api/v1/audit/entries" => "?start=0&end=10",
        "/api/v1/audit/proof/inclusion" => "?index=0&size=2",
        "/api/v1/audit/proof/consistency" => "?first=1&second=2",
        // A's search for B's words must find nothing of B's (issue 20).
        "/api/v1/search/messages" => "?q=B-SECRET-MESSAGE",
        _ => "",
    }
}

#[tokio::test]
async fn no_route_or_socket_operation_crosses_tenants() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        run(&srv).await;
        srv.stop().await;
    }
}

async fn run(srv: &TestServer) {
    let a = srv.fixture("tenant-a").await;
    let b = srv.fixture("tenant-b").await;

    // Tenant B's data: a conversation with a message, assigned to B's agent.
    let (mut b_agent, _) = srv.online_agent("tenant-b", "agent").await;
    let (mut b_visitor, b_welcome) = srv.visitor(&b.tenant.widget_key, None).await;
    let b_visitor_id = b_welcome["visitor_id"].as_str().unwrap().to_string();
    let b_conv = b_visitor.open().await;
    b_visitor.say(&b_conv, "b1", "B-SECRET-MESSAGE").await;
    b_agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "b1")
        .await;
    let b_key = srv
        .api_key(
            &b.tenant,
            &["admin", "conversations:read", "audit:read", "payments"],
        )
        .await;
    let b_key_rec = srv.store().list_api_keys(&b.tenant.id).await.unwrap();
    let b_key_id = b_key_rec[0].id.clone();
    // B's card token (issue 15), paid in a conversation of its own with B's second agent.
    let b_token = srv.token_fixture("tenant-b", &b.tenant.widget_key).await;
    let b_request = srv
        .store()
        .vault_token(&b.tenant.id, &b_token)
        .await
        .unwrap()
        .unwrap()
        .request_id;
    let mut secrets = secrets_of_b(&b, &b_conv, &b_key_id, &b_visitor_id);
    secrets.extend([
        b_token.clone(),
        b_request.clone(),
        "4111111111111111".to_string(),
    ]);

    // Tenant A's principals.
    let a_cookie = srv.login("tenant-a", "admin").await;
    let a_key = srv
        .api_key(
            &a.tenant,
            &["admin", "conversations:read", "audit:read", "payments"],
        )
        .await;
    let http = srv.http();
    let attackers = [
        ("A admin session", http.with(Auth::Cookie(a_cookie.clone()))),
        ("A all-scope key", http.with(Auth::Bearer(a_key.clone()))),
    ];

    // ---- HTTP: every route in the OpenAPI document ----
    // A pending operator grant on B, which A must neither approve nor revoke (B's admin does, as the control).
    let b_grant = srv.pending_grant("tenant-b").await;
    // B's webhook endpoint with a dead delivery, which A must neither list, redeliver nor delete.
    let b_admin_cookie = srv.login("tenant-b", "admin").await;
    let (b_webhook, b_delivery) = srv
        .webhook_fixture(&b_admin_cookie, &b.tenant.widget_key)
        .await;
    // B's visitors with verified user ids, which A's visitor requests must not reach (A has none with them).
    srv.sweep_visitors(&b.tenant.id).await;
    // B's canned reply (issue 20), which A must neither change nor delete.
    let (_, reply) = http
        .with(Auth::Cookie(b_admin_cookie.clone()))
        .call(
            "POST",
            "/api/v1/canned-replies",
            Some(json!({"shortcut": "b-fixture", "text": "B-SECRET-MESSAGE reply"})),
        )
        .await;
    let b_reply = reply["id"].as_str().expect("a canned reply").to_string();
    // B's file (issue 20), sent by B's visitor, which A's principals and A's visitor must not fetch; A's
    // visitor holds a ticket of its own tenant, to try B's file routes with.
    let b_ticket = file_ticket(&mut b_visitor).await;
    let (s, b_file) = raw_call(
        &srv.base,
        "POST",
        &format!("/w/files?conversation_id={b_conv}&name=b.txt"),
        &[(cordon_service::files::TICKET_HEADER, b_ticket.as_str())],
        Some(("text/plain", b"B-SECRET-MESSAGE in a file".to_vec())),
    )
    .await;
    assert_eq!(s, 201, "B's file: {b_file}");
    let b_file = b_file["id"].as_str().expect("a file id").to_string();
    secrets.push(b_file.clone());
    let (mut a_files_visitor, _) = srv.visitor(&a.tenant.widget_key, None).await;
    a_files_visitor.open().await;
    let a_ticket = file_ticket(&mut a_files_visitor).await;
    let b_messages = srv
        .store()
        .message_count(&b.tenant.id, &b_conv)
        .await
        .unwrap();
    let (_, doc) = http.get("/api/openapi.json").await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 10, "the document lists the routes");
    let mut probed = BTreeSet::new();
    let mut n = 0;
    for (path, item) in paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            // Operators' routes take no tenant credential at all; that they reach no tenant, and one operator
            // not another's sessions, is tests/operators.rs's.
            if item.get(method).is_none() || path.starts_with("/api/v1/operator/") {
                continue;
            }
            let m = method.to_uppercase();
            n += 1;
            if path == "/api/v1/auth/login" {
                // A's credentials against B's tenant, and B's own as the control.
                let (s, body) = http
                    .call("POST", path, Some(json!({"tenant": "tenant-b", "username": "admin-a", "password": common::PASSWORD})))
                    .await;
                assert_eq!(s, 401, "login across tenants");
                assert_clean("login", &body, &secrets);
                let (s, _) = http
                    .call("POST", path, Some(json!({"tenant": "tenant-b", "username": "admin", "password": common::PASSWORD})))
                    .await;
                assert_eq!(s, 200, "positive control: B logs in");
                probed.insert(format!("{m} {path}"));
                continue;
            }
            let concrete = path
                .replace("{agent_id}", &b.agent_id)
                .replace("{conversation_id}", &b_conv)
                .replace("{key_id}", &b_key_id)
                .replace("{grant_id}", &b_grant)
                .replace("{webhook_id}", &b_webhook)
                .replace("{reply_id}", &b_reply)
                .replace("{delivery_id}", &b_delivery)
                .replace("{token_id}", &b_token)
                + query_for(path);
            if path.contains("/files") {
                // Raw bodies (issue 20): A's session and key, and A's visitor with its own ticket.
                let concrete = concrete.replace("{file_id}", &b_file);
                let concrete = if path == "/w/files" {
                    format!("{concrete}?conversation_id={b_conv}&name=probe.txt")
                } else if m == "POST" {
                    format!("{concrete}?name=probe.txt")
                } else {
                    concrete
                };
                let bearer = format!("Bearer {a_key}");
                for (who, header) in [
                    ("A admin session", ("cookie", a_cookie.as_str())),
                    ("A all-scope key", ("authorization", bearer.as_str())),
                    (
                        "A visitor",
                        (cordon_service::files::TICKET_HEADER, a_ticket.as_str()),
                    ),
                ] {
                    let body = (m == "POST").then(|| ("text/plain", b"probe".to_vec()));
                    let (status, answer) =
                        raw_call(&srv.base, &m, &concrete, &[header], body).await;
                    assert_clean(&format!("{who} {m} {path}"), &answer, &secrets);
                    assert!(
                        matches!(status, 401 | 403 | 404),
                        "{who} {m} {path} on B's file must be refused, got {status}: {answer}"
                    );
                    n += 1;
                }
                probed.insert(format!("{m} {path}"));
                continue;
            }
            for (who, client) in &attackers {
                let (status, body) = client.call(&m, &concrete, body_for(&m, path, n)).await;
                assert_clean(&format!("{who} {m} {path}"), &body, &secrets);
                let own_tenant_ok = matches!(
                    (m.as_str(), path.as_str()),
                    ("GET", "/api/v1/me")
                        | ("GET", "/api/v1/tenant")
                        | ("PATCH", "/api/v1/tenant")
                        | ("POST", "/api/v1/tenant/identity-secret")
                        | ("GET", "/api/v1/agents")
                        | ("POST", "/api/v1/agents")
                        | ("GET", "/api/v1/conversations")
                        | ("GET", "/api/v1/apikeys")
                        | ("POST", "/api/v1/apikeys")
                        | ("POST", "/api/v1/auth/logout")
                        | ("GET", "/api/v1/visitor-sessions")
                        | ("GET", "/api/v1/widget")
                        | ("GET", "/api/v1/operator-grants")
                        | ("GET", "/api/v1/me/totp")
                        | ("POST", "/api/v1/me/totp")
                        | ("GET", "/api/v1/tenant/mfa")
                        | ("PATCH", "/api/v1/tenant/mfa")
                        | ("GET", "/api/v1/tenant/release")
                        | ("PUT", "/api/v1/tenant/release")
                        | ("POST", "/api/v1/impact")
                        | ("GET", "/api/v1/transparency")
                        | ("POST", "/api/v1/transparency/checkpoint-check")
                        | ("GET", "/api/v1/tenant/retention")
                        | ("PUT", "/api/v1/tenant/retention")
                        | ("GET", "/api/v1/webhooks")
                        | ("POST", "/api/v1/webhooks")
                        | ("GET", "/api/v1/canned-replies")
                        | ("POST", "/api/v1/canned-replies")
                        | ("GET", "/api/v1/conversation-tags")
                        | ("GET", "/api/v1/reports")
                        | ("GET", "/api/v1/tenant/chat-forms")
                        | ("PUT", "/api/v1/tenant/chat-forms")
                        | ("GET", "/api/v1/webhooks/deliveries")
                        | ("GET", "/api/v1/payments/settings")
                        | ("PUT", "/api/v1/payments/settings")
                        | ("GET", "/api/v1/payments/tokens")
                        | ("GET", "/api/v1/search/messages")
                ) || path.starts_with("/api/v1/audit/");
                if !own_tenant_ok {
                    assert!(
                        matches!(status, 401 | 403 | 404),
                        "{who} {m} {path} on B's ids must be refused, got {status}: {body}"
                    );
                }
                n += 1;
            }
            probed.insert(format!("{m} {path}"));
        }
    }
    // A's logout ended A's session during the sweep; B's data must be untouched.
    assert_eq!(
        srv.store()
            .message_count(&b.tenant.id, &b_conv)
            .await
            .unwrap(),
        b_messages,
        "A added nothing to B's conversation (no file, no message)"
    );
    let b_agent_row = srv.store().agent(&b.tenant.id, &b.agent_id).await.unwrap();
    assert!(!b_agent_row.disabled);
    assert!(
        b_agent_row.display_name == "agent",
        "B's agent was not renamed"
    );
    assert!(srv
        .store()
        .live_api_key(&cordon_crypto::hash_token(&b_key))
        .await
        .unwrap()
        .is_some());
    assert_eq!(
        srv.store().tenant(&b.tenant.id).await.unwrap().display_name,
        "tenant-b Inc"
    );

    // Positive control: B's own principals make every call successfully.
    let b_http = http.with(Auth::Cookie(srv.login("tenant-b", "admin").await));
    let b_keyed = http.with(Auth::Bearer(b_key.clone()));
    // DELETE revokes a spare key, so the key used for the other controls stays valid.
    srv.api_key(&b.tenant, &["conversations:read"]).await;
    let spare_id = srv
        .store()
        .list_api_keys(&b.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.id != b_key_id)
        .map(|k| k.id)
        .unwrap();
    for (path, item) in paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_none()
                || path == "/api/v1/auth/login"
                || path.starts_with("/api/v1/operator/")
            {
                continue;
            }
            let m = method.to_uppercase();
            n += 1;
            let concrete = path
                .replace("{agent_id}", &b.agent_id)
                .replace("{conversation_id}", &b_conv)
                .replace("{key_id}", &spare_id)
                .replace("{grant_id}", &b_grant)
                .replace("{webhook_id}", &b_webhook)
                .replace("{reply_id}", &b_reply)
                .replace("{delivery_id}", &b_delivery)
                .replace("{token_id}", &b_token)
                + query_for(path);
            if path.contains("/files") {
                let concrete = concrete.replace("{file_id}", &b_file);
                let concrete = if path == "/w/files" {
                    format!("{concrete}?conversation_id={b_conv}&name=control.txt")
                } else if m == "POST" {
                    format!("{concrete}?name=control.txt")
                } else {
                    concrete
                };
                // B's visitor with its ticket; B's assigned agent sends, B's reading key fetches.
                let b_agent_cookie = srv.login("tenant-b", "agent").await;
                let b_bearer = format!("Bearer {b_key}");
                let header = if path.starts_with("/w/") {
                    (cordon_service::files::TICKET_HEADER, b_ticket.as_str())
                } else if m == "POST" {
                    ("cookie", b_agent_cookie.as_str())
                } else {
                    ("authorization", b_bearer.as_str())
                };
                let body = (m == "POST").then(|| ("text/plain", b"control".to_vec()));
                let (status, answer) = raw_call(&srv.base, &m, &concrete, &[header], body).await;
                assert!(
                    (200..300).contains(&status),
                    "positive control {m} {path}: {status} {answer}"
                );
                continue;
            }
            let client = if path == "/api/v1/auth/logout" {
                http.with(Auth::Cookie(srv.login("tenant-b", "agent2").await))
            } else if (path.starts_with("/api/v1/conversations") && m == "GET")
                || path.starts_with("/api/v1/audit/")
            {
                b_keyed.clone()
            } else {
                b_http.clone()
            };
            let (status, body) = client.call(&m, &concrete, body_for(&m, path, n)).await;
            assert!(
                (200..300).contains(&status),
                "positive control {m} {path}: {status} {body}"
            );
        }
    }
    assert!(probed.len() >= 15, "probed {probed:?}");

    // ---- Sockets: every client frame type ----
    let before_sockets = srv
        .store()
        .message_count(&b.tenant.id, &b_conv)
        .await
        .unwrap();
    // The positive control above revoked B's agent's sessions; it signs in again.
    drop(b_agent);
    let (mut b_agent, _) = srv.agent_ws(&srv.login("tenant-b", "agent").await).await;
    let types = cordon_service::protocol::client_frame_types();
    assert!(types.len() >= 10);
    let a_cookie = srv.login("tenant-a", "agent").await;
    let (mut a_agent, _) = srv.agent_ws(&a_cookie).await;
    let (mut a_visitor, _) = srv.visitor(&a.tenant.widget_key, None).await;
    a_visitor.open().await;
    for t in &types {
        for (who, ws) in [("A visitor", &mut a_visitor), ("A agent", &mut a_agent)] {
            probe_frame(
                t,
                who,
                ws,
                &b_conv,
                &b.agent_id,
                &b.tenant.widget_key,
                &b_request,
                &secrets,
            )
            .await;
        }
    }
    // Nothing reached B: no message added, the conversation is still open and B's agent saw no A event.
    assert_eq!(
        srv.store()
            .message_count(&b.tenant.id, &b_conv)
            .await
            .unwrap(),
        before_sockets,
        "no socket frame of A's added to B's conversation"
    );
    let conv = srv
        .store()
        .conversation(&b.tenant.id, &b_conv)
        .await
        .unwrap();
    assert_eq!(conv.state, cordon_store::ConversationState::Assigned);
    assert_eq!(conv.agent_id.as_deref(), Some(b.agent_id.as_str()));
    b_agent.drain(Duration::from_millis(200)).await;
    for f in &b_agent.backlog {
        assert_ne!(f["type"], "typing", "A's typing reached B: {f}");
        assert_ne!(f["type"], "read", "A's read receipt reached B: {f}");
    }

    // Positive control for the socket operations: B's own parties succeed at each.
    b_visitor
        .send(json!({"type": "sync", "conversation_id": b_conv, "after_seq": 0}))
        .await;
    b_visitor.recv_type("synced").await;
    b_visitor.say(&b_conv, "b2", "hello again").await;
    b_visitor
        .send(json!({"type": "typing", "conversation_id": b_conv, "active": true}))
        .await;
    b_agent.recv_where(|f| f["type"] == "typing").await;
    b_agent
        .send(json!({"type": "read", "conversation_id": b_conv, "seq": 1}))
        .await;
    b_visitor.recv_where(|f| f["type"] == "read").await;
    b_agent
        .send(json!({"type": "sync", "conversation_id": b_conv, "after_seq": 0}))
        .await;
    b_agent.recv_type("synced").await;
    b_agent
        .send(json!({"type": "conversation.transfer", "conversation_id": b_conv, "agent_id": b.agent_id}))
        .await;
    b_agent.say(&b_conv, "b3", "agent reply").await;
    b_agent
        .send(json!({"type": "conversation.close", "conversation_id": b_conv}))
        .await;
    b_visitor
        .recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
        })
        .await;
    // A's rating.submit above found nothing; B's own visitor rates the ended chat (issue 20).
    b_visitor
        .send(json!({"type": "rating.submit", "conversation_id": b_conv, "score": 5}))
        .await;
    b_visitor.recv_type("rating.saved").await;
}

/// Send frame type `t` aimed at tenant B's conversation / agent from a tenant-A socket and check the refusal.
async fn probe_frame(
    t: &str,
    who: &str,
    ws: &mut Ws,
    b_conv: &str,
    b_agent: &str,
    b_widget: &str,
    b_request: &str,
    secrets: &[String],
) {
    let frame = match t {
        "hello" => json!({"type": "hello", "v": 1, "widget_key": b_widget}),
        "conversation.open" => json!({"type": "conversation.open"}),
        "message.send" => {
            json!({"type": "message.send", "conversation_id": b_conv, "client_msg_id": "x1", "text": "hi"})
        }
        "sync" => json!({"type": "sync", "conversation_id": b_conv, "after_seq": 0}),
        "typing" => json!({"type": "typing", "conversation_id": b_conv, "active": true}),
        "read" => json!({"type": "read", "conversation_id": b_conv, "seq": 1}),
        "ping" => json!({"type": "ping"}),
        "conversation.close" => json!({"type": "conversation.close", "conversation_id": b_conv}),
        "conversation.accept" => json!({"type": "conversation.accept", "conversation_id": b_conv}),
        "conversation.transfer" => {
            json!({"type": "conversation.transfer", "conversation_id": b_conv, "agent_id": b_agent})
        }
        "status.set" => json!({"type": "status.set", "status": "away"}),
        "payment.request" => json!({"type": "payment.request", "conversation_id": b_conv,
            "amount_minor": 100, "currency": "EUR", "description": "probe"}),
        "payment.open" => json!({"type": "payment.open", "request_id": b_request}),
        // A contact is the sender's own (its visitor's); nothing of B's is named.
        "contact.set" => json!({"type": "contact.set", "email": "probe@example.com"}),
        "rating.submit" => {
            json!({"type": "rating.submit", "conversation_id": b_conv, "score": 5, "comment": "probe"})
        }
        // A visitor gets a ticket of its own tenant (harmless); an agent is refused.
        "file.ticket" => json!({"type": "file.ticket"}),
        other => panic!("frame type {other} has no isolation probe: add one to probe_frame"),
    };
    ws.backlog.clear();
    ws.send(frame).await;
    ws.send(json!({"type": "ping"})).await;
    // Everything up to the pong is the answer to the probe.
    ws.recv_type("pong").await;
    if t == "ping" {
        ws.recv_type("pong").await;
    }
    let answer: Vec<Value> = std::mem::take(&mut ws.backlog);
    for f in &answer {
        assert_clean(&format!("{who} {t}"), f, secrets);
    }
    let refused = answer.iter().any(|f| {
        f["type"] == "error"
            && matches!(
                f["code"].as_str(),
                Some("not_found" | "forbidden" | "already_authenticated")
            )
    });
    let harmless = matches!(
        t,
        "ping" | "conversation.open" | "status.set" | "contact.set"
    ) || (t == "file.ticket" && who.contains("visitor"));
    assert!(
        refused || harmless,
        "{who} {t} on B's data was not refused: {answer:?}"
    );
}
