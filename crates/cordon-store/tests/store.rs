//! The storage suite, run against every configured backend (SQLite always; PostgreSQL with CORDON_TEST_POSTGRES).

use std::sync::Arc;

use cordon_store::testing::{all_backends, TestDatabase};
use cordon_store::*;

async fn open(db: &TestDatabase) -> Store {
    let mut cfg = StoreConfig::new(&db.url);
    cfg.max_connections = 4;
    Store::open(&cfg).await.expect("open store")
}

async fn tenant(store: &Store, slug: &str) -> Tenant {
    store
        .create_tenant(
            NewTenant {
                id: format!("t_{slug}"),
                slug: slug.into(),
                display_name: slug.into(),
                widget_key: format!("wk_{slug}"),
                allowed_origins: vec!["https://shop.example".into()],
                identity_secret_wrapped: vec![1, 2, 3],
                data_key_wrapped: vec![4, 5, 6],
            },
            &[],
        )
        .await
        .expect("create tenant")
}

async fn agent(store: &Store, t: &Tenant, name: &str, capacity: i64) -> Agent {
    store
        .create_agent(
            &t.id,
            NewAgent {
                id: format!("a_{}_{name}", t.slug),
                username: name.into(),
                display_name: name.into(),
                role: AgentRole::Agent,
                capacity,
                password_hash: "x".into(),
            },
            &[],
        )
        .await
        .expect("create agent")
}

fn append(t: &Tenant, conv: &str, client: &str, body: &'static [u8]) -> AppendRequest {
    AppendRequest {
        tenant_id: t.id.clone(),
        conversation_id: conv.into(),
        sender_kind: SenderKind::Visitor,
        sender_id: "v_1".into(),
        client_msg_id: client.into(),
        seal: Box::new(move |_| body.to_vec()),
    }
}

#[tokio::test]
async fn conversations_messages_and_scoping() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        let b = tenant(&store, "beta").await;
        let ag = agent(&store, &a, "ann", 1).await;
        let v = store
            .create_visitor("v_1", &a.id, b"tok", None)
            .await
            .unwrap();

        // No agent online: queued.
        let (c1, created) = store.open_conversation("c_1", &a.id, &v.id).await.unwrap();
        assert!(created);
        assert_eq!(c1.state, ConversationState::Queued);
        // Opening again returns the same open conversation.
        let (again, created) = store.open_conversation("c_x", &a.id, &v.id).await.unwrap();
        assert!(!created);
        assert_eq!(again.id, "c_1");

        // Agent comes online: the queue drains into its capacity.
        store
            .set_agent_status(&a.id, &ag.id, AgentStatus::Online)
            .await
            .unwrap();
        let assigned = store.assign_queued(&a.id).await.unwrap();
        assert_eq!(assigned.len(), 1);
        assert_eq!(assigned[0].agent_id.as_deref(), Some(ag.id.as_str()));

        // Messages: gap-free seqs, duplicates return the original ack.
        let r1 = store
            .append_message(append(&a, "c_1", "m1", b"one"))
            .await
            .unwrap();
        let r2 = store
            .append_message(append(&a, "c_1", "m2", b"two"))
            .await
            .unwrap();
        let dup = store
            .append_message(append(&a, "c_1", "m1", b"one"))
            .await
            .unwrap();
        assert_eq!((r1.seq, r2.seq), (1, 2));
        assert!(dup.duplicate);
        assert_eq!(dup.seq, 1);
        let msgs = store.messages_after(&a.id, "c_1", 0, 100).await.unwrap();
        assert_eq!(msgs.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2]);

        // Tenant scoping in the storage layer: tenant B sees nothing of tenant A.
        assert!(matches!(
            store.conversation(&b.id, "c_1").await,
            Err(StoreError::NotFound)
        ));
        assert!(store
            .messages_after(&b.id, "c_1", 0, 100)
            .await
            .unwrap()
            .is_empty());
        assert!(matches!(
            store.append_message(append(&b, "c_1", "m3", b"x")).await,
            Err(StoreError::NotFound)
        ));
        assert!(store
            .visitor_by_token(&b.id, b"tok")
            .await
            .unwrap()
            .is_none());
        assert!(matches!(
            store.agent(&b.id, &ag.id).await,
            Err(StoreError::NotFound)
        ));

        // Closed conversations take no more messages, but a retried message still gets its ack.
        store.close_conversation(&a.id, "c_1").await.unwrap();
        assert!(matches!(
            store.append_message(append(&a, "c_1", "m9", b"late")).await,
            Err(StoreError::ConversationClosed)
        ));
        assert_eq!(
            store
                .append_message(append(&a, "c_1", "m2", b"two"))
                .await
                .unwrap()
                .seq,
            2
        );
        store.close().await;
    }
}

