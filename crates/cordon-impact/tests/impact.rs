//! The impact computation, renderers and signatures, on rows built in memory.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test helpers outside #[test] fns

use cordon_impact::citations::{check, claims, Claim, Evidence};
use cordon_impact::compute::*;
use cordon_impact::model::Citation;
use cordon_impact::render;
use cordon_impact::sign::{self, KEY_NAME};
use cordon_impact::time::parse_rfc3339;
use cordon_impact::{compute, Component, VerifyError, Window};
use cordon_ledger::NoteSigner;
use proptest::prelude::*;
use serde_json::Value;

const GOOD: &str = "11111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111a";
const BAD: &str = "bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0bad0";
const HOUR: i64 = 3_600_000;

fn t(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

fn tenants(n: usize) -> Vec<TenantRow> {
    (0..n)
        .map(|i| TenantRow {
            id: format!("t_{i}"),
            slug: format!("shop{i}"),
            name: format!("Shop {i}"),
        })
        .collect()
}

fn session(id: &str, tenant: usize, visitor: &str, start: i64, hashes: &[&str]) -> ExposureRow {
    ExposureRow {
        session_id: id.into(),
        tenant_id: format!("t_{tenant}"),
        visitor_id: visitor.into(),
        node: "node-a".into(),
        started_at: start,
        ended_at: Some(start + HOUR / 2),
        embed_origin: Some(format!("https://shop{tenant}.example")),
        asset_hashes: hashes.iter().map(|s| s.to_string()).collect(),
    }
}

fn input(component: Component, window: Window) -> ImpactInput {
    ImpactInput {
        report_id: "imp_test".into(),
        generated_at_ms: t("2018-03-28T12:00:00Z"),
        component,
        window,
        asset_label: Some("loader".into()),
        principal: None,
        tenants: tenants(5),
        checkpoints: (0..5)
            .map(|i| CheckpointRow {
                log_id: format!("t_{i}"),
                size: 10,
                root: [i as u8; 32],
            })
            .collect(),
        exposures: vec![],
        visitors: vec![],
        conversations: vec![],
        card_mentions: vec![],
        audit: vec![],
    }
}

/// The 2017 shape: a tampered loader served from 26 Sept to 12 Oct to three of five tenants; visitors of every
/// tenant before, inside and after the window.
fn breach_2017() -> ImpactInput {
    let window = Window::new(t("2017-09-26T00:00:00Z"), t("2017-10-12T00:00:00Z")).unwrap();
    let mut inp = input(Component::asset_hash(BAD).unwrap(), window);
    for tenant in 0..5 {
        let compromised = tenant < 3;
        let inside_hash = if compromised { BAD } else { GOOD };
        let rows = [
            ("before", t("2017-09-20T09:00:00Z"), GOOD),
            ("inside", t("2017-09-27T10:02:00Z"), inside_hash),
            ("inside2", t("2017-10-11T23:00:00Z"), inside_hash),
            ("after", t("2017-10-13T08:00:00Z"), GOOD),
        ];
        for (name, start, hash) in rows {
            let visitor = format!("v_{tenant}_{name}");
            inp.exposures.push(session(
                &format!("vs_{tenant}_{name}"),
                tenant,
                &visitor,
                start,
                &[GOOD, hash],
            ));
            inp.visitors.push(VisitorRow {
                tenant_id: format!("t_{tenant}"),
                visitor_id: visitor.clone(),
                user_id: (name == "inside").then(|| format!("customer-{tenant}")),
                name: None,
                email: None,
            });
            inp.conversations.push(ConversationRow {
                tenant_id: format!("t_{tenant}"),
                conversation_id: format!("c_{tenant}_{name}"),
                visitor_id: visitor.clone(),
                agent_id: Some(format!("a_{tenant}")),
                created_at: start + 60_000,
                closed_at: Some(start + 20 * 60_000),
            });
            inp.card_mentions.push(CardMentionRow {
                id: format!("cm_{tenant}_{name}"),
                tenant_id: format!("t_{tenant}"),
                conversation_id: format!("c_{tenant}_{name}"),
                brand: "Visa".into(),
                last4: "1111".into(),
                at: start + 5 * 60_000,
            });
        }
    }
    inp
}

#[test]
fn the_2017_shape_lists_exactly_the_visitors_inside_the_window_per_tenant() {
    let report = compute(&breach_2017()).unwrap();
    let slugs: Vec<&str> = report.tenants.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(slugs, ["shop0", "shop1", "shop2"]);
    for (i, tenant) in report.tenants.iter().enumerate() {
        let visitors: Vec<&str> = tenant
            .visitors
            .iter()
            .map(|v| v.visitor_id.as_str())
            .collect();
        assert_eq!(
            visitors,
            [format!("v_{i}_inside"), format!("v_{i}_inside2")]
        );
        assert_eq!(tenant.counts.sessions, 2);
        assert_eq!(tenant.counts.verified_visitors, 1);
        assert_eq!(tenant.counts.card_mentions, 2);
        let v = &tenant.visitors[0];
        assert_eq!(
            v.contact.user_id.as_deref(),
            Some(format!("customer-{i}").as_str())
        );
        let sri = cordon_impact::component::sri_from_hex(BAD);
        assert_eq!(
            v.reason,
            format!("ran loader {sri} at 2017-09-27T10:02Z on https://shop{i}.example")
        );
        assert_eq!(
            v.citations,
            [Citation::ExposureRecord(format!("vs_{i}_inside"))]
        );
        let card = &v.conversations[0].card_mentions[0];
        assert_eq!((card.brand.as_str(), card.last4.as_str()), ("Visa", "1111"));
        assert_eq!(
            card.cite,
            Citation::RedactionEvent(format!("cm_{i}_inside"))
        );
    }
    assert_eq!(report.totals.tenants, 3);
    assert_eq!(report.totals.counts.visitors, 6);
}

#[test]
fn a_session_spanning_the_window_edge_counts_and_cards_outside_its_span_do_not() {
    let mut inp = breach_2017();
    // Began before the window and was still open in it; served the bad file.
    let mut s = session("vs_edge", 3, "v_edge", t("2017-09-25T23:50:00Z"), &[BAD]);
    s.ended_at = Some(t("2017-09-26T00:10:00Z"));
    inp.exposures.push(s);
    inp.conversations.push(ConversationRow {
        tenant_id: "t_3".into(),
        conversation_id: "c_edge".into(),
        visitor_id: "v_edge".into(),
        agent_id: None,
        created_at: t("2017-09-25T23:55:00Z"),
        closed_at: None,
    });
    for (id, at) in [
        ("cm_in", "2017-09-26T00:05:00Z"),
        ("cm_later", "2017-09-28T00:00:00Z"),
    ] {
        inp.card_mentions.push(CardMentionRow {
            id: id.into(),
            tenant_id: "t_3".into(),
            conversation_id: "c_edge".into(),
            brand: "Mastercard".into(),
            last4: "4444".into(),
            at: t(at),
        });
    }
    let report = compute(&inp).unwrap();
    let shop3 = report.tenants.iter().find(|t| t.slug == "shop3").unwrap();
    assert_eq!(shop3.visitors.len(), 1);
    let cards = &shop3.visitors[0].conversations[0].card_mentions;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].cite, Citation::RedactionEvent("cm_in".into()));
}

