//! Card numbers typed in pieces across several messages (issue 7): only the last four digits ever reach the
//! agent, storage or history, nothing held is acknowledged, and unrelated numbers are never joined.

mod common;

use std::time::{Duration, Instant};

use common::{Auth, TestServer};
use serde_json::json;

/// One valid number per brand and length, built from the brand's prefix and the Luhn check digit.
fn pans() -> Vec<(String, Vec<usize>)> {
    let specs: &[(&str, usize, &[usize])] = &[
        ("4", 16, &[4, 4, 4, 4]),
        ("4", 13, &[4, 4, 4, 1]),
        ("4", 19, &[4, 4, 4, 4, 3]),
        ("51", 16, &[4, 4, 4, 4]),
        ("55", 16, &[4, 4, 4, 4]),
        ("2221", 16, &[4, 4, 4, 4]),
        ("2720", 16, &[4, 4, 4, 4]),
        ("34", 15, &[4, 6, 5]),
        ("37", 15, &[4, 6, 5]),
        ("6011", 16, &[4, 4, 4, 4]),
        ("65", 19, &[4, 4, 4, 4, 3]),
        ("3528", 16, &[4, 4, 4, 4]),
        ("36", 14, &[4, 6, 4]),
        ("62", 16, &[4, 4, 4, 4]),
        ("62", 19, &[4, 4, 4, 4, 3]),
        ("2200", 16, &[4, 4, 4, 4]),
        ("6759", 16, &[4, 4, 4, 4]),
    ];
    let mut out = Vec::new();
    for (i, (prefix, len, groups)) in specs.iter().enumerate() {
        let mut body: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        let mut seed = 7 + i as u64 * 31;
        while body.len() < len - 1 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            body.push(((seed >> 33) % 10) as u8);
        }
        let sum: u32 = body
            .iter()
            .rev()
            .enumerate()
            .map(|(k, &d)| {
                let d = u32::from(d);
                if k % 2 == 0 {
                    let x = d * 2;
                    if x > 9 {
                        x - 9
                    } else {
                        x
                    }
                } else {
                    d
                }
            })
            .sum();
        body.push(((10 - sum % 10) % 10) as u8);
        out.push((
            body.iter().map(|d| char::from(b'0' + d)).collect(),
            groups.to_vec(),
        ));
    }
    out
}

