//! Impact reads (issue 11) on every configured backend: the 2017 shape, tenant isolation with a positive
//! control, the trigger that indexes sessions written by the server's own INSERT, card mentions and audit
//! entries by actor.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use cordon_store::testing::{all_backends, TestDatabase};
use cordon_store::*;
use sqlx::{Connection as _, Executor as _};

const GOOD: &str = "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111";
const BAD: &str = "bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0";
const FRAME: &str = "222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222222";
const DAY: i64 = 86_400_000;
/// 2017-09-26T00:00:00Z and 2017-10-12T00:00:00Z: the reported skimming window.
const FROM: i64 = 1_506_384_000_000;
const TO: i64 = FROM + 16 * DAY;

async fn open(db: &TestDatabase) -> Store {
    let mut cfg = StoreConfig::new(&db.url);
    cfg.max_connections = 4;
    Store::open(&cfg).await.expect("open store")
}

async fn raw(db: &TestDatabase) -> sqlx::AnyConnection {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    if db.backend == Backend::Sqlite {
        conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000")
            .await
            .unwrap();
    }
    conn
}

async fn tenant(store: &Store, slug: &str) -> Tenant {
    store
        .create_tenant(
            NewTenant {
                id: format!("t_{slug}"),
                slug: slug.into(),
                display_name: slug.into(),
                widget_key: format!("wk_{slug}"),
                allowed_origins: vec![format!("https://{slug}.example")],
                identity_secret_wrapped: vec![1, 2, 3],
                data_key_wrapped: vec![4, 5, 6],
            },
            &[],
        )
        .await
        .expect("create tenant")
}

/// A visitor, one conversation and one session record written with an explicit start time (as the server's
/// INSERT writes it, without an asset set id: the trigger fills it in).
async fn seed_visit(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    name: &str,
    started_at: i64,
    hashes: &[&str],
) {
    sqlx::query("INSERT INTO visitors (id, tenant_id, token_hash, user_id, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(format!("v_{name}"))
        .bind(tenant_id)
        .bind(format!("tok_{name}").into_bytes())
        .bind(format!("customer-{name}"))
        .bind(started_at)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO conversations (id, tenant_id, visitor_id, state, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, $4)",
    )
    .bind(format!("c_{name}"))
    .bind(tenant_id)
    .bind(format!("v_{name}"))
    .bind(started_at + 60_000)
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO visitor_sessions (id, tenant_id, visitor_id, node, started_at, ended_at, embed_origin, asset_hashes) \
         VALUES ($1, $2, $3, 'node-a', $4, $5, $6, $7)",
    )
    .bind(format!("vs_{name}"))
    .bind(tenant_id)
    .bind(format!("v_{name}"))
    .bind(started_at)
    .bind(started_at + 1_800_000)
    .bind(format!("https://{tenant_id}.example"))
    .bind(serde_json::to_string(hashes).unwrap())
    .execute(&mut *conn)
    .await
    .unwrap();
}

fn ids(hits: &[ExposureHit]) -> Vec<String> {
    hits.iter().map(|h| h.session_id.clone()).collect()
}

/// Five tenants; a tampered loader served inside the window to three of them; visitors of every tenant
/// before, inside and after the window.
async fn seed_2017(store: &Store, db: &TestDatabase) -> Vec<Tenant> {
    let mut tenants = Vec::new();
    for slug in ["alpha", "bravo", "charlie", "delta", "echo"] {
        tenants.push(tenant(store, slug).await);
    }
    let mut conn = raw(db).await;
    for (i, t) in tenants.iter().enumerate() {
        let served = if i < 3 { BAD } else { GOOD };
        seed_visit(
            &mut conn,
            &t.id,
            &format!("{}_before", t.slug),
            FROM - 2 * DAY,
            &[GOOD, FRAME],
        )
        .await;
        // Began an hour before the window and still running in it.
        seed_visit(
            &mut conn,
            &t.id,
            &format!("{}_edge", t.slug),
            FROM - 1_000_000,
            &[served, FRAME],
        )
        .await;
        seed_visit(
            &mut conn,
            &t.id,
            &format!("{}_inside", t.slug),
            FROM + DAY,
            &[served, FRAME],
        )
        .await;
        seed_visit(
            &mut conn,
            &t.id,
            &format!("{}_inside2", t.slug),
            TO - 3_600_000,
            &[served, FRAME],
        )
        .await;
        seed_visit(
            &mut conn,
            &t.id,
            &format!("{}_after", t.slug),
            TO + DAY,
            &[GOOD, FRAME],
        )
        .await;
    }
    conn.close().await.unwrap();
    tenants
}