#[test]
fn rows_of_unknown_tenants_and_mismatched_rows_never_reach_the_report() {
    let mut inp = breach_2017();
    // A row the store should not have returned: another tenant's visitor under tenant 0's conversation key.
    inp.exposures.push(session(
        "vs_ghost",
        9,
        "v_ghost",
        t("2017-09-27T00:00:00Z"),
        &[BAD],
    ));
    inp.exposures.push(session(
        "vs_other_hash",
        0,
        "v_x",
        t("2017-09-27T00:00:00Z"),
        &[GOOD],
    ));
    let report = compute(&inp).unwrap();
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("v_ghost") && !json.contains("vs_other_hash"));
}

#[test]
fn a_card_mention_with_more_than_four_digits_is_refused() {
    for (brand, last4) in [
        ("Visa", "41111"),
        ("Visa", "11a1"),
        ("4111111111111111", "1111"),
    ] {
        let mut inp = breach_2017();
        inp.card_mentions[0].brand = brand.into();
        inp.card_mentions[0].last4 = last4.into();
        assert!(compute(&inp).is_err(), "{brand} {last4}");
    }
}

fn audit_entry(log: &str, actor: &str, action: &str, target: &str, ts: i64) -> Vec<u8> {
    format!(
        "{{\"action\":\"{action}\",\"actor\":\"{actor}\",\"id\":\"ae_{ts}\",\"log\":\"{log}\",\"target\":\"{target}\",\"ts\":{ts}}}"
    )
    .into_bytes()
}