#[tokio::test]
async fn concurrent_appends_are_gap_free_and_exactly_once() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        let v = store
            .create_visitor("v_1", &a.id, b"tok", None)
            .await
            .unwrap();
        store.open_conversation("c_1", &a.id, &v.id).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                // Every message is sent twice, concurrently: exactly one copy may be stored.
                let id = format!("m{}", i / 2);
                store
                    .append_message(append(&a, "c_1", Box::leak(id.into_boxed_str()), b"x"))
                    .await
            }));
        }
        let mut seqs = Vec::new();
        for t in tasks {
            seqs.push(t.await.unwrap().unwrap().seq);
        }
        seqs.sort();
        seqs.dedup();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
        assert_eq!(store.message_count(&a.id, "c_1").await.unwrap(), 100);
        store.close().await;
    }
}

/// Batches that span many conversations go through the multi-row path: every conversation's seqs stay gap-free,
/// and closed or foreign conversations in the same batch get their own errors without failing their neighbours.
#[tokio::test]
async fn batches_across_conversations_are_gap_free_per_conversation() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        let b = tenant(&store, "beta").await;
        let mut convs = Vec::new();
        for i in 0..12 {
            let v = store
                .create_visitor(&format!("v_{i}"), &a.id, format!("tok{i}").as_bytes(), None)
                .await
                .unwrap();
            let id = format!("c_{i:02}");
            store.open_conversation(&id, &a.id, &v.id).await.unwrap();
            convs.push(id);
        }
        store.close_conversation(&a.id, "c_11").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..600 {
            let store = store.clone();
            let foreign = i % 50 == 7;
            let (t, conv) = if foreign {
                (b.clone(), convs[i % 11].clone())
            } else {
                (a.clone(), convs[i % 12].clone())
            };
            tasks.push(tokio::spawn(async move {
                let id: &'static str = Box::leak(format!("m{i}").into_boxed_str());
                let result = store.append_message(append(&t, &conv, id, b"x")).await;
                (conv, foreign, result)
            }));
        }
        let mut seqs: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for task in tasks {
            match task.await.unwrap() {
                (_, true, result) => assert!(matches!(result, Err(StoreError::NotFound))),
                (conv, false, result) if conv == "c_11" => {
                    assert!(matches!(result, Err(StoreError::ConversationClosed)))
                }
                (conv, false, result) => seqs.entry(conv).or_default().push(result.unwrap().seq),
            }
        }
        // The batches took the multi-row path: none failed over to one-by-one retries, and they were batches.
        // The counters are the writer's, updated just after it hands out a batch's acks: wait for the last one.
        let mut waited = 0;
        let (batches, messages, _, failed) = loop {
            let snap = store.commit_stats().snapshot();
            if snap.1 >= 600 || waited >= 500 {
                break snap;
            }
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        };
        assert_eq!(failed, 0);
        assert!(
            messages >= 600 && batches * 4 < messages,
            "{batches} batches"
        );
        for (conv, mut got) in seqs {
            got.sort();
            let n = got.len() as i64;
            assert_eq!(got, (1..=n).collect::<Vec<_>>(), "{conv}");
            assert_eq!(store.message_count(&a.id, &conv).await.unwrap(), n);
        }
        store.close().await;
    }
}

/// Writes that share a group commit: a failing one (unknown tenant, a duplicate id that the database refuses)
/// fails alone, and every other write in the batch lands exactly once.
#[tokio::test]
async fn failed_writes_in_a_shared_commit_fail_alone() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        store
            .create_visitor("v_taken", &a.id, b"taken", None)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..60 {
            let store = store.clone();
            let tid = a.id.clone();
            tasks.push(tokio::spawn(async move {
                match i % 3 {
                    0 => store
                        .open_conversation(&format!("c_{i}"), "t_missing", "v_taken")
                        .await
                        .map(|_| ()),
                    1 => store
                        .create_visitor("v_taken", &tid, format!("dup{i}").as_bytes(), None)
                        .await
                        .map(|_| ()),
                    _ => store
                        .create_visitor(&format!("v_{i}"), &tid, format!("tok{i}").as_bytes(), None)
                        .await
                        .map(|_| ()),
                }
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let result = t.await.unwrap();
            match i % 3 {
                0 => assert!(
                    matches!(result, Err(StoreError::NotFound)),
                    "{i}: {result:?}"
                ),
                1 => assert!(result.is_err(), "{i}: a duplicate id must be refused"),
                _ => {
                    result.unwrap();
                    let v = store
                        .visitor_by_token(&a.id, format!("tok{i}").as_bytes())
                        .await
                        .unwrap();
                    assert_eq!(v.map(|v| v.id), Some(format!("v_{i}")));
                }
            }
        }
        store.close().await;
    }
}

#[tokio::test]
async fn capacity_is_never_exceeded_across_processes() {
    for db in all_backends().await {
        // Two independent stores stand in for two processes on one database.
        let s1 = open(&db).await;
        let s2 = open(&db).await;
        let a = tenant(&s1, "alpha").await;
        let ag = agent(&s1, &a, "ann", 3).await;
        s1.set_agent_status(&a.id, &ag.id, AgentStatus::Online)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
            let tid = a.id.clone();
            tasks.push(tokio::spawn(async move {
                let vid = format!("v_{i}");
                s.create_visitor(&vid, &tid, vid.as_bytes(), None)
                    .await
                    .unwrap();
                s.open_conversation(&format!("c_{i}"), &tid, &vid)
                    .await
                    .unwrap()
                    .0
            }));
        }
        let mut assigned = 0;
        for t in tasks {
            if t.await.unwrap().state == ConversationState::Assigned {
                assigned += 1;
            }
        }
        assert_eq!(assigned, 3, "exactly the agent's capacity is assigned");
        s1.close().await;
        s2.close().await;
    }
}