#[tokio::test]
async fn the_2017_shape_returns_exactly_the_sessions_inside_the_window_per_tenant() {
    for db in all_backends().await {
        let store = open(&db).await;
        seed_2017(&store, &db).await;
        let all = ImpactWindow {
            tenant_id: None,
            from: FROM,
            to: TO,
        };
        let hits = store.sessions_by_asset(BAD, all).await.unwrap();
        let mut expected = Vec::new();
        for slug in ["alpha", "bravo", "charlie"] {
            for name in ["edge", "inside", "inside2"] {
                expected.push(format!("vs_{slug}_{name}"));
            }
        }
        assert_eq!(ids(&hits), expected, "{:?}", db.backend);
        assert!(hits
            .iter()
            .all(|h| h.embed_origin.as_deref()
                == Some(&format!("https://{}.example", h.tenant_id)[..])));
        let counts = store.count_sessions_by_asset(BAD, all).await.unwrap();
        assert_eq!(
            counts,
            vec![
                ("t_alpha".to_string(), 3),
                ("t_bravo".to_string(), 3),
                ("t_charlie".to_string(), 3)
            ]
        );
        // The SRI form is the caller's to convert; anything but 96 lowercase hex matches nothing.
        assert!(store
            .sessions_by_asset(&BAD.to_uppercase(), all)
            .await
            .unwrap()
            .is_empty());
        // The good loader, in the window, was served to everyone (the edge sessions of the untouched tenants
        // ran it too).
        let good = store.sessions_by_asset(GOOD, all).await.unwrap();
        assert_eq!(good.len(), 6);
        // Per tenant, then visitors, conversations.
        let scoped = store
            .sessions_by_asset(
                BAD,
                ImpactWindow {
                    tenant_id: Some("t_bravo"),
                    from: FROM,
                    to: TO,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            ids(&scoped),
            ["vs_bravo_edge", "vs_bravo_inside", "vs_bravo_inside2"]
        );
        let visitor_ids: Vec<String> = scoped.iter().map(|h| h.visitor_id.clone()).collect();
        let visitors = store.visitors_by_id("t_bravo", &visitor_ids).await.unwrap();
        assert_eq!(visitors.len(), 3);
        assert!(visitors.iter().all(|v| v
            .user_id
            .as_deref()
            .is_some_and(|u| u.starts_with("customer-bravo_"))));
        let convs = store
            .conversations_of_visitors("t_bravo", &visitor_ids)
            .await
            .unwrap();
        let conv_ids: Vec<&str> = convs.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            conv_ids,
            ["c_bravo_edge", "c_bravo_inside", "c_bravo_inside2"]
        );
        // The node component and the platform component see the same window.
        assert_eq!(
            store.sessions_by_node("node-a", all).await.unwrap().len(),
            15
        );
        assert_eq!(
            store.sessions_by_node("node-b", all).await.unwrap().len(),
            0
        );
        assert_eq!(store.sessions_in_window(all).await.unwrap().len(), 15);
        store.close().await;
    }
}

