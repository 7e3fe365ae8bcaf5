//! Issue #18, items 3 and 4: guessing credentials backs off (sign-in per account and per address, API keys,
//! visitor tokens) and is audited once per back-off; and nobody hands out access they do not hold, nor
//! transcripts or the audit log without a tenant admin signed in at the console.

mod common;

use std::time::Duration;

use common::{Auth, TestServer, PASSWORD};
use cordon_server::Limits;
use cordon_server::Policy;
use serde_json::{json, Value};

fn quick(failures_before_backoff: u32) -> Policy {
    Policy {
        failures_before_backoff,
        first_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(2),
        forget_after: Duration::from_secs(60),
        max_entries: 1000,
    }
}

/// A login with its status, `Retry-After` and error code.
async fn login(
    srv: &TestServer,
    tenant: &str,
    user: &str,
    password: &str,
) -> (u16, Option<u64>, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", srv.base))
        .header("origin", &srv.base)
        .json(&json!({"tenant": tenant, "username": user, "password": password}))
        .send()
        .await
        .expect("login request");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = res.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

async fn bearer(srv: &TestServer, key: &str) -> (u16, Option<u64>, Value) {
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/me", srv.base))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

async fn entries(srv: &TestServer, log: &str) -> Vec<Value> {
    let size = srv.store().audit_size(log).await.unwrap();
    srv.store()
        .audit_entries(log, 0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| serde_json::from_slice(&b).expect("entries are JSON"))
        .collect()
}

fn with_action<'a>(all: &'a [Value], action: &str) -> Vec<&'a Value> {
    all.iter().filter(|e| e["action"] == action).collect()
}

