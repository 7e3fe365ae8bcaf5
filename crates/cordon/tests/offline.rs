//! Offline and pre-chat (issue 20, item 2), on every backend: a visitor's `welcome` says how many agents are
//! online and about how long the wait is, before the first message: none online (no estimate), one with room
//! (the median first response of the last 24 hours), every one full (the queue ahead times the median handle
//! time, shared among them); counts of another tenant never mix in. The tenant's pre-chat and offline forms:
//! off by default, turned on by an admin only, announced in the welcome; the contact a visitor gives is checked
//! (email refused with a card number or malformed, a card in the name masked), sealed at rest and shown to the
//! agents beside the chat.

mod common;

use common::{TestServer, Ws};
use serde_json::{json, Value};

/// A little longer than a tenant's availability is reused (availability.rs).
const FRESH: std::time::Duration = std::time::Duration::from_millis(5_200);

async fn welcome(srv: &TestServer, widget_key: &str) -> Value {
    let (_, w) = srv.visitor(widget_key, None).await;
    w
}

/// A chat of `tenant` answered in `first_ms` and closed after `handle_ms`, an hour ago.
async fn past_chat(
    srv: &TestServer,
    widget_key: &str,
    agent: &mut Ws,
    first_ms: i64,
    handle_ms: i64,
) {
    use sqlx::Connection as _;
    let (mut v, _) = srv.visitor(widget_key, None).await;
    let conv = v.open().await;
    v.say(&conv, "v1", "Hello").await;
    let id = conv.clone();
    agent
        .recv_where(move |f| f["type"] == "message" && f["conversation_id"] == id.as_str())
        .await;
    agent.say(&conv, &format!("a-{conv}"), "Hi").await;
    agent.close_chat(&mut v, &conv).await;
    let start = cordon_store::now_ms() - 3_600_000;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&srv.db.url)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query("UPDATE conversations SET created_at = $1, closed_at = $2 WHERE id = $3")
        .bind(start)
        .bind(start + handle_ms)
        .bind(&conv)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (kind, at) in [("visitor", start), ("agent", start + first_ms)] {
        sqlx::query(
            "UPDATE messages SET created_at = $1 WHERE conversation_id = $2 AND sender_kind = $3",
        )
        .bind(at)
        .bind(&conv)
        .bind(kind)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }
    c.close().await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn welcome_tells_visitors_who_is_online_and_the_wait() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        // Nobody online: no estimate.
        let quiet = srv.fixture("quiet").await;
        let w = welcome(&srv, &quiet.tenant.widget_key).await;
        assert_eq!(w["availability"]["agents_online"], 0, "{backend}: {w}");
        assert!(w["availability"].get("wait_estimate_secs").is_none(), "{w}");

        // One agent with room: the median first response of the last day (30 s and 90 s and 60 s: 60 s).
        let roomy = srv.fixture("roomy").await;
        let (mut agent, _) = srv.online_agent("roomy", "agent").await;
        for first in [30_000, 90_000, 60_000] {
            past_chat(&srv, &roomy.tenant.widget_key, &mut agent, first, 600_000).await;
        }
        // The visitors above were welcomed with the tenant's answer of then: it is fresh for five seconds.
        tokio::time::sleep(FRESH).await;
        let w = welcome(&srv, &roomy.tenant.widget_key).await;
        assert_eq!(w["availability"]["agents_online"], 1, "{backend}: {w}");
        assert_eq!(
            w["availability"]["wait_estimate_secs"], 60,
            "{backend}: {w}"
        );

        // Every agent full (capacity 2) and one chat queued: (1 ahead + this one) x 10 min / 1 agent = 20 min.
        let busy = srv.fixture("busy").await;
        let (mut busy_agent, _) = srv.online_agent("busy", "agent").await;
        past_chat(
            &srv,
            &busy.tenant.widget_key,
            &mut busy_agent,
            30_000,
            600_000,
        )
        .await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let (mut v, _) = srv.visitor(&busy.tenant.widget_key, None).await;
            let c = v.open().await;
            v.say(&c, "v1", "waiting").await;
            held.push(v);
        }
        tokio::time::sleep(FRESH).await;
        let w = welcome(&srv, &busy.tenant.widget_key).await;
        assert_eq!(w["availability"]["agents_online"], 1, "{backend}: {w}");
        assert_eq!(
            w["availability"]["wait_estimate_secs"], 1200,
            "{backend}: {w}"
        );
        // The quiet tenant still has nobody (its answer is its own, cached or not).
        let w = welcome(&srv, &quiet.tenant.widget_key).await;
        assert_eq!(w["availability"]["agents_online"], 0);
        drop(held);
        srv.stop().await;
    }
}