fn agent_scenario() -> ImpactInput {
    let window = Window::new(t("2024-05-01T00:00:00Z"), t("2024-05-02T00:00:00Z")).unwrap();
    let mut inp = input(Component::agent("shop1/sam").unwrap(), window);
    inp.principal = Some(Principal {
        tenant_id: "t_1".into(),
        actor: "agent:a_sam".into(),
        label: "agent shop1/sam".into(),
    });
    let inside = t("2024-05-01T10:00:00Z");
    let entries = [
        (
            "t_1",
            "agent:a_sam",
            "conversation.read",
            "conversation:c_read",
            inside,
        ),
        (
            "t_1",
            "agent:a_sam",
            "transcript.open",
            "conversation:c_open#seq",
            inside + HOUR,
        ),
        (
            "t_1",
            "agent:a_sam",
            "agents.list",
            "tenant:t_1",
            inside + 2 * HOUR,
        ),
        (
            "t_1",
            "agent:a_other",
            "conversation.read",
            "conversation:c_notsam",
            inside,
        ),
        (
            "t_1",
            "agent:a_sam",
            "conversation.read",
            "conversation:c_before",
            t("2024-04-30T10:00:00Z"),
        ),
        // Another tenant's log: never read for this principal.
        (
            "t_2",
            "agent:a_sam",
            "conversation.read",
            "conversation:c_t2",
            inside,
        ),
    ];
    for (i, (log, actor, action, target, ts)) in entries.iter().enumerate() {
        inp.audit.push(AuditRow {
            log_id: log.to_string(),
            index: i as u64,
            entry: audit_entry(log, actor, action, target, *ts),
        });
    }
    for (conv, tenant) in [
        ("c_read", 1),
        ("c_open", 1),
        ("c_notsam", 1),
        ("c_before", 1),
        ("c_t2", 2),
    ] {
        inp.conversations.push(ConversationRow {
            tenant_id: format!("t_{tenant}"),
            conversation_id: conv.into(),
            visitor_id: format!("v_{conv}"),
            agent_id: None,
            created_at: t("2024-04-01T00:00:00Z"),
            closed_at: None,
        });
    }
    inp
}

#[test]
fn an_agent_component_lists_exactly_the_conversations_it_read_in_the_window() {
    let report = compute(&agent_scenario()).unwrap();
    assert_eq!(report.tenants.len(), 1);
    let t1 = &report.tenants[0];
    let convs: Vec<&str> = t1
        .visitors
        .iter()
        .flat_map(|v| &v.conversations)
        .map(|c| c.conversation_id.as_str())
        .collect();
    assert_eq!(convs, ["c_read", "c_open"]);
    assert_eq!(t1.principal_actions.len(), 3);
    assert_eq!(
        t1.visitors[0].reason,
        "agent shop1/sam ran conversation.read on conversation c_read at 2024-05-01T10:00Z"
    );
    let Citation::Audit(a) = &t1.visitors[0].conversations[0].cite else {
        panic!("an audit citation")
    };
    assert_eq!((a.log.as_str(), a.index), ("t_1", 0));
}

#[test]
fn audit_rows_past_the_checkpoint_are_not_reported() {
    let mut inp = agent_scenario();
    inp.checkpoints.iter_mut().for_each(|c| c.size = 1);
    let report = compute(&inp).unwrap();
    assert_eq!(report.tenants[0].principal_actions.len(), 1);
}

fn signer() -> NoteSigner {
    sign::signer_from_audit_seed(&[7u8; 32]).unwrap()
}

