//! The support team's daily tools (issue 20) through the API, on every backend: canned replies (admins manage,
//! agents read, card numbers masked, shortcuts unique, typed refusals) and internal notes, tags and priority
//! (agents write, API keys cannot, card numbers masked, sealed at rest, history filtered by tag and priority).
//! That notes never reach a visitor is the browser test's (tests/browser/support.mjs).

mod common;

use std::time::Duration;

use common::{Auth, TestServer};
use serde_json::json;

const CARD: &str = "4111 1111 1111 1111";

#[tokio::test]
async fn canned_replies_notes_and_tags() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        let agent = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "agent").await));

        // ---- canned replies ----
        let (s, r) = admin
            .call(
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "/Refund", "text": format!("Refunds go to card {CARD} in 5 days.")})),
            )
            .await;
        assert_eq!(s, 201, "{backend}: {r}");
        assert_eq!(r["shortcut"], "refund");
        let text = r["text"].as_str().unwrap();
        assert!(!text.contains(CARD) && text.contains("1111"), "{text}");
        let id = r["id"].as_str().unwrap().to_string();
        let (s, e) = admin
            .call(
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "refund", "text": "again"})),
            )
            .await;
        assert_eq!((s, e["error"]["code"].as_str()), (409, Some("conflict")));
        for bad in [
            json!({"shortcut": "two words", "text": "x"}),
            json!({"shortcut": "ok", "text": ""}),
            json!({"shortcut": "ok"}),
        ] {
            let (s, e) = admin
                .call("POST", "/api/v1/canned-replies", Some(bad))
                .await;
            assert_eq!(s, 400, "{e}");
        }
        // Agents read them but do not manage them.
        let (s, list) = agent.get("/api/v1/canned-replies").await;
        assert_eq!(s, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (s, _) = agent
            .call(
                "POST",
                "/api/v1/canned-replies",
                Some(json!({"shortcut": "mine", "text": "x"})),
            )
            .await;
        assert_eq!(s, 403);
        let (s, _) = admin
            .call(
                "PUT",
                &format!("/api/v1/canned-replies/{id}"),
                Some(json!({"shortcut": "refunds", "text": "Changed"})),
            )
            .await;
        assert_eq!(s, 204);
        let (_, list) = agent.get("/api/v1/canned-replies").await;
        assert_eq!(list[0]["shortcut"], "refunds");
        assert_eq!(list[0]["text"], "Changed");
        let (s, _) = admin
            .call("DELETE", "/api/v1/canned-replies/cr_unknown", None)
            .await;
        assert_eq!(s, 404);

        // ---- notes, tags and priority ----
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor.say(&conv, "m1", "Where is my refund?").await;
        // A colleague's console is told of every change (without its content), live; the visitor never is.
        let (mut colleague, _) = srv.agent_ws(&srv.login("skyway", "admin").await).await;
        let (s, n) = agent
            .call(
                "POST",
                &format!("/api/v1/conversations/{conv}/notes"),
                Some(json!({"text": format!("Customer read out {CARD} on the phone")})),
            )
            .await;
        assert_eq!(s, 201, "{backend}: {n}");
        assert!(!n["text"].as_str().unwrap().contains(CARD), "{n}");
        assert_eq!(n["agent"]["name"], "agent");
        let told = colleague.recv_where(|f| f["type"] == "notes.updated").await;
        assert_eq!(told["conversation_id"], conv.as_str());
        assert_eq!(told["by"]["name"], "agent");
        assert!(
            told.get("text").is_none() && !told.to_string().contains("Customer"),
            "{told}"
        );
        // A reading key reads notes but cannot write them.
        let reader = srv.http().with(Auth::Bearer(
            srv.api_key(&fx.tenant, &["conversations:read"]).await,
        ));
        let (s, _) = reader
            .call(
                "POST",
                &format!("/api/v1/conversations/{conv}/notes"),
                Some(json!({"text": "from a key"})),
            )
            .await;
        assert_eq!(s, 403);
        let (s, _) = agent
            .call(
                "PUT",
                &format!("/api/v1/conversations/{conv}/meta"),
                Some(json!({"tags": ["Refund", "vip", "vip"], "priority": "urgent"})),
            )
            .await;
        assert_eq!(s, 204);
        colleague
            .recv_where(|f| f["type"] == "notes.updated" && f["conversation_id"] == conv.as_str())
            .await;
        let leaked = visitor
            .try_recv_where(
                &|f: &serde_json::Value| f["type"] == "notes.updated",
                Duration::from_millis(300),
            )
            .await;
        assert!(
            leaked.is_none(),
            "{backend}: a visitor was told of a note: {leaked:?}"
        );
        let (s, e) = agent
            .call(
                "PUT",
                &format!("/api/v1/conversations/{conv}/meta"),
                Some(json!({"tags": ["no spaces please"], "priority": "urgent"})),
            )
            .await;
        assert_eq!(s, 400, "{e}");
        let (s, all) = reader
            .get(&format!("/api/v1/conversations/{conv}/notes"))
            .await;
        assert_eq!(s, 200);
        assert_eq!(all["tags"], json!(["refund", "vip"]));
        assert_eq!(all["priority"], "urgent");
        assert_eq!(all["notes"].as_array().unwrap().len(), 1);
        let (_, page) = reader
            .get("/api/v1/conversation-tags?tag=vip&priority=urgent")
            .await;
        let ids: Vec<&str> = page["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["conversation"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![conv.as_str()]);
        let (_, none) = reader.get("/api/v1/conversation-tags?tag=vi").await;
        assert!(
            none["conversations"].as_array().unwrap().is_empty(),
            "{none}"
        );
        // Sealed at rest: no note text in the stored row.
        let stored = srv
            .store()
            .conversation_notes(&fx.tenant.id, &conv)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&stored[0].sealed).contains("Customer"));
        srv.stop().await;
    }
}