async fn metric(srv: &TestServer, line_start: &str) -> String {
    let text = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(line_start))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn wrong_passwords_back_off_growing_then_the_real_user_signs_in() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start_with(
            db,
            Limits {
                login_per_account: quick(3),
                ..Limits::default()
            },
        )
        .await;
        let fx = srv.fixture("acme").await;
        for _ in 0..3 {
            let (s, _, body) = login(&srv, "acme", "agent", "not the password").await;
            assert_eq!(
                (s, body["error"]["code"].as_str()),
                (401, Some("bad_credentials"))
            );
        }
        // The third failure began a 1 s back-off: even the right password is not checked now.
        for password in ["still wrong", PASSWORD, "wrong again"] {
            let (s, retry, body) = login(&srv, "acme", "agent", password).await;
            assert_eq!(s, 429, "{body}");
            assert_eq!(body["error"]["code"], "rate_limited");
            assert_eq!(retry, Some(1));
            assert!(!body.to_string().contains(password));
        }
        let log = entries(&srv, &fx.tenant.id).await;
        let throttled = with_action(&log, "login.throttled");
        assert_eq!(
            throttled.len(),
            1,
            "one entry per back-off, none per refusal: {throttled:?}"
        );
        assert_eq!(throttled[0]["actor"], "system");
        assert_eq!(
            throttled[0]["target"],
            format!("agent:{}#backoff=1s", fx.agent_id)
        );
        assert_eq!(
            with_action(&log, "login.failure").len(),
            3,
            "refusals test nothing"
        );

        // After it, one more failure begins a longer one (2 s, the cap here).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(login(&srv, "acme", "agent", "nope").await.0, 401);
        let (s, retry, _) = login(&srv, "acme", "agent", PASSWORD).await;
        assert_eq!((s, retry), (429, Some(2)));
        // The real user gets in once it ends, and is forgiven.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(login(&srv, "acme", "agent", PASSWORD).await.0, 200);
        assert_eq!(login(&srv, "acme", "agent", "one typo").await.0, 401);
        assert_eq!(login(&srv, "acme", "agent", PASSWORD).await.0, 200);
        // Other accounts were never affected.
        assert_eq!(login(&srv, "acme", "agent2", PASSWORD).await.0, 200);

        let log = entries(&srv, &fx.tenant.id).await;
        let targets: Vec<&str> = with_action(&log, "login.throttled")
            .iter()
            .filter_map(|e| e["target"].as_str())
            .collect();
        assert_eq!(
            targets,
            [
                format!("agent:{}#backoff=1s", fx.agent_id),
                format!("agent:{}#backoff=2s", fx.agent_id)
            ]
        );
        assert_eq!(
            metric(
                &srv,
                "cordon_throttle_backoffs_total{limit=\"login_account\"}"
            )
            .await,
            "cordon_throttle_backoffs_total{limit=\"login_account\"} 2"
        );
        assert_eq!(
            metric(
                &srv,
                "cordon_throttle_refused_total{limit=\"login_account\"}"
            )
            .await,
            "cordon_throttle_refused_total{limit=\"login_account\"} 4"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn names_that_do_not_exist_back_off_alike_and_the_address_has_its_own_limit() {
    let srv = TestServer::start_with(
        cordon_store::testing::sqlite(),
        Limits {
            login_per_account: quick(2),
            login_per_address: quick(5),
            ..Limits::default()
        },
    )
    .await;
    let fx = srv.fixture("acme").await;
    // An unknown name backs off exactly like a real one, so a 429 does not reveal which names exist.
    assert_eq!(login(&srv, "acme", "ghost", "x").await.0, 401);
    assert_eq!(login(&srv, "acme", "ghost", "x").await.0, 401);
    assert_eq!(login(&srv, "acme", "ghost", "x").await.0, 429);
    // Spraying other accounts from the same address: each under its own limit, but the address reaches its own.
    for user in ["u1", "u2", "u3"] {
        assert_eq!(login(&srv, "acme", user, "x").await.0, 401, "{user}");
    }
    let (s, retry, body) = login(&srv, "acme", "admin", PASSWORD).await;
    assert_eq!((s, retry), (429, Some(1)), "{body}");
    let log = entries(&srv, &fx.tenant.id).await;
    let throttled = with_action(&log, "login.throttled");
    assert_eq!(throttled.len(), 2, "{throttled:?}");
    assert!(throttled[0]["target"]
        .as_str()
        .unwrap()
        .starts_with("name:"));
    let by_address = throttled[1]["target"].as_str().unwrap();
    assert!(by_address.starts_with("addr:") && by_address.ends_with("#backoff=1s"));
    assert!(
        !by_address.contains("127.0.0.1") && !log.iter().any(|e| e.to_string().contains("ghost"))
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(login(&srv, "acme", "admin", PASSWORD).await.0, 200);
    srv.stop().await;
}

#[tokio::test]
async fn bad_bearer_keys_are_throttled_on_the_api_and_the_agent_socket() {
    let srv = TestServer::start_with(
        cordon_store::testing::sqlite(),
        Limits {
            api_key_per_address: quick(3),
            ..Limits::default()
        },
    )
    .await;
    let fx = srv.fixture("acme").await;
    let good = srv.api_key(&fx.tenant, &["admin"]).await;
    assert_eq!(bearer(&srv, &good).await.0, 200);
    for guess in ["ck_guess1", "ck_guess2", "ck_guess3"] {
        assert_eq!(bearer(&srv, guess).await.0, 401);
    }
    // While the address backs off no key is looked up, a valid one included, and the socket says the same.
    let (s, retry, body) = bearer(&srv, &good).await;
    assert_eq!((s, retry), (429, Some(1)));
    assert_eq!(body["error"]["code"], "rate_limited");
    let refused = common::Ws::try_connect(
        &format!("ws://{}/ws/agent", srv.addr),
        &[("origin", &srv.base), ("authorization", "Bearer ck_guess4")],
    )
    .await
    .err()
    .unwrap_or_default();
    assert!(refused.contains("429"), "{refused}");
    let platform = entries(&srv, cordon_store::PLATFORM_LOG).await;
    let throttled = with_action(&platform, "apikey.throttled");
    assert_eq!(throttled.len(), 1);
    assert!(throttled[0]["target"]
        .as_str()
        .unwrap()
        .starts_with("addr:"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(bearer(&srv, &good).await.0, 200);
    assert_eq!(
        metric(
            &srv,
            "cordon_throttle_backoffs_total{limit=\"api_key_address\"}"
        )
        .await,
        "cordon_throttle_backoffs_total{limit=\"api_key_address\"} 1"
    );
    srv.stop().await;
}

#[tokio::test]
async fn unknown_visitor_tokens_are_throttled() {
    let srv = TestServer::start_with(
        cordon_store::testing::sqlite(),
        Limits {
            visitor_token_per_address: quick(3),
            ..Limits::default()
        },
    )
    .await;
    let fx = srv.fixture("acme").await;
    let (_, first) = srv.visitor(&fx.tenant.widget_key, None).await;
    let real = first["visitor_token"].as_str().unwrap().to_string();
    for n in 0..3 {
        let guess = format!("cv_guessed-token-{n}");
        let (_, w) = srv.visitor(&fx.tenant.widget_key, Some(&guess)).await;
        assert!(
            w["visitor_token"].is_string(),
            "an unknown token makes a new visitor"
        );
    }
    let mut ws = common::Ws::connect(&format!("ws://{}/ws/visitor", srv.addr), &[]).await;
    ws.send(
        json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key, "visitor_token": real}),
    )
    .await;
    let e = ws.recv_type("error").await;
    assert_eq!(e["code"], "rate_limited");
    assert!(!e.to_string().contains(&real));
    // The socket stays open; without a token the visitor still gets a chat.
    ws.send(json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key}))
        .await;
    ws.recv_type("welcome").await;
    let log = entries(&srv, &fx.tenant.id).await;
    assert_eq!(with_action(&log, "visitor_token.throttled").len(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, back) = srv.visitor(&fx.tenant.widget_key, Some(&real)).await;
    assert_eq!(
        back["visitor_id"], first["visitor_id"],
        "the real token works again"
    );
    srv.stop().await;
}

#[tokio::test]
async fn an_admin_key_cannot_grant_itself_transcripts_or_the_audit_log() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("acme").await;
        let http = srv.http();
        let admin_key = http.with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
        // Even a key that holds conversations:read (the operator can mint one) cannot pass it on.
        let strong_key = http.with(Auth::Bearer(
            srv.api_key(&fx.tenant, &["admin", "conversations:read", "audit:read"])
                .await,
        ));
        for key in [&admin_key, &strong_key] {
            for scopes in [
                json!(["conversations:read"]),
                json!(["audit:read"]),
                json!(["admin", "audit:read"]),
            ] {
                let (s, body) = key
                    .call("POST", "/api/v1/apikeys", Some(json!({"scopes": scopes})))
                    .await;
                assert_eq!(
                    (s, body["error"]["code"].as_str()),
                    (403, Some("session_required")),
                    "{scopes}"
                );
            }
            for role in ["agent", "auditor", "admin"] {
                let (s, body) = key
                    .call(
                        "POST",
                        "/api/v1/agents",
                        Some(json!({"username": format!("new-{role}"), "display_name": "New", "role": role, "password": "a long enough password"})),
                    )
                    .await;
                assert_eq!(
                    (s, body["error"]["code"].as_str()),
                    (403, Some("session_required")),
                    "{role}"
                );
            }
            // Nor take over an agent by setting its password, nor change a role.
            for patch in [
                json!({"password": "a brand new password"}),
                json!({"role": "auditor"}),
            ] {
                let (s, body) = key
                    .call(
                        "PATCH",
                        &format!("/api/v1/agents/{}", fx.agent_id),
                        Some(patch.clone()),
                    )
                    .await;
                assert_eq!(
                    (s, body["error"]["code"].as_str()),
                    (403, Some("session_required")),
                    "{patch}"
                );
            }
        }
        // What an admin key holds, it may still hand out, and other agent changes still work.
        let (s, _) = admin_key
            .call(
                "POST",
                "/api/v1/apikeys",
                Some(json!({"scopes": ["admin"]})),
            )
            .await;
        assert_eq!(s, 201);
        let (s, _) = admin_key
            .call(
                "PATCH",
                &format!("/api/v1/agents/{}", fx.agent_id),
                Some(json!({"capacity": 5})),
            )
            .await;
        assert_eq!(s, 200);
        // Roles without admin cannot grant anything.
        let auditor = http.with(Auth::Cookie(srv.login("acme", "auditor").await));
        let (s, body) = auditor
            .call(
                "POST",
                "/api/v1/apikeys",
                Some(json!({"scopes": ["audit:read"]})),
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (403, Some("forbidden"))
        );

        // A tenant admin signed in may, and the log says who granted which scopes.
        let admin = http.with(Auth::Cookie(srv.login("acme", "admin").await));
        let (s, created) = admin
            .call(
                "POST",
                "/api/v1/apikeys",
                Some(json!({"scopes": ["conversations:read", "audit:read"]})),
            )
            .await;
        assert_eq!(s, 201, "{created}");
        let key_id = created["api_key"]["id"].as_str().unwrap().to_string();
        assert_eq!(
            created["api_key"]["created_by"],
            format!("agent:{}", fx.admin_id)
        );
        let (s, _) = admin
            .call(
                "POST",
                "/api/v1/agents",
                Some(json!({"username": "new-auditor", "display_name": "New", "role": "auditor", "password": "a long enough password"})),
            )
            .await;
        assert_eq!(s, 201);
        let log = entries(&srv, &fx.tenant.id).await;
        let grant = log
            .iter()
            .find(|e| {
                e["action"] == "apikey.create"
                    && e["target"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("apikey:{key_id}"))
            })
            .expect("the grant is audited");
        assert_eq!(grant["actor"], format!("agent:{}", fx.admin_id));
        assert_eq!(
            grant["target"],
            format!("apikey:{key_id}#scopes=audit:read,conversations:read")
        );
        assert!(log.iter().any(|e| e["action"] == "agent.create"
            && e["actor"] == format!("agent:{}", fx.admin_id)
            && e["target"].as_str().unwrap().ends_with("#role=auditor")));
        // The key list shows scopes, the sensitive ones, and who created each key.
        let (_, keys) = admin.get("/api/v1/apikeys").await;
        let listed = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == key_id.as_str())
            .unwrap();
        assert_eq!(
            listed["sensitive_scopes"],
            json!(["audit:read", "conversations:read"])
        );
        assert_eq!(listed["created_by"], format!("agent:{}", fx.admin_id));
        // The tenant admin holds audit:read (the audit viewer and transparency report are theirs too).
        let (_, me) = admin.get("/api/v1/me").await;
        assert!(me["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("audit:read")));
        // Failed grants changed nothing.
        let agents = srv.store().list_agents(&fx.tenant.id).await.unwrap();
        assert!(!agents
            .iter()
            .any(|a| a.username.starts_with("new-") && a.username != "new-auditor"));
        let keys = srv.store().list_api_keys(&fx.tenant.id).await.unwrap();
        assert_eq!(
            keys.iter()
                .filter(|k| k.scopes.iter().any(|s| s == "conversations:read"))
                .count(),
            2
        );
        // The password was not changed: the agent still signs in with it.
        srv.login("acme", "agent").await;
        srv.stop().await;
    }
}