#[test]
fn a_signed_report_verifies_and_any_edit_fails() {
    let report = compute(&breach_2017()).unwrap();
    let signed = sign::sign(&report, &signer()).unwrap();
    let json = render::json(&signed);
    let verifier = signer().verifier();
    assert_eq!(verifier.name(), KEY_NAME);
    let ok = sign::verify(json.as_bytes(), &verifier).unwrap();
    assert_eq!(ok.report_id, "imp_test");
    // Whitespace does not matter (the digest is over the canonical form).
    let compact = serde_json::to_string(&signed).unwrap();
    assert!(sign::verify(compact.as_bytes(), &verifier).is_ok());

    let edits: Vec<(&str, Box<dyn Fn(&mut Value)>)> = vec![
        (
            "drop a visitor",
            Box::new(|v| {
                v["tenants"][0]["visitors"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "change a last4",
            Box::new(|v| {
                v["tenants"][0]["visitors"][0]["conversations"][0]["card_mentions"][0]["last4"] =
                    "9999".into();
            }),
        ),
        (
            "add a member",
            Box::new(|v| {
                v["note"] = "hello".into();
            }),
        ),
        (
            "change the window",
            Box::new(|v| {
                v["window"]["to"] = "2017-10-01T00:00:00.000Z".into();
            }),
        ),
        (
            "change the report id",
            Box::new(|v| {
                v["report_id"] = "imp_other".into();
            }),
        ),
        (
            "change the checkpoint",
            Box::new(|v| {
                v["tenants"][1]["checkpoint"]["size"] = 11.into();
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut v = signed.clone();
        edit(&mut v);
        let err = sign::verify(v.to_string().as_bytes(), &verifier).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::DigestMismatch | VerifyError::ReportIdMismatch
            ),
            "{what}: {err}"
        );
    }
    // Another key, or no signature.
    let other = NoteSigner::from_seed(KEY_NAME, &[8u8; 32])
        .unwrap()
        .verifier();
    assert_eq!(
        sign::verify(json.as_bytes(), &other).unwrap_err(),
        VerifyError::BadSignature
    );
    let mut unsigned = signed.clone();
    unsigned.as_object_mut().unwrap().remove("signature");
    assert_eq!(
        sign::verify(unsigned.to_string().as_bytes(), &verifier).unwrap_err(),
        VerifyError::Unsigned
    );
    // A signature that never covered these counts (re-signed by a buggy signer) is caught too.
    assert!(sign::verify(b"[1,2]", &verifier).is_err());
}

#[test]
fn citations_check_against_their_records() {
    let inp = breach_2017();
    let report = compute(&inp).unwrap();
    let signed = sign::sign(&report, &signer()).unwrap();
    let all = claims(&signed);
    assert!(all.iter().any(|c| matches!(c, Claim::Exposure { .. })));
    assert!(all
        .iter()
        .any(|c| matches!(c, Claim::RedactionEvent { .. })));
    for claim in &all {
        let evidence = match claim {
            Claim::Exposure { session_id, .. } => Evidence::Exposure(
                inp.exposures
                    .iter()
                    .find(|e| &e.session_id == session_id)
                    .cloned(),
            ),
            Claim::RedactionEvent { id, .. } => {
                Evidence::RedactionEvent(inp.card_mentions.iter().find(|m| &m.id == id).cloned())
            }
            Claim::Checkpoint { .. } | Claim::Audit { .. } => continue,
        };
        check(&signed, claim, &evidence).unwrap();
        // The record changed after the report: the claim no longer holds.
        let tampered = match evidence {
            Evidence::Exposure(Some(mut e)) => {
                e.asset_hashes = vec![GOOD.into()];
                Evidence::Exposure(Some(e))
            }
            Evidence::RedactionEvent(Some(mut m)) => {
                m.last4 = "0000".into();
                Evidence::RedactionEvent(Some(m))
            }
            other => other,
        };
        assert!(check(&signed, claim, &tampered).is_err());
        assert!(check(&signed, claim, &Evidence::Exposure(None)).is_err());
    }
}

#[test]
fn audit_citations_are_proved_against_the_checkpoint() {
    let mut inp = agent_scenario();
    // A real tree over tenant 1's entries, and a real signed checkpoint of it.
    let entries: Vec<Vec<u8>> = inp
        .audit
        .iter()
        .filter(|a| a.log_id == "t_1")
        .map(|a| a.entry.clone())
        .collect();
    let tree = cordon_ledger::MemoryTree::from_entries(entries.iter());
    let size = tree.size();
    inp.checkpoints = vec![CheckpointRow {
        log_id: "t_1".into(),
        size,
        root: tree.root(),
    }];
    let report = compute(&inp).unwrap();
    let signed = sign::sign(&report, &signer()).unwrap();
    let log_signer = NoteSigner::from_seed("cordon/audit/t_1", &[7u8; 32]).unwrap();
    let note = cordon_ledger::Checkpoint::new("cordon/audit/t_1", size, tree.root())
        .unwrap()
        .sign(&log_signer)
        .unwrap();
    let mut audit_claims = 0;
    for claim in claims(&signed) {
        let evidence = match &claim {
            Claim::Audit { index, .. } => {
                audit_claims += 1;
                let proof = tree.inclusion_proof(*index, size).unwrap();
                Evidence::Audit(Some((entries[*index as usize].clone(), proof)))
            }
            Claim::Checkpoint { .. } => {
                Evidence::Checkpoint(Some((note.clone(), log_signer.verifier())))
            }
            _ => continue,
        };
        check(&signed, &claim, &evidence).unwrap();
        if let Claim::Audit { index, .. } = &claim {
            let proof = tree.inclusion_proof(*index, size).unwrap();
            let mut edited = entries[*index as usize].clone();
            edited[2] ^= 1;
            assert!(check(&signed, &claim, &Evidence::Audit(Some((edited, proof)))).is_err());
        }
    }
    assert!(audit_claims >= 3);
}

#[test]
fn csv_has_one_row_per_visitor_and_cannot_run_formulas() {
    let mut inp = breach_2017();
    inp.visitors[1].user_id = Some("=HYPERLINK(\"http://evil\",\"x\")".into());
    inp.visitors[5].user_id = Some("+1 555, \"quoted\"\nnext".into());
    let report = compute(&inp).unwrap();
    let csv = render::csv(&report);
    assert!(csv.starts_with("\"tenant_slug\",\"tenant_name\",\"visitor_id\""));
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""));
    assert!(csv.contains("\"'+1 555, \"\"quoted\"\"\nnext\""));
    assert!(csv.contains("\"Visa 1111\""));
    // header + 6 visitors, counted by record ends
    assert_eq!(csv.matches("\r\n").count(), 7);
}

#[test]
fn html_escapes_everything_and_loads_nothing() {
    let mut inp = breach_2017();
    inp.visitors[1].user_id = Some("<script>alert(1)</script>".into());
    inp.exposures[1].embed_origin =
        Some("https://x.example/\"><img src=x onerror=alert(1)>".into());
    let report = compute(&inp).unwrap();
    let html = render::html(&report, "digest");
    assert!(!html.contains("<script") && !html.contains("<img"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("default-src 'none'"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(
        !html.contains("http-equiv=\"refresh\"")
            && !html.contains("<link")
            && !html.contains("url(")
    );
}

fn arb_rows() -> impl Strategy<Value = Vec<(usize, usize, i64, i64, bool, u8)>> {
    // (tenant, visitor, start hour, length hours, served the bad file, cards)
    proptest::collection::vec(
        (
            0usize..4,
            0usize..6,
            0i64..200,
            0i64..30,
            any::<bool>(),
            0u8..3,
        ),
        0..60,
    )
}

/// An RFC 4180 reader, as a spreadsheet reads the file: every cell is quoted,
/// `""` inside a cell is one `"`, rows end in CRLF. It returns the cells'
/// values, so the formula check sees exactly what a spreadsheet would.
fn parse_csv(csv: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    if !cell.is_empty() || !row.is_empty() {
        row.push(cell);
        rows.push(row);
    }
    rows
}

#[test]
fn the_csv_reader_unescapes_quotes() {
    assert_eq!(
        parse_csv("\"a\",\"\"\"=\"\r\n"),
        vec![vec!["a".to_string(), "\"=".to_string()]]
    );
}

#[test]
fn csv_cells_that_open_with_a_quote_or_a_formula_sign_stay_inert() {
    for user_id in ["\"=", "=1+1", "\"\"@SUM(A1)", "-2", "+x"] {
        let mut inp = breach_2017();
        inp.visitors[1].user_id = Some(user_id.into());
        let cells = parse_csv(&render::csv(&compute(&inp).unwrap()));
        let found: Vec<&String> = cells
            .iter()
            .flatten()
            .filter(|c| c.ends_with(user_id))
            .collect();
        assert!(!found.is_empty(), "{user_id:?} not in the csv");
        for cell in cells.iter().flatten() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn reports_hold_only_matching_sessions_own_tenant_rows_and_four_digits(
        rows in arb_rows(), from in 0i64..150, len in 1i64..80,
    ) {
        let base = t("2017-09-01T00:00:00Z");
        let window = Window::new(base + from * HOUR, base + (from + len) * HOUR).unwrap();
        let mut inp = input(Component::asset_hash(BAD).unwrap(), window);
        for (i, (tenant, visitor, start, length, bad, cards)) in rows.iter().enumerate() {
            let visitor = format!("v_{tenant}_{visitor}");
            let start = base + start * HOUR;
            let mut s = session(&format!("vs_{i}"), *tenant, &visitor, start, &[GOOD, if *bad { BAD } else { GOOD }]);
            s.ended_at = Some(start + length * HOUR);
            inp.exposures.push(s);
            let conv = format!("c_{i}");
            inp.conversations.push(ConversationRow {
                tenant_id: format!("t_{tenant}"), conversation_id: conv.clone(), visitor_id: visitor,
                agent_id: None, created_at: start, closed_at: Some(start + length * HOUR),
            });
            for k in 0..*cards {
                inp.card_mentions.push(CardMentionRow {
                    id: format!("cm_{i}_{k}"), tenant_id: format!("t_{tenant}"), conversation_id: conv.clone(),
                    brand: "Amex".into(), last4: format!("{:04}", i * 7 + k as usize), at: start + i64::from(k) * HOUR,
                });
            }
        }
        let report = compute(&inp).unwrap();
        let expected: std::collections::BTreeSet<String> = inp.exposures.iter()
            .filter(|e| e.asset_hashes.iter().any(|h| h == BAD) && window.overlaps(e.started_at, e.ended_at))
            .map(|e| e.session_id.clone()).collect();
        let mut found = std::collections::BTreeSet::new();
        for tenant in &report.tenants {
            for v in &tenant.visitors {
                let own_prefix = format!("v_{}_", &tenant.tenant_id[2..]);
                prop_assert!(v.visitor_id.starts_with(&own_prefix));
                for s in &v.sessions {
                    let row = inp.exposures.iter().find(|e| e.session_id == s.session_id).unwrap();
                    prop_assert_eq!(&row.tenant_id, &tenant.tenant_id);
                    found.insert(s.session_id.clone());
                }
                for c in &v.conversations {
                    for m in &c.card_mentions {
                        prop_assert!(m.last4.len() == 4 && m.last4.bytes().all(|b| b.is_ascii_digit()));
                    }
                }
            }
        }
        prop_assert_eq!(found, expected);
        let signed = sign::sign(&report, &signer()).unwrap();
        prop_assert!(sign::verify(signed.to_string().as_bytes(), &signer().verifier()).is_ok());
    }

    #[test]
    fn canonical_json_is_independent_of_member_order(keys in proptest::collection::btree_set("[a-zé]{1,6}", 1..8)) {
        let forward: serde_json::Map<String, Value> = keys.iter().map(|k| (k.clone(), Value::from(k.len()))).collect();
        let mut reversed = serde_json::Map::new();
        for k in keys.iter().rev() { reversed.insert(k.clone(), Value::from(k.len())); }
        prop_assert_eq!(sign::canonical_json(&Value::Object(forward)), sign::canonical_json(&Value::Object(reversed)));
    }

    #[test]
    fn csv_cells_never_start_a_formula(s in "\\PC{0,20}") {
        let mut inp = breach_2017();
        inp.visitors[1].user_id = Some(s);
        let csv = render::csv(&compute(&inp).unwrap());
        let cells = parse_csv(&csv);
        prop_assert!(cells.len() > 1);
        for cell in cells.iter().flatten() {
            prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
        }
    }
}
