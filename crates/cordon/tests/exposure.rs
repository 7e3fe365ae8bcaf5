//! The exposure record through the API, on every backend: each visitor session names the embedding origin the
//! browser reported and the hashes of the widget files served; sessions are found by tenant and time range, and by
//! asset hash (hex or SRI form) and time range, with paging; other tenants' sessions never show.

mod common;

use common::{Auth, TestServer, Ws};
use serde_json::{json, Value};

async fn visitor_with_origin(srv: &TestServer, widget_key: &str, origin: &str) -> Ws {
    let mut ws = Ws::connect(&format!("ws://{}/ws/visitor", srv.addr), &[]).await;
    ws.send(json!({"type": "hello", "v": 1, "widget_key": widget_key, "embed_origin": origin}))
        .await;
    ws.recv_type("welcome").await;
    ws
}

fn sessions(body: &Value) -> Vec<Value> {
    body["sessions"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn sessions_by_tenant_time_and_asset_hash() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        run(&srv).await;
        srv.stop().await;
    }
}

async fn run(srv: &TestServer) {
    let a = srv.fixture("expo-a").await;
    let b = srv.fixture("expo-b").await;
    let t0 = cordon_store::now_ms();
    let _v1 = visitor_with_origin(srv, &a.tenant.widget_key, "https://shop.example").await;
    let _v2 = visitor_with_origin(srv, &a.tenant.widget_key, "https://shop.example").await;
    let _v3 = visitor_with_origin(srv, &a.tenant.widget_key, "not an origin").await;
    let _vb = visitor_with_origin(srv, &b.tenant.widget_key, "https://b.example").await;

    let key = srv.api_key(&a.tenant, &["conversations:read"]).await;
    let http = srv.http().with(Auth::Bearer(key));
    let (status, all) = http.get("/api/v1/visitor-sessions").await;
    assert_eq!(status, 200, "{all}");
    let all = sessions(&all);
    assert_eq!(all.len(), 3, "A's three sessions, none of B's: {all:?}");
    let files = cordon_server::web::session_asset_hashes();
    assert_eq!(
        files.len(),
        4,
        "loader, frame page, frame script, frame style"
    );
    for s in &all {
        assert_eq!(
            s["asset_hashes"],
            json!(files),
            "every session names the files served"
        );
        assert!(s["started_at"].as_i64().unwrap() >= t0);
    }
    let origins: Vec<&Value> = all.iter().map(|s| &s["embed_origin"]).collect();
    assert_eq!(
        origins
            .iter()
            .filter(|o| **o == "https://shop.example")
            .count(),
        2
    );
    assert!(
        origins.contains(&&Value::Null),
        "a malformed origin is not recorded"
    );

    // By asset hash: hex, and the SRI form of the same digest; an unknown hash finds nothing.
    let (path, integrity) = cordon_server::web::loader();
    assert!(!path.is_empty());
    let hex = &files[0];
    for q in [hex.clone(), integrity.to_string()] {
        let (status, body) = http
            .get(&format!(
                "/api/v1/visitor-sessions?asset_hash={}",
                q.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(sessions(&body).len(), 3, "by {q}");
    }
    let other = "0".repeat(96);
    let (_, none) = http
        .get(&format!("/api/v1/visitor-sessions?asset_hash={other}"))
        .await;
    assert!(sessions(&none).is_empty());
    let (status, _) = http.get("/api/v1/visitor-sessions?asset_hash=%25%22").await;
    assert_eq!(status, 400, "a malformed hash is refused");

    // By time: a range before the sessions finds none; paging walks them all once.
    let (_, before) = http
        .get(&format!(
            "/api/v1/visitor-sessions?from={}&to={}",
            t0 - 10_000,
            t0 - 5_000
        ))
        .await;
    assert!(sessions(&before).is_empty());
    let (status, _) = http
        .get(&format!(
            "/api/v1/visitor-sessions?from={}&to={}",
            t0,
            t0 - 1
        ))
        .await;
    assert_eq!(status, 400, "from after to");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let q = match &cursor {
            Some(c) => format!("/api/v1/visitor-sessions?limit=2&cursor={c}"),
            None => "/api/v1/visitor-sessions?limit=2".to_string(),
        };
        let (_, page) = http.get(&q).await;
        for s in sessions(&page) {
            seen.push(s["id"].as_str().unwrap().to_string());
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "paging returns each session once");

    // The operator-wide query finds both tenants' sessions by hash.
    let everyone = srv
        .store()
        .sessions_exposed_to_asset(hex, t0 - 1, cordon_store::now_ms() + 1, 100)
        .await
        .unwrap();
    assert_eq!(everyone.len(), 4);

    // Scopes: admin may read it too; the snippet route is admin only.
    let admin = srv
        .http()
        .with(Auth::Bearer(srv.api_key(&a.tenant, &["admin"]).await));
    assert_eq!(admin.get("/api/v1/visitor-sessions").await.0, 200);
    let (status, widget) = admin.get("/api/v1/widget").await;
    assert_eq!(status, 200);
    assert_eq!(widget["widget_key"], json!(a.tenant.widget_key));
    assert_eq!(widget["integrity"], json!(integrity));
    assert!(widget["snippet"]
        .as_str()
        .unwrap()
        .contains(&format!("integrity=\"{integrity}\"")));
    let audit_only = srv
        .http()
        .with(Auth::Bearer(srv.api_key(&a.tenant, &["audit:read"]).await));
    assert_eq!(audit_only.get("/api/v1/visitor-sessions").await.0, 403);
    assert_eq!(http.get("/api/v1/widget").await.0, 403);
}
