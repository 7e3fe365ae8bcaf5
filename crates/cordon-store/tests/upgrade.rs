//! Data written by the release before issue 13 (schema version 11, with the sequencer on the conversation row and
//! the rowid messages table on SQLite) upgrades in place: every message keeps its seq, client id and body,
//! conversations report their last seq, and appends carry on gap-free with retries still answered with their
//! original ack.

use cordon_store::testing::{all_backends, migrate_to_version};
use cordon_store::{AppendRequest, SenderKind, Store, StoreConfig, StoreError};

/// The version the previous release shipped, and the SQL it wrote messages with (writer.rs before issue 13:
/// bump `last_seq` on the conversation row, insert the message with that seq).
const PREVIOUS_RELEASE_SCHEMA: i64 = 11;

async fn fill_like_the_previous_release(conn: &mut sqlx::AnyConnection) {
    let statements: &[&str] = &[
        "INSERT INTO tenants (id, slug, display_name, widget_key, allowed_origins, verify_identity, identity_secret, \
         created_at) VALUES ('t_1', 'skyway', 'Skyway', 'wk_1', '[]', 0, $1, 1)",
        "INSERT INTO visitors (id, tenant_id, token_hash, user_id, created_at) VALUES ('v_1', 't_1', $1, NULL, 2)",
        "INSERT INTO visitors (id, tenant_id, token_hash, user_id, created_at) VALUES ('v_2', 't_1', $1, NULL, 2)",
        "INSERT INTO conversations (id, tenant_id, visitor_id, state, agent_id, last_seq, created_at, updated_at) \
         VALUES ('c_open', 't_1', 'v_1', 'queued', NULL, 0, 10, 10)",
        "INSERT INTO conversations (id, tenant_id, visitor_id, state, agent_id, last_seq, created_at, updated_at, \
         closed_at) VALUES ('c_closed', 't_1', 'v_2', 'closed', NULL, 0, 10, 10, 50)",
    ];
    for (i, sql) in statements.iter().enumerate() {
        let query = sqlx::query(sql);
        // The tenant's secret and the visitors' token hashes are bytes.
        let query = if sql.contains("$1") {
            query.bind(vec![i as u8])
        } else {
            query
        };
        query
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    for (conv, n) in [("c_open", 3), ("c_closed", 1)] {
        for i in 1..=n {
            sqlx::query(
                "UPDATE conversations SET last_seq = last_seq + 1, updated_at = $1 WHERE id = $2",
            )
            .bind(100 + i)
            .bind(conv)
            .execute(&mut *conn)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO messages (conversation_id, seq, tenant_id, sender_kind, sender_id, client_msg_id, \
                 body, created_at) VALUES ($1, $2, 't_1', 'visitor', 'v_1', $3, $4, $5)",
            )
            .bind(conv)
            .bind(i)
            .bind(format!("m{i}"))
            .bind(format!("old body {i}").into_bytes())
            .bind(100 + i)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
}

fn message(conversation: &str, client_id: &str) -> AppendRequest {
    AppendRequest {
        tenant_id: "t_1".into(),
        conversation_id: conversation.into(),
        sender_kind: SenderKind::Visitor,
        sender_id: "v_1".into(),
        client_msg_id: client_id.into(),
        seal: Box::new(|seq| format!("new body {seq}").into_bytes()),
    }
}

#[tokio::test]
async fn a_database_of_the_previous_release_upgrades_in_place() {
    for db in all_backends().await {
        let mut conn = migrate_to_version(&db, PREVIOUS_RELEASE_SCHEMA).await;
        fill_like_the_previous_release(&mut conn).await;
        drop(conn);

        let store = Store::open(&StoreConfig::new(db.url.clone()))
            .await
            .unwrap_or_else(|e| panic!("{:?}: open the old database: {e}", db.backend));
        assert!(
            cordon_store::schema_version(&store).await.unwrap() > PREVIOUS_RELEASE_SCHEMA,
            "{:?}: migrated",
            db.backend
        );

        // Everything the old release stored is there, as it was.
        let old = store.messages_after("t_1", "c_open", 0, 100).await.unwrap();
        let seen: Vec<(i64, String, Vec<u8>)> = old
            .iter()
            .map(|m| (m.seq, m.client_msg_id.clone(), m.body.clone()))
            .collect();
        let expected: Vec<(i64, String, Vec<u8>)> = (1..=3)
            .map(|i| (i, format!("m{i}"), format!("old body {i}").into_bytes()))
            .collect();
        assert_eq!(seen, expected, "{:?}", db.backend);
        let conv = store.conversation("t_1", "c_open").await.unwrap();
        assert_eq!(conv.last_seq, 3, "{:?}", db.backend);
        assert_eq!(
            conv.updated_at, 103,
            "{:?}: the newest message's time",
            db.backend
        );

        // New messages carry on from the old ones, without a gap.
        let next = store.append_message(message("c_open", "m4")).await.unwrap();
        assert_eq!((next.seq, next.duplicate), (4, false), "{:?}", db.backend);
        let next = store.append_message(message("c_open", "m5")).await.unwrap();
        assert_eq!((next.seq, next.duplicate), (5, false), "{:?}", db.backend);
        // A retry of a message the old release stored gets its original ack and takes no number.
        let retry = store.append_message(message("c_open", "m2")).await.unwrap();
        assert_eq!(
            (retry.seq, retry.created_at, retry.duplicate),
            (2, 102, true)
        );
        let next = store.append_message(message("c_open", "m6")).await.unwrap();
        assert_eq!(next.seq, 6, "{:?}: the retry left no gap", db.backend);
        assert_eq!(
            store.conversation("t_1", "c_open").await.unwrap().last_seq,
            6
        );

        // The closed conversation stays closed, and still answers a retry of its old message.
        let refused = store.append_message(message("c_closed", "late")).await;
        assert!(
            matches!(refused, Err(StoreError::ConversationClosed)),
            "{:?}: {refused:?}",
            db.backend
        );
        let retry = store
            .append_message(message("c_closed", "m1"))
            .await
            .unwrap();
        assert_eq!((retry.seq, retry.duplicate), (1, true));
        assert_eq!(
            store
                .conversation("t_1", "c_closed")
                .await
                .unwrap()
                .last_seq,
            1
        );
        store.close().await;
    }
}

/// Issue 20: a tenant's chat forms written at schema 20 keep their switches through migration 0021 and gain the
/// transcript switch, off; the transcript outbox starts empty and is usable at once.
#[tokio::test]
async fn chat_forms_of_schema_20_gain_the_transcript_switch_off() {
    use sqlx::Executor as _;
    for db in all_backends().await {
        let mut conn = migrate_to_version(&db, 20).await;
        for sql in [
            "INSERT INTO tenants (id, slug, display_name, widget_key, allowed_origins, verify_identity, \
             identity_secret, created_at) VALUES ('t_1', 'skyway', 'Skyway', 'wk_1', '[]', 0, 'x', 1)",
            "INSERT INTO chat_forms (tenant_id, prechat, offline, updated_by, updated_at) \
             VALUES ('t_1', 1, 0, 'agent:a_1', 5)",
        ] {
            conn.execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{:?}: {sql}: {e}", db.backend));
        }
        drop(conn);
        let store = Store::open(&StoreConfig::new(db.url.clone()))
            .await
            .unwrap_or_else(|e| panic!("{:?}: open: {e}", db.backend));
        let forms = store.chat_forms("t_1").await.unwrap();
        assert!(
            forms.prechat && !forms.offline && !forms.transcript,
            "{:?}: {forms:?}",
            db.backend
        );
        assert_eq!(store.transcript_job("t_1", "c_1").await.unwrap(), None);
        assert!(store.claim_transcripts(10, 1000).await.unwrap().is_empty());
        store.close().await;
    }
}
