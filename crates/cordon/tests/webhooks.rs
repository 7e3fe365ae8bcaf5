//! Webhooks (issue 16) against a real server, on every backend: endpoints through the API, events from real
//! visitor and agent sockets, a receiver written apart from Cordon (tests/support/webhook_receiver.py, Python's
//! standard library) that checks every signature, retries after a 500, the dead letters and redelivery, tenant
//! isolation, no card number in any request, and SSRF targets refused. A server SIGKILLed with deliveries
//! still owed is in tests/process.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use common::receiver::Receiver;
use common::{Auth, TestServer};
use serde_json::{json, Value};

fn delivered_ok(requests: &[Value], event: &str) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r["type"] == event && r["answered"] == 200)
        .cloned()
        .collect()
}

async fn server(db: cordon_store::testing::TestDatabase) -> TestServer {
    TestServer::start_configured(db, |c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.max_attempts = 2;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_signed_retried_after_a_500_and_carry_no_card_number() {
    for db in cordon_store::testing::all_backends().await {
        let backend = db.backend;
        let srv = server(db).await;
        let fx = srv.fixture("acme").await;
        let other = srv.fixture("globex").await;
        let tmp = tempfile::tempdir().expect("tmp");
        let rx = Receiver::start(tmp.path(), "fail-first");
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("acme", "admin").await));

        let (status, created) = admin
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(json!({"url": rx.url, "description": "crm"})),
            )
            .await;
        assert_eq!(status, 201, "{backend:?}: {created}");
        let secret = created["secret"].as_str().expect("secret").to_string();
        assert!(secret.starts_with("whsec_"));
        rx.set("secret", &secret);
        let webhook_id = created["webhook"]["id"].as_str().expect("id").to_string();
        assert_eq!(
            created["webhook"]["events"].as_array().map(Vec::len),
            Some(cordon_store::WEBHOOK_EVENTS.len())
        );
        // The secret is shown once: listings never carry it.
        let (_, list) = admin.get("/api/v1/webhooks").await;
        assert_eq!(list[0]["id"], webhook_id.as_str());
        assert!(!list.to_string().contains(&secret[6..]), "{list}");

        // A chat: an agent online, a visitor who opens, types a card, and the agent closes.
        let (mut agent, _) = srv.online_agent("acme", "agent").await;
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor
            .say(&conv, "m1", "hello, my card is 4111 1111 1111 1111")
            .await;
        agent.recv_where(|f| f["type"] == "message").await;
        agent
            .send(json!({"type": "conversation.close", "conversation_id": conv}))
            .await;
        // Another tenant's chat never reaches this endpoint.
        let (mut v2, _) = srv.visitor(&other.tenant.widget_key, None).await;
        let conv2 = v2.open().await;
        v2.say(&conv2, "x1", "other tenant").await;

        let wanted = [
            "conversation.created",
            "conversation.assigned",
            "message.created",
            "conversation.closed",
        ];
        // First attempts answer 500; the retry comes 5 s later (backoff(1)).
        let reqs = rx
            .wait_for(Duration::from_secs(30), |r| {
                wanted.iter().all(|e| !delivered_ok(r, e).is_empty())
            })
            .await;
        for e in wanted {
            let ok = delivered_ok(&reqs, e);
            // message.created: the system's "joined" and "closed" lines and the visitor's message.
            let expected = if e == "message.created" { 3 } else { 1 };
            assert_eq!(
                ok.len(),
                expected,
                "{backend:?}: {e} delivered with 200: {reqs:?}"
            );
            for delivered in &ok {
                let id = delivered["id"].as_str().expect("webhook-id");
                let attempts: Vec<&Value> = reqs.iter().filter(|r| r["id"] == id).collect();
                assert_eq!(
                    attempts.len(),
                    2,
                    "{e}: a 500, then the retry under the same id"
                );
                assert_eq!(attempts[0]["answered"], 500);
                assert_eq!(delivered["body"]["id"], id);
                assert_eq!(delivered["body"]["tenant_id"], fx.tenant.id.as_str());
                assert_eq!(delivered["body"]["data"]["conversation_id"], conv.as_str());
            }
        }
        for r in &reqs {
            assert_eq!(
                r["verified"], true,
                "{backend:?}: signature checked by the receiver: {r}"
            );
            assert_eq!(r["fresh"], true, "{r}");
            assert_ne!(
                r["body"]["data"]["conversation_id"],
                conv2.as_str(),
                "another tenant's event"
            );
        }
        let messages = delivered_ok(&reqs, "message.created");
        let msg = &messages
            .iter()
            .find(|m| m["body"]["data"]["sender_kind"] == "visitor")
            .expect("the visitor's message")["body"]["data"];
        assert_eq!(msg["seq"], 2, "after the system's 'joined' line");
        assert_eq!(msg["sender_kind"], "visitor");
        let text = msg["text"].as_str().expect("text");
        assert!(text.contains("•••• 1111"), "{text}");
        let raw = std::fs::read_to_string(rx.dir.join("requests.jsonl")).expect("log");
        for needle in ["4111 1111 1111 1111", "4111111111111111"] {
            assert!(
                !raw.contains(needle),
                "{backend:?}: a card number reached a webhook"
            );
        }

        // The deliveries as the admin sees them: delivered after two attempts each.
        let (status, deliveries) = admin
            .get("/api/v1/webhooks/deliveries?state=delivered")
            .await;
        assert_eq!(status, 200);
        let list = deliveries.as_array().expect("deliveries");
        assert!(list.len() >= 4, "{deliveries}");
        assert!(
            list.iter()
                .all(|d| d["attempts"] == 2 && d["last_status"] == 200),
            "{deliveries}"
        );

        // Isolation: another tenant's admin sees none of it and cannot touch it.
        let globex = srv
            .http()
            .with(Auth::Cookie(srv.login("globex", "admin").await));
        assert_eq!(globex.get("/api/v1/webhooks").await.1, json!([]));
        assert_eq!(globex.get("/api/v1/webhooks/deliveries").await.1, json!([]));
        let any = list[0]["id"].as_str().expect("id");
        let (status, _) = globex
            .call(
                "POST",
                &format!("/api/v1/webhooks/deliveries/{any}/redeliver"),
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = globex
            .call("DELETE", &format!("/api/v1/webhooks/{webhook_id}"), None)
            .await;
        assert_eq!(status, 404);
        // An agent is not an admin.
        let agent_http = srv
            .http()
            .with(Auth::Cookie(srv.login("acme", "agent").await));
        assert_eq!(agent_http.get("/api/v1/webhooks").await.0, 403);
        srv.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_that_keeps_failing_is_dead_lettered_and_redelivered_on_request() {
    let srv = server(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("acme").await;
    let tmp = tempfile::tempdir().expect("tmp");
    let rx = Receiver::start(tmp.path(), "fail");
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    let (status, created) = admin
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": rx.url, "events": ["conversation.created"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    rx.set("secret", created["secret"].as_str().expect("secret"));
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    visitor.open().await;

    // max_attempts = 2: a 500, a retry 5 s later, another 500, then the dead letters.
    let started = std::time::Instant::now();
    let dead = loop {
        let (_, d) = admin.get("/api/v1/webhooks/deliveries?state=dead").await;
        if d.as_array().is_some_and(|a| !a.is_empty())
            || started.elapsed() > Duration::from_secs(30)
        {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let dead = dead.as_array().expect("list").clone();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["attempts"], 2);
    assert_eq!(dead[0]["last_status"], 500);
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .starts_with("HTTP 500"),
        "{dead:?}"
    );
    assert_eq!(rx.requests().len(), 2);

    // Pending deliveries cannot be "redelivered"; dead ones can, once the receiver is fixed.
    let id = dead[0]["id"].as_str().expect("id");
    rx.set("mode", "ok");
    let (status, _) = admin
        .call(
            "POST",
            &format!("/api/v1/webhooks/deliveries/{id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let reqs = rx
        .wait_for(Duration::from_secs(10), |r| {
            r.iter().any(|x| x["answered"] == 200)
        })
        .await;
    let last = reqs.last().expect("a request");
    assert_eq!(
        (last["id"].as_str(), &last["answered"], &last["verified"]),
        (Some(id), &json!(200), &json!(true))
    );
    let (status, body) = admin
        .call(
            "POST",
            &format!("/api/v1/webhooks/deliveries/{id}/redeliver"),
            None,
        )
        .await;
    // Delivered now: a second redelivery is allowed (a receiver that lost it may ask again).
    assert!(status == 202 || status == 409, "{status} {body}");

    // The audit log names each step.
    let size = srv.store().audit_size(&fx.tenant.id).await.expect("size");
    let written: Vec<String> = srv
        .store()
        .audit_entries(&fx.tenant.id, 0, size)
        .await
        .expect("entries")
        .iter()
        .filter_map(|(_, e)| serde_json::from_slice::<Value>(e).ok())
        .filter_map(|e| e["action"].as_str().map(str::to_string))
        .collect();
    for action in [
        "webhook.create",
        "webhook_deliveries.list",
        "webhook.redeliver",
    ] {
        assert!(
            written.iter().any(|a| a == action),
            "{action} not in {written:?}"
        );
    }
    srv.stop().await;
}

#[tokio::test]
async fn endpoints_that_reach_private_addresses_are_refused() {
    let srv = TestServer::start_configured(cordon_store::testing::sqlite(), |c| {
        c.webhooks.allow_private_targets = false;
    })
    .await;
    srv.fixture("acme").await;
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("acme", "admin").await));
    for (url, code) in [
        ("https://127.0.0.1/hooks", "forbidden"),
        ("https://localhost:8443/hooks", "forbidden"),
        ("https://169.254.169.254/latest/meta-data", "forbidden"),
        ("https://[::1]/hooks", "forbidden"),
        ("https://[::ffff:10.0.0.1]/hooks", "forbidden"),
        ("https://10.0.0.8/hooks", "forbidden"),
        ("https://100.64.1.1/hooks", "forbidden"),
        ("http://hooks.example.com/", "bad_request"),
        ("https://user:pw@hooks.example.com/", "bad_request"),
        ("ftp://hooks.example.com/", "bad_request"),
    ] {
        let (status, body) = admin
            .call("POST", "/api/v1/webhooks", Some(json!({"url": url})))
            .await;
        assert_eq!(body["error"]["code"], code, "{url}: {status} {body}");
        assert!(status == 403 || status == 400, "{url}: {status}");
    }
    let (status, body) = admin
        .call(
            "POST",
            "/api/v1/webhooks",
            Some(json!({"url": "https://hooks.example.com/", "events": ["nope"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    assert_eq!(admin.get("/api/v1/webhooks").await.1, json!([]));
    srv.stop().await;
}