/// Every way to cut the printed groups into `pieces` consecutive messages.
fn splits(groups: usize, pieces: usize) -> Vec<Vec<usize>> {
    fn go(
        start: usize,
        groups: usize,
        left: usize,
        cur: &mut Vec<usize>,
        out: &mut Vec<Vec<usize>>,
    ) {
        if left == 1 {
            cur.push(groups - start);
            out.push(cur.clone());
            cur.pop();
            return;
        }
        for take in 1..=(groups - start - (left - 1)) {
            cur.push(take);
            go(start + take, groups, left - 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    if pieces <= groups {
        go(0, groups, pieces, &mut Vec::new(), &mut out);
    }
    out
}

const SEPARATORS: &[&str] = &[" ", "-", ".", "\u{a0}", "  ", " - "];

fn digits_of(text: &str) -> String {
    text.chars()
        .filter_map(|c| c.to_digit(10))
        .map(|d| char::from(b'0' + d as u8))
        .collect()
}

fn fast_limits(window_ms: u64) -> cordon_server::Limits {
    cordon_server::Limits {
        frames_per_sec: 100_000.0,
        frame_burst: 100_000.0,
        fragment_window: Duration::from_millis(window_ms),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_split_of_every_brand_reaches_the_agent_with_only_its_last_four() {
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), fast_limits(5000)).await;
    let fx = srv.fixture("shop").await;
    let (mut agent, _) = srv.online_agent("shop", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let mut n = 0;
    let mut cases = 0;
    for (pan, groups) in pans() {
        let grouped: Vec<&str> = {
            let mut v = Vec::new();
            let mut at = 0;
            for g in &groups {
                v.push(&pan[at..at + g]);
                at += g;
            }
            v
        };
        for pieces in 2..=4 {
            for split in splits(groups.len(), pieces) {
                let sep = SEPARATORS[cases % SEPARATORS.len()];
                cases += 1;
                let mut at = 0;
                let mut ids = Vec::new();
                for take in &split {
                    let text = grouped[at..at + take].join(sep);
                    at += take;
                    n += 1;
                    let id = format!("m{n}");
                    visitor
                        .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": id, "text": text}))
                        .await;
                    ids.push(id);
                }
                // A plain message ends the sequence, releasing whatever is held.
                n += 1;
                visitor.say(&conv, &format!("m{n}"), "thanks").await;
                let mut seen = String::new();
                for id in &ids {
                    let want = id.clone();
                    let m = agent
                        .recv_where(move |f| {
                            f["type"] == "message" && f["client_msg_id"] == want.as_str()
                        })
                        .await;
                    seen.push_str(&digits_of(m["text"].as_str().unwrap()));
                }
                assert_eq!(
                    seen,
                    pan[pan.len() - 4..],
                    "{pan} split {split:?} with {sep:?}: the agent saw digits {seen}"
                );
            }
        }
    }
    assert!(cases > 100, "covered {cases} splits");
    // History, read back through the API, holds no more than the last four of any number either.
    let reader = srv.http().with(Auth::Bearer(
        srv.api_key(&fx.tenant, &["conversations:read"]).await,
    ));
    let mut after = 0;
    let mut all = String::new();
    loop {
        let (_, page) = reader
            .get(&format!(
                "/api/v1/conversations/{conv}/messages?after_seq={after}&limit=500"
            ))
            .await;
        let msgs = page["messages"].as_array().unwrap().clone();
        for m in &msgs {
            all.push_str(m["text"].as_str().unwrap());
            all.push('\n');
            after = m["seq"].as_i64().unwrap();
        }
        if page["next_after_seq"].is_null() {
            break;
        }
    }
    for (pan, _) in pans() {
        assert!(
            !digits_of(&all).contains(&pan[..8]),
            "history holds the start of {pan}"
        );
    }
    // The raw database files hold none of the numbers (bodies are sealed, and were masked before sealing).
    let dir = srv.db.dir.as_ref().unwrap().path().to_path_buf();
    for e in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (pan, _) in pans() {
            assert!(!text.contains(&pan[..8]), "database file holds {pan}");
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn held_fragments_are_not_acknowledged_and_a_window_releases_them_as_typed() {
    let window = 2000;
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), fast_limits(window)).await;
    let fx = srv.fixture("shop").await;
    let (mut agent, _) = srv.online_agent("shop", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    // Messages with no candidate group are never delayed: each is acknowledged well inside the window.
    for (i, text) in ["hello there", "12345", "3", "42", "555 0100", "2024"]
        .iter()
        .enumerate()
    {
        let t = Instant::now();
        visitor.say(&conv, &format!("plain{i}"), text).await;
        assert!(
            t.elapsed() < Duration::from_millis(window * 3 / 4),
            "{text:?} was held"
        );
    }
    // A fragment is held: no ack, nothing for the agent, until the window ends.
    let sent = Instant::now();
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "f1", "text": "4111 1111"})).await;
    let early = visitor
        .try_recv_where(
            &|f: &serde_json::Value| f["type"] == "message.ack" && f["client_msg_id"] == "f1",
            Duration::from_millis(window / 2),
        )
        .await;
    assert!(early.is_none(), "a held fragment was acknowledged");
    assert_eq!(
        srv.store()
            .message_count(&fx.tenant.id, &conv)
            .await
            .unwrap(),
        7,
        "nothing stored while held (six replies and the join note)"
    );
    let ack = visitor
        .recv_where(|f| f["type"] == "message.ack" && f["client_msg_id"] == "f1")
        .await;
    assert!(
        sent.elapsed() >= Duration::from_millis(window),
        "released after {:?}",
        sent.elapsed()
    );
    let m = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "f1")
        .await;
    assert_eq!(
        m["text"], "4111 1111",
        "a fragment that completed nothing is stored as typed"
    );
    assert!(ack["seq"].as_i64().unwrap() > 0);
    // A later completion, after the window, is a new sequence: "1111 1111" alone is no card.
    visitor.say(&conv, "f2", "1111 1111").await;
    // A card split in two within the window is masked across both.
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "s1", "text": "5555 5555"})).await;
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "s2", "text": "5555 4444"})).await;
    let a1 = visitor
        .recv_where(|f| f["type"] == "message.ack" && f["client_msg_id"] == "s1")
        .await;
    let a2 = visitor
        .recv_where(|f| f["type"] == "message.ack" && f["client_msg_id"] == "s2")
        .await;
    assert!(a1["seq"].as_i64() < a2["seq"].as_i64(), "released in order");
    visitor
        .recv_where(|f| f["type"] == "notice" && f["code"] == "card_redacted")
        .await;
    let m1 = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "s1")
        .await;
    let m2 = agent
        .recv_where(|f| f["type"] == "message" && f["client_msg_id"] == "s2")
        .await;
    assert_eq!(
        digits_of(m1["text"].as_str().unwrap()) + &digits_of(m2["text"].as_str().unwrap()),
        "4444"
    );
    srv.stop().await;
}