#[tokio::test]
async fn a_tenant_scoped_query_never_returns_another_tenants_rows() {
    for db in all_backends().await {
        let store = open(&db).await;
        seed_2017(&store, &db).await;
        let w = |t| ImpactWindow {
            tenant_id: Some(t),
            from: FROM - 10 * DAY,
            to: TO + 10 * DAY,
        };
        // Positive control: the probe can see alpha's data through alpha's scope.
        let alpha = store.sessions_by_asset(FRAME, w("t_alpha")).await.unwrap();
        assert_eq!(alpha.len(), 5);
        let alpha_sessions = ids(&alpha);
        let alpha_visitors: Vec<String> = alpha.iter().map(|h| h.visitor_id.clone()).collect();
        let alpha_convs: Vec<String> = alpha_visitors
            .iter()
            .map(|v| v.replacen("v_", "c_", 1))
            .collect();
        assert_eq!(
            store
                .visitors_by_id("t_alpha", &alpha_visitors)
                .await
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            store
                .conversations_by_id("t_alpha", &alpha_convs)
                .await
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            store
                .sessions_by_id("t_alpha", &alpha_sessions)
                .await
                .unwrap()
                .len(),
            5
        );
        // Every hash, every read, scoped to bravo: nothing of alpha's, even by alpha's exact ids.
        for hash in [GOOD, BAD, FRAME] {
            let bravo = store.sessions_by_asset(hash, w("t_bravo")).await.unwrap();
            assert!(bravo.iter().all(|h| h.tenant_id == "t_bravo"));
            assert!(store
                .asset_sets_with(hash, Some("t_bravo"))
                .await
                .unwrap()
                .iter()
                .all(|(_, t)| t == "t_bravo"));
            let counts = store
                .count_sessions_by_asset(hash, w("t_bravo"))
                .await
                .unwrap();
            assert!(counts.iter().all(|(t, _)| t == "t_bravo"));
        }
        assert!(store
            .sessions_by_node("node-a", w("t_bravo"))
            .await
            .unwrap()
            .iter()
            .all(|h| h.tenant_id == "t_bravo"));
        assert!(store
            .sessions_in_window(w("t_bravo"))
            .await
            .unwrap()
            .iter()
            .all(|h| h.tenant_id == "t_bravo"));
        assert!(store
            .visitors_by_id("t_bravo", &alpha_visitors)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .conversations_of_visitors("t_bravo", &alpha_visitors)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .conversations_by_id("t_bravo", &alpha_convs)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .sessions_by_id("t_bravo", &alpha_sessions)
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .card_mentions_of_conversations("t_bravo", &alpha_convs)
            .await
            .unwrap()
            .is_empty());
        let set_id = alpha[0].asset_set_id.unwrap();
        assert!(store.asset_set_hashes("t_bravo", set_id).await.is_err());
        assert_eq!(
            store
                .asset_set_hashes("t_alpha", set_id)
                .await
                .unwrap()
                .len(),
            2
        );
        store.close().await;
    }
}

#[tokio::test]
async fn sessions_opened_by_the_store_are_indexed_by_the_trigger() {
    for db in all_backends().await {
        let store = open(&db).await;
        let t = tenant(&store, "shop").await;
        let before = now_ms() - 1;
        for (i, hashes) in [[BAD, FRAME], [GOOD, FRAME], [BAD, FRAME]]
            .iter()
            .enumerate()
        {
            let visitor = Visitor {
                id: format!("v_{i}"),
                tenant_id: t.id.clone(),
                user_id: None,
                created_at: now_ms(),
            };
            store
                .start_visitor_session(
                    Some((visitor, format!("tok{i}").into_bytes())),
                    VisitorSessionStart {
                        id: format!("vs_{i}"),
                        tenant_id: t.id.clone(),
                        visitor_id: format!("v_{i}"),
                        node: "n1".into(),
                        embed_origin: Some("https://shop.example".into()),
                        asset_hashes: hashes.iter().map(|h| h.to_string()).collect(),
                        release_id: None,
                    },
                )
                .await
                .unwrap();
        }
        let w = ImpactWindow {
            tenant_id: None,
            from: before,
            to: now_ms() + 1_000,
        };
        assert_eq!(
            ids(&store.sessions_by_asset(BAD, w).await.unwrap()),
            ["vs_0", "vs_2"]
        );
        assert_eq!(
            ids(&store.sessions_by_asset(GOOD, w).await.unwrap()),
            ["vs_1"]
        );
        assert_eq!(store.sessions_by_asset(FRAME, w).await.unwrap().len(), 3);
        // Two distinct hash lists: two sets, each listing its hashes once.
        let sets = store.asset_sets_with(FRAME, None).await.unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(
            store.asset_set_hashes(&t.id, sets[0].0).await.unwrap(),
            [BAD, FRAME]
        );
        store.close().await;
    }
}

