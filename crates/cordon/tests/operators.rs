//! Operator accounts (issue 12): named accounts made by `cordon operator create`, a required second factor
//! (TOTP, used once; recovery codes, used once), short sessions that are listed and revocable, sign-in backing
//! off per account and per address and audited, and no standing access to any tenant's data.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Auth, Http, TestServer};
use cordon_server::Limits;
use cordon_service::operators;
use cordon_store::PLATFORM_LOG;
use serde_json::{json, Value};
use totp_rs::TOTP;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");
const OP_PASSWORD: &str = "a long operator passphrase";

fn cordon(data: &Path, db: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--database")
        .arg(db)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX)
        .output()
        .expect("run cordon")
}

/// A code for `offset_steps` 30-second steps from now (the service accepts one step either side).
fn code(totp: &TOTP, offset_steps: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    totp.generate((now + offset_steps * 30) as u64)
}

async fn sign_in(http: &Http, name: &str, password: &str, code: Option<&str>) -> (u16, Value) {
    http.call(
        "POST",
        "/api/v1/operator/sessions",
        Some(json!({"name": name, "password": password, "code": code})),
    )
    .await
}

/// Every platform-log entry as (action, target).
async fn platform_entries(srv: &TestServer) -> Vec<(String, String)> {
    let size = srv.store().audit_size(PLATFORM_LOG).await.unwrap();
    srv.store()
        .audit_entries(PLATFORM_LOG, 0, size)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| {
            let v: Value = serde_json::from_slice(&b).unwrap();
            (
                v["action"].as_str().unwrap().to_string(),
                v["target"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn failures(entries: &[(String, String)]) -> Vec<String> {
    entries
        .iter()
        .filter(|(a, _)| a == "operator.login.failure")
        .map(|(_, t)| t.clone())
        .collect()
}

#[tokio::test]
async fn the_cli_creates_a_named_operator_and_shows_its_secrets_once() {
    let db = cordon_store::testing::sqlite();
    let (url, data) = (
        db.url.clone(),
        db.dir.as_ref().unwrap().path().to_path_buf(),
    );
    let out = cordon(
        &data,
        &url,
        &["operator", "create", "--name", "grace", "--json"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = made["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Cordon:grace?"), "{uri}");
    assert_eq!(made["recovery_codes"].as_array().unwrap().len(), 10);
    let password = made["password"].as_str().unwrap().to_string();
    // A name is one person's: a second `grace` is refused.
    let again = cordon(&data, &url, &["operator", "create", "--name", "grace"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // Nothing shown once is stored in clear: not the password, the TOTP secret or a recovery code.
    let db_bytes = std::fs::read(data.join("cordon.db")).unwrap();
    let contains = |needle: &str| {
        db_bytes
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    assert!(!contains(&password));
    assert!(!contains(made["totp_secret"].as_str().unwrap()));
    for c in made["recovery_codes"].as_array().unwrap() {
        let c = c.as_str().unwrap();
        assert!(!contains(c), "recovery code {c} in the database");
    }

    // The operator signs in over the API with the app's code, and is listed.
    let srv = TestServer::start(db).await;
    let totp = TOTP::from_url(uri).unwrap();
    let http = srv.http();
    let (status, body) = sign_in(&http, "grace", &password, Some(&code(&totp, 0))).await;
    assert_eq!(status, 201, "{body}");
    let list = cordon(&data, &url, &["operator", "list", "--json"]);
    let list: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["name"], "grace");
    assert!(list[0].get("password_hash").is_none());
    let sessions = cordon(
        &data,
        &url,
        &["operator", "sessions", "--name", "grace", "--json"],
    );
    let sessions: Value = serde_json::from_slice(&sessions.stdout).unwrap();
    assert_eq!(sessions[0]["id"], body["session_id"]);
    assert_eq!(sessions[0]["live"], true);
    // The CLI revokes it (a lost laptop): the token stops working at once.
    let token = body["token"].as_str().unwrap().to_string();
    let op = http.with(Auth::Bearer(token));
    assert_eq!(op.get("/api/v1/operator/sessions").await.0, 200);
    let sid = body["session_id"].as_str().unwrap();
    let out = cordon(&data, &url, &["operator", "revoke-session", "--id", sid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(op.get("/api/v1/operator/sessions").await.0, 401);
    // A leaver: disabled, every session ends at once and the right password and code no longer sign in.
    let (status, again) = sign_in(&http, "grace", &password, Some(&code(&totp, 1))).await;
    assert_eq!(status, 201, "{again}");
    let live = http.with(Auth::Bearer(again["token"].as_str().unwrap().into()));
    let out = cordon(&data, &url, &["operator", "disable", "--name", "grace"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(live.get("/api/v1/operator/sessions").await.0, 401);
    let recovery = made["recovery_codes"][0].as_str().unwrap();
    let (status, _) = sign_in(&http, "grace", &password, Some(recovery)).await;
    assert_eq!(status, 401, "a disabled operator does not sign in");
    let actions: Vec<String> = platform_entries(&srv)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for a in [
        "operator.create",
        "operators.list",
        "operator.login.success",
        "operator_sessions.list",
        "operator_session.revoke",
        "operator.disable",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} not in {actions:?}");
    }
    srv.stop().await;
}

#[tokio::test]
async fn every_second_factor_refusal() {
    // The replay rule is decided in the database: both backends.
    for db in cordon_store::testing::all_backends().await {
        second_factor_refusals(db).await;
    }
}

async fn second_factor_refusals(db: cordon_store::testing::TestDatabase) {
    let srv = TestServer::start(db).await;
    let made = operators::create(srv.service(), "linus", OP_PASSWORD, "test")
        .await
        .unwrap();
    let totp = TOTP::from_url(&made.otpauth_uri).unwrap();
    let http = srv.http();

    // No second factor at all: refused before the password is even tested.
    for missing in [None, Some(""), Some("   ")] {
        let (status, body) = sign_in(&http, "linus", OP_PASSWORD, missing).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("second_factor_required")),
            "{body}"
        );
    }
    // A wrong code, a wrong password with the right code, an unknown operator: one answer for all.
    let wrong = if code(&totp, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for (name, password, c) in [
        ("linus", OP_PASSWORD, wrong.to_string()),
        ("linus", "not the passphrase", code(&totp, 0)),
        ("nobody", OP_PASSWORD, code(&totp, 0)),
        ("linus", OP_PASSWORD, "abcdef-0000000000000000".to_string()),
    ] {
        let (status, body) = sign_in(&http, name, password, Some(&c)).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some("bad_credentials")),
            "{body}"
        );
        assert_eq!(body["error"]["message"], "wrong name, password or code");
    }
    // A code from three steps ago (90 s) is outside the window.
    let (status, _) = sign_in(&http, "linus", OP_PASSWORD, Some(&code(&totp, -3))).await;
    assert_eq!(status, 401);

    // The right code works once; the same code again is a replay, refused even within its 30 s.
    let now_code = code(&totp, 0);
    let (status, first) = sign_in(&http, "linus", OP_PASSWORD, Some(&now_code)).await;
    assert_eq!(status, 201, "{first}");
    let (status, body) = sign_in(&http, "linus", OP_PASSWORD, Some(&now_code)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("bad_credentials"))
    );
    // ... and so is an older step's code, once a later one was used.
    let (status, _) = sign_in(&http, "linus", OP_PASSWORD, Some(&code(&totp, -1))).await;
    assert_eq!(status, 401);
    // The next step's code (clock drift) is still new, so it is accepted.
    let (status, _) = sign_in(&http, "linus", OP_PASSWORD, Some(&code(&totp, 1))).await;
    assert_eq!(status, 201);

    // A recovery code works once, in any case; the second use is refused.
    let recovery = made.recovery_codes[0].to_ascii_uppercase();
    let (status, body) = sign_in(&http, "linus", OP_PASSWORD, Some(&recovery)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = sign_in(&http, "linus", OP_PASSWORD, Some(&recovery)).await;
    assert_eq!(status, 401);
    assert_eq!(
        srv.store()
            .unused_recovery_codes(&made.operator.id)
            .await
            .unwrap(),
        9
    );

    // Each failure is audited in the platform log with why, in fixed words; nothing typed is written.
    let entries = platform_entries(&srv).await;
    let why = failures(&entries);
    for label in [
        "second_factor_missing",
        "totp",
        "password",
        "totp_replayed",
        "recovery_code",
    ] {
        let target = format!("operator_session#{label}");
        assert!(why.contains(&target), "{target} not in {why:?}");
    }
    assert!(entries
        .iter()
        .any(|(a, _)| a == "operator.recovery_code.use"));
    let log = format!("{entries:?}");
    for secret in [
        OP_PASSWORD,
        "not the passphrase",
        "nobody",
        now_code.as_str(),
        made.recovery_codes[0].as_str(),
    ] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
    srv.stop().await;
}

#[tokio::test]
async fn sessions_are_short_listed_revocable_and_reach_no_tenant() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    // A tenant with data the operator must not reach.
    let _fx = srv.fixture("acme").await;
    let made = operators::create(srv.service(), "ada.ops", OP_PASSWORD, "test")
        .await
        .unwrap();
    let totp = TOTP::from_url(&made.otpauth_uri).unwrap();
    let http = srv.http();
    let (status, a) = sign_in(&http, "ada.ops", OP_PASSWORD, Some(&code(&totp, 0))).await;
    assert_eq!(status, 201);
    let (_, b) = sign_in(&http, "ada.ops", OP_PASSWORD, Some(&made.recovery_codes[1])).await;
    let expires = a["expires_at"].as_i64().unwrap();
    let twelve_h = 12 * 3600 * 1000;
    assert!(
        (expires - cordon_store::now_ms() - twelve_h).abs() < 60_000,
        "12 h absolute"
    );
    let op_a = http.with(Auth::Bearer(a["token"].as_str().unwrap().into()));
    let op_b = http.with(Auth::Bearer(b["token"].as_str().unwrap().into()));

    // Listed, with the current one marked.
    let (status, list) = op_a.get("/api/v1/operator/sessions").await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list
        .iter()
        .any(|s| s["id"] == a["session_id"] && s["current"] == true));
    assert!(list
        .iter()
        .all(|s| s["live"] == true && s.get("token").is_none()));

    // No standing access: an operator's token is no key to any tenant route.
    for path in [
        "/api/v1/tenant",
        "/api/v1/conversations",
        "/api/v1/agents",
        "/api/v1/visitor-sessions",
        "/api/v1/audit/checkpoint",
    ] {
        let (status, _) = op_a.get(path).await;
        assert_eq!(status, 401, "{path}");
    }

    // Revoking one's own other session (the 'sign out that laptop' button); another operator's is not found.
    let other = operators::create(srv.service(), "mallory", OP_PASSWORD, "test")
        .await
        .unwrap();
    let other_totp = TOTP::from_url(&other.otpauth_uri).unwrap();
    let (_, m) = sign_in(&http, "mallory", OP_PASSWORD, Some(&code(&other_totp, 0))).await;
    let op_m = http.with(Auth::Bearer(m["token"].as_str().unwrap().into()));
    let b_path = format!(
        "/api/v1/operator/sessions/{}",
        b["session_id"].as_str().unwrap()
    );
    assert_eq!(op_m.call("DELETE", &b_path, None).await.0, 404);
    assert_eq!(op_b.get("/api/v1/operator/sessions").await.0, 200);
    assert_eq!(op_a.call("DELETE", &b_path, None).await.0, 204);
    assert_eq!(op_b.get("/api/v1/operator/sessions").await.0, 401);
    assert_eq!(
        op_a.call("DELETE", &b_path, None).await.0,
        404,
        "already revoked"
    );

    // Idle for 30 min: ended. Past 12 h: ended, however active.
    let store = srv.store();
    let idle_ago = cordon_store::now_ms() - 31 * 60 * 1000;
    sqlx_exec(
        &srv,
        &format!(
            "UPDATE operator_sessions SET last_seen_at = {idle_ago} WHERE id = '{}'",
            a["session_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        op_a.get("/api/v1/operator/sessions").await.0,
        401,
        "idle out"
    );
    sqlx_exec(
        &srv,
        &format!(
            "UPDATE operator_sessions SET expires_at = {} WHERE id = '{}'",
            cordon_store::now_ms() - 1,
            m["session_id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        op_m.get("/api/v1/operator/sessions").await.0,
        401,
        "absolute end"
    );
    let _ = store;
    srv.stop().await;
}

async fn sqlx_exec(srv: &TestServer, sql: &str) {
    use sqlx::Connection as _;
    let mut c = sqlx::SqliteConnection::connect(&srv.db.url).await.unwrap();
    sqlx::query(sql).execute(&mut c).await.unwrap();
}

#[tokio::test]
async fn failed_operator_sign_ins_back_off_per_account_and_per_address() {
    let quick = |n| cordon_server::Policy {
        failures_before_backoff: n,
        first_backoff: Duration::from_secs(30),
        ..Limits::default().login_per_account
    };
    let srv = TestServer::start_with(
        cordon_store::testing::sqlite(),
        Limits {
            login_per_account: quick(3),
            login_per_address: quick(6),
            ..Limits::default()
        },
    )
    .await;
    let made = operators::create(srv.service(), "kim", OP_PASSWORD, "test")
        .await
        .unwrap();
    let totp = TOTP::from_url(&made.otpauth_uri).unwrap();
    let http = srv.http();
    for _ in 0..3 {
        let (status, _) = sign_in(&http, "kim", "wrong passphrase", Some("123456")).await;
        assert_eq!(status, 401);
    }
    // The account backs off: even the right password and code are not tested now.
    let (status, body) = sign_in(&http, "kim", OP_PASSWORD, Some(&code(&totp, 0))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited")),
        "{body}"
    );
    // Other names from the same address, until the address's own limit.
    let mut last = 0;
    for n in 0..4 {
        last = sign_in(&http, &format!("guess{n}"), "x", Some("123456"))
            .await
            .0;
    }
    assert_eq!(last, 429, "the address backs off too");
    let entries = platform_entries(&srv).await;
    let throttled: Vec<_> = entries
        .iter()
        .filter(|(a, _)| a == "login.throttled")
        .collect();
    assert!(
        throttled
            .iter()
            .any(|(_, t)| t.starts_with(&format!("operator:{}#backoff=", made.operator.id))),
        "{throttled:?}"
    );
    assert!(
        throttled.iter().any(|(_, t)| t.starts_with("addr:")),
        "{throttled:?}"
    );
    srv.stop().await;
}