#[tokio::test]
async fn visitors_leave_a_contact_in_the_forms_the_tenant_turned_on() {
    use common::Auth;
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        // Another tenant, whose forms stay its own.
        srv.fixture("voltmart").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        let agent = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "agent").await));

        // Off until an admin turns them on; agents cannot.
        let (s, f) = admin.get("/api/v1/tenant/chat-forms").await;
        assert_eq!(
            (s, f.clone()),
            (
                200,
                json!({"prechat": false, "offline": false, "transcript": false})
            ),
            "{backend}"
        );
        let w = welcome(&srv, &fx.tenant.widget_key).await;
        assert_eq!(w["availability"]["prechat_form"], false, "{w}");
        let on = json!({"prechat": true, "offline": true});
        assert_eq!(
            agent
                .call("PUT", "/api/v1/tenant/chat-forms", Some(on.clone()))
                .await
                .0,
            403
        );
        let (s, e) = admin
            .call(
                "PUT",
                "/api/v1/tenant/chat-forms",
                Some(json!({"prechat": "yes"})),
            )
            .await;
        assert_eq!(s, 400, "{e}");
        assert_eq!(
            admin
                .call("PUT", "/api/v1/tenant/chat-forms", Some(on))
                .await
                .0,
            204
        );
        // The welcome's answer is at most five seconds old.
        tokio::time::sleep(FRESH).await;
        let (mut v, w) = srv.visitor(&fx.tenant.widget_key, None).await;
        assert_eq!(w["availability"]["prechat_form"], true, "{backend}: {w}");
        assert_eq!(w["availability"]["offline_form"], true, "{w}");
        let vid = w["visitor_id"].as_str().unwrap().to_string();
        // Another tenant's forms are its own.
        let (_, of) = srv
            .http()
            .with(Auth::Cookie(srv.login("voltmart", "admin").await))
            .get("/api/v1/tenant/chat-forms")
            .await;
        assert_eq!(
            of,
            json!({"prechat": false, "offline": false, "transcript": false})
        );

        // The visitor's contact: a bad email is refused; a card number in the name is masked.
        for bad in [
            "",
            "ana",
            "ana@localhost",
            "4111111111111111@example.com",
            "a b@example.com",
        ] {
            v.send(json!({"type": "contact.set", "email": bad})).await;
            let e = v.recv_type("error").await;
            assert_eq!(e["code"], "bad_request", "{backend} {bad}: {e}");
        }
        v.send(json!({"type": "contact.set", "name": "Ana 4111 1111 1111 1111", "email": "ana@Example.com"}))
            .await;
        let saved = v.recv_type("contact.saved").await;
        assert_eq!(saved["contact"]["email"], "ana@example.com", "{saved}");
        let name = saved["contact"]["name"].as_str().unwrap();
        assert!(
            name.starts_with("Ana") && !name.contains("4111 1111 1111 1111"),
            "{name}"
        );
        // An agent cannot give one.
        let (mut aws, _) = srv.agent_ws(&srv.login("skyway", "agent2").await).await;
        aws.send(json!({"type": "contact.set", "email": "x@example.com"}))
            .await;
        assert_eq!(aws.recv_type("error").await["code"], "forbidden");

        // The agents see it beside the chat; it is sealed at rest.
        let conv = v.open().await;
        v.say(&conv, "q1", "Where is my refund?").await;
        let (s, p) = agent
            .get(&format!("/api/v1/conversations/{conv}/visitor"))
            .await;
        assert_eq!(s, 200, "{p}");
        assert_eq!(p["contact"]["email"], "ana@example.com", "{backend}: {p}");
        let (sealed, _) = srv
            .store()
            .visitor_contact(&fx.tenant.id, &vid)
            .await
            .unwrap()
            .expect("a contact row");
        let raw = String::from_utf8_lossy(&sealed).to_string();
        assert!(!raw.contains("ana@") && !raw.contains("Ana"), "sealed");
        srv.stop().await;
    }
}