#[tokio::test]
async fn card_mentions_hold_a_brand_and_four_digits_and_a_retry_adds_nothing() {
    for db in all_backends().await {
        let store = open(&db).await;
        seed_2017(&store, &db).await;
        for (brand, last4) in [
            ("Visa", "41111"),
            ("Visa", "111"),
            ("Visa", "1a11"),
            ("4111111111111111", "1111"),
        ] {
            assert!(CardMention::new(brand, last4).is_err(), "{brand} {last4}");
        }
        let source = CardMentionSource {
            tenant_id: "t_alpha".into(),
            conversation_id: "c_alpha_inside".into(),
            sender_kind: SenderKind::Visitor,
            sender_id: "v_alpha_inside".into(),
            client_msg_id: "m1".into(),
        };
        let mentions = vec![
            CardMention::new("Visa", "1111").unwrap(),
            CardMention::new("Amex", "0005").unwrap(),
        ];
        store
            .record_card_mentions(source.clone(), mentions.clone())
            .await
            .unwrap();
        store.record_card_mentions(source, mentions).await.unwrap();
        let found = store
            .card_mentions_of_conversations(
                "t_alpha",
                &["c_alpha_inside".to_string(), "c_alpha_after".to_string()],
            )
            .await
            .unwrap();
        let pairs: Vec<(&str, &str)> = found
            .iter()
            .map(|m| (m.brand.as_str(), m.last4.as_str()))
            .collect();
        assert_eq!(pairs, [("Visa", "1111"), ("Amex", "0005")]);
        // The schema refuses more digits even from a writer that skips CardMention.
        let mut conn = raw(&db).await;
        for (brand, last4) in [
            ("Visa", "41111"),
            ("Visa", "4111111111111111"),
            ("Visa 4111111111111111", "1111"),
        ] {
            let refused = sqlx::query(
                "INSERT INTO card_mentions (tenant_id, conversation_id, sender_kind, sender_id, client_msg_id, \
                 ordinal, brand, last4, created_at) VALUES ('t_alpha', 'c_alpha_inside', 'visitor', 'v', 'raw', 0, $1, $2, 0)",
            )
            .bind(brand)
            .bind(last4)
            .execute(&mut conn)
            .await;
            assert!(refused.is_err(), "{brand} {last4} on {:?}", db.backend);
        }
        conn.close().await.unwrap();
        store.close().await;
    }
}

fn entry(log: &str, actor: &str, action: &str, target: &str, ts: i64) -> AuditEntry {
    AuditEntry {
        log_id: log.into(),
        bytes: format!(
            "{{\"action\":\"{action}\",\"actor\":\"{actor}\",\"id\":\"ae_{ts}_{action}\",\"log\":\"{log}\",\"target\":\"{target}\",\"ts\":{ts}}}"
        )
        .into_bytes(),
    }
}