#[tokio::test]
async fn a_reconnect_in_the_middle_of_a_split_lets_no_fragment_escape() {
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), fast_limits(5000)).await;
    let fx = srv.fixture("shop").await;
    let (mut agent, _) = srv.online_agent("shop", "agent").await;
    let (mut visitor, welcome) = srv.visitor(&fx.tenant.widget_key, None).await;
    let token = welcome["visitor_token"].as_str().unwrap().to_string();
    let conv = visitor.open().await;
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "p1", "text": "4012 8888"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(visitor);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = srv
        .store()
        .message_count(&fx.tenant.id, &conv)
        .await
        .unwrap();
    // Nothing held was acknowledged, so the client resends it with the rest.
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, Some(&token)).await;
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "p1", "text": "4012 8888"})).await;
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "p2", "text": "8888 1881"})).await;
    visitor.say(&conv, "p3", "done").await;
    visitor
        .recv_where(|f| f["type"] == "message.ack" && f["client_msg_id"] == "p2")
        .await;
    assert_eq!(
        srv.store()
            .message_count(&fx.tenant.id, &conv)
            .await
            .unwrap(),
        before + 3,
        "each stored once"
    );
    let mut seen = String::new();
    for id in ["p1", "p2"] {
        let m = agent
            .recv_where(move |f| f["type"] == "message" && f["client_msg_id"] == id)
            .await;
        seen.push_str(&digits_of(m["text"].as_str().unwrap()));
    }
    assert_eq!(seen, "1881");
    srv.stop().await;
}

#[tokio::test]
async fn unrelated_numbers_in_a_row_are_not_joined() {
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), fast_limits(300)).await;
    let fx = srv.fixture("shop").await;
    let (mut agent, _) = srv.online_agent("shop", "agent").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    let sequences: &[&[&str]] = &[
        &["4521 7789", "555 0100"],            // order number, then a phone number
        &["40 12 88 88", "+1 (555) 123-4567"], // a phone-ish number, then a phone number
        &["2024-11-28", "14:30"],              // a date, then a time
        &["1Z999AA10123456784"],               // a UPS tracking number
        &["4111 1111", "2345 6789"], // a Visa-like start, then a number that makes no valid card
        &["1700000000"],             // a Unix timestamp
        &["978 0 306 40615 7"],      // an ISBN
    ];
    let mut n = 0;
    for seq in sequences {
        let mut ids = Vec::new();
        for text in *seq {
            n += 1;
            let id = format!("n{n}");
            visitor
                .send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": id, "text": text}))
                .await;
            ids.push((id, *text));
        }
        n += 1;
        visitor.say(&conv, &format!("n{n}"), "ok").await;
        for (id, text) in ids {
            let want = id.clone();
            let m = agent
                .recv_where(move |f| f["type"] == "message" && f["client_msg_id"] == want.as_str())
                .await;
            assert_eq!(m["text"], text, "{seq:?}: no false hit");
        }
    }
    srv.stop().await;
}

#[tokio::test]
async fn a_card_that_cannot_grow_is_released_at_once() {
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), fast_limits(5000)).await;
    let fx = srv.fixture("shop").await;
    let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = visitor.open().await;
    // Mastercard numbers are 16 digits: once the second piece completes one, nothing is waited for.
    let t = Instant::now();
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "mc1", "text": "5555 5555"})).await;
    visitor.send(json!({"type": "message.send", "conversation_id": conv, "client_msg_id": "mc2", "text": "5555 4444"})).await;
    visitor
        .recv_where(|f| f["type"] == "message.ack" && f["client_msg_id"] == "mc2")
        .await;
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "a complete card waited {:?}",
        t.elapsed()
    );
    srv.stop().await;
}
