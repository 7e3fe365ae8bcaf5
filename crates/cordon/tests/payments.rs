//! The card vault end to end (issue 15), on every backend: an agent asks for a payment over its socket, the
//! visitor gets the vault form over its own, the card is posted to the vault listener from the vault's origin,
//! and both sides see only `Visa •••• 1111 saved`. Then a `payments` key forwards the token to a fake
//! processor on loopback (the card arrives, signed) or detokenizes where the tenant allows it; forged,
//! cross-tenant and unscoped uses are refused; and no database file holds the number in any plain encoding.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a panic is a failure report

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{processor, Auth, TestServer};
use serde_json::{json, Value};

const PAN: &str = "4111111111111111";

/// Every way a leaked number would most likely look: digits (plain and grouped), the hex and base64 of those
/// digits as text (at each of base64's three alignments).
fn encodings(pan: &str) -> Vec<Vec<u8>> {
    let mut out = vec![pan.as_bytes().to_vec(), b"4111 1111 1111 1111".to_vec()];
    out.push(hex::encode(pan).into_bytes());
    out.push(hex::encode_upper(pan).into_bytes());
    for shift in 0..3 {
        let padded = format!("{}{pan}", &"xx"[..shift]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(padded.as_bytes());
        // Skip the characters that the padding influenced.
        let skip = if shift == 0 { 0 } else { 4 };
        out.push(b64.as_bytes()[skip..b64.len() - 4].to_vec());
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Files under `dir` (the SQLite database, its WAL and shared memory, anything else) holding the number.
fn files_with_the_number(dir: &std::path::Path) -> Vec<String> {
    let mut hits = Vec::new();
    let needles = encodings(PAN);
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for n in &needles {
            if contains(&bytes, n) {
                hits.push(format!(
                    "{} ({})",
                    path.display(),
                    String::from_utf8_lossy(n)
                ));
            }
        }
    }
    hits
}

#[tokio::test]
async fn a_card_goes_only_to_the_vault_and_a_payments_key_forwards_it() {
    for db in cordon_store::testing::all_backends().await {
        let sqlite_dir = db.dir.as_ref().map(|d| d.path().to_path_buf());
        let srv = TestServer::start_configured(db, |c| c.payments.uses_per_minute = 6).await;
        let a = srv.fixture("pay-a").await;
        let b = srv.fixture("pay-b").await;
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("pay-a", "admin").await));

        // The agent asks, the visitor pays.
        let (mut agent, _) = srv.online_agent("pay-a", "agent").await;
        let (mut visitor, _) = srv.visitor(&a.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        agent
            .recv_where(|f| f["type"] == "conversation" || f["type"] == "conversation.updated")
            .await;
        let (request_id, token_id, form) = srv
            .pay(&mut agent, &mut visitor, &conv, "4111 1111 1111 1111")
            .await;
        assert!(form["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/v/form/{request_id}#vf_", srv.vault_base)));
        assert_eq!(form["request"]["amount"], "EUR 49.00");
        // Both sides see the request and then only the masked card, with the token id.
        let saved_text = format!("Visa •••• 1111 saved (token {token_id}, payment {request_id})");
        for ws in [&mut agent, &mut visitor] {
            ws.recv_where(|f| {
                f["type"] == "message"
                    && f["sender"]["kind"] == "system"
                    && f["text"].as_str().is_some_and(|t| {
                        t.starts_with(&format!("Payment requested ({request_id}): EUR 49.00"))
                    })
            })
            .await;
            ws.recv_where(|f| f["type"] == "message" && f["text"] == saved_text.as_str())
                .await;
        }
        // The agent's socket never carried the number, in any form.
        agent.drain(Duration::from_millis(200)).await;
        let agent_saw = serde_json::to_string(&agent.backlog).unwrap();
        for n in encodings(PAN) {
            assert!(
                !contains(agent_saw.as_bytes(), &n),
                "agent socket: {agent_saw}"
            );
        }
        // The transcript (as an auditor reads it) has the masked card only.
        let reader = srv.http().with(Auth::Bearer(
            srv.api_key(&a.tenant, &["conversations:read"]).await,
        ));
        let (s, msgs) = reader
            .get(&format!("/api/v1/conversations/{conv}/messages"))
            .await;
        assert_eq!(s, 200);
        assert!(msgs.to_string().contains("Visa •••• 1111 saved"));
        assert!(!msgs.to_string().contains(PAN));

        // The form works once: the same capability again is refused, and so is another card on it.
        let (s, again) = srv.post_card(&form, "5555555555554444", "123").await;
        assert_eq!(
            (s, again["error"]["code"].as_str()),
            (404, Some("not_found"))
        );

        // A payments key lists and reads tokens (never the number), forwards to the processor.
        let pay_key = srv.api_key(&a.tenant, &["payments"]).await;
        let payer = srv.http().with(Auth::Bearer(pay_key.clone()));
        let (s, list) = payer.get("/api/v1/payments/tokens").await;
        assert_eq!(s, 200, "{list}");
        assert_eq!(list[0]["id"], token_id.as_str());
        assert_eq!(list[0]["last4"], "1111");
        assert_eq!(list[0]["cvv_held"], true);
        assert!(!list.to_string().contains(PAN));
        // No processor yet.
        let (s, e) = payer
            .call(
                "POST",
                &format!("/api/v1/payments/tokens/{token_id}/forward"),
                Some(json!({})),
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (409, Some("payments_not_configured"))
        );
        let (s, set) = admin
            .call(
                "PUT",
                "/api/v1/payments/settings",
                Some(json!({"processor_url": processor::url(), "detokenize_enabled": false})),
            )
            .await;
        assert_eq!(s, 200, "{set}");
        let secret = set["processor_secret"]
            .as_str()
            .expect("secret shown once")
            .to_string();
        let (_, read) = admin.get("/api/v1/payments/settings").await;
        assert!(
            read.get("processor_secret").is_none(),
            "the secret is shown once: {read}"
        );
        let (s, fwd) = payer
            .call(
                "POST",
                &format!("/api/v1/payments/tokens/{token_id}/forward"),
                Some(json!({"reference": "order-77"})),
            )
            .await;
        assert_eq!(s, 200, "{fwd}");
        assert_eq!(fwd["status"], 200);
        assert_eq!(fwd["cvv_sent"], true);
        assert!(!fwd.to_string().contains(PAN));
        let got = processor::received_for(&token_id);
        assert_eq!(got.len(), 1);
        let body = got[0].json();
        assert_eq!(
            body["card"]["number"], PAN,
            "the processor receives the card"
        );
        assert_eq!(body["card"]["cvv"], "123");
        assert_eq!(body["card"]["exp_year"], 2030);
        assert_eq!(body["payment"]["amount_minor"], 4900);
        assert_eq!(body["reference"], "order-77");
        // Signed with the processor secret, Standard Webhooks style.
        let key = base64::engine::general_purpose::STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        let id = got[0].header("webhook-id").unwrap();
        let ts: i64 = got[0].header("webhook-timestamp").unwrap().parse().unwrap();
        assert_eq!(
            got[0].header("webhook-signature").unwrap(),
            cordon_crypto::webhook_signature(&key, id, ts, &got[0].body)
        );
        // The CVV went once: the second forward goes without it.
        let (s, fwd2) = payer
            .call(
                "POST",
                &format!("/api/v1/payments/tokens/{token_id}/forward"),
                Some(json!({})),
            )
            .await;
        assert_eq!((s, fwd2["cvv_sent"].as_bool()), (200, Some(false)));
        assert!(processor::received_for(&token_id)[1].json()["card"]
            .get("cvv")
            .is_none());

        // Detokenization: off by default; an API key cannot turn it on; a signed-in admin can.
        let (s, e) = payer
            .call(
                "POST",
                &format!("/api/v1/payments/tokens/{token_id}/detokenize"),
                None,
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("detokenize_disabled"))
        );
        let admin_key = srv
            .http()
            .with(Auth::Bearer(srv.api_key(&a.tenant, &["admin"]).await));
        let (s, e) = admin_key
            .call(
                "PUT",
                "/api/v1/payments/settings",
                Some(json!({"processor_url": processor::url(), "detokenize_enabled": true})),
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("session_required"))
        );
        let (s, _) = admin
            .call(
                "PUT",
                "/api/v1/payments/settings",
                Some(json!({"processor_url": processor::url(), "detokenize_enabled": true})),
            )
            .await;
        assert_eq!(s, 200);
        let (s, card) = payer
            .call(
                "POST",
                &format!("/api/v1/payments/tokens/{token_id}/detokenize"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{card}");
        assert_eq!(card["number"], PAN);
        assert_eq!(card["name"], "Ada Lovelace");

        // Refused: no payments scope (admin, transcripts), forged and malformed ids, another tenant's key,
        // and a payments key reads no transcripts.
        let reader_key = srv
            .api_key(&a.tenant, &["conversations:read", "admin"])
            .await;
        let wrong = srv.http().with(Auth::Bearer(reader_key));
        for path in ["forward", "detokenize"] {
            let (s, _) = wrong
                .call(
                    "POST",
                    &format!("/api/v1/payments/tokens/{token_id}/{path}"),
                    Some(json!({})),
                )
                .await;
            assert_eq!(s, 403, "{path} without the payments scope");
        }
        assert_eq!(wrong.get("/api/v1/payments/tokens").await.0, 403);
        let forged = cordon_vault::ids::new_token_id();
        for id in [
            forged.as_str(),
            "tok_x",
            "tok_4111111111111111aaaaaa",
            &token_id[..token_id.len() - 1],
        ] {
            let (s, e) = payer
                .call(
                    "POST",
                    &format!("/api/v1/payments/tokens/{id}/detokenize"),
                    None,
                )
                .await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{id}"
            );
        }
        let b_payer = srv
            .http()
            .with(Auth::Bearer(srv.api_key(&b.tenant, &["payments"]).await));
        for (m, p) in [
            ("GET", format!("/api/v1/payments/tokens/{token_id}")),
            (
                "POST",
                format!("/api/v1/payments/tokens/{token_id}/forward"),
            ),
            (
                "POST",
                format!("/api/v1/payments/tokens/{token_id}/detokenize"),
            ),
        ] {
            let (s, e) = b_payer.call(m, &p, Some(json!({}))).await;
            assert_eq!(s, 404, "another tenant's key: {m} {p}: {e}");
        }
        assert!(b_payer
            .get("/api/v1/payments/tokens")
            .await
            .1
            .as_array()
            .unwrap()
            .is_empty());
        assert_eq!(
            payer
                .get(&format!("/api/v1/conversations/{conv}/messages"))
                .await
                .0,
            403
        );
        assert_eq!(payer.get("/api/v1/conversations").await.0, 403);

        // Rate limit: 6 uses a minute (3 made above: two forwards, one detokenization; refused calls spend
        // none), then 429 with Retry-After.
        let mut codes = Vec::new();
        for _ in 0..4 {
            let res = reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/payments/tokens/{token_id}/detokenize",
                    srv.base
                ))
                .header("authorization", format!("Bearer {pay_key}"))
                .send()
                .await
                .unwrap();
            if res.status() == 429 {
                assert!(res.headers().contains_key("retry-after"));
            }
            codes.push(res.status().as_u16());
        }
        assert_eq!(codes, vec![200, 200, 200, 429], "{codes:?}");

        // Audit: every use is on the record, with ids only.
        let entries = srv
            .store()
            .audit_entries(
                &a.tenant.id,
                0,
                srv.store().audit_size(&a.tenant.id).await.unwrap(),
            )
            .await
            .unwrap();
        let text: String = entries
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        for action in [
            "payment.request",
            "payment.form_open",
            "card.tokenize",
            "card.forward",
            "card.detokenize",
            "payment_tokens.list",
            "payments.settings.update",
        ] {
            assert!(text.contains(action), "{action} audited");
        }
        assert!(!text.contains(PAN) && !text.contains("4111 1111"));

        // The database files, WAL included, hold the number in no plain form (it is only ever sealed).
        if let Some(dir) = &sqlite_dir {
            // Checkpoint nothing: the WAL is scanned as it is, and the database file too.
            let hits = files_with_the_number(dir);
            assert!(hits.is_empty(), "the card number is on disk: {hits:?}");
        }
        // The sealed row is there, and opens only with the vault key, tenant and token id.
        let t = srv
            .store()
            .vault_token(&a.tenant.id, &token_id)
            .await
            .unwrap()
            .unwrap();
        assert!(!contains(&t.sealed, PAN.as_bytes()));
        srv.stop().await;
    }
}