#[tokio::test]
async fn audit_entries_by_actor_in_a_window_below_a_checkpoint() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        let b = tenant(&store, "bravo").await;
        let base = store.audit_size(&a.id).await.unwrap();
        store
            .append_audit(vec![
                entry(
                    &a.id,
                    "agent:a_sam",
                    "conversation.read",
                    "conversation:c1",
                    FROM + 1,
                ),
                entry(
                    &a.id,
                    "agent:a_ann",
                    "conversation.read",
                    "conversation:c2",
                    FROM + 2,
                ),
                entry(
                    &a.id,
                    "agent:a_sam",
                    "transcript.open",
                    "conversation:c3",
                    FROM + 3,
                ),
                entry(
                    &a.id,
                    "agent:a_sam",
                    "conversation.read",
                    "conversation:c4",
                    TO + 1,
                ),
                entry(
                    &b.id,
                    "agent:a_sam",
                    "conversation.read",
                    "conversation:c5",
                    FROM + 4,
                ),
            ])
            .await
            .unwrap();
        let size = store.audit_size(&a.id).await.unwrap();
        let found = store
            .audit_entries_by_actor(&a.id, "agent:a_sam", FROM, TO, size)
            .await
            .unwrap();
        let idx: Vec<i64> = found.iter().map(|(i, _)| *i).collect();
        assert_eq!(idx, [base, base + 2]);
        assert!(String::from_utf8_lossy(&found[1].1).contains("transcript.open"));
        // Below an earlier checkpoint only the first is covered.
        let early = store
            .audit_entries_by_actor(&a.id, "agent:a_sam", FROM, TO, base + 1)
            .await
            .unwrap();
        assert_eq!(early.len(), 1);
        // Another tenant's log is another log.
        assert!(store
            .audit_entries_by_actor(&b.id, "agent:a_ann", FROM, TO, i64::MAX)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .audit_entries_by_actor(&b.id, "agent:a_sam", FROM, TO, i64::MAX)
                .await
                .unwrap()
                .len(),
            1
        );
        store.close().await;
    }
}

#[tokio::test]
async fn the_asset_hash_query_pages_without_losing_or_repeating_a_session() {
    for db in all_backends().await {
        let store = open(&db).await;
        let t = tenant(&store, "big").await;
        let mut conn = raw(&db).await;
        // 45,001 sessions, in runs of 7 sharing a start time, so page boundaries (every 20,000) fall inside
        // runs of equal started_at and the (started_at, id) keyset has to break the tie.
        let total = 45_001usize;
        let json = serde_json::to_string(&[BAD, FRAME]).unwrap();
        for chunk_start in (0..total).step_by(500) {
            let rows = (chunk_start..total.min(chunk_start + 500)).collect::<Vec<_>>();
            let values = rows
                .iter()
                .enumerate()
                .map(|(k, _)| {
                    let p = k * 4;
                    format!(
                        "(${}, $1, ${}, 'n', ${}, ${}, NULL, $2)",
                        p + 3,
                        p + 4,
                        p + 5,
                        p + 6
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO visitor_sessions (id, tenant_id, visitor_id, node, started_at, ended_at, \
                 embed_origin, asset_hashes) VALUES {values}"
            );
            let mut q = sqlx::query(&sql).bind(t.id.as_str()).bind(json.as_str());
            for i in rows {
                let start = FROM + (i / 7) as i64;
                q = q
                    .bind(format!("vs_{:06}", (i * 7919) % total))
                    .bind(format!("v_{i}"))
                    .bind(start)
                    .bind(start + 1);
            }
            q.execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        let w = ImpactWindow {
            tenant_id: None,
            from: FROM,
            to: TO,
        };
        let hits = store.sessions_by_asset(BAD, w).await.unwrap();
        let mut seen: Vec<&str> = hits.iter().map(|h| h.session_id.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!((hits.len(), seen.len()), (total, total), "{:?}", db.backend);
        assert_eq!(
            store.count_sessions_by_asset(BAD, w).await.unwrap(),
            vec![(t.id.clone(), total as i64)]
        );
        store.close().await;
    }
}
