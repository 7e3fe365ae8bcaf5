//! Release records on every backend (issue 12): propose with a trusted key only, self-approval refused in the
//! database, pins only of approved releases and per tenant, the release a tenant is served.

mod common;

use common::{TestServer, PASSWORD};
use cordon_service::operators::OperatorPrincipal;
use cordon_service::releases;

async fn operator(srv: &TestServer, name: &str) -> OperatorPrincipal {
    let made = cordon_service::operators::create(srv.service(), name, PASSWORD, "test")
        .await
        .expect("operator");
    OperatorPrincipal {
        session_id: "os_test".into(),
        operator: made.operator,
    }
}

#[tokio::test]
async fn releases_on_every_backend() {
    for db in cordon_store::testing::all_backends().await {
        let srv = TestServer::start(db).await;
        let svc = srv.service();
        let a = operator(&srv, "rel-a").await;
        let b = operator(&srv, "rel-b").await;
        let fx = srv.fixture("rel-t").await;
        let other = srv.fixture("rel-u").await;
        let files = cordon_server::web::embedded_release_files();
        let signer = cordon_release::signer_from_seed(&[5u8; 32]).unwrap();
        // Not trusted yet: refused.
        let r = releases::propose(svc, &a, Some("r1"), &files, &signer).await;
        assert_eq!(r.unwrap_err().code, "unknown_release_key");
        releases::trust_key(svc, &a, &signer.verifier().to_string())
            .await
            .unwrap();
        releases::propose(svc, &a, Some("r1"), &files, &signer)
            .await
            .unwrap();
        assert!(
            releases::for_tenant(svc, &fx.tenant.id)
                .await
                .unwrap()
                .is_none(),
            "not live before approval"
        );
        assert_eq!(
            releases::approve(svc, &a, "r1").await.unwrap_err().code,
            "self_approval"
        );
        // The database refuses it too, whatever the caller checked.
        let e = srv
            .store()
            .approve_release("r1", &a.operator.id, &[])
            .await
            .unwrap_err();
        assert!(
            matches!(e, cordon_store::StoreError::Conflict("self_approval")),
            "{e:?}"
        );
        assert_eq!(
            releases::pin_tenant(svc, &fx.tenant.id, "test", Some("r1"))
                .await
                .unwrap_err()
                .code,
            "not_found",
            "an unapproved release cannot be pinned"
        );
        let live = releases::approve(svc, &b, "r1").await.unwrap();
        assert_eq!(
            live.record.approved_by.as_deref(),
            Some(b.operator.id.as_str())
        );
        assert_eq!(
            releases::approve(svc, &b, "r1").await.unwrap_err().code,
            "conflict"
        );
        releases::propose(svc, &a, Some("r2"), &files, &signer)
            .await
            .unwrap();
        releases::approve(svc, &b, "r2").await.unwrap();
        assert_eq!(releases::live(svc).await.unwrap().len(), 2);
        // Pins are the tenant's own: one tenant pinned to r1, the other follows the latest.
        releases::pin_tenant(svc, &fx.tenant.id, "test", Some("r1"))
            .await
            .unwrap();
        let id = |r: Option<releases::LiveRelease>| r.map(|r| r.id().to_string());
        assert_eq!(
            id(releases::for_tenant(svc, &fx.tenant.id).await.unwrap()).as_deref(),
            Some("r1")
        );
        assert_eq!(
            id(releases::for_tenant(svc, &other.tenant.id).await.unwrap()).as_deref(),
            Some("r2")
        );
        releases::pin_tenant(svc, &fx.tenant.id, "test", None)
            .await
            .unwrap();
        assert_eq!(
            id(releases::for_tenant(svc, &fx.tenant.id).await.unwrap()).as_deref(),
            Some("r2")
        );
        srv.stop().await;
    }
}
