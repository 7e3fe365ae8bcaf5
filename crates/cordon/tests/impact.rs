//! Breach impact and transparency end to end (issue 11): a real visitor session through the socket, then
//! `cordon impact` on that database lists the visitor with its reason line and the card as brand + last four;
//! the report verifies, and an edited one does not; an agent-account report over the API lists exactly what the
//! agent read; one tenant's impact and transparency output never holds another's data.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::{Auth, TestServer, Ws};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn cordon(srv: &TestServer, args: &[&str]) -> Output {
    let dir = srv.db.dir.as_ref().expect("a SQLite test database");
    Command::new(BIN)
        .arg("--data")
        .arg(dir.path())
        .arg("--database")
        .arg(&srv.db.url)
        .args(args)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX)
        .output()
        .expect("run cordon")
}

fn rfc3339(ms: i64) -> String {
    cordon_impact::time::format_millis(ms)
}

async fn visitor_on(srv: &TestServer, widget_key: &str, origin: &str) -> Ws {
    let mut ws = Ws::connect(&format!("ws://{}/ws/visitor", srv.addr), &[]).await;
    // As frame.js sends it: the embedding page's origin; the node records the hashes of the files it served.
    ws.send(json!({"type": "hello", "v": 1, "widget_key": widget_key, "embed_origin": origin}))
        .await;
    ws.recv_type("welcome").await;
    ws
}

