//! No standing access (issue 12): an operator reads a tenant's data only through a grant it requested with a
//! reason and a tenant admin approved, time-boxed and revocable, each use in the tenant's audit log; break-glass
//! needs a second operator and is flagged to the tenant at once.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Auth, Http, TestServer};
use cordon_service::operators;
use serde_json::{json, Value};
use totp_rs::TOTP;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
const OP_PASSWORD: &str = "a long operator passphrase";

/// A named operator, signed in over the API with its TOTP code: its bearer client.
async fn operator(srv: &TestServer, name: &str) -> Http {
    let made = operators::create(srv.service(), name, OP_PASSWORD, "test")
        .await
        .unwrap();
    let totp = TOTP::from_url(&made.otpauth_uri).unwrap();
    let (status, body) = srv
        .http()
        .call(
            "POST",
            "/api/v1/operator/sessions",
            Some(json!({"name": name, "password": OP_PASSWORD, "code": totp.generate_current().unwrap()})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    srv.http()
        .with(Auth::Bearer(body["token"].as_str().unwrap().into()))
}

fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The tenant's audit log as (actor, action, target).
async fn tenant_log(srv: &TestServer, tenant_id: &str) -> Vec<(String, String, String)> {
    let size = srv.store().audit_size(tenant_id).await.unwrap();
    srv.store()
        .audit_entries(tenant_id, 0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| {
            let v: Value = serde_json::from_slice(&b).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            (s("actor"), s("action"), s("target"))
        })
        .collect()
}

async fn sql(srv: &TestServer, statement: &str) {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(&srv.db.url).await.unwrap();
    sqlx::query(statement).execute(&mut c).await.unwrap();
}

#[tokio::test]
async fn an_operator_reads_a_tenant_only_through_an_approved_live_grant() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("acme").await;
    let other = srv.fixture("other").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    visitor
        .say(&conv, "m1", "my card is 4111 1111 1111 1111")
        .await;
    let op = operator(&srv, "grace").await;
    let convs = "/api/v1/operator/tenants/acme/conversations";
    let transcript = format!("{convs}/{conv}/messages");

    // No grant: nothing, for a tenant that exists and one that does not alike.
    for path in [
        convs,
        transcript.as_str(),
        "/api/v1/operator/tenants/nope/conversations",
    ] {
        let (status, body) = op.get(path).await;
        assert_eq!((status, code_of(&body)), (403, "grant_required"), "{path}");
    }
    // A request needs a reason and at most 24 h.
    for (reason, hours) in [("", 2), ("   ", 2), ("ticket 4411", 0), ("ticket 4411", 25)] {
        let (status, _) = op
            .call(
                "POST",
                "/api/v1/operator/grants",
                Some(json!({"tenant": "acme", "reason": reason, "hours": hours})),
            )
            .await;
        assert_eq!(status, 400, "{reason:?} {hours}");
    }
    let (status, g) = op
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "ticket 4411: visitor says card 4111 1111 1111 1111 shows", "hours": 2})),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(g["state"], "pending");
    assert!(
        !g["reason"].as_str().unwrap().contains("4111 1111"),
        "the reason is masked like any text"
    );
    let gid = g["id"].as_str().unwrap().to_string();
    // Pending is no grant.
    assert_eq!(code_of(&op.get(convs).await.1), "grant_required");

    // The tenant's admins see it with its reason and who asked.
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    let (status, list) = admin.get("/api/v1/operator-grants").await;
    assert_eq!(status, 200);
    assert_eq!(list["grants"][0]["operator_name"], "grace");
    assert!(list["grants"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("ticket 4411"));
    assert_eq!(list["break_glass_active"], json!([]));
    // Only a tenant admin signed in decides: not an admin API key, not an agent, not another tenant's admin.
    let approve = format!("/api/v1/operator-grants/{gid}/approve");
    let admin_key = srv
        .http()
        .with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
    let (status, body) = admin_key.call("POST", &approve, None).await;
    assert_eq!((status, code_of(&body)), (403, "session_required"));
    let agent = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "agent").await));
    assert_eq!(agent.call("POST", &approve, None).await.0, 403);
    let stranger = srv
        .http()
        .with(Auth::Cookie(srv.login("other", "admin").await));
    assert_eq!(stranger.call("POST", &approve, None).await.0, 404);
    let (status, body) = stranger.get("/api/v1/operator-grants").await;
    assert_eq!(
        (status, body["grants"].as_array().map(Vec::len)),
        (200, Some(0))
    );
    assert_eq!(code_of(&op.get(convs).await.1), "grant_required");

    // Approved: it runs for the hours asked, and every read is in the tenant's log.
    let (status, approved) = admin.call("POST", &approve, None).await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "active");
    let runs = approved["expires_at"].as_i64().unwrap() - approved["approved_at"].as_i64().unwrap();
    assert_eq!(runs, 2 * 3600 * 1000);
    assert_eq!(
        admin.call("POST", &approve, None).await.0,
        409,
        "approved once"
    );
    let (status, list) = op.get(convs).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list[0]["id"], conv.as_str());
    let (status, msgs) = op.get(&transcript).await;
    assert_eq!(status, 200, "{msgs}");
    assert!(msgs.to_string().contains("1111"), "{msgs}");
    assert!(
        !msgs.to_string().contains("4111 1111 1111 1111"),
        "stored masked: {msgs}"
    );
    // The grant is for acme only.
    assert_eq!(
        code_of(
            &op.get("/api/v1/operator/tenants/other/conversations")
                .await
                .1
        ),
        "grant_required"
    );
    let log = tenant_log(&srv, &fx.tenant.id).await;
    let op_actor = format!("operator:{}", approved["operator_id"].as_str().unwrap());
    let uses: Vec<_> = log.iter().filter(|(_, a, _)| a == "grant.use").collect();
    assert_eq!(uses.len(), 2, "{log:?}");
    assert!(uses
        .iter()
        .all(|(actor, _, t)| actor == &op_actor && t.starts_with(&format!("grant:{gid}#"))));
    for action in ["grant.request", "grant.approve", "grants.list"] {
        assert!(log.iter().any(|(_, a, _)| a == action), "{action}");
    }
    assert!(
        !format!("{log:?}").contains("ticket 4411"),
        "no reason in the log"
    );
    assert!(tenant_log(&srv, &other.tenant.id)
        .await
        .iter()
        .all(|(_, a, _)| !a.starts_with("grant.")));

    // Revoked by the tenant: refused at once; a revoked grant cannot be approved again.
    let (status, _) = admin
        .call(
            "POST",
            &format!("/api/v1/operator-grants/{gid}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(code_of(&op.get(convs).await.1), "grant_required");
    assert_eq!(admin.call("POST", &approve, None).await.0, 409);
    let (_, mine) = op.get("/api/v1/operator/grants").await;
    assert_eq!(mine[0]["state"], "revoked");

    // Expired: a second grant, approved, then past its end.
    let (_, g2) = op
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "ticket 4412", "hours": 1})),
        )
        .await;
    let g2 = g2["id"].as_str().unwrap().to_string();
    assert_eq!(
        admin
            .call(
                "POST",
                &format!("/api/v1/operator-grants/{g2}/approve"),
                None
            )
            .await
            .0,
        200
    );
    assert_eq!(op.get(convs).await.0, 200);
    sql(
        &srv,
        &format!(
            "UPDATE operator_grants SET expires_at = {} WHERE id = '{g2}'",
            cordon_store::now_ms() - 1
        ),
    )
    .await;
    assert_eq!(code_of(&op.get(convs).await.1), "grant_required", "expired");
    let (_, mine) = op.get("/api/v1/operator/grants").await;
    assert_eq!(mine[0]["state"], "expired");
    // An operator gives back its own grant, not another's.
    let (_, g3) = op
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "ticket 4413", "hours": 1})),
        )
        .await;
    let g3 = g3["id"].as_str().unwrap().to_string();
    let someone = operator(&srv, "someone").await;
    assert_eq!(
        someone
            .call(
                "POST",
                &format!("/api/v1/operator/grants/{g3}/revoke"),
                None
            )
            .await
            .0,
        404
    );
    assert_eq!(
        op.call(
            "POST",
            &format!("/api/v1/operator/grants/{g3}/revoke"),
            None
        )
        .await
        .0,
        204
    );
    srv.stop().await;
}

