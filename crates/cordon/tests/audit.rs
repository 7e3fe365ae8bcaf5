//! The audit ledger end to end: coverage of every route and of every audited action, proofs through the API, tampering of a real
//! database file, a forked rewrite signed with the real key (caught by `watch`, not by `verify`), crashes, and
//! several writers on one PostgreSQL database.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::{Auth, TestServer};
use cordon_ledger::{Checkpoint, MemoryTree, NoteVerifier};
use cordon_server::Limits;
use cordon_service::audit::Action;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn b64d(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64")
}

fn hash32(s: &str) -> [u8; 32] {
    b64d(s).try_into().expect("32 bytes")
}

/// A request body for each mutating route; a route missing here fails the test, so new routes are covered.
fn body_for(method: &str, path: &str, n: usize) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/v1/auth/login") => {
            Some(json!({"tenant": "acme", "username": "agent", "password": common::PASSWORD}))
        }
        ("PATCH", "/api/v1/tenant") => Some(json!({"display_name": format!("Acme {n}")})),
        ("POST", "/api/v1/agents") => Some(
            json!({"username": format!("new{n}"), "display_name": "New", "role": "agent", "password": "a long enough password"}),
        ),
        ("PATCH", "/api/v1/agents/{agent_id}") => Some(json!({"capacity": 4})),
        ("POST", "/api/v1/apikeys") => Some(json!({"scopes": ["conversations:read"]})),
        ("POST", "/api/v1/impact") => Some(
            json!({"kind": "platform", "from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}),
        ),
        ("POST", "/api/v1/auth/logout")
        | ("POST", "/api/v1/operator-grants/{grant_id}/approve")
        | ("POST", "/api/v1/operator-grants/{grant_id}/revoke")
        | ("POST", "/api/v1/tenant/identity-secret")
        | ("POST", "/api/v1/agents/{agent_id}/revoke-sessions")
        | ("POST", "/api/v1/transparency/checkpoint-check")
        | ("DELETE", "/api/v1/apikeys/{key_id}") => None,
        ("POST", "/api/v1/me/totp") => Some(json!({})),
        ("POST", "/api/v1/webhooks") => {
            Some(json!({"url": "http://127.0.0.1:9/sweep", "events": ["conversation.closed"]}))
        }
        ("PUT", "/api/v1/tenant/release") => Some(json!({"release_id": null})),
        ("PUT", "/api/v1/tenant/retention") => {
            Some(json!({"transcript_days": 3650, "exposure_days": 3650}))
        }
        ("POST", "/api/v1/visitor-requests/export") => Some(json!({"user_id": "sweep-export"})),
        ("POST", "/api/v1/visitor-requests/delete") => Some(json!({"user_id": "sweep-delete"})),
        ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver")
        | ("DELETE", "/api/v1/webhooks/{webhook_id}") => None,
        ("PATCH", "/api/v1/tenant/mfa") => Some(json!({"require_totp": false})),
        ("PUT", "/api/v1/tenant/chat-forms") => Some(json!({"prechat": true, "offline": true})),
        ("POST", "/api/v1/canned-replies") => {
            Some(json!({"shortcut": format!("sweep{n}"), "text": "Sweep reply"}))
        }
        ("PUT", "/api/v1/canned-replies/{reply_id}") => {
            Some(json!({"shortcut": format!("swept{n}"), "text": "Swept reply"}))
        }
        ("DELETE", "/api/v1/canned-replies/{reply_id}") => None,
        ("POST", "/api/v1/conversations/{conversation_id}/notes") => {
            Some(json!({"text": format!("Sweep note {n}")}))
        }
        ("PUT", "/api/v1/conversations/{conversation_id}/meta") => {
            Some(json!({"tags": ["sweep"], "priority": "high"}))
        }
        ("PUT", "/api/v1/payments/settings") => {
            Some(json!({"processor_url": common::processor::url(), "detokenize_enabled": true}))
        }
        ("POST", "/api/v1/payments/tokens/{token_id}/forward") => Some(json!({})),
        ("POST", "/api/v1/payments/tokens/{token_id}/detokenize") => None,
        ("GET", _) => None,
        _ => panic!("route {method} {path} has no audit coverage probe"),
    }
}

async fn entries(srv: &TestServer, tenant_id: &str, from: i64) -> Vec<Value> {
    let size = srv.store().audit_size(tenant_id).await.unwrap();
    srv.store()
        .audit_entries(tenant_id, from, size)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, b)| serde_json::from_slice(&b).expect("entries are JSON"))
        .collect()
}

