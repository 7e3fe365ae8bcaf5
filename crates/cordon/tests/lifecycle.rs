//! Data lifecycle (issue 16): crypto-shredding a tenant with the operator's command line, while two nodes serve
//! it from one database: both stop reading its history within the key re-check time, new messages are refused,
//! other tenants are untouched, and the audit log still verifies.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Auth, TestServer};
use cordon_store::testing::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shredded_tenant_is_unreadable_on_two_nodes_and_its_audit_log_still_verifies() {
    for db in cordon_store::testing::all_backends().await {
        let (url, backend) = (db.url.clone(), db.backend);
        let node1 = TestServer::start(db).await;
        let node2 = TestServer::start(TestDatabase {
            url: url.clone(),
            backend,
            dir: None,
        })
        .await;
        let fx = node1.fixture("acme").await;
        let other = node1.fixture("globex").await;

        let (mut visitor, _) = node1.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor.say(&conv, "m1", "my booking is ABC123").await;
        let (mut v2, _) = node1.visitor(&other.tenant.widget_key, None).await;
        let conv2 = v2.open().await;
        v2.say(&conv2, "x1", "globex stays").await;

        // Both nodes read the history (and so hold the tenant's key in memory).
        let path = format!("/api/v1/conversations/{conv}/messages");
        let mut readers = Vec::new();
        for node in [&node1, &node2] {
            let key = node.api_key(&fx.tenant, &["conversations:read"]).await;
            let http = node.http().with(Auth::Bearer(key));
            let (status, body) = http.get(&path).await;
            assert_eq!(status, 200, "{backend:?}: {body}");
            assert!(body.to_string().contains("ABC123"), "{body}");
            readers.push(http);
        }

        // The operator shreds it from the command line: a third process.
        let data = tempfile::tempdir().expect("tmp");
        let refused = cordon(data.path(), &url, &["tenant", "shred", "--tenant", "acme"]);
        assert!(
            !refused.status.success(),
            "no terminal and no --confirm: refused"
        );
        let wrong = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "globex"],
        );
        assert!(
            !wrong.status.success(),
            "a confirmation that does not match: refused"
        );
        let (status, _) = readers[0].get(&path).await;
        assert_eq!(status, 200, "nothing shredded by a refused command");
        let out = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "acme"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 data key(s) destroyed"));

        // Within the re-check time, on both nodes: the history is gone (410 data_shredded), never half-read.
        let started = Instant::now();
        for http in &readers {
            loop {
                let (status, body) = http.get(&path).await;
                if status == 410 {
                    assert_eq!(body["error"]["code"], "data_shredded", "{body}");
                    assert!(!body.to_string().contains("ABC123"));
                    break;
                }
                assert_eq!(status, 200, "{backend:?}: {body}");
                assert!(
                    started.elapsed() < cordon_service::keys::KEY_RECHECK + Duration::from_secs(3),
                    "{backend:?}: still readable after the re-check time"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // New messages are refused with the same code; the other tenant chats on.
        visitor
            .send(
                serde_json::json!({"type": "message.send", "conversation_id": conv,
                "client_msg_id": "m2", "text": "after the shred"}),
            )
            .await;
        let err = visitor.recv_error().await;
        assert_eq!(err["code"], "data_shredded", "{err}");
        v2.say(&conv2, "x2", "globex still here").await;

        // The audit log is whole: it verifies, and says what happened.
        let verify = cordon(data.path(), &url, &["audit", "verify"]);
        assert!(
            verify.status.success(),
            "{backend:?}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let size = node1.store().audit_size(&fx.tenant.id).await.expect("size");
        let entries = node1
            .store()
            .audit_entries(&fx.tenant.id, 0, size)
            .await
            .expect("entries");
        assert!(entries
            .iter()
            .any(|(_, e)| String::from_utf8_lossy(e).contains("\"tenant.shred\"")));
        // Shredding again changes nothing and says so.
        let again = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "acme"],
        );
        assert!(String::from_utf8_lossy(&again.stdout).contains("shredded already"));
        node2.stop().await;
        node1.stop().await;
    }
}

