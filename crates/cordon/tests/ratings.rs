//! End of chat (issue 20, item 9), on every backend: the visitor rates an ended chat over the socket (once;
//! refused out of range, twice, before the end, on another visitor's or tenant's conversation), the comment is
//! card-masked and sealed at rest, the tenant's staff read it on the conversation and no other tenant can; and the
//! reports' figures (chats per day, first-response and handle time, ratings) from a known set of chats whose
//! timestamps the test sets, with the UTC offset, the range checks and who may read them.

mod common;

use common::{Auth, TestServer, Ws};
use serde_json::{json, Value};

const CARD: &str = "4111 1111 1111 1111";
const DAY: i64 = 86_400_000;
/// 2025-03-10T00:00:00Z, the first day of the known chats.
const D0: i64 = 20_157 * DAY;

async fn closed_chat(
    srv: &TestServer,
    widget_key: &str,
    agent: &mut Ws,
    reply: bool,
) -> (Ws, String) {
    let (mut visitor, _) = srv.visitor(widget_key, None).await;
    let conv = visitor.open().await;
    visitor.say(&conv, "v1", "Hello, where is my order?").await;
    let id = conv.clone();
    agent
        .recv_where(move |f| f["type"] == "message" && f["conversation_id"] == id.as_str())
        .await;
    if reply {
        agent
            .say(&conv, &format!("a-{conv}"), "It ships today.")
            .await;
    }
    agent.close_chat(&mut visitor, &conv).await;
    (visitor, conv)
}

async fn rate(ws: &mut Ws, conv: &str, score: Value, comment: Option<&str>) -> Value {
    let mut frame = json!({"type": "rating.submit", "conversation_id": conv, "score": score});
    if let Some(c) = comment {
        frame["comment"] = json!(c);
    }
    ws.send(frame).await;
    ws.recv_where(|f| f["type"] == "rating.saved" || f["type"] == "error")
        .await
}

#[tokio::test]
async fn a_visitor_rates_an_ended_chat_once_and_the_staff_see_it() {
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let other = srv.fixture("voltmart").await;
        let (mut agent, _) = srv.online_agent("skyway", "agent").await;

        // Before the end: refused, and nothing kept.
        let (mut visitor, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor.say(&conv, "v1", "Hi").await;
        let e = rate(&mut visitor, &conv, json!(5), None).await;
        assert_eq!(e["code"], "conversation_open", "{backend}: {e}");
        agent.close_chat(&mut visitor, &conv).await;

        // Out of range, or not a whole number: typed refusals.
        for bad in [json!(0), json!(6), json!(-3)] {
            let e = rate(&mut visitor, &conv, bad.clone(), None).await;
            assert_eq!(e["code"], "bad_request", "{backend} {bad}: {e}");
        }
        for bad in [json!(4.5), json!("5")] {
            let e = rate(&mut visitor, &conv, bad.clone(), None).await;
            assert_eq!(e["code"], "bad_frame", "{backend} {bad}: {e}");
        }
        let long = "x".repeat(1001);
        let e = rate(&mut visitor, &conv, json!(4), Some(&long)).await;
        assert_eq!(e["code"], "bad_request");

        // Another visitor of the tenant, a visitor of another tenant, an agent: none of them rates it.
        let (mut stranger, _) = srv.visitor(&fx.tenant.widget_key, None).await;
        let e = rate(&mut stranger, &conv, json!(1), None).await;
        assert_eq!(e["code"], "not_found", "{backend}: {e}");
        let (mut elsewhere, _) = srv.visitor(&other.tenant.widget_key, None).await;
        let e = rate(&mut elsewhere, &conv, json!(1), None).await;
        assert_eq!(e["code"], "not_found", "{backend}: {e}");
        let e = rate(&mut agent, &conv, json!(1), None).await;
        assert_eq!(e["code"], "forbidden", "{backend}: {e}");

        // The visitor's own rating, with a card number in the comment: kept masked.
        let saved = rate(
            &mut visitor,
            &conv,
            json!(4),
            Some(&format!("Quick, but I typed {CARD} by mistake")),
        )
        .await;
        assert_eq!(saved["type"], "rating.saved", "{backend}: {saved}");
        assert_eq!(saved["rating"]["score"], 4);
        let comment = saved["rating"]["comment"].as_str().unwrap();
        assert!(
            !comment.contains(CARD) && comment.contains("•••• 1111"),
            "{comment}"
        );
        // Once only.
        let e = rate(&mut visitor, &conv, json!(5), None).await;
        assert_eq!(e["code"], "conflict", "{backend}: {e}");

        // Sealed at rest: neither the comment's words nor the number in the stored row.
        let stored = srv
            .store()
            .conversation_rating(&fx.tenant.id, &conv)
            .await
            .unwrap()
            .expect("a rating");
        assert_eq!(stored.score, 4);
        let raw = String::from_utf8_lossy(stored.sealed_comment.as_deref().unwrap()).to_string();
        assert!(!raw.contains("Quick") && !raw.contains("4111"), "sealed");

        // The tenant's staff see it on the conversation; a key without conversations:read, and another
        // tenant, do not.
        let reader = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "agent2").await));
        let (s, r) = reader
            .get(&format!("/api/v1/conversations/{conv}/rating"))
            .await;
        assert_eq!(s, 200, "{backend}: {r}");
        assert_eq!(r["rating"]["score"], 4);
        assert_eq!(r["rating"]["comment"], comment);
        let admin_key = srv
            .http()
            .with(Auth::Bearer(srv.api_key(&fx.tenant, &["admin"]).await));
        let (s, _) = admin_key
            .get(&format!("/api/v1/conversations/{conv}/rating"))
            .await;
        assert_eq!(s, 403);
        let other_admin = srv
            .http()
            .with(Auth::Cookie(srv.login("voltmart", "admin").await));
        let (s, body) = other_admin
            .get(&format!("/api/v1/conversations/{conv}/rating"))
            .await;
        assert_eq!(s, 404, "{backend}: {body}");
        assert!(!body.to_string().contains("Quick"));
        // A conversation not rated yet answers null.
        let (_, unrated) = closed_chat(&srv, &fx.tenant.widget_key, &mut agent, true).await;
        let (s, r) = reader
            .get(&format!("/api/v1/conversations/{unrated}/rating"))
            .await;
        assert_eq!((s, &r["rating"]), (200, &Value::Null), "{r}");
        srv.stop().await;
    }
}

