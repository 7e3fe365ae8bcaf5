//! A second factor for a tenant's people (issue 12): an admin enrols an authenticator app (begin, confirm with a
//! code), sign-in then asks for a code (missing, wrong and replayed codes refused), and a tenant can require one
//! of every agent.

mod common;

use common::{Auth, Http, TestServer};
use serde_json::{json, Value};
use totp_rs::TOTP;

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn login(http: &Http, user: &str, code: Option<&str>) -> (u16, Value) {
    http.call(
        "POST",
        "/api/v1/auth/login",
        Some(
            json!({"tenant": "acme", "username": user, "password": common::PASSWORD, "code": code}),
        ),
    )
    .await
}

fn code_at(totp: &TOTP, offset_steps: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset_steps * 30) as u64)
}

/// Enrol `user`'s app through the API as that person; the app.
async fn enrol(srv: &TestServer, user: &str) -> TOTP {
    let me = srv.http().with(Auth::Cookie(srv.login("acme", user).await));
    let (status, begun) = me.call("POST", "/api/v1/me/totp", Some(json!({}))).await;
    assert_eq!(status, 200, "{begun}");
    assert_eq!(begun["state"], "pending");
    let totp = TOTP::from_url(begun["otpauth_uri"].as_str().unwrap()).unwrap();
    // Still pending: sign-in does not ask for a code yet, so an app that never got the secret locks no one out.
    assert_eq!(login(&srv.http(), user, None).await.0, 200);
    let (status, body) = me
        .call("POST", "/api/v1/me/totp", Some(json!({"code": "000000"})))
        .await;
    if code_at(&totp, 0) != "000000" {
        assert_eq!((status, code_of(&body)), (401, "bad_credentials"), "{body}");
    }
    let (status, body) = me
        .call(
            "POST",
            "/api/v1/me/totp",
            Some(json!({"code": code_at(&totp, 0)})),
        )
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("enabled")),
        "{body}"
    );
    let (_, s) = me.get("/api/v1/me/totp").await;
    assert_eq!(s["enabled"], true);
    // Once confirmed, a session alone cannot swap in another app (a stolen cookie would take the factor over).
    let (status, body) = me.call("POST", "/api/v1/me/totp", Some(json!({}))).await;
    assert_eq!((status, code_of(&body)), (409, "conflict"), "{body}");
    totp
}

#[tokio::test]
async fn an_admin_enrols_and_sign_in_then_asks_for_a_fresh_code() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("acme").await;
    let totp = enrol(&srv, "admin").await;
    let http = srv.http();
    // The enrolment's code was used: the next step's code signs in, once.
    let (status, body) = login(&http, "admin", None).await;
    assert_eq!(
        (status, code_of(&body)),
        (401, "second_factor_required"),
        "{body}"
    );
    let wrong = if code_at(&totp, 1) == "123456" {
        "654321"
    } else {
        "123456"
    };
    let (status, body) = login(&http, "admin", Some(wrong)).await;
    assert_eq!((status, code_of(&body)), (401, "bad_credentials"));
    let next = code_at(&totp, 1);
    assert_eq!(login(&http, "admin", Some(&next)).await.0, 200);
    let (status, body) = login(&http, "admin", Some(&next)).await;
    assert_eq!(
        (status, code_of(&body)),
        (401, "bad_credentials"),
        "a replayed code"
    );
    // The code does not stand in for the password.
    let (status, _) = http
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"tenant": "acme", "username": "admin", "password": "wrong", "code": code_at(&totp, 1)})),
        )
        .await;
    assert_eq!(status, 401);
    // Others in the tenant are not asked.
    assert_eq!(login(&http, "agent", None).await.0, 200);
    // An API key has no second factor to enrol.
    let key = http.with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
    let (status, body) = key.call("POST", "/api/v1/me/totp", Some(json!({}))).await;
    assert_eq!((status, code_of(&body)), (403, "session_required"));
    // Audited: enrolment, and why each sign-in failed, in fixed words.
    let size = srv.store().audit_size(&fx.tenant.id).await.unwrap();
    let log: Vec<Value> = srv
        .store()
        .audit_entries(&fx.tenant.id, 0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect();
    let has = |action: &str, target: &str| {
        log.iter()
            .any(|e| e["action"] == action && e["target"].as_str().unwrap().contains(target))
    };
    assert!(has("totp.enrol", "agent:"));
    assert!(has("totp.enable", "agent:"));
    assert!(has("login.failure", "session#second_factor_missing"));
    assert!(has("login.failure", "session#totp"));
    assert!(has("login.failure", "session#totp_replayed"));
    assert!(!serde_json::to_string(&log).unwrap().contains(&next));
    srv.stop().await;
}

#[tokio::test]
async fn a_tenant_can_require_a_second_factor_of_every_agent() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    srv.fixture("acme").await;
    let http = srv.http();
    let admin = http.with(Auth::Cookie(srv.login("acme", "admin").await));
    let agent = http.with(Auth::Cookie(srv.login("acme", "agent").await));
    let require = |on: bool| Some(json!({"require_totp": on}));
    // Not an agent; not an admin without a second factor of their own.
    assert_eq!(
        agent
            .call("PATCH", "/api/v1/tenant/mfa", require(true))
            .await
            .0,
        403
    );
    let (status, body) = admin
        .call("PATCH", "/api/v1/tenant/mfa", require(true))
        .await;
    assert_eq!((status, code_of(&body)), (409, "conflict"), "{body}");
    // The admin enrols, then requires it; agent2 enrols first, agent does not.
    let admin_app = enrol(&srv, "admin").await;
    enrol(&srv, "agent2").await;
    let (status, body) = admin
        .call("PATCH", "/api/v1/tenant/mfa", require(true))
        .await;
    // The admin's cookie predates nothing: sessions live on; only new sign-ins are asked.
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["require_totp"], true);
    assert_eq!(body["agents_with_totp"].as_array().unwrap().len(), 2);
    let (status, body) = login(&http, "agent", None).await;
    assert_eq!((status, code_of(&body)), (401, "second_factor_required"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ask an admin"));
    // The admin still signs in, with a code.
    assert_eq!(
        login(&http, "admin", Some(&code_at(&admin_app, 1))).await.0,
        200
    );
    // Turned off again, the agent signs in with the password alone.
    assert_eq!(
        admin
            .call("PATCH", "/api/v1/tenant/mfa", require(false))
            .await
            .0,
        200
    );
    assert_eq!(login(&http, "agent", None).await.0, 200);
    srv.stop().await;
}