/// Every table of the schema is either one that holds visitor data (exported and deleted with the visitor) or
/// one named, with why, as holding none: a new table without lifecycle handling fails here.
#[tokio::test]
async fn every_table_has_lifecycle_handling() {
    for db in cordon_store::testing::all_backends().await {
        let backend = db.backend;
        let srv = TestServer::start(db).await;
        let tables = srv.store().table_names().await.expect("tables");
        assert!(tables.len() >= 25, "{tables:?}");
        for t in &tables {
            let known = cordon_store::VISITOR_TABLES.iter().any(|(v, _)| v == t)
                || cordon_store::OTHER_TABLES.iter().any(|(o, _)| o == t);
            assert!(
                known,
                "{backend:?}: table {t} has no lifecycle handling: add it to VISITOR_TABLES (exported and \
                 deleted with a visitor) or OTHER_TABLES (with why it holds no visitor's data) in \
                 crates/cordon-store/src/lifecycle.rs"
            );
        }
        for (t, _) in cordon_store::VISITOR_TABLES
            .iter()
            .chain(cordon_store::OTHER_TABLES)
        {
            assert!(
                tables.iter().any(|x| x == t),
                "{backend:?}: {t} is listed but not in the schema"
            );
        }
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_is_exported_and_deleted_across_every_table_and_only_that_visitor() {
    for db in cordon_store::testing::all_backends().await {
        let backend = db.backend;
        // Transcript emails (issue 20) go to a sink on loopback: the visitor's queued mail is one of its rows.
        let sink = common::smtp::SmtpSink::start().await;
        let smtp_url = sink.url();
        let srv = TestServer::start_configured(db, |c| {
            c.mail
                .configure(Some(&smtp_url), Some("chat@cordon.test"))
                .unwrap();
        })
        .await;
        let fx = srv.fixture("acme").await;
        let admin_cookie = srv.login("acme", "admin").await;
        let admin = srv.http().with(Auth::Cookie(admin_cookie.clone()));
        let (s, _) = admin
            .call(
                "PUT",
                "/api/v1/tenant/chat-forms",
                Some(serde_json::json!({"prechat": true, "offline": true, "transcript": true})),
            )
            .await;
        assert_eq!(s, 204);
        // A webhook endpoint, so the visitor's events sit in the outbox too (nothing listens: they stay).
        let (_, _) = srv
            .webhook_fixture(&admin_cookie, &fx.tenant.widget_key)
            .await;
        let (status, _) = admin
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(serde_json::json!({"url": "http://127.0.0.1:9/all"})),
            )
            .await;
        assert_eq!(status, 201);

        let (mut agent, _) = srv.online_agent("acme", "agent").await;
        // With the page and browser the frame reports (issue 20), which the visitor's profile keeps.
        let mut visitor = common::Ws::connect(&format!("ws://{}/ws/visitor", srv.addr), &[]).await;
        visitor
            .send(
                serde_json::json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key,
                "context": {"page_url": "https://acme.example/checkout", "page_title": "Checkout",
                    "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0 Safari/537.36",
                    "time_zone": "Europe/Lisbon"}}),
            )
            .await;
        let welcome = visitor.recv_type("welcome").await;
        let vid = welcome["visitor_id"]
            .as_str()
            .expect("visitor id")
            .to_string();
        let conv = visitor.open().await;
        visitor
            .say(&conv, "m1", "my card 4111 1111 1111 1111, booking XYZ")
            .await;
        agent.recv_where(|f| f["type"] == "message").await;
        // The agent's read mark (issue 20) is one of the visitor's rows too.
        agent
            .send(serde_json::json!({"type": "read", "conversation_id": conv, "seq": 2}))
            .await;
        // An internal note (a card number in it is masked) and tags on the conversation (issue 20).
        let (s, _) = admin
            .call(
                "POST",
                &format!("/api/v1/conversations/{conv}/notes"),
                Some(serde_json::json!({"text": "Card on file 4111 1111 1111 1111, call back"})),
            )
            .await;
        assert_eq!(s, 201);
        let (s, _) = admin
            .call(
                "PUT",
                &format!("/api/v1/conversations/{conv}/meta"),
                Some(serde_json::json!({"tags": ["vip"], "priority": "high"})),
            )
            .await;
        assert_eq!(s, 204);
        // A card saved through the vault (issue 15): the visitor's payment request and token are its rows too.
        srv.pay(&mut agent, &mut visitor, &conv, "4111 1111 1111 1111")
            .await;
        // A file the visitor sent (issue 20), a card number in its name.
        upload_file(&srv, &mut visitor, &conv, "scan 4111 1111 1111 1111.txt").await;
        // The email the visitor left in a form (issue 20), sealed, opened in the export.
        visitor
            .send(serde_json::json!({"type": "contact.set", "name": "Ana", "email": "ana@example.com"}))
            .await;
        visitor.recv_type("contact.saved").await;
        // The chat ends (its transcript is mailed: a transcript_outbox row) and the visitor rates it (issue 20), a
        // card number in the comment (masked).
        agent.close_chat(&mut visitor, &conv).await;
        visitor
            .send(
                serde_json::json!({"type": "rating.submit", "conversation_id": conv, "score": 2,
                "comment": "Refund to 4111 1111 1111 1111 please"}),
            )
            .await;
        visitor.recv_type("rating.saved").await;
        sink.wait_for(1, std::time::Duration::from_secs(10)).await;
        drop(visitor);
        // Another visitor, who must be untouched: with rows in issue 20's tables too (profile, note, tags).
        let mut other = common::Ws::connect(&format!("ws://{}/ws/visitor", srv.addr), &[]).await;
        other
            .send(
                serde_json::json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key,
                "context": {"page_title": "Other page", "time_zone": "UTC"}}),
            )
            .await;
        let other_welcome = other.recv_type("welcome").await;
        let other_id = other_welcome["visitor_id"]
            .as_str()
            .expect("id")
            .to_string();
        let other_conv = other.open().await;
        other.say(&other_conv, "o1", "keep me").await;
        upload_file(&srv, &mut other, &other_conv, "keep.txt").await;
        for (method, path, body) in [
            (
                "POST",
                "notes",
                serde_json::json!({"text": "keep this note"}),
            ),
            (
                "PUT",
                "meta",
                serde_json::json!({"tags": ["keep"], "priority": "low"}),
            ),
        ] {
            let (s, _) = admin
                .call(
                    method,
                    &format!("/api/v1/conversations/{other_conv}/{path}"),
                    Some(body),
                )
                .await;
            assert!((200..300).contains(&s), "{method} {path}: {s}");
        }

        // Export: every visitor table has the visitor's rows, with no secret, sealed byte or card number.
        let body = serde_json::json!({"visitor_id": vid});
        let (status, export) = admin
            .call(
                "POST",
                "/api/v1/visitor-requests/export",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {export}");
        assert_eq!(export["visitor_ids"], serde_json::json!([vid]));
        let started = Instant::now();
        for (table, _) in cordon_store::VISITOR_TABLES {
            let rows = export["tables"][*table]
                .as_array()
                .expect("a list per table");
            assert!(
                !rows.is_empty(),
                "{backend:?}: the export has no {table} rows: {export}"
            );
        }
        // The conversation's sequence and last change as the API reports them (from its newest message), not the
        // row's own columns, which the SQLite writer no longer updates on append.
        let exported_conv = export["tables"]["conversations"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == conv.as_str()))
            .expect("the visitor's conversation in the export");
        assert!(
            exported_conv["last_seq"].as_i64().unwrap_or(0) >= 1
                && exported_conv["updated_at"].as_i64().unwrap_or(0)
                    >= exported_conv["created_at"].as_i64().unwrap_or(i64::MAX),
            "{backend:?}: the exported conversation's last_seq and updated_at: {exported_conv}"
        );
        let text = export.to_string();
        assert!(
            text.contains("booking XYZ") && text.contains("•••• 1111"),
            "messages opened, redacted"
        );
        assert!(
            text.contains("scan [Visa •••• 1111].txt"),
            "{backend:?}: the file's name opened in the export, its card masked: {text}"
        );
        // Issue 20: the profile's page and the note's text opened too (the card in the note masked).
        assert!(
            text.contains("https://acme.example/checkout")
                && text.contains("Card on file [Visa •••• 1111]")
                && text.contains("Refund to [Visa •••• 1111] please")
                && text.contains("ana@example.com"),
            "{backend:?}: the profile and notes opened in the export: {text}"
        );
        for needle in [
            "4111 1111 1111 1111",
            "4111111111111111",
            "token_hash",
            "\"body\"",
        ] {
            assert!(
                !text.contains(needle),
                "{backend:?}: {needle} in the export"
            );
        }
        assert!(
            !text.contains(&other_id) && !text.contains(&other_conv),
            "another visitor in the export"
        );
        assert!(started.elapsed() < Duration::from_secs(60));

        // Delete: nothing of the visitor is left in any table; the other visitor is whole.
        let (status, deleted) = admin
            .call(
                "POST",
                "/api/v1/visitor-requests/delete",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 200, "{backend:?}: {deleted}");
        assert!(
            deleted["deleted"]["messages"].as_u64() >= Some(2),
            "{deleted}"
        );
        let left = srv
            .store()
            .visitor_rows(&fx.tenant.id, std::slice::from_ref(&vid))
            .await
            .expect("rows");
        for (table, rows) in &left {
            assert!(
                rows.is_empty(),
                "{backend:?}: {table} still holds the visitor: {rows:?}"
            );
        }
        let kept = srv
            .store()
            .visitor_rows(&fx.tenant.id, std::slice::from_ref(&other_id))
            .await
            .expect("rows");
        for (table, rows) in &kept {
            // The other visitor's chat waits in the queue (the agent has no room), so no agent read it.
            // The other visitor paid nothing (issue 15): it has no payment requests or card tokens to keep; its
            // chat has not ended, so it has no rating either, and it left no contact, so no transcript was
            // mailed (issue 20).
            if !matches!(
                *table,
                "card_mentions"
                    | "agent_reads"
                    | "payment_requests"
                    | "vault_tokens"
                    | "conversation_ratings"
                    | "visitor_contacts"
                    | "transcript_outbox"
            ) {
                assert!(
                    !rows.is_empty(),
                    "{backend:?}: the other visitor lost its {table}"
                );
            }
        }
        let (status, _) = admin
            .call("POST", "/api/v1/visitor-requests/export", Some(body))
            .await;
        assert_eq!(status, 404, "gone");
        // The request is announced to the tenant's webhooks, and audited with ids only.
        let (_, pending) = admin.get("/api/v1/webhooks/deliveries").await;
        assert!(
            pending.to_string().contains("visitor_request.completed"),
            "{backend:?}: {pending}"
        );
        let size = srv.store().audit_size(&fx.tenant.id).await.expect("size");
        let log: Vec<String> = srv
            .store()
            .audit_entries(&fx.tenant.id, 0, size)
            .await
            .expect("entries")
            .iter()
            .map(|(_, e)| String::from_utf8_lossy(e).into_owned())
            .collect();
        assert!(log
            .iter()
            .any(|e| e.contains("\"visitor.export\"") && e.contains(&vid)));
        assert!(log
            .iter()
            .any(|e| e.contains("\"visitor.delete\"") && e.contains(&vid)));
        // Bad requests are typed: neither or both subjects, another tenant's visitor.
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"visitor_id": "v_x", "user_id": "u"}),
        ] {
            let (status, body) = admin
                .call("POST", "/api/v1/visitor-requests/delete", Some(bad))
                .await;
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (400, Some("bad_request"))
            );
        }
        let other_tenant = srv.fixture("globex").await;
        let globex = srv
            .http()
            .with(Auth::Cookie(srv.login("globex", "admin").await));
        let (status, _) = globex
            .call(
                "POST",
                "/api/v1/visitor-requests/delete",
                Some(serde_json::json!({"visitor_id": other_id})),
            )
            .await;
        assert_eq!(status, 404, "{other_tenant:?}");
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_exactly_what_is_past_its_period_and_audits_counts() {
    const DAY: i64 = 86_400_000;
    for db in cordon_store::testing::all_backends().await {
        let backend = db.backend;
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("acme").await;
        let other = srv.fixture("globex").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("acme", "admin").await));
        for bad in [
            serde_json::json!({"transcript_days": 0}),
            serde_json::json!({"transcript_days": 3651}),
            serde_json::json!({"keep": true}),
        ] {
            let (status, _) = admin
                .call("PUT", "/api/v1/tenant/retention", Some(bad))
                .await;
            assert_eq!(status, 400);
        }
        let (status, r) = admin
            .call(
                "PUT",
                "/api/v1/tenant/retention",
                Some(serde_json::json!({"transcript_days": 30, "exposure_days": 10})),
            )
            .await;
        assert_eq!(status, 200, "{r}");
        assert!(
            r["description"].as_str().unwrap_or("").contains("30 days"),
            "{r}"
        );

        // A closed conversation with messages, an open one, and another tenant's closed one.
        let (mut v, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let closed = v.open().await;
        v.say(&closed, "m1", "old news").await;
        drop(v);
        let closed_row = srv
            .store()
            .close_conversation(&fx.tenant.id, &closed)
            .await
            .expect("close");
        let closed_at = closed_row.closed_at.expect("closed_at");
        let (mut w, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let open = w.open().await;
        w.say(&open, "o1", "still talking").await;
        let (mut g, _) = srv.visitor(&other.tenant.widget_key, None).await;
        let theirs = g.open().await;
        g.say(&theirs, "g1", "globex keeps all").await;
        srv.store()
            .close_conversation(&other.tenant.id, &theirs)
            .await
            .expect("close");

        let svc = srv.service();
        // At exactly 30 days after closing, nothing is due; a millisecond later, the closed one is.
        let at_edge = cordon_service::lifecycle::purge_expired(svc, closed_at + 30 * DAY)
            .await
            .expect("purge");
        let acme_at_edge = at_edge.iter().find(|(t, _)| t == &fx.tenant.id);
        assert!(
            acme_at_edge.is_none_or(|(_, p)| p.conversations == 0),
            "{backend:?}: purged at the boundary: {at_edge:?}"
        );
        let past = cordon_service::lifecycle::purge_expired(svc, closed_at + 30 * DAY + 1)
            .await
            .expect("purge");
        let (_, p) = past
            .iter()
            .find(|(t, _)| t == &fx.tenant.id)
            .expect("acme purged");
        assert_eq!(
            (p.conversations, p.messages),
            (1, 1),
            "{backend:?}: the conversation with its message"
        );
        // Exposure records (10 days) were past their period in both rounds: the first took them.
        let exposure = acme_at_edge.map_or(0, |(_, e)| e.exposure_records) + p.exposure_records;
        assert!(
            exposure >= 2,
            "{backend:?}: exposure records past 10 days: {at_edge:?} {p:?}"
        );
        assert!(
            past.iter().all(|(t, _)| t != &other.tenant.id),
            "globex has no retention"
        );
        let store = srv.store();
        assert!(
            store.conversation(&fx.tenant.id, &closed).await.is_err(),
            "the closed conversation is gone"
        );
        assert_eq!(
            store
                .message_count(&fx.tenant.id, &closed)
                .await
                .expect("count"),
            0
        );
        assert!(
            store.conversation(&fx.tenant.id, &open).await.is_ok(),
            "an open conversation is never purged"
        );
        assert_eq!(
            store
                .message_count(&fx.tenant.id, &open)
                .await
                .expect("count"),
            1
        );
        assert!(store.conversation(&other.tenant.id, &theirs).await.is_ok());
        // Nothing more is due: a second round removes nothing and writes nothing.
        let size_before = store.audit_size(&fx.tenant.id).await.expect("size");
        let again = cordon_service::lifecycle::purge_expired(svc, closed_at + 30 * DAY + 1)
            .await
            .expect("purge");
        assert!(again.iter().all(|(t, _)| t != &fx.tenant.id), "{again:?}");
        assert_eq!(
            store.audit_size(&fx.tenant.id).await.expect("size"),
            size_before
        );
        // The purge is audited with counts, never content.
        let entries = store
            .audit_entries(&fx.tenant.id, 0, size_before)
            .await
            .expect("entries");
        let purge: Vec<String> = entries
            .iter()
            .map(|(_, e)| String::from_utf8_lossy(e).into_owned())
            .filter(|e| e.contains("\"retention.purge\""))
            .collect();
        assert!(
            purge
                .iter()
                .any(|e| e.contains("conversations=1,messages=1")),
            "{purge:?}"
        );
        assert!(purge.iter().all(|e| !e.contains("old news")));
        // The transparency report says what is kept and for how long.
        let (_, t) = admin.get("/api/v1/transparency").await;
        assert!(
            t["retention"]
                .as_str()
                .unwrap_or("")
                .contains("deleted 30 days"),
            "{}",
            t["retention"]
        );
        srv.stop().await;
    }
}

/// A text file sent by a visitor into its conversation (issue 20), with the ticket its socket gives.
async fn upload_file(srv: &TestServer, visitor: &mut common::Ws, conv: &str, name: &str) {
    visitor
        .send(serde_json::json!({"type": "file.ticket"}))
        .await;
    let ticket = visitor.recv_type("file.ticket").await["ticket"]
        .as_str()
        .expect("a ticket")
        .to_string();
    let name: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let res = reqwest::Client::new()
        .post(format!(
            "{}/w/files?conversation_id={conv}&name={name}",
            srv.base
        ))
        .header("origin", &srv.base)
        .header(cordon_service::files::TICKET_HEADER, ticket)
        .header("content-type", "text/plain")
        .body("a file of the visitor's")
        .send()
        .await
        .expect("upload");
    assert_eq!(res.status().as_u16(), 201, "the file is stored");
}