/// Wait until the tenant's latest checkpoint covers its whole log (the checkpointer signs within ~1 s).
async fn checkpointed(srv: &TestServer, tenant_id: &str) {
    for _ in 0..100 {
        let size = srv.store().audit_size(tenant_id).await.unwrap();
        let cp = srv.store().latest_checkpoint(tenant_id).await.unwrap();
        if cp.is_some_and(|c| c.size >= size) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covers the log");
}

#[tokio::test]
async fn a_visitor_session_through_the_socket_is_in_the_cli_report_and_the_report_verifies() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let other = srv.fixture("voltmart").await;
    let t0 = cordon_store::now_ms();
    let mut visitor = visitor_on(&srv, &fx.tenant.widget_key, "https://shop.example").await;
    let conv = visitor.open().await;
    visitor
        .say(
            &conv,
            "m1",
            "my card is 4111 1111 1111 1111, can you check it",
        )
        .await;
    visitor
        .say(
            &conv,
            "m1",
            "my card is 4111 1111 1111 1111, can you check it",
        )
        .await;
    // Another tenant's visitor ran the same loader: the operator-wide report lists it, the tenant one does not.
    let _elsewhere = visitor_on(&srv, &other.tenant.widget_key, "https://volt.example").await;
    let welcome_sessions = srv
        .store()
        .visitor_sessions(&fx.tenant.id, 0, i64::MAX)
        .await
        .unwrap();
    assert_eq!(welcome_sessions.len(), 1);
    let visitor_id = welcome_sessions[0].visitor_id.clone();

    // Card mentions: brand and last four only, once (the retry added nothing).
    let mentions = srv
        .store()
        .card_mentions_of_conversations(&fx.tenant.id, std::slice::from_ref(&conv))
        .await
        .unwrap();
    assert_eq!(mentions.len(), 1, "{mentions:?}");
    assert_eq!(
        (mentions[0].brand.as_str(), mentions[0].last4.as_str()),
        ("Visa", "1111")
    );
    // A card typed in two pieces is one mention, recorded with the piece that shows its mask.
    visitor
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "p1", "text": "5555 5555"}))
        .await;
    visitor.say(&conv, "p2", "5555 4444").await;
    let mentions = srv
        .store()
        .card_mentions_of_conversations(&fx.tenant.id, std::slice::from_ref(&conv))
        .await
        .unwrap();
    let seen: Vec<(&str, &str)> = mentions
        .iter()
        .map(|m| (m.brand.as_str(), m.last4.as_str()))
        .collect();
    assert_eq!(seen, [("Visa", "1111"), ("Mastercard", "4444")]);
    // Nothing in the table holds more than four digits of a card.
    let pool = sqlx::SqlitePool::connect(&srv.db.url).await.unwrap();
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT brand, last4, client_msg_id, sender_id FROM card_mentions")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let text = format!("{row:?}");
        assert!(!text.contains("41111") && !text.contains("55555"), "{text}");
    }
    pool.close().await;

    let (_, loader_sri) = cordon_server::web::loader();
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let (from, to) = (
        rfc3339(t0 - 60_000),
        rfc3339(cordon_store::now_ms() + 60_000),
    );
    let out = cordon(
        &srv,
        &[
            "impact",
            "--asset-hash",
            loader_sri,
            "--from",
            &from,
            "--to",
            &to,
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "no progress bar when piped: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains("4111 1111") && !text.contains("4111111111111111"),
        "{text}"
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    let slugs: Vec<&str> = report["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(
        slugs,
        ["skyway", "voltmart"],
        "operator-wide: both tenants ran the loader"
    );
    let skyway = &report["tenants"][0];
    assert_eq!(skyway["visitors"].as_array().unwrap().len(), 1);
    let v = &skyway["visitors"][0];
    assert_eq!(v["visitor_id"], visitor_id.as_str());
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!("ran loader {loader_sri} at ")),
        "{reason}"
    );
    assert!(reason.ends_with(" on https://shop.example"), "{reason}");
    assert_eq!(v["conversations"][0]["conversation_id"], conv.as_str());
    assert_eq!(
        v["conversations"][0]["card_mentions"][0]["brand"], "Visa",
        "{v}"
    );
    assert_eq!(v["conversations"][0]["card_mentions"][0]["last4"], "1111");
    assert!(skyway["checkpoint"]["size"].as_u64().unwrap() > 0);

    // The run is in each affected tenant's log.
    for t in [&fx.tenant.id, &other.tenant.id] {
        let size = srv.store().audit_size(t).await.unwrap();
        let entries = srv.store().audit_entries(t, 0, size).await.unwrap();
        let runs = entries
            .iter()
            .filter(|(_, e)| String::from_utf8_lossy(e).contains("\"impact.run\""))
            .count();
        assert_eq!(runs, 1, "impact.run in {t}");
    }

    // One tenant only, to a file; then it verifies, signature and citations.
    let out = cordon(
        &srv,
        &[
            "impact",
            "--asset-hash",
            loader_sri,
            "--from",
            &from,
            "--to",
            &to,
            "--tenant",
            "skyway",
            "--json",
            "--out",
            report_path.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let one: Value = serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(one["tenants"].as_array().unwrap().len(), 1);
    assert!(!serde_json::to_string(&one)
        .unwrap()
        .contains(&other.tenant.id));
    let out = cordon(&srv, &["impact", "verify", report_path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));

    // An edited report fails, with a clear message.
    let mut edited = one.clone();
    edited["tenants"][0]["visitors"][0]["conversations"][0]["card_mentions"][0]["last4"] =
        json!("4242");
    std::fs::write(&report_path, serde_json::to_vec_pretty(&edited).unwrap()).unwrap();
    let out = cordon(&srv, &["impact", "verify", report_path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not verify") && err.contains("digest"),
        "{err}"
    );

    // CSV and HTML render the same report.
    let out = cordon(
        &srv,
        &[
            "impact",
            "--platform",
            "--from",
            &from,
            "--to",
            &to,
            "--csv",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&visitor_id));
    let out = cordon(
        &srv,
        &[
            "impact",
            "--platform",
            "--from",
            &from,
            "--to",
            &to,
            "--html",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("<html"));
    srv.stop().await;
}

#[tokio::test]
async fn an_agent_account_report_lists_exactly_the_conversations_the_agent_read() {
    for db in cordon_store::testing::all_backends().await {
        on_agent_account(TestServer::start(db).await).await;
    }
}

async fn on_agent_account(srv: TestServer) {
    let fx = srv.fixture("acme").await;
    let t0 = cordon_store::now_ms();
    let mut read_visitor = visitor_on(&srv, &fx.tenant.widget_key, "https://shop.example").await;
    let read_conv = read_visitor.open().await;
    read_visitor
        .say(&read_conv, "m1", "hello, card 5555 5555 5555 4444")
        .await;
    let mut unread_visitor = visitor_on(&srv, &fx.tenant.widget_key, "https://shop.example").await;
    let unread_conv = unread_visitor.open().await;
    unread_visitor
        .say(&unread_conv, "m1", "not read by the agent")
        .await;

    let agent = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "agent").await));
    let (status, _) = agent
        .get(&format!("/api/v1/conversations/{read_conv}/messages"))
        .await;
    assert_eq!(status, 200);
    checkpointed(&srv, &fx.tenant.id).await;

    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    let body = json!({"kind": "agent", "value": "acme/agent", "from": rfc3339(t0 - 1000),
                      "to": rfc3339(cordon_store::now_ms() + 60_000)});
    let (status, report) = admin.call("POST", "/api/v1/impact", Some(body)).await;
    assert_eq!(status, 200, "{report}");
    let tenants = report["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 1);
    let convs: Vec<&str> = tenants[0]["visitors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| v["conversations"].as_array().unwrap())
        .map(|c| c["conversation_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        convs,
        [read_conv.as_str()],
        "exactly the conversation read: {report}"
    );
    let actions: Vec<&str> = tenants[0]["principal_actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"transcript.read"), "{actions:?}");
    let cards = &tenants[0]["visitors"][0]["conversations"][0]["card_mentions"];
    assert_eq!(cards, &json!([cards[0].clone()]));
    assert_eq!(
        (cards[0]["brand"].as_str(), cards[0]["last4"].as_str()),
        (Some("Mastercard"), Some("4444"))
    );
    assert!(report["signature"]["note"]
        .as_str()
        .unwrap()
        .starts_with("cordon/impact\n"));

    // A tenant admin runs reports for their own tenant only; an agent may not run them at all.
    let other = srv.fixture("beta").await;
    let body = json!({"kind": "agent", "value": "beta/agent", "from": rfc3339(t0), "to": rfc3339(t0 + 60_000)});
    let (status, _) = admin
        .call("POST", "/api/v1/impact", Some(body.clone()))
        .await;
    assert_eq!(status, 404, "another tenant's agent is not found");
    let (status, _) = agent.call("POST", "/api/v1/impact", Some(body)).await;
    assert_eq!(status, 403);
    let _ = other;
    srv.stop().await;
}

#[tokio::test]
async fn one_tenants_impact_and_transparency_never_hold_another_tenants_data() {
    for db in cordon_store::testing::all_backends().await {
        on_isolation(TestServer::start(db).await).await;
    }
}

async fn on_isolation(srv: TestServer) {
    let a = srv.fixture("alpha").await;
    let b = srv.fixture("bravo").await;
    let t0 = cordon_store::now_ms();
    let mut va = visitor_on(&srv, &a.tenant.widget_key, "https://alpha.example").await;
    let ca = va.open().await;
    va.say(&ca, "m1", "alpha's card 4000 0566 5566 5556").await;
    let mut vb = visitor_on(&srv, &b.tenant.widget_key, "https://bravo.example").await;
    let cb = vb.open().await;
    vb.say(&cb, "m1", "bravo's card 4111 1111 1111 1111").await;
    checkpointed(&srv, &a.tenant.id).await;

    let (_, loader_sri) = cordon_server::web::loader();
    let admin_a = srv
        .http()
        .with(Auth::Cookie(srv.login("alpha", "admin").await));
    let body = json!({"kind": "asset_hash", "value": loader_sri, "from": rfc3339(t0 - 1000),
                      "to": rfc3339(cordon_store::now_ms() + 60_000)});
    let (status, report) = admin_a.call("POST", "/api/v1/impact", Some(body)).await;
    assert_eq!(status, 200, "{report}");
    let text = report.to_string();
    // Positive control: the probe sees alpha's data.
    assert!(
        text.contains(&a.tenant.id) && text.contains(&ca) && text.contains("5556"),
        "{text}"
    );
    for foreign in [b.tenant.id.as_str(), cb.as_str(), "bravo", "1111\""] {
        assert!(
            !text.contains(foreign),
            "alpha's report holds {foreign}: {text}"
        );
    }

    let auditor_a = srv
        .http()
        .with(Auth::Cookie(srv.login("alpha", "auditor").await));
    let (status, t) = auditor_a.get("/api/v1/transparency").await;
    assert_eq!(status, 200, "{t}");
    let text = t.to_string();
    assert!(
        text.contains(&a.tenant.id) && text.contains(&a.agent_id) && text.contains("alpha.example")
    );
    for foreign in [
        b.tenant.id.as_str(),
        b.agent_id.as_str(),
        b.admin_id.as_str(),
        "bravo.example",
    ] {
        assert!(
            !text.contains(foreign),
            "alpha's transparency holds {foreign}"
        );
    }
    // What it says: counts, retention said plainly, systems, the files with known releases, the checkpoint.
    let count = |name: &str| {
        t["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["category"] == name)
            .unwrap()["count"]
            .as_i64()
    };
    assert_eq!(count("card_mentions"), Some(1));
    assert_eq!(count("visitor_sessions"), Some(1));
    assert!(t["retention"]
        .as_str()
        .unwrap()
        .starts_with("no retention period is set"));
    let kinds: Vec<&str> = t["systems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["database", "broker", "webhooks"]);
    assert_eq!(t["systems"][1]["name"], "none configured");
    let files = t["files"].as_array().unwrap();
    assert_eq!(
        files.len(),
        4,
        "loader, frame page, script, style: {files:?}"
    );
    assert!(files.iter().all(|f| f["known"] == true));
    assert!(files
        .iter()
        .any(|f| f["integrity"] == loader_sri && f["release"] == "loader.js"));
    assert!(t["checkpoint"]["note"]
        .as_str()
        .unwrap()
        .contains(&a.tenant.id));
    assert_eq!(
        t["principals"]["operator_grants"],
        json!([]),
        "no operator was granted access"
    );
    let agents = t["principals"]["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 4);
    let admin_row = agents.iter().find(|x| x["username"] == "admin").unwrap();
    assert!(
        admin_row["last_used_at"].as_i64().is_some(),
        "the admin signed in: {admin_row}"
    );
    let (status, check) = auditor_a
        .call("POST", "/api/v1/transparency/checkpoint-check", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(check["ok"], true, "{check}");

    // An agent may not read it.
    let agent_a = srv
        .http()
        .with(Auth::Cookie(srv.login("alpha", "agent").await));
    assert_eq!(agent_a.get("/api/v1/transparency").await.0, 403);
    srv.stop().await;
}