/// Set a chat's timestamps: opened at `open`, the visitor's messages at `visitor`, the agent's at `agent`,
/// closed at `closed` (None: still open).
async fn set_times(
    conn: &mut sqlx::AnyConnection,
    conv: &str,
    open: i64,
    visitor: i64,
    agent: Option<i64>,
    closed: Option<i64>,
) {
    let run = |sql: &'static str| sqlx::query(sql);
    run("UPDATE conversations SET created_at = $1, updated_at = $1, closed_at = $2 WHERE id = $3")
        .bind(open)
        .bind(closed)
        .bind(conv)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    run("UPDATE messages SET created_at = $1 WHERE conversation_id = $2 AND sender_kind = 'visitor'")
        .bind(visitor)
        .bind(conv)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(a) = agent {
        run("UPDATE messages SET created_at = $1 WHERE conversation_id = $2 AND sender_kind = 'agent'")
            .bind(a)
            .bind(conv)
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn reports_count_days_times_and_ratings_of_known_chats() {
    use sqlx::Connection as _;
    for db in cordon_store::testing::all_backends().await {
        let backend = format!("{:?}", db.backend);
        let srv = TestServer::start(db).await;
        let fx = srv.fixture("skyway").await;
        let other = srv.fixture("voltmart").await;
        let (mut agent, _) = srv.online_agent("skyway", "agent").await;
        let key = &fx.tenant.widget_key;

        // Five chats over three days (timestamps set below):
        //   c1 D0 09:00, first response 30 s, handled 600 s, rated 5
        //   c2 D0 15:00, first response 90 s, handled 1200 s, rated 3
        //   c3 D1 10:00, first response 20 s, handled 300 s, rated 4
        //   c4 D2 11:00, no agent reply, handled 120 s, not rated
        //   c5 D2 23:30, first response 60 s, still open
        let mut convs = Vec::new();
        for (reply, score) in [
            (true, Some(5)),
            (true, Some(3)),
            (true, Some(4)),
            (false, None),
        ] {
            let (mut v, c) = closed_chat(&srv, key, &mut agent, reply).await;
            if let Some(s) = score {
                let saved = rate(&mut v, &c, json!(s), Some("fine")).await;
                assert_eq!(saved["type"], "rating.saved", "{saved}");
            }
            convs.push(c);
        }
        let (mut v5, _) = srv.visitor(key, None).await;
        let c5 = v5.open().await;
        v5.say(&c5, "v1", "Still there?").await;
        agent.say(&c5, "a-c5", "Yes").await;
        // Another tenant's chat on the same day must not count.
        let (mut ov, _) = srv.visitor(&other.tenant.widget_key, None).await;
        let oc = ov.open().await;
        ov.say(&oc, "o1", "other tenant").await;

        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&srv.db.url).await.unwrap();
        let h = 3_600_000;
        let s = 1_000;
        set_times(
            &mut conn,
            &convs[0],
            D0 + 9 * h,
            D0 + 9 * h + 10 * s,
            Some(D0 + 9 * h + 40 * s),
            Some(D0 + 9 * h + 600 * s),
        )
        .await;
        set_times(
            &mut conn,
            &convs[1],
            D0 + 15 * h,
            D0 + 15 * h,
            Some(D0 + 15 * h + 90 * s),
            Some(D0 + 15 * h + 1200 * s),
        )
        .await;
        set_times(
            &mut conn,
            &convs[2],
            D0 + DAY + 10 * h,
            D0 + DAY + 10 * h,
            Some(D0 + DAY + 10 * h + 20 * s),
            Some(D0 + DAY + 10 * h + 300 * s),
        )
        .await;
        set_times(
            &mut conn,
            &convs[3],
            D0 + 2 * DAY + 11 * h,
            D0 + 2 * DAY + 11 * h,
            None,
            Some(D0 + 2 * DAY + 11 * h + 120 * s),
        )
        .await;
        let late = D0 + 2 * DAY + 23 * h + 1_800 * s;
        set_times(&mut conn, &c5, late, late, Some(late + 60 * s), None).await;
        set_times(&mut conn, &oc, D0 + 10 * h, D0 + 10 * h, None, None).await;
        conn.close().await.unwrap();

        let auditor = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "auditor").await));
        let (st, r) = auditor
            .get("/api/v1/reports?from=2025-03-10&to=2025-03-12")
            .await;
        assert_eq!(st, 200, "{backend}: {r}");
        assert_eq!(
            (r["from"].as_str(), r["to"].as_str()),
            (Some("2025-03-10"), Some("2025-03-12"))
        );
        assert_eq!(r["chats"], 5, "{backend}: {r}");
        assert_eq!(r["closed"], 4);
        assert_eq!(
            r["first_response"],
            json!({"count": 4, "median_ms": 30_000, "p90_ms": 90_000, "mean_ms": 50_000}),
            "{backend}"
        );
        assert_eq!(
            r["handle_time"],
            json!({"count": 4, "median_ms": 300_000, "p90_ms": 1_200_000, "mean_ms": 555_000}),
            "{backend}"
        );
        assert_eq!(r["rating"]["count"], 3);
        assert_eq!(r["rating"]["average"], 4.0);
        assert_eq!(r["rating"]["distribution"], json!([0, 0, 1, 1, 1]));
        let per_day: Vec<(String, i64)> = r["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().unwrap().to_string(),
                    d["chats"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            per_day,
            vec![
                ("2025-03-10".into(), 2),
                ("2025-03-11".into(), 1),
                ("2025-03-12".into(), 2)
            ]
        );
        assert_eq!(r["days"][0]["rating_average"], 4.0);
        assert_eq!(r["days"][0]["first_response_median_ms"], 30_000);
        assert_eq!(r["truncated"], false);

        // At UTC+01:00 the chat opened at 23:30 UTC belongs to the next day, outside the range.
        let (_, shifted) = auditor
            .get("/api/v1/reports?from=2025-03-10&to=2025-03-12&utc_offset_minutes=60")
            .await;
        assert_eq!(shifted["chats"], 4, "{shifted}");
        assert_eq!(shifted["days"][2]["chats"], 1);
        let (_, empty) = auditor
            .get("/api/v1/reports?from=2025-04-01&to=2025-04-03")
            .await;
        assert_eq!(empty["chats"], 0);
        assert_eq!(empty["first_response"]["median_ms"], Value::Null);
        assert_eq!(empty["days"].as_array().unwrap().len(), 3);

        // Bad ranges are typed refusals.
        for q in [
            "from=2025-03-12&to=2025-03-10",
            "from=2025-01-01&to=2025-04-30",
            "from=10/03/2025",
            "utc_offset_minutes=900",
            "utc_offset_minutes=ten",
        ] {
            let (st, e) = auditor.get(&format!("/api/v1/reports?{q}")).await;
            assert_eq!(st, 400, "{backend} {q}: {e}");
            assert_eq!(e["error"]["code"], "bad_request", "{q}");
        }

        // Admins and auditors, and keys with admin or audit:read, read them; agents and transcript readers do not.
        let admin = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "admin").await));
        assert_eq!(admin.get("/api/v1/reports").await.0, 200);
        let agent_http = srv
            .http()
            .with(Auth::Cookie(srv.login("skyway", "agent2").await));
        assert_eq!(agent_http.get("/api/v1/reports").await.0, 403);
        for (scopes, want) in [
            (&["audit:read"][..], 200),
            (&["admin"][..], 200),
            (&["conversations:read"][..], 403),
        ] {
            let k = srv
                .http()
                .with(Auth::Bearer(srv.api_key(&fx.tenant, scopes).await));
            assert_eq!(k.get("/api/v1/reports").await.0, want, "{scopes:?}");
        }
        // The other tenant's report holds only its own chat.
        let other_auditor = srv
            .http()
            .with(Auth::Cookie(srv.login("voltmart", "auditor").await));
        let (_, o) = other_auditor
            .get("/api/v1/reports?from=2025-03-10&to=2025-03-12")
            .await;
        assert_eq!(o["chats"], 1, "{o}");
        assert_eq!(o["rating"]["count"], 0);
        srv.stop().await;
    }
}