#[tokio::test]
async fn durability_settings_on_every_connection() {
    for db in all_backends().await {
        let store = open(&db).await;
        let report = store.durability_settings().await.unwrap();
        // SQLite has a second writer connection: the message writer thread's.
        let writers = match db.backend {
            Backend::Sqlite => 2,
            Backend::Postgres => 1,
        };
        assert_eq!(
            report.len(),
            4 + writers,
            "4 pooled connections and the writers: {report:?}"
        );
        for conn in &report {
            let get = |k: &str| {
                conn.settings
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            match db.backend {
                Backend::Sqlite => {
                    assert_eq!(get("journal_mode").as_deref(), Some("wal"), "{conn:?}");
                    assert_eq!(get("synchronous").as_deref(), Some("2"), "FULL on {conn:?}");
                    assert_eq!(
                        get("wal_autocheckpoint").as_deref(),
                        Some("1000"),
                        "{conn:?}"
                    );
                }
                Backend::Postgres => {
                    assert_eq!(get("synchronous_commit").as_deref(), Some("on"), "{conn:?}");
                    assert_eq!(get("fsync").as_deref(), Some("on"), "{conn:?}");
                }
            }
        }
        store.close().await;
    }
}

#[tokio::test]
async fn refuses_a_newer_schema() {
    for db in all_backends().await {
        let store = open(&db).await;
        let s2 = store.clone();
        drop(s2);
        sqlx_bump(&db).await;
        store.close().await;
        let err = Store::open(&StoreConfig::new(&db.url)).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
        assert!(err.to_string().contains("newer than this binary"));
    }
}

async fn sqlx_bump(db: &TestDatabase) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut c = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::query("INSERT INTO cordon_schema (version, applied_at) VALUES (999, 0)")
        .execute(&mut c)
        .await
        .unwrap();
}

#[tokio::test]
async fn sessions_and_api_keys_revoke_at_once() {
    for db in all_backends().await {
        let store = open(&db).await;
        let a = tenant(&store, "alpha").await;
        let ag = agent(&store, &a, "ann", 2).await;
        let far = now_ms() + 3_600_000;
        store
            .create_session("s_1", &a.id, &ag.id, b"h1", far, &[])
            .await
            .unwrap();
        assert!(store.live_session(b"h1", 60_000).await.unwrap().is_some());
        store.revoke_session(&a.id, "s_1", &[]).await.unwrap();
        assert!(store.live_session(b"h1", 60_000).await.unwrap().is_none());
        assert!(!store.session_is_live("s_1", 60_000).await.unwrap());

        // Expired key refused; revoked key refused.
        store
            .create_api_key(
                &a.id,
                NewApiKey {
                    id: "k_1".into(),
                    key_hash: b"k1".to_vec(),
                    prefix: "ck_ab".into(),
                    scopes: vec!["admin".into()],
                    expires_at: far,
                },
                &[],
            )
            .await
            .unwrap();
        store
            .create_api_key(
                &a.id,
                NewApiKey {
                    id: "k_2".into(),
                    key_hash: b"k2".to_vec(),
                    prefix: "ck_cd".into(),
                    scopes: vec!["admin".into()],
                    expires_at: now_ms() - 1,
                },
                &[],
            )
            .await
            .unwrap();
        assert!(store.live_api_key(b"k1").await.unwrap().is_some());
        assert!(store.live_api_key(b"k2").await.unwrap().is_none());
        store.revoke_api_key(&a.id, "k_1", &[]).await.unwrap();
        assert!(store.live_api_key(b"k1").await.unwrap().is_none());

        // Disabling an agent revokes its sessions in the same transaction.
        store
            .create_session("s_2", &a.id, &ag.id, b"h2", far, &[])
            .await
            .unwrap();
        store
            .update_agent(
                &a.id,
                &ag.id,
                &AgentPatch {
                    disabled: Some(true),
                    ..Default::default()
                },
                &[],
            )
            .await
            .unwrap();
        assert!(store.live_session(b"h2", 60_000).await.unwrap().is_none());
        let _ = Arc::new(());
        store.close().await;
    }
}