#[tokio::test]
async fn break_glass_needs_a_second_operator_and_the_tenant_sees_it_at_once() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("acme").await;
    let alice = operator(&srv, "alice").await;
    let bob = operator(&srv, "bob").await;
    let convs = "/api/v1/operator/tenants/acme/conversations";
    // The tenant's webhook receiver hears of the break-glass request and its approval at once (issue 16).
    let tmp = tempfile::tempdir().expect("tmp");
    let rx = common::receiver::Receiver::start(tmp.path(), "ok");
    let hook_admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    let (status, hook) = hook_admin
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": rx.url, "events": [
                "operator_access.break_glass_requested", "operator_access.break_glass_approved"]})),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    rx.set("secret", hook["secret"].as_str().unwrap());
    let (status, g) = alice
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "outage: queue stuck", "hours": 1, "break_glass": true})),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let approve = format!("/api/v1/operator/grants/{gid}/approve");
    // Not by the one who asked; not by the tenant (it is told, and may revoke).
    let (status, body) = alice.call("POST", &approve, None).await;
    assert_eq!((status, code_of(&body)), (403, "self_approval"));
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    assert_eq!(
        admin
            .call(
                "POST",
                &format!("/api/v1/operator-grants/{gid}/approve"),
                None
            )
            .await
            .0,
        409
    );
    assert_eq!(code_of(&alice.get(convs).await.1), "grant_required");
    // A second operator approves: live at once, and the tenant's admin pages get the banner.
    let (status, body) = bob.call("POST", &approve, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(alice.get(convs).await.0, 200);
    let (_, list) = admin.get("/api/v1/operator-grants").await;
    assert_eq!(list["break_glass_active"], json!([gid.clone()]));
    assert!(list["grants"][0]["approved_by"]
        .as_str()
        .unwrap()
        .starts_with("operator:"));
    let pushed = rx
        .wait_for(std::time::Duration::from_secs(15), |r| r.len() >= 2)
        .await;
    // Both, in either order: deliveries are not ordered (docs/WEBHOOKS.md); each carries its own time.
    let mut types: Vec<&str> = pushed.iter().filter_map(|r| r["type"].as_str()).collect();
    types.sort_unstable();
    let pushed: Vec<&Value> = {
        let mut p: Vec<&Value> = pushed.iter().collect();
        p.sort_by_key(|r| r["type"].as_str() != Some("operator_access.break_glass_requested"));
        p
    };
    assert_eq!(
        types,
        [
            "operator_access.break_glass_approved",
            "operator_access.break_glass_requested"
        ],
        "{pushed:?}"
    );
    assert!(pushed
        .iter()
        .all(|r| r["verified"] == true && r["body"]["data"]["grant_id"] == gid.as_str()));
    assert_eq!(pushed[0]["body"]["data"]["reason"], "outage: queue stuck");
    let log = tenant_log(&srv, &fx.tenant.id).await;
    for action in [
        "grant.break_glass_request",
        "grant.break_glass_approve",
        "grant.use",
    ] {
        assert!(
            log.iter().any(|(_, a, _)| a == action),
            "{action} in {log:?}"
        );
    }
    // A normal grant cannot be approved by an operator.
    let (_, normal) = alice
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "ticket 9", "hours": 1})),
        )
        .await;
    let normal = normal["id"].as_str().unwrap();
    assert_eq!(
        bob.call(
            "POST",
            &format!("/api/v1/operator/grants/{normal}/approve"),
            None
        )
        .await
        .0,
        409
    );
    // The tenant ends it.
    assert_eq!(
        admin
            .call(
                "POST",
                &format!("/api/v1/operator-grants/{gid}/revoke"),
                None
            )
            .await
            .0,
        204
    );
    assert_eq!(alice.get(convs).await.0, 403);
    let (_, list) = admin.get("/api/v1/operator-grants").await;
    assert_eq!(list["break_glass_active"], json!([]));
    srv.stop().await;
}

fn cordon(data: &Path, db: &str, token: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--database")
        .arg(db)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX)
        .env("CORDON_OPERATOR_TOKEN", token)
        .output()
        .expect("run cordon")
}

#[tokio::test]
async fn the_cli_requests_and_lists_grants_as_a_signed_in_operator() {
    let db = cordon_store::testing::sqlite();
    let (url, data) = (
        db.url.clone(),
        db.dir.as_ref().unwrap().path().to_path_buf(),
    );
    let srv = TestServer::start(db).await;
    srv.fixture("acme").await;
    let op = operator(&srv, "grace").await;
    let Auth::Bearer(token) = op.auth.clone() else {
        unreachable!()
    };
    let out = cordon(
        &data,
        &url,
        &token,
        &[
            "operator", "grant", "request", "--tenant", "acme", "--reason", "ticket 7", "--hours",
            "3", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(g["state"], "pending");
    let out = cordon(
        &data,
        &url,
        &token,
        &["operator", "grant", "list", "--json"],
    );
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["id"], g["id"]);
    // Without a live session the CLI refuses: a name alone is not an operator.
    let out = cordon(
        &data,
        &url,
        "co_not-a-session",
        &["operator", "grant", "list"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a live session"));
    srv.stop().await;
}
