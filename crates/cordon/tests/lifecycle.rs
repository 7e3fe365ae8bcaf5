//! Data lifecycle (issue 16): crypto-shredding a tenant with the operator's command line, while two nodes serve
//! it from one database: both stop reading its history within the key re-check time, new messages are refused,
//! other tenants are untouched, and the audit log still verifies.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Auth, TestServer};
use cordon_store::testing::TestDatabase;

const BIN: &str = env!("CARGO_BIN_EXE_cordon");

fn cordon(data: &Path, db: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--database")
        .arg(db)
        .env("CORDON_MASTER_KEY", common::MASTER_KEY_HEX)
        .output()
        .expect("run cordon")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shredded_tenant_is_unreadable_on_two_nodes_and_its_audit_log_still_verifies() {
    for db in cordon_store::testing::all_backends().await {
        let (url, backend) = (db.url.clone(), db.backend);
        let node1 = TestServer::start(db).await;
        let node2 = TestServer::start(TestDatabase {
            url: url.clone(),
            backend,
            dir: None,
        })
        .await;
        let fx = node1.fixture("acme").await;
        let other = node1.fixture("globex").await;

        let (mut visitor, _) = node1.visitor(&fx.tenant.widget_key, None).await;
        let conv = visitor.open().await;
        visitor.say(&conv, "m1", "my booking is ABC123").await;
        let (mut v2, _) = node1.visitor(&other.tenant.widget_key, None).await;
        let conv2 = v2.open().await;
        v2.say(&conv2, "x1", "globex stays").await;

        // Both nodes read the history (and so hold the tenant's key in memory).
        let path = format!("/api/v1/conversations/{conv}/messages");
        let mut readers = Vec::new();
        for node in [&node1, &node2] {
            let key = node.api_key(&fx.tenant, &["conversations:read"]).await;
            let http = node.http().with(Auth::Bearer(key));
            let (status, body) = http.get(&path).await;
            assert_eq!(status, 200, "{backend:?}: {body}");
            assert!(body.to_string().contains("ABC123"), "{body}");
            readers.push(http);
        }

        // The operator shreds it from the command line: a third process.
        let data = tempfile::tempdir().expect("tmp");
        let refused = cordon(data.path(), &url, &["tenant", "shred", "--tenant", "acme"]);
        assert!(
            !refused.status.success(),
            "no terminal and no --confirm: refused"
        );
        let wrong = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "globex"],
        );
        assert!(
            !wrong.status.success(),
            "a confirmation that does not match: refused"
        );
        let (status, _) = readers[0].get(&path).await;
        assert_eq!(status, 200, "nothing shredded by a refused command");
        let out = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "acme"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 data key(s) destroyed"));

        // Within the re-check time, on both nodes: the history is gone (410 data_shredded), never half-read.
        let started = Instant::now();
        for http in &readers {
            loop {
                let (status, body) = http.get(&path).await;
                if status == 410 {
                    assert_eq!(body["error"]["code"], "data_shredded", "{body}");
                    assert!(!body.to_string().contains("ABC123"));
                    break;
                }
                assert_eq!(status, 200, "{backend:?}: {body}");
                assert!(
                    started.elapsed() < cordon_service::keys::KEY_RECHECK + Duration::from_secs(3),
                    "{backend:?}: still readable after the re-check time"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // New messages are refused with the same code; the other tenant chats on.
        visitor
            .send(
                serde_json::json!({"type": "message.send", "conversation_id": conv,
                "client_msg_id": "m2", "text": "after the shred"}),
            )
            .await;
        let err = visitor.recv_error().await;
        assert_eq!(err["code"], "data_shredded", "{err}");
        v2.say(&conv2, "x2", "globex still here").await;

        // The audit log is whole: it verifies, and says what happened.
        let verify = cordon(data.path(), &url, &["audit", "verify"]);
        assert!(
            verify.status.success(),
            "{backend:?}: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let size = node1.store().audit_size(&fx.tenant.id).await.expect("size");
        let entries = node1
            .store()
            .audit_entries(&fx.tenant.id, 0, size)
            .await
            .expect("entries");
        assert!(entries
            .iter()
            .any(|(_, e)| String::from_utf8_lossy(e).contains("\"tenant.shred\"")));
        // Shredding again changes nothing and says so.
        let again = cordon(
            data.path(),
            &url,
            &["tenant", "shred", "--tenant", "acme", "--confirm", "acme"],
        );
        assert!(String::from_utf8_lossy(&again.stdout).contains("shredded already"));
        node2.stop().await;
        node1.stop().await;
    }
}
