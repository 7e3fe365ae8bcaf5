//! Who the visitor is (issue 20): what a visitor's `hello` reports (page, browser, time zone) and what the tenant
//! signs (name, email) reach the agents' side panel, card numbers masked, the free text sealed at rest; a name or
//! email that is not signed is refused; the panel lists the visitor's other conversations; it is audited, needs
//! `conversations:read`, and another tenant's conversation is not found.

mod common;

use common::{Auth, TestServer};
use serde_json::json;

const CARD: &str = "4111 1111 1111 1111";

fn signed(secret: &str, user: &str, email: &str, name: &str, expires: i64) -> serde_json::Value {
    let first = format!("{user}\n{email}\n{name}");
    json!({"user_id": user, "expires": expires, "name": name, "email": email,
        "signature": cordon_crypto::identity_hmac(secret.as_bytes(), &first, expires)})
}

#[tokio::test]
async fn the_side_panel_shows_page_browser_time_zone_and_the_signed_person() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let other = srv.fixture("voltmart").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        let (_, secret) = admin
            .call("POST", "/api/v1/tenant/identity-secret", None)
            .await;
        let secret = secret["identity_secret"].as_str().unwrap().to_string();
        let (s, _) = admin
            .call(
                "PATCH",
                "/api/v1/tenant",
                Some(json!({"verify_identity": true})),
            )
            .await;
        assert_eq!(s, 200);
        let url = format!("ws://{}/ws/visitor", srv.addr);
        let future = cordon_store::now_ms() / 1000 + 3600;
        let context = json!({
            "page_url": format!("https://skyway.example/checkout/{}?card={}#pay", "step-2", CARD.replace(' ', "")),
            "page_title": format!("Pay with {CARD}"),
            "user_agent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
            "time_zone": "Europe/Lisbon",
        });
        let hello = |identity: serde_json::Value| json!({"type": "hello", "v": 1, "widget_key": fx.tenant.widget_key, "identity": identity, "context": context});

        // A name the tenant did not sign is refused like any forged proof.
        let mut ws = common::Ws::connect(&url, &[]).await;
        let mut forged = signed(&secret, "alice", "alice@example.com", "Alice", future);
        forged["name"] = json!("Mallory");
        ws.send(hello(forged)).await;
        assert_eq!(ws.recv_error().await["code"], "identity_invalid");

        // Two conversations of alice: the panel of the second lists the first.
        let proof = signed(
            &secret,
            "alice",
            "alice@example.com",
            &format!("Alice {CARD}"),
            future,
        );
        ws.send(hello(proof.clone())).await;
        ws.recv_type("welcome").await;
        let first = ws.open().await;
        ws.say(&first, "m1", "first chat").await;
        ws.send(json!({"type": "conversation.close", "conversation_id": first}))
            .await;
        ws.recv_where(|f| {
            f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
        })
        .await;
        let second = ws.open().await;
        assert_ne!(first, second);

        let reader = srv.http().with(Auth::Bearer(
            srv.api_key(&fx.tenant, &["conversations:read"]).await,
        ));
        let before = srv.store().audit_size(&fx.tenant.id).await.unwrap();
        let (s, p) = reader
            .get(&format!("/api/v1/conversations/{second}/visitor"))
            .await;
        assert_eq!(s, 200, "{backend}: {p}");
        assert_eq!(p["user_id"], "alice");
        assert_eq!(p["email"], "alice@example.com");
        assert_eq!(
            p["page_url"], "https://skyway.example/checkout/step-2",
            "{p}"
        );
        assert_eq!(p["browser"], "Chrome 131");
        assert_eq!(p["os"], "Android");
        assert_eq!(p["time_zone"], "Europe/Lisbon");
        let text = p.to_string();
        assert!(
            !text.contains("4111 1111") && !text.contains("4111111111111111"),
            "{backend}: a card number reaches the panel: {text}"
        );
        assert!(
            p["page_title"].as_str().unwrap().contains("1111")
                && p["name"].as_str().unwrap().starts_with("Alice"),
            "{p}"
        );
        let past: Vec<&str> = p["past_conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(past, vec![first.as_str()], "{p}");
        let after = srv.store().audit_size(&fx.tenant.id).await.unwrap();
        assert!(after > before, "{backend}: the panel read is audited");

        // Sealed at rest: the stored row holds no page, title, name or email in clear.
        let row = srv
            .store()
            .visitor_profile(&fx.tenant.id, p["visitor_id"].as_str().unwrap())
            .await
            .unwrap()
            .expect("a stored profile");
        let raw = String::from_utf8_lossy(&row.sealed);
        for clear in ["skyway.example", "alice@example.com", "Alice", "Pay with"] {
            assert!(!raw.contains(clear), "{backend}: {clear} stored in clear");
        }

        // Another tenant's reader gets not found; a key without conversations:read is refused.
        let outsider = srv.http().with(Auth::Bearer(
            srv.api_key(&other.tenant, &["conversations:read"]).await,
        ));
        let (s, body) = outsider
            .get(&format!("/api/v1/conversations/{second}/visitor"))
            .await;
        assert_eq!(s, 404, "{body}");
        assert!(!body.to_string().contains("alice"), "{body}");
        let admin_key = srv
            .http()
            .with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
        let (s, _) = admin_key
            .get(&format!("/api/v1/conversations/{second}/visitor"))
            .await;
        assert_eq!(s, 403);
        srv.stop().await;
    }
}
