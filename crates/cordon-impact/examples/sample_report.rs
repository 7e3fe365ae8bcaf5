//! Print a signed sample report (fixed rows, a fixed test key) and its verifier key on stderr: for checking
//! docs/IMPACT.md's verification steps by hand. `cargo run -p cordon-impact --example sample_report > r.json`
#![allow(clippy::unwrap_used, clippy::expect_used)] // an example: a panic is its error report

use cordon_impact::compute::*;
use cordon_impact::{compute, render, sign, Component, Window};

fn main() {
    let t = |s| cordon_impact::time::parse_rfc3339(s).unwrap();
    let hash = "bad0".repeat(24);
    let input = ImpactInput {
        report_id: "imp_sample".into(),
        generated_at_ms: t("2018-03-28T12:00:00Z"),
        component: Component::asset_hash(&hash).unwrap(),
        window: Window::new(t("2017-09-26T00:00:00Z"), t("2017-10-12T00:00:00Z")).unwrap(),
        asset_label: Some("loader".into()),
        principal: None,
        tenants: vec![TenantRow {
            id: "t_1".into(),
            slug: "shop".into(),
            name: "Shöp \"1\" <Ltd>".into(),
        }],
        checkpoints: vec![CheckpointRow {
            log_id: "t_1".into(),
            size: 3,
            root: [9; 32],
        }],
        exposures: vec![ExposureRow {
            session_id: "vs_1".into(),
            tenant_id: "t_1".into(),
            visitor_id: "v_1".into(),
            node: "node-a".into(),
            started_at: t("2017-09-27T10:02:00Z"),
            ended_at: None,
            embed_origin: Some("https://shop.example".into()),
            asset_hashes: vec![hash.clone()],
        }],
        visitors: vec![VisitorRow {
            tenant_id: "t_1".into(),
            visitor_id: "v_1".into(),
            user_id: Some("customer-8812\t€".into()),
            name: None,
            email: None,
        }],
        conversations: vec![ConversationRow {
            tenant_id: "t_1".into(),
            conversation_id: "c_1".into(),
            visitor_id: "v_1".into(),
            agent_id: Some("a_1".into()),
            created_at: t("2017-09-27T10:03:00Z"),
            closed_at: None,
        }],
        card_mentions: vec![CardMentionRow {
            id: "42".into(),
            tenant_id: "t_1".into(),
            conversation_id: "c_1".into(),
            brand: "Visa".into(),
            last4: "1111".into(),
            at: t("2017-09-27T10:04:00Z"),
        }],
        audit: vec![],
    };
    let signer = sign::signer_from_audit_seed(&[7; 32]).unwrap();
    let signed = sign::sign(&compute(&input).unwrap(), &signer).unwrap();
    eprintln!("{}", signer.verifier());
    print!("{}", render::json(&signed));
}
