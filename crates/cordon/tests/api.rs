//! The service end to end: a real server on an ephemeral port, real HTTP and WebSocket clients, every backend.

mod common;

use std::time::Duration;

use common::{Auth, TestServer};
use serde_json::json;

#[tokio::test]
async fn a_full_conversation() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let (agent, _) = srv.online_agent("skyway", "agent").await;
        let (agent2, _) = srv.online_agent("skyway", "agent2").await;

        // A visitor opens a chat; it is assigned to an online agent with free capacity.
        let (mut visitor, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
        let token = welcome["visitor_token"]
            .as_str()
            .expect("token")
            .to_string();
        let conv = visitor.open().await;
        let assigned = visitor
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "assigned"
            })
            .await;
        let owner = assigned["conversation"]["agent"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (mut owner_ws, mut other_ws) = if owner == fx.agent_id {
            (agent, agent2)
        } else {
            (agent2, agent)
        };
        let other_id = if owner == fx.agent_id {
            fx.agent2_id.clone()
        } else {
            fx.agent_id.clone()
        };

        // Messages flow both ways.
        let s1 = visitor
            .say(&conv, "v1", "Hi, my flight was cancelled")
            .await;
        let m = owner_ws
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "v1")
            .await;
        assert_eq!(m["text"], "Hi, my flight was cancelled");
        assert_eq!(m["seq"], s1);
        let s2 = owner_ws
            .say(&conv, "a1", "Sorry to hear that! Let me look.")
            .await;
        assert!(s2 > s1);
        let m = visitor
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "a1")
            .await;
        assert_eq!(m["sender"]["kind"], "agent");

        // Transfer to the second agent, who gets the history and can reply.
        owner_ws
            .send(json!({"type": "conversation.transfer", "conversation_id": conv, "agent_id": other_id}))
            .await;
        other_ws
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "v1")
            .await;
        let s3 = other_ws.say(&conv, "a2", "I'm taking over.").await;
        visitor
            .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "a2")
            .await;
        // The first agent may no longer write.
        owner_ws
            .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "x", "text": "hi"}))
            .await;
        assert_eq!(owner_ws.recv_error().await["code"], "forbidden");

        // Close it.
        other_ws
            .send(json!({"type": "conversation.close", "conversation_id": conv}))
            .await;
        visitor
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
            })
            .await;
        drop(visitor);

        // The visitor returns with its token and sees the history.
        let (mut back, welcome) = srv.visitor(&fx.tenant.widget_key, Some(&token)).await;
        assert!(
            welcome.get("visitor_token").is_none(),
            "a known visitor gets no new token"
        );
        assert_eq!(welcome["conversations"][0]["id"], conv.as_str());
        back.send(json!({"type": "sync", "conversation_id": conv, "after_seq": 0}))
            .await;
        let synced = back.recv_type("synced").await;
        let msgs = back
            .collect_messages(&conv, Duration::from_millis(50))
            .await;
        let ids: Vec<&str> = msgs
            .iter()
            .map(|m| m["client_msg_id"].as_str().unwrap())
            .collect();
        for want in ["v1", "a1", "a2"] {
            assert!(ids.contains(&want), "{want} in history {ids:?}");
        }
        assert!(synced["last_seq"].as_i64().unwrap() > s3);
        let seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as i64).collect::<Vec<_>>(),
            "gap-free, in order, once"
        );
        srv.stop().await;
    }
}

#[tokio::test]
async fn card_numbers_are_masked_everywhere_in_the_pipeline() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("voltmart").await;
    let (mut agent, _) = srv.online_agent("voltmart", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    visitor
        .say(&conv, "c1", "my card is 4111 1111 1111 1111 exp 12/29")
        .await;
    let notice = visitor
        .recv_where(|f| f["type"] == "notice" && f["code"] == "card_redacted")
        .await;
    assert!(notice["message"].as_str().unwrap().contains("card"));
    let m = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "c1")
        .await;
    let text = m["text"].as_str().unwrap();
    assert!(!text.contains("4111 1111 1111"), "{text}");
    assert!(text.contains("1111"), "last four stay: {text}");
    // A client id that is a card number is refused, not stored or echoed.
    visitor
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "4111111111111111", "text": "hi"}))
        .await;
    let err = visitor.recv_error().await;
    assert_eq!(err["code"], "invalid_id");
    assert!(!err.to_string().contains("4111111111111111"));
    srv.stop().await;
}

#[tokio::test]
async fn queued_until_an_agent_comes_online() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let notice = visitor
        .recv_where(|f| f["type"] == "notice" && f["code"] == "queued")
        .await;
    assert!(notice["message"].as_str().unwrap().contains("reply here"));
    // Nothing is lost while waiting.
    visitor.say(&conv, "q1", "anyone there?").await;
    let (mut agent, _) = srv.online_agent("skyway", "agent").await;
    let m = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "q1")
        .await;
    assert_eq!(m["text"], "anyone there?");
    visitor
        .recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "assigned"
        })
        .await;
    srv.stop().await;
}

#[tokio::test]
async fn retries_never_duplicate() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let a = visitor.say(&conv, "same", "hello").await;
    visitor
        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "same", "text": "hello"}))
        .await;
    let ack = visitor
        .recv_where(|f| f["type"] == "message.ack" && f["duplicate"] == true)
        .await;
    assert_eq!(ack["seq"], a);
    assert_eq!(
        srv.store()
            .message_count(&fx.tenant.id, &conv)
            .await
            .unwrap(),
        1
    );
    srv.stop().await;
}

#[tokio::test]
async fn api_errors_are_typed_json() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let http = srv.http();
    let (status, body) = http.get("/api/v1/me").await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "not_authenticated");
    let (status, body) = http.get("/api/v1/nope").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, body) = http
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"tenant": "4111111111111111"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
    assert!(!body.to_string().contains("4111"));
    let (status, body) = http
        .call(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"tenant": "x1", "username": "u", "password": "p"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "bad_credentials");
    let bad = http.with(Auth::Bearer("ck_nonsense".into()));
    assert_eq!(bad.get("/api/v1/me").await.0, 401);
    srv.stop().await;
}