#[tokio::test]
async fn every_route_is_audited_and_proofs_verify() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("acme").await;
        let tid = fx.tenant.id.clone();
        let http = srv.http();
        let admin_cookie = srv.login("acme", "admin").await;
        let admin_cookie_for_fixture = admin_cookie.clone();
        let admin = http.with(Auth::Cookie(admin_cookie));
        let reader_key = srv
            .api_key(&fx.tenant, &["conversations:read", "audit:read"])
            .await;
        let reader = http.with(Auth::Bearer(reader_key.clone()));
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor
            .say(
                &conv,
                "m1",
                "my card 4111 1111 1111 1111 and my secret words",
            )
            .await;
        let spare_key = srv.api_key(&fx.tenant, &["conversations:read"]).await;
        let spare_id = srv
            .store()
            .list_api_keys(&tid)
            .await
            .unwrap()
            .into_iter()
            .find(|k| spare_key.starts_with(&k.prefix) && k.scopes == ["conversations:read"])
            .unwrap()
            .id;

        let grant_id = srv.pending_grant("acme").await;
        let (webhook_id, delivery_id) = srv
            .webhook_fixture(&admin_cookie_for_fixture, &fx.tenant.widget_key)
            .await;
        srv.sweep_visitors(&tid).await;
        // A canned reply (issue 20) for the routes that name one.
        let (_, reply) = admin
            .call(
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "fixture", "text": "A fixture reply"})),
            )
            .await;
        let reply_id = reply["id"].as_str().expect("a canned reply").to_string();
        let token_id = srv.token_fixture("acme", &fx.tenant.widget_key).await;
        let (_, doc) = http.get("/api/openapi.json").await;
        let mut n = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            // Operators' routes write the platform log, not a tenant's (the coverage test below drives them).
            if path.starts_with("/api/v1/audit/") || path.starts_with("/api/v1/operator/") {
                continue;
            }
            for method in ["get", "post", "patch", "put", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                n += 1;
                if path.contains("/files") {
                    // Raw bodies and tickets: driven by drive_file_routes below.
                    continue;
                }
                let m = method.to_uppercase();
                let url = path
                    .replace("{agent_id}", &fx.agent2_id)
                    .replace("{conversation_id}", &conv)
                    .replace("{key_id}", &spare_id)
                    .replace("{grant_id}", &grant_id)
                    .replace("{webhook_id}", &webhook_id)
                    .replace("{reply_id}", &reply_id)
                    .replace("{delivery_id}", &delivery_id)
                    .replace("{token_id}", &token_id)
                    + if path == "/api/v1/search/messages" {
                        "?q=hello"
                    } else {
                        ""
                    };
                let client = if path.starts_with("/api/v1/conversations") && m == "GET" {
                    reader.clone()
                } else if path == "/api/v1/auth/logout" {
                    http.with(Auth::Cookie(srv.login("acme", "agent").await))
                } else {
                    admin.clone()
                };
                let before = srv.store().audit_size(&tid).await.unwrap();
                let (status, body) = client.call(&m, &url, body_for(&m, path, n)).await;
                assert!((200..300).contains(&status), "{m} {path}: {status} {body}");
                let new = entries(&srv, &tid, before).await;
                assert!(!new.is_empty(), "{m} {path} left no audit entry");
                for e in &new {
                    for field in ["id", "actor", "action", "target", "log"] {
                        assert!(
                            e[field].as_str().is_some_and(|v| !v.is_empty()),
                            "{m} {path}: {e}"
                        );
                    }
                }
            }
        }
        drive_file_routes(&srv, Some(&tid), &conv, &mut visitor, &reader_key).await;
        // Entries hold ids, never message text, card numbers or secrets.
        let all = entries(&srv, &tid, 0).await;
        let text = serde_json::to_string(&all).unwrap();
        for forbidden in ["4111", "secret words", common::PASSWORD, &reader_key] {
            assert!(
                !text.contains(forbidden),
                "audit log contains {forbidden:?}"
            );
        }
        // A failed login records a keyed hash of the name typed, never the name.
        let before = srv.store().audit_size(&tid).await.unwrap();
        let (s, _) = http
            .call(
                "POST",
                "/api/v1/auth/login",
                Some(json!({"tenant": "acme", "username": "hunter2-typo", "password": "x"})),
            )
            .await;
        assert_eq!(s, 401);
        let fail = entries(&srv, &tid, before).await;
        assert_eq!(fail[0]["action"], "login.failure");
        assert!(fail[0]["actor"].as_str().unwrap().starts_with("name:"));
        assert!(!serde_json::to_string(&fail).unwrap().contains("hunter2"));

        // The audit API: a checkpoint covering everything within about a second, then proofs against it.
        let auditor = http.with(Auth::Bearer(reader_key.clone()));
        let size = srv.store().audit_size(&tid).await.unwrap() as u64;
        let (_, vkey) = auditor.get("/api/v1/audit/key").await;
        let verifier = NoteVerifier::parse(vkey.as_str().unwrap().trim()).expect("verifier key");
        let started = std::time::Instant::now();
        let cp = loop {
            let (s, note) = auditor.get("/api/v1/audit/checkpoint").await;
            if s == 200 {
                let cp = Checkpoint::open(
                    note.as_str().unwrap().as_bytes(),
                    verifier.name(),
                    &verifier,
                )
                .expect("checkpoint verifies");
                if cp.size() == size {
                    break cp;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "no checkpoint for size {size}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Reading the audit API does not grow the log.
        assert_eq!(srv.store().audit_size(&tid).await.unwrap() as u64, size);
        let mut tree = MemoryTree::new();
        let mut start = 0;
        while start < size {
            let (s, page) = auditor
                .get(&format!("/api/v1/audit/entries?start={start}&end={size}"))
                .await;
            assert_eq!(s, 200);
            for e in page["entries"].as_array().unwrap() {
                assert_eq!(e["index"].as_u64().unwrap(), start);
                tree.push_entry(&b64d(e["entry"].as_str().unwrap()));
                start += 1;
            }
        }
        assert_eq!(&tree.root(), cp.root(), "entries reproduce the signed root");
        for index in [0, size / 2, size - 1] {
            let (s, p) = auditor
                .get(&format!(
                    "/api/v1/audit/proof/inclusion?index={index}&size={size}"
                ))
                .await;
            assert_eq!(s, 200);
            let path: Vec<[u8; 32]> = p["audit_path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| hash32(h.as_str().unwrap()))
                .collect();
            let leaf = tree.leaf_hash(index).unwrap();
            cordon_ledger::verify_inclusion(index, size, &leaf, &path, cp.root())
                .expect("inclusion verifies");
        }
        let first = size / 3;
        let (s, p) = auditor
            .get(&format!(
                "/api/v1/audit/proof/consistency?first={first}&second={size}"
            ))
            .await;
        assert_eq!(s, 200);
        let proof: Vec<[u8; 32]> = p["consistency"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hash32(h.as_str().unwrap()))
            .collect();
        cordon_ledger::verify_consistency(
            first,
            size,
            &tree.root_at(first).unwrap(),
            cp.root(),
            &proof,
        )
        .expect("consistency verifies");
        // Bad proof requests get typed errors.
        let (s, e) = auditor
            .get(&format!(
                "/api/v1/audit/proof/inclusion?index=0&size={}",
                size + 10
            ))
            .await;
        assert_eq!((s, e["error"]["code"].as_str()), (400, Some("bad_request")));
        // Without audit:read, nothing. (A tenant admin holds audit:read since issue #18; an agent and an
        // admin-only key do not.)
        let agent = http.with(Auth::Cookie(srv.login("acme", "agent").await));
        assert_eq!(agent.get("/api/v1/audit/checkpoint").await.0, 403);
        let admin_only = http.with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
        assert_eq!(admin_only.get("/api/v1/audit/checkpoint").await.0, 403);
        assert_eq!(admin.get("/api/v1/audit/checkpoint").await.0, 200);
        srv.stop().await;
    }
}

// ---- the real binary on a real database file -------------------------------------------------------------

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cordon(data: &Path, db: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .arg("--data")
        .arg(data)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX);
    if let Some(url) = db {
        c.arg("--database").arg(url);
    }
    c.output().expect("run cordon")
}

fn cordon_ok(data: &Path, db: Option<&str>, args: &[&str]) -> String {
    let out = cordon(data, db, args);
    assert!(
        out.status.success(),
        "cordon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serve(data: &Path, db: Option<&str>) -> Server {
    let mut c = Command::new(BIN);
    c.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = db {
        c.arg("--database").arg(url);
    }
    let mut child = c.spawn().expect("spawn server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read");
        if let Some(rest) = line.strip_prefix("cordon listening on ") {
            break rest.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

async fn sql(data: &Path, statements: &[&str]) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", data.join("cordon.db").display());
    let mut c = sqlx::AnyConnection::connect(&url).await.unwrap();
    for s in statements {
        sqlx::query(s)
            .execute(&mut c)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

fn tenant_id(data: &Path, slug: &str) -> String {
    let out = cordon_ok(data, None, &["tenant", "list", "--json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|t| t["slug"] == slug)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Build a log with a checkpoint after each step: tenant creation, then `steps` agent creations.
async fn build_log(data: &Path, steps: usize) -> (String, Vec<i64>) {
    let srv = serve(data, None);
    cordon_ok(
        data,
        None,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
    );
    let tid = tenant_id(data, "acme");
    let store = cordon_store::Store::open(&cordon_store::StoreConfig::new(format!(
        "sqlite://{}",
        data.join("cordon.db").display()
    )))
    .await
    .unwrap();
    let mut sizes = Vec::new();
    for i in 0..=steps {
        if i > 0 {
            cordon_ok(
                data,
                None,
                &[
                    "agent",
                    "create",
                    "--tenant",
                    "acme",
                    "--username",
                    &format!("a{i}"),
                    "--name",
                    "A",
                ],
            );
        }
        let size = store.audit_size(&tid).await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while store.latest_checkpoint(&tid).await.unwrap().map(|c| c.size) != Some(size) {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint at size {size}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sizes.push(size);
    }
    store.close().await;
    drop(srv);
    (tid, sizes)
}

fn verify_fails_at(data: &Path, index: i64) {
    let out = cordon(data, None, &["audit", "verify"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "verify passed a tampered log");
    assert!(
        err.contains(&format!("first bad index {index}")),
        "expected first bad index {index}: {err}"
    );
}

#[tokio::test]
async fn verify_names_the_first_bad_index_of_each_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let (tid, sizes) = build_log(&pristine, 4).await;
    let out = cordon_ok(&pristine, None, &["audit", "verify"]);
    assert!(out.contains("logs verified"), "{out}");
    let fresh = |name: &str| -> PathBuf {
        let d = dir.path().join(name);
        copy_dir(&pristine, &d);
        d
    };
    // Edit an entry's bytes.
    let d = fresh("edit");
    sql(&d, &[&format!("UPDATE audit_entries SET entry = CAST('{{\"action\":\"nothing\"}}' AS BLOB) WHERE log_id = '{tid}' AND idx = 3")]).await;
    verify_fails_at(&d, 3);
    // Delete a row.
    let d = fresh("delete");
    sql(
        &d,
        &[&format!(
            "DELETE FROM audit_entries WHERE log_id = '{tid}' AND idx = 2"
        )],
    )
    .await;
    verify_fails_at(&d, 2);
    // Swap two rows.
    let d = fresh("swap");
    sql(
        &d,
        &[
            &format!("UPDATE audit_entries SET idx = -1 WHERE log_id = '{tid}' AND idx = 1"),
            &format!("UPDATE audit_entries SET idx = 1 WHERE log_id = '{tid}' AND idx = 4"),
            &format!("UPDATE audit_entries SET idx = 4 WHERE log_id = '{tid}' AND idx = -1"),
        ],
    )
    .await;
    verify_fails_at(&d, 1);
    // Truncate the log and re-append other entries, with every node recomputed.
    let d = fresh("truncate");
    let cut = sizes[2];
    sql(
        &d,
        &[
            &format!("DELETE FROM audit_entries WHERE log_id = '{tid}' AND idx >= {cut}"),
            &format!(
                "DELETE FROM audit_nodes WHERE log_id = '{tid}' AND ((idx + 1) << level) > {cut}"
            ),
            &format!("UPDATE audit_logs SET size = {cut} WHERE log_id = '{tid}'"),
        ],
    )
    .await;
    let store = cordon_store::Store::open(&cordon_store::StoreConfig::new(format!(
        "sqlite://{}",
        d.join("cordon.db").display()
    )))
    .await
    .unwrap();
    let forged: Vec<cordon_store::AuditEntry> = (0..6)
        .map(|_| {
            cordon_service::audit::entry(
                &tid,
                "operator:cli",
                Action::AgentCreate,
                "agent:a_forged",
            )
        })
        .collect();
    store.append_audit_batch(&forged).await.unwrap();
    store.close().await;
    verify_fails_at(&d, cut);
}

#[tokio::test]
async fn watch_catches_a_rewrite_signed_with_the_real_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (tid, sizes) = build_log(&data, 3).await;
    let key_out = cordon_ok(
        &data,
        None,
        &[
            "apikey",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "audit:read",
            "--json",
        ],
    );
    let key = serde_json::from_str::<Value>(&key_out).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let state = dir.path().join("watch.json");
    // The monitor sees the honest log.
    {
        let srv = serve(&data, None);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let out = Command::new(BIN)
            .args([
                "audit", "watch", "--once", "--url", &srv.base, "--key", &key, "--state",
            ])
            .arg(&state)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // An attacker with the database and the master key rewrites history from an early point and signs it.
    let cut = sizes[1];
    sql(
        &data,
        &[
            &format!("DELETE FROM audit_entries WHERE log_id = '{tid}' AND idx >= {cut}"),
            &format!(
                "DELETE FROM audit_nodes WHERE log_id = '{tid}' AND ((idx + 1) << level) > {cut}"
            ),
            &format!("DELETE FROM audit_checkpoints WHERE log_id = '{tid}' AND size > {cut}"),
            &format!("UPDATE audit_logs SET size = {cut} WHERE log_id = '{tid}'"),
        ],
    )
    .await;
    let store = cordon_store::Store::open(&cordon_store::StoreConfig::new(format!(
        "sqlite://{}",
        data.join("cordon.db").display()
    )))
    .await
    .unwrap();
    let keys = cordon_service::keys::Keys::open(&store, common::master_key())
        .await
        .unwrap();
    let forged: Vec<cordon_store::AuditEntry> = (0..20)
        .map(|_| cordon_service::audit::entry(&tid, "operator:cli", Action::TenantRead, "tenant"))
        .collect();
    store.append_audit_batch(&forged).await.unwrap();
    cordon_service::audit::checkpoint_due_logs(&store, keys.audit_seed())
        .await
        .unwrap();
    store.close().await;
    // verify alone cannot tell: the rewritten log is internally consistent and properly signed.
    cordon_ok(&data, None, &["audit", "verify"]);
    // The monitor, holding the earlier checkpoint, raises the alarm.
    let srv = serve(&data, None);
    let out = Command::new(BIN)
        .args([
            "audit", "watch", "--once", "--url", &srv.base, "--key", &key, "--state",
        ])
        .arg(&state)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "watch must alarm: {err}");
    assert!(err.contains("ALERT"), "{err}");
}

#[tokio::test]
async fn a_crash_during_audited_actions_leaves_a_log_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cordon_ok(
        &data,
        None,
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
    );
    let key_out = cordon_ok(
        &data,
        None,
        &[
            "apikey", "create", "--tenant", "acme", "--scope", "admin", "--json",
        ],
    );
    let key = serde_json::from_str::<Value>(&key_out).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let tid = tenant_id(&data, "acme");
    let mut succeeded = 0usize;
    for round in 0..5u64 {
        let srv = serve(&data, None);
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let (client, base, key) = (client.clone(), srv.base.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for j in 0..1000 {
                    // Only a complete 200 response counts as a success the log must hold.
                    let sent = client
                        .patch(format!("{base}/api/v1/tenant"))
                        .bearer_auth(&key)
                        .json(&json!({"display_name": format!("Acme {i} {j}")}))
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => ok += 1,
                        _ => break,
                    }
                }
                ok
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + 70 * round)).await;
        let mut srv = srv;
        let _ = srv.child.kill();
        let _ = srv.child.wait();
        for t in tasks {
            succeeded += t.await.unwrap_or(0);
        }
    }
    let out = cordon_ok(&data, None, &["audit", "verify"]);
    assert!(out.contains("logs verified"), "{out}");
    let store = cordon_store::Store::open(&cordon_store::StoreConfig::new(format!(
        "sqlite://{}",
        data.join("cordon.db").display()
    )))
    .await
    .unwrap();
    let size = store.audit_size(&tid).await.unwrap();
    let updates = store
        .audit_entries(&tid, 0, size)
        .await
        .unwrap()
        .into_iter()
        .filter(|(_, b)| String::from_utf8_lossy(b).contains("\"tenant.update\""))
        .count();
    assert!(succeeded > 0, "no call succeeded");
    assert!(
        updates >= succeeded,
        "{succeeded} acknowledged updates but only {updates} in the log"
    );
    store.close().await;
}

#[tokio::test]
async fn two_servers_and_the_cli_on_postgres_keep_logs_linear() {
    let Some(server) = cordon_store::testing::postgres_server() else {
        return;
    };
    let db = cordon_store::testing::postgres(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let url = db.url.as_str();
    cordon_ok(
        data,
        Some(url),
        &["tenant", "create", "--slug", "acme", "--name", "Acme"],
    );
    let key_out = cordon_ok(
        data,
        Some(url),
        &[
            "apikey", "create", "--tenant", "acme", "--scope", "admin", "--json",
        ],
    );
    let key = serde_json::from_str::<Value>(&key_out).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let s1 = serve(data, Some(url));
    let s2 = serve(data, Some(url));
    let mut tasks = Vec::new();
    for (i, base) in [
        s1.base.clone(),
        s2.base.clone(),
        s1.base.clone(),
        s2.base.clone(),
    ]
    .into_iter()
    .enumerate()
    {
        let http = common::Http {
            base,
            client: reqwest::Client::new(),
            auth: Auth::Bearer(key.clone()),
        };
        tasks.push(tokio::spawn(async move {
            for j in 0..40 {
                let (s, b) = http
                    .call(
                        "PATCH",
                        "/api/v1/tenant",
                        Some(json!({"display_name": format!("Acme {i} {j}")})),
                    )
                    .await;
                assert_eq!(s, 200, "{b}");
                let (s, _) = http.get("/api/v1/agents").await;
                assert_eq!(s, 200);
            }
        }));
    }
    let cli = tokio::task::spawn_blocking({
        let data = data.to_path_buf();
        let url = url.to_string();
        move || {
            for i in 0..8 {
                cordon_ok(
                    &data,
                    Some(&url),
                    &[
                        "agent",
                        "create",
                        "--tenant",
                        "acme",
                        "--username",
                        &format!("cli{i}"),
                        "--name",
                        "C",
                    ],
                );
            }
        }
    });
    for t in tasks {
        t.await.unwrap();
    }
    cli.await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(s1);
    drop(s2);
    let out = cordon_ok(data, Some(url), &["audit", "verify"]);
    assert!(out.contains("logs verified"), "{out}");
    let v: Value =
        serde_json::from_str(&cordon_ok(data, Some(url), &["tenant", "list", "--json"])).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}

// ---- every audited action is reachable -----------------------------------------------------------------------

/// Where each audited action is written from. The match is exhaustive: a new `Action` does not compile until it
/// is placed here, and the test below then has to reach it.
fn reached_by(action: Action) -> &'static str {
    match action {
        Action::TenantCreate | Action::KeyCreate => "command: tenant create",
        Action::TenantsList => "command: tenant list",
        Action::SchemaMigrate => "command: migrate",
        Action::TenantRead => "route: GET /api/v1/tenant",
        Action::TenantUpdate => "route: PATCH /api/v1/tenant",
        Action::KeyRotate => "route: POST /api/v1/tenant/identity-secret",
        Action::AgentCreate => "route: POST /api/v1/agents; command: agent create",
        Action::AgentUpdate => "route: PATCH /api/v1/agents/{agent_id}; command: agent disable",
        Action::AgentsList => "route: GET /api/v1/agents; command: agent list",
        Action::ApiKeyCreate => "route: POST /api/v1/apikeys; command: apikey create",
        Action::ApiKeyRevoke => "route: DELETE /api/v1/apikeys/{key_id}; command: apikey revoke",
        Action::ApiKeysList => "route: GET /api/v1/apikeys; command: apikey list",
        Action::ApiKeyExpire => "the service: a key past its expiry (after apikey create)",
        Action::ApiKeyThrottled => "route: any, with unknown bearer keys",
        Action::LoginSuccess | Action::LoginFailure => "route: POST /api/v1/auth/login",
        Action::LoginThrottled => "route: POST /api/v1/auth/login, failing",
        Action::SessionRevoke => "route: POST /api/v1/auth/logout",
        Action::SessionRevokeAll => "route: POST /api/v1/agents/{agent_id}/revoke-sessions",
        Action::SessionExpire => "the service: a session past its end (after a login)",
        Action::MeRead => "route: GET /api/v1/me",
        Action::ConversationsList => "route: GET /api/v1/conversations",
        Action::ConversationRead => "route: GET /api/v1/conversations/{conversation_id}",
        Action::TranscriptRead => "route: GET /api/v1/conversations/{conversation_id}/messages",
        Action::TranscriptOpen => "socket frame: sync from 0 on /ws/agent",
        Action::VisitorSessionsList => "route: GET /api/v1/visitor-sessions",
        Action::VisitorTokenThrottled => {
            "socket frame: hello with unknown visitor tokens on /ws/visitor"
        }
        Action::WidgetRead => "route: GET /api/v1/widget",
        Action::OperatorCreate => "command: operator create",
        Action::OperatorsList => "command: operator list",
        Action::OperatorLoginSuccess | Action::OperatorLoginFailure => {
            "route: POST /api/v1/operator/sessions"
        }
        Action::OperatorRecoveryCodeUse => {
            "route: POST /api/v1/operator/sessions, with a recovery code"
        }
        Action::OperatorSessionsList => {
            "route: GET /api/v1/operator/sessions; command: operator sessions"
        }
        Action::OperatorSessionRevoke => {
            "route: DELETE /api/v1/operator/sessions/{session_id}; command: operator revoke-session"
        }
        Action::OperatorDisable => "command: operator disable",
        Action::GrantRequest => "route: POST /api/v1/operator/grants; command: operator grant request",
        Action::BreakGlassRequest => "route: POST /api/v1/operator/grants, break_glass",
        Action::BreakGlassApprove => {
            "route: POST /api/v1/operator/grants/{grant_id}/approve; command: operator grant approve"
        }
        Action::GrantsList => "route: GET /api/v1/operator-grants",
        Action::GrantApprove => "route: POST /api/v1/operator-grants/{grant_id}/approve",
        Action::GrantRevoke => {
            "route: POST /api/v1/operator-grants/{grant_id}/revoke, POST /api/v1/operator/grants/{grant_id}/revoke"
        }
        Action::GrantUse => "route: GET /api/v1/operator/tenants/{tenant}/conversations and …/messages",
        Action::TotpEnrol => "route: POST /api/v1/me/totp",
        Action::TotpEnable => "route: POST /api/v1/me/totp, with the app's code",
        Action::TotpPolicyUpdate => "route: PATCH /api/v1/tenant/mfa",
        Action::ImpactRun => "route: POST /api/v1/impact; command: impact",
        Action::ReleaseKeyAdd => "command: release keygen, release trust-key",
        Action::ReleasePropose => "command: release propose",
        Action::ReleaseApprove => "command: release approve",
        Action::ReleasePin => "route: PUT /api/v1/tenant/release; command: release pin",
        Action::TransparencyRead => {
            "route: GET /api/v1/transparency, POST /api/v1/transparency/checkpoint-check"
        }
        Action::TenantShred => "command: tenant shred",
        Action::VisitorExport => "route: POST /api/v1/visitor-requests/export",
        Action::VisitorDelete => "route: POST /api/v1/visitor-requests/delete",
        Action::RetentionUpdate => "route: PUT /api/v1/tenant/retention",
        Action::RetentionPurge => "the service: a purge past a retention period (after PUT /api/v1/tenant/retention)",
        Action::WebhookCreate => "route: POST /api/v1/webhooks",
        Action::WebhookDelete => "route: DELETE /api/v1/webhooks/{webhook_id}",
        Action::WebhooksList => "route: GET /api/v1/webhooks",
        Action::WebhookDeliveriesList => "route: GET /api/v1/webhooks/deliveries",
        Action::WebhookRedeliver => "route: POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver",
        Action::VisitorProfileRead => "route: GET /api/v1/conversations/{conversation_id}/visitor",
        Action::CannedRepliesList => "route: GET /api/v1/canned-replies",
        Action::CannedReplyCreate => "route: POST /api/v1/canned-replies",
        Action::CannedReplyUpdate => "route: PUT /api/v1/canned-replies/{reply_id}",
        Action::CannedReplyDelete => "route: DELETE /api/v1/canned-replies/{reply_id}",
        Action::NotesRead => "route: GET /api/v1/conversations/{conversation_id}/notes",
        Action::NoteCreate => "route: POST /api/v1/conversations/{conversation_id}/notes",
        Action::ConversationMetaUpdate => "route: PUT /api/v1/conversations/{conversation_id}/meta",
        Action::RatingCreate => "socket frame: rating.submit on /ws/visitor",
        Action::RatingRead => "route: GET /api/v1/conversations/{conversation_id}/rating",
        Action::ReportsRead => "route: GET /api/v1/reports",
        Action::VisitorContactSet => "socket frame: contact.set on /ws/visitor",
        Action::ChatFormsRead => "route: GET /api/v1/tenant/chat-forms",
        Action::ChatFormsUpdate => "route: PUT /api/v1/tenant/chat-forms",
        Action::TranscriptEmailed => {
            "the service: a transcript mailed after conversation.close (transcripts on, SMTP configured)"
        }
        Action::TranscriptEmailFailed => {
            "the service: a transcript the mail server refused for good (transcripts on, SMTP configured)"
        }
        Action::PaymentRequest => "socket frame: payment.request on /ws/agent",
        Action::PaymentFormOpen => "socket frame: payment.open on /ws/visitor",
        Action::CardTokenize => "vault route: POST /v/cards",
        Action::CardForward => "route: POST /api/v1/payments/tokens/{token_id}/forward",
        Action::CardDetokenize => "route: POST /api/v1/payments/tokens/{token_id}/detokenize",
        Action::PaymentTokensList => "route: GET /api/v1/payments/tokens",
        Action::PaymentTokenRead => "route: GET /api/v1/payments/tokens/{token_id}",
        Action::PaymentSettingsRead => "route: GET /api/v1/payments/settings",
        Action::PaymentSettingsUpdate => "route: PUT /api/v1/payments/settings",
        Action::FileUpload => {
            "route: POST /api/v1/conversations/{conversation_id}/files, POST /w/files"
        }
        Action::FileRead => {
            "route: GET /api/v1/conversations/{conversation_id}/files/{file_id}, GET /w/files/{file_id}"
        }
        Action::FileTicketIssue => "socket frame: file.ticket on /ws/visitor",
        Action::MessagesSearch => "route: GET /api/v1/search/messages",
    }
}

/// The file routes (issue 20) take raw bodies, and a visitor's ticket on the widget origin's: each is called
/// here with what it needs (the conversation's agent accepts it first; the visitor asks its socket for a
/// ticket) and, when `tenant_id` is given, must leave an audit entry with ids only.
async fn drive_file_routes(
    srv: &TestServer,
    tenant_id: Option<&str>,
    conv: &str,
    visitor: &mut common::Ws,
    reader_key: &str,
) {
    // The chat's own agent sends (the fixtures' agents going online took the queued chat); with none, the
    // admin takes it.
    let tid = match tenant_id {
        Some(t) => t.to_string(),
        None => {
            srv.store()
                .tenant_by_slug("acme")
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let c = srv.store().conversation(&tid, conv).await.unwrap();
    let username = match &c.agent_id {
        Some(a) => srv.store().agent(&tid, a).await.unwrap().username,
        None => "admin".to_string(),
    };
    let cookie = srv.login("acme", &username).await;
    let (mut ws, _) = srv.agent_ws(&cookie).await;
    ws.send(json!({"type": "conversation.accept", "conversation_id": conv}))
        .await;
    // Frames are handled in order: after the pong, the accept is done.
    ws.send(json!({"type": "ping"})).await;
    ws.recv_type("pong").await;
    visitor.send(json!({"type": "file.ticket"})).await;
    let ticket = visitor.recv_type("file.ticket").await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {reader_key}");
    let ticket_h = (cordon_service::files::TICKET_HEADER, ticket.as_str());
    let mut file_id = String::new();
    for (m, path, header, body) in [
        (
            "POST",
            format!("/api/v1/conversations/{conv}/files?name=sweep.txt"),
            ("cookie", cookie.as_str()),
            true,
        ),
        (
            "POST",
            format!("/w/files?conversation_id={conv}&name=sweep.txt"),
            ticket_h,
            true,
        ),
        (
            "GET",
            "/api/v1/conversations/{conv}/files/{file_id}".to_string(),
            ("authorization", bearer.as_str()),
            false,
        ),
        ("GET", "/w/files/{file_id}".to_string(), ticket_h, false),
    ] {
        let path = path.replace("{conv}", conv).replace("{file_id}", &file_id);
        let before = match tenant_id {
            Some(t) => srv.store().audit_size(t).await.unwrap(),
            None => 0,
        };
        let mut req = reqwest::Client::new()
            .request(
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                format!("{}{path}", srv.base),
            )
            .header("origin", &srv.base)
            .header(header.0, header.1);
        if body {
            req = req
                .header("content-type", "text/plain")
                .body("a sweep file");
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert!((200..300).contains(&status), "{m} {path}: {status} {text}");
        if body {
            file_id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
        }
        if let Some(t) = tenant_id {
            let new = entries(srv, t, before).await;
            assert!(
                new.iter()
                    .any(|e| e["action"].as_str().is_some_and(|a| a.starts_with("file."))),
                "{m} {path} left no file entry: {new:?}"
            );
            assert!(!serde_json::to_string(&new).unwrap().contains("sweep file"));
        }
    }
}

/// Every action in every log, by name.
async fn actions_written(srv: &TestServer) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    for (log, _) in srv.store().audit_logs().await.unwrap() {
        for e in entries(srv, &log, 0).await {
            seen.insert(e["action"].as_str().unwrap_or_default().to_string());
        }
    }
    seen
}

#[tokio::test]
async fn every_audited_action_is_reached_by_a_route_a_socket_frame_or_a_command() {
    let quick = |n| cordon_server::Policy {
        failures_before_backoff: n,
        ..Limits::default().login_per_account
    };
    let db = cordon_store::testing::sqlite();
    let (url, data) = (
        db.url.clone(),
        db.dir.as_ref().unwrap().path().to_path_buf(),
    );
    // Transcript emails (issue 20) go to a sink on loopback.
    let sink = common::smtp::SmtpSink::start().await;
    let smtp_url = sink.url();
    let srv = TestServer::start_configured(db, |c| {
        c.limits = Limits {
            login_per_account: quick(2),
            api_key_per_address: quick(2),
            visitor_token_per_address: quick(2),
            ..Limits::default()
        };
        c.mail
            .configure(Some(&smtp_url), Some("chat@cordon.test"))
            .unwrap();
    })
    .await;

    // Commands, on the server's database while it runs.
    let cli = |args: &[&str]| cordon_ok(&data, Some(&url), args);
    cli(&["migrate"]);
    cli(&["tenant", "create", "--slug", "cli-co", "--name", "Cli Co"]);
    cli(&["tenant", "list"]);
    cli(&[
        "agent",
        "create",
        "--tenant",
        "cli-co",
        "--username",
        "ops",
        "--name",
        "Ops",
    ]);
    cli(&["agent", "list", "--tenant", "cli-co"]);
    cli(&[
        "agent",
        "disable",
        "--tenant",
        "cli-co",
        "--username",
        "ops",
    ]);
    let key: Value = serde_json::from_str(&cli(&[
        "apikey", "create", "--tenant", "cli-co", "--scope", "admin", "--json",
    ]))
    .unwrap();
    cli(&["apikey", "list", "--tenant", "cli-co"]);
    cli(&[
        "apikey",
        "revoke",
        "--tenant",
        "cli-co",
        "--id",
        key["id"].as_str().unwrap(),
    ]);
    cli(&[
        "tenant",
        "shred",
        "--tenant",
        "cli-co",
        "--confirm",
        "cli-co",
    ]);

    // Every route, as the route coverage test calls them.
    let fx = srv.fixture("acme").await;
    let http = srv.http();
    let admin = http.with(Auth::Cookie(srv.login("acme", "admin").await));
    let reader_key = srv
        .api_key(&fx.tenant, &["conversations:read", "audit:read"])
        .await;
    let reader = http.with(Auth::Bearer(reader_key.clone()));
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    visitor.say(&conv, "m1", "hello").await;
    let spare_key = srv.api_key(&fx.tenant, &["conversations:read"]).await;
    let spare_id = srv
        .store()
        .list_api_keys(&fx.tenant.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| spare_key.starts_with(&k.prefix))
        .unwrap()
        .id;
    let grant_id = srv.pending_grant("acme").await;
    let admin_cookie = srv.login("acme", "admin").await;
    let (webhook_id, delivery_id) = srv
        .webhook_fixture(&admin_cookie, &fx.tenant.widget_key)
        .await;
    srv.sweep_visitors(&fx.tenant.id).await;
    let (_, reply) = http
        .with(Auth::Cookie(admin_cookie.clone()))
        .call(
            "POST",
            "/api/v1/canned-replies",
            Some(json!({"shortcut": "fixture", "text": "A fixture reply"})),
        )
        .await;
    let reply_id = reply["id"].as_str().expect("a canned reply").to_string();
    // The card vault's socket frames and form (payment.request, payment.form_open, card.tokenize).
    let token_id = srv.token_fixture("acme", &fx.tenant.widget_key).await;
    let (_, doc) = http.get("/api/openapi.json").await;
    for (n, (path, item)) in doc["paths"].as_object().unwrap().iter().enumerate() {
        for method in ["get", "post", "patch", "put", "delete"] {
            // Operators' routes take an operator's token, not a tenant's: driven below.
            if item.get(method).is_none()
                || path.starts_with("/api/v1/audit/")
                || path.starts_with("/api/v1/operator/")
            {
                continue;
            }
            if path.contains("/files") {
                // Raw bodies and tickets: driven by drive_file_routes below.
                continue;
            }
            let m = method.to_uppercase();
            let url = path
                .replace("{agent_id}", &fx.agent2_id)
                .replace("{conversation_id}", &conv)
                .replace("{key_id}", &spare_id)
                .replace("{grant_id}", &grant_id)
                .replace("{webhook_id}", &webhook_id)
                .replace("{reply_id}", &reply_id)
                .replace("{delivery_id}", &delivery_id)
                .replace("{token_id}", &token_id)
                + if path == "/api/v1/search/messages" {
                    "?q=hello"
                } else {
                    ""
                };
            let client = if path.starts_with("/api/v1/conversations") && m == "GET" {
                reader.clone()
            } else if path == "/api/v1/auth/logout" {
                http.with(Auth::Cookie(srv.login("acme", "agent").await))
            } else {
                admin.clone()
            };
            let (status, body) = client.call(&m, &url, body_for(&m, path, n)).await;
            assert!((200..300).contains(&status), "{m} {path}: {status} {body}");
        }
    }
    drive_file_routes(&srv, None, &conv, &mut visitor, &reader_key).await;

    // Operators: made, listed and their sessions listed and revoked by commands; signing in (without a code,
    // with a TOTP code, with a recovery code), listing and revoking over their own routes.
    let op: Value =
        serde_json::from_str(&cli(&["operator", "create", "--name", "cov", "--json"])).unwrap();
    cli(&["operator", "list"]);
    let totp = totp_rs::TOTP::from_url(op["otpauth_uri"].as_str().unwrap()).unwrap();
    let operator_sign_in = |code: Option<String>| {
        let http = http.clone();
        let body = json!({"name": "cov", "password": op["password"], "code": code});
        async move {
            http.call("POST", "/api/v1/operator/sessions", Some(body))
                .await
        }
    };
    assert_eq!(operator_sign_in(None).await.0, 401);
    let (status, with_totp) = operator_sign_in(Some(totp.generate_current().unwrap())).await;
    assert_eq!(status, 201, "{with_totp}");
    let recovery = op["recovery_codes"][0].as_str().unwrap().to_string();
    let (status, with_code) = operator_sign_in(Some(recovery)).await;
    assert_eq!(status, 201, "{with_code}");
    let operator = http.with(Auth::Bearer(with_totp["token"].as_str().unwrap().into()));
    assert_eq!(operator.get("/api/v1/operator/sessions").await.0, 200);
    let other = format!(
        "/api/v1/operator/sessions/{}",
        with_code["session_id"].as_str().unwrap()
    );
    assert_eq!(operator.call("DELETE", &other, None).await.0, 204);
    // A second factor confirmed (agent2, so the admin still signs in with a password alone below).
    let person = http.with(Auth::Cookie(srv.login("acme", "agent2").await));
    let (_, begun) = person
        .call("POST", "/api/v1/me/totp", Some(json!({})))
        .await;
    let app = totp_rs::TOTP::from_url(begun["otpauth_uri"].as_str().unwrap()).unwrap();
    let (status, body) = person
        .call(
            "POST",
            "/api/v1/me/totp",
            Some(json!({"code": app.generate_current().unwrap()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Grants: a break-glass request approved by a second operator, one use, given back.
    let (status, g) = operator
        .call(
            "POST",
            "/api/v1/operator/grants",
            Some(json!({"tenant": "acme", "reason": "outage", "hours": 1, "break_glass": true})),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let second: Value =
        serde_json::from_str(&cli(&["operator", "create", "--name", "cov2", "--json"])).unwrap();
    let totp2 = totp_rs::TOTP::from_url(second["otpauth_uri"].as_str().unwrap()).unwrap();
    let (_, s2) = http
        .call(
            "POST",
            "/api/v1/operator/sessions",
            Some(json!({"name": "cov2", "password": second["password"], "code": totp2.generate_current().unwrap()})),
        )
        .await;
    let operator2 = http.with(Auth::Bearer(s2["token"].as_str().unwrap().into()));
    let gid = g["id"].as_str().unwrap();
    let approve = format!("/api/v1/operator/grants/{gid}/approve");
    assert_eq!(operator2.call("POST", &approve, None).await.0, 200);
    let (status, _) = operator
        .get("/api/v1/operator/tenants/acme/conversations")
        .await;
    assert_eq!(status, 200);
    let give_back = format!("/api/v1/operator/grants/{gid}/revoke");
    assert_eq!(operator.call("POST", &give_back, None).await.0, 204);
    // Releases: a key made and trusted, a release proposed by one operator and approved by the other, a pin.
    let token1 = with_totp["token"].as_str().unwrap().to_string();
    let token2 = s2["token"].as_str().unwrap().to_string();
    let key = data.join("cov-release.key");
    cli(&[
        "release",
        "keygen",
        "--token",
        &token1,
        "--out",
        key.to_str().unwrap(),
    ]);
    let files = data.join("cov-widget");
    std::fs::create_dir_all(&files).unwrap();
    for (name, bytes) in cordon_server::web::embedded_release_files() {
        std::fs::write(files.join(name), bytes).unwrap();
    }
    cli(&[
        "release",
        "propose",
        "--token",
        &token1,
        "--dir",
        files.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--id",
        "cov-rel",
    ]);
    cli(&["release", "approve", "--token", &token2, "--id", "cov-rel"]);
    cli(&["release", "pin", "--tenant", "acme", "--id", "cov-rel"]);
    cli(&["operator", "disable", "--name", "cov2"]);
    cli(&["operator", "sessions"]);
    cli(&[
        "operator",
        "revoke-session",
        "--id",
        with_totp["session_id"].as_str().unwrap(),
    ]);

    // Socket frames: an agent opens a transcript from the start; a visitor brings unknown tokens.
    let (mut agent, _) = srv.agent_ws(&srv.login("acme", "agent").await).await;
    agent
        .send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
        .await;
    agent.recv_type("synced").await;
    for n in 0..2 {
        let guess = format!("cv_unknown-token-{n}");
        srv.visitor(&fx.tenant.widget_key, Some(&guess)).await;
    }

    // Back-offs: wrong passwords for one account, unknown API keys from one address.
    for _ in 0..2 {
        let (status, _) = http
            .call(
                "POST",
                "/api/v1/auth/login",
                Some(json!({"tenant": "acme", "username": "agent2", "password": "wrong password"})),
            )
            .await;
        assert_eq!(status, 401);
    }
    let stranger = http.with(Auth::Bearer("ck_not-a-key".into()));
    for _ in 0..2 {
        assert_eq!(stranger.get("/api/v1/me").await.0, 401);
    }

    // Expiries, which the service logs by itself: a session and a key past their ends.
    let (_, hash) = cordon_crypto::new_token("cs");
    srv.store()
        .create_session(
            "s_ended",
            &fx.tenant.id,
            &fx.agent_id,
            &hash,
            cordon_store::now_ms() - 1,
            &[],
        )
        .await
        .unwrap();
    srv.store()
        .create_api_key(
            &fx.tenant.id,
            cordon_store::NewApiKey {
                id: "k_ended".into(),
                key_hash: cordon_crypto::hash_token("ck_ended-key").to_vec(),
                prefix: "ck_ended".into(),
                scopes: vec!["admin".into()],
                expires_at: cordon_store::now_ms() - 1,
            },
            &[],
        )
        .await
        .unwrap();

    // Retention: the sweep set ten years; a closed conversation is purged by a round run as if it were later.
    let (mut leaving, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let gone = leaving.open().await;
    srv.store()
        .close_conversation(&fx.tenant.id, &gone)
        .await
        .unwrap();
    // The visitor rates the ended chat (issue 20); the purge removes the rating with the conversation.
    leaving
        .send(json!({"type": "rating.submit", "conversation_id": gone, "score": 4}))
        .await;
    leaving.recv_type("rating.saved").await;
    // And leaves an email in the offline form (issue 20).
    leaving
        .send(json!({"type": "contact.set", "email": "leaving@example.com"}))
        .await;
    leaving.recv_type("contact.saved").await;
    // Transcript emails (issue 20): transcripts on; one chat mailed, one to an address the sink refuses for good.
    let (s, e) = admin
        .call(
            "PUT",
            "/api/v1/tenant/chat-forms",
            Some(json!({"prechat": true, "offline": true, "transcript": true})),
        )
        .await;
    assert_eq!(s, 204, "{e}");
    let mut mailed = Vec::new();
    for email in ["mailed@example.com", "bounce@example.com"] {
        let (mut v, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        v.send(json!({"type": "contact.set", "email": email})).await;
        v.recv_type("contact.saved").await;
        let c = v.open().await;
        v.send(json!({"type": "conversation.close", "conversation_id": c}))
            .await;
        v.recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
        })
        .await;
        mailed.push(c);
    }
    // Settled before the purge below removes the closed conversations (and their outbox rows).
    let started = std::time::Instant::now();
    for c in &mailed {
        loop {
            let job = srv.store().transcript_job(&fx.tenant.id, c).await.unwrap();
            if job.is_some_and(|j| j.sent_at.is_some() || j.failed_at.is_some()) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "transcripts unsettled"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(sink.mails().len(), 1);
    let later = cordon_store::now_ms() + 3651 * 86_400_000;
    let purged = cordon_service::lifecycle::purge_expired(srv.service(), later)
        .await
        .unwrap();
    assert!(
        !purged.is_empty(),
        "the purge removed the closed conversation"
    );

    let started = std::time::Instant::now();
    let missing = loop {
        let seen = actions_written(&srv).await;
        let missing: Vec<String> = Action::ALL
            .iter()
            .filter(|a| !seen.contains(a.as_str()))
            .map(|a| format!("{a} ({})", reached_by(*a)))
            .collect();
        if missing.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(missing.is_empty(), "never written: {missing:?}");
    // And nothing is written that is not an Action.
    for name in actions_written(&srv).await {
        assert!(Action::parse(&name).is_some(), "{name} is not an Action");
    }
    srv.stop().await;
}