#[tokio::test]
async fn the_form_and_the_frames_refuse_what_they_should() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let a = srv.fixture("form-a").await;
        let b = srv.fixture("form-b").await;
        let (mut agent, _) = srv.online_agent("form-a", "agent").await;
        let (mut visitor, _) = srv.visitor(&a.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        agent
            .recv_where(|f| f["type"] == "conversation" || f["type"] == "conversation.updated")
            .await;
        // Bad requests from the agent: typed errors, the input never echoed.
        for (amount, currency, description, code) in [
            (0, "EUR", "x", "bad_request"),
            (100, "eur", "x", "bad_request"),
            (100, "EUR", "card 4111 1111 1111 1111", "bad_request"),
        ] {
            agent
                .send(json!({"type": "payment.request", "conversation_id": conv, "amount_minor": amount,
                    "currency": currency, "description": description}))
                .await;
            let e = agent.recv_error().await;
            assert_eq!(e["code"], code);
            assert!(!e.to_string().contains("4111"));
        }
        // A visitor cannot ask for payments; an agent cannot open the form.
        visitor
            .send(
                json!({"type": "payment.request", "conversation_id": conv, "amount_minor": 100,
                "currency": "EUR", "description": "x"}),
            )
            .await;
        assert_eq!(visitor.recv_error().await["code"], "forbidden");
        agent
            .send(
                json!({"type": "payment.request", "conversation_id": conv, "amount_minor": 100,
                "currency": "EUR", "description": "Seat upgrade"}),
            )
            .await;
        let request_id = agent.recv_type("payment.requested").await["request"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        agent
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        assert_eq!(agent.recv_error().await["code"], "forbidden");
        // Another visitor (of this tenant or another) gets no form for it.
        let (mut other, _) = srv.visitor(&a.tenant.widget_key, None).await;
        other
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        assert_eq!(other.recv_error().await["code"], "not_found");
        let (mut b_visitor, _) = srv.visitor(&b.tenant.widget_key, None).await;
        b_visitor
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        assert_eq!(b_visitor.recv_error().await["code"], "not_found");
        // The visitor's form: bad cards are refused with card_invalid and no echo; a new form replaces the old.
        visitor
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        let first = visitor.recv_type("payment.form").await;
        visitor
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        let form = visitor.recv_type("payment.form").await;
        assert_ne!(first["url"], form["url"]);
        let (s, _) = srv.post_card(&first, PAN, "123").await;
        assert_eq!(s, 404, "the replaced form no longer saves");
        for (number, cvv) in [
            ("4111111111111112", "123"),
            ("4111111111111111", "12"),
            ("abc", "123"),
        ] {
            let (s, e) = srv.post_card(&form, number, cvv).await;
            assert_eq!(
                (s, e["error"]["code"].as_str()),
                (400, Some("card_invalid")),
                "{number}"
            );
            assert!(!e.to_string().contains("411111111111111"));
        }
        // Only from the vault's own origin, as JSON, on the vault's host.
        let url = form["url"].as_str().unwrap();
        let (_, token) = url.split_once('#').unwrap();
        let body = json!({"request_id": request_id, "form_token": token,
            "card": {"number": PAN, "exp_month": 12, "exp_year": 2030, "name": "Ada", "cvv": "123"}});
        let client = reqwest::Client::new();
        let res = client
            .post(format!("{}/v/cards", srv.vault_base))
            .header("origin", &srv.base)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "another origin may not post cards");
        let res = client
            .post(format!("{}/v/cards", srv.vault_base))
            .header("origin", &srv.vault_base)
            .header("host", "evil.example")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "a rebinding host name gets nothing");
        let res = client
            .post(format!("{}/v/cards", srv.vault_base))
            .header("origin", &srv.vault_base)
            .header("content-type", "application/json")
            .body(format!("{{\"request_id\": \"{PAN}\""))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        assert!(!res.text().await.unwrap().contains("4111"));
        // The vault serves nothing else; the main listener serves no vault.
        assert_eq!(
            client
                .get(format!("{}/api/v1/me", srv.vault_base))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            client
                .get(format!("{}/console", srv.vault_base))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        assert_eq!(
            client
                .get(format!("{}/v/form/{request_id}", srv.base))
                .send()
                .await
                .unwrap()
                .status(),
            404
        );
        // The form page: strict CSP, framed by the widget origin and the tenant's sites only.
        let page = client
            .get(url.split('#').next().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert!(
            csp.contains("frame-ancestors http://127.0.0.1:")
                && csp.contains("https://shop.example"),
            "{csp}"
        );
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(html.contains("EUR 1.00") && html.contains("Seat upgrade"));
        // Saved once; the conversation, closed, takes no more requests.
        let (s, _) = srv.post_card(&form, PAN, "123").await;
        assert_eq!(s, 201);
        visitor
            .send(json!({"type": "payment.open", "request_id": request_id}))
            .await;
        assert_eq!(visitor.recv_error().await["code"], "payment_not_open");
        agent
            .send(json!({"type": "conversation.close", "conversation_id": conv}))
            .await;
        agent
            .recv_where(|f| {
                f["type"] == "conversation.updated" && f["conversation"]["state"] == "closed"
            })
            .await;
        agent
            .send(
                json!({"type": "payment.request", "conversation_id": conv, "amount_minor": 100,
                "currency": "EUR", "description": "x"}),
            )
            .await;
        let e = agent.recv_error().await;
        assert!(
            matches!(
                e["code"].as_str(),
                Some("conversation_closed" | "forbidden")
            ),
            "{e}"
        );
        // Deleting the visitor takes its tokens.
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("form-a", "admin").await));
        let visitor_id = srv
            .store()
            .vault_tokens(&a.tenant.id, None, 10)
            .await
            .unwrap()[0]
            .visitor_id
            .clone();
        let (s, _) = admin
            .call(
                "POST",
                "/api/v1/visitor-requests/delete",
                Some(json!({"visitor_id": visitor_id})),
            )
            .await;
        assert_eq!(s, 200);
        assert!(srv
            .store()
            .vault_tokens(&a.tenant.id, None, 10)
            .await
            .unwrap()
            .is_empty());
        srv.stop().await;
    }
}

#[tokio::test]
async fn processor_urls_are_held_to_the_webhook_rules() {
    let srv = TestServer::start_configured(cordon_store::testing::sqlite(), |c| {
        c.payments.allow_private_processors = false
    })
    .await;
    srv.fixture("ssrf").await;
    let admin = srv
        .http()
        .with(Auth::Cookie(srv.login("ssrf", "admin").await));
    for url in [
        "http://127.0.0.1:9/charge",
        "https://127.0.0.1/charge",
        "https://169.254.169.254/latest",
        "https://10.0.0.1/",
        "https://[::1]/",
        "https://user:pw@pay.example/",
        "ftp://pay.example/",
    ] {
        let (s, e) = admin
            .call(
                "PUT",
                "/api/v1/payments/settings",
                Some(json!({"processor_url": url})),
            )
            .await;
        assert!(matches!(s, 400 | 403), "{url}: {s} {e}");
    }
    let v: Value = admin.get("/api/v1/payments/settings").await.1;
    assert!(v["processor_url"].is_null());
    assert_eq!(v["vault_enabled"], true);
    srv.stop().await;
}
