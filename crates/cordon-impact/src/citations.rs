//! Checking a report's citations against the records they name. The crate does no I/O, so this is in two
//! steps: `claims` lists what a (verified) report asserts about each cited record; the caller fetches the
//! evidence for each claim (from the database, or from the audit API) and `check` compares the two.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cordon_ledger::{Checkpoint, Hash, NoteVerifier};
use serde_json::Value;

use crate::component::{sha384_hex_from_input, Window};
use crate::compute::{CardMentionRow, ExposureRow};
use crate::time::{format_millis, parse_rfc3339};
use crate::VerifyError;

/// One assertion of a report about a record it cites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A visitor session: it exists for this tenant and visitor, started then, and ran the component.
    Exposure {
        tenant_id: String,
        visitor_id: String,
        session_id: String,
        started_at: String,
    },
    /// A card mention: brand and last four, in this conversation, at that time.
    RedactionEvent {
        tenant_id: String,
        conversation_id: String,
        id: String,
        brand: String,
        last4: String,
        at: String,
    },
    /// An audit entry: the leaf at `index` of `log` hashes to `leaf_hash`, inside the tree of the report's
    /// checkpoint (`size`, `root_hash`).
    Audit {
        log: String,
        index: u64,
        leaf_hash: String,
        size: u64,
        root_hash: String,
    },
    /// The tenant's checkpoint in the report is one the log actually signed.
    Checkpoint {
        log: String,
        size: u64,
        root_hash: String,
    },
}

/// What the caller found for a claim.
#[derive(Debug, Clone)]
pub enum Evidence {
    Exposure(Option<ExposureRow>),
    RedactionEvent(Option<CardMentionRow>),
    /// The entry's exact bytes and an RFC 9162 inclusion proof for it in the tree of the claimed size.
    Audit(Option<(Vec<u8>, Vec<Hash>)>),
    /// The stored signed checkpoint note of that size, and the log's trusted verifier key.
    Checkpoint(Option<(String, NoteVerifier)>),
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn items<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}

/// Every claim of a report, in document order, without duplicates.
pub fn claims(report: &Value) -> Vec<Claim> {
    let mut out: Vec<Claim> = Vec::new();
    let push = |c: Claim, out: &mut Vec<Claim>| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for t in items(report, "tenants") {
        let tenant_id = text(t, "tenant_id").to_string();
        let cp = t.get("checkpoint").filter(|c| !c.is_null());
        let (size, root) = cp.map_or((0, String::new()), |c| {
            (
                c.get("size").and_then(Value::as_u64).unwrap_or(0),
                text(c, "root_hash").to_string(),
            )
        });
        if let Some(c) = cp {
            push(
                Claim::Checkpoint {
                    log: text(c, "log").to_string(),
                    size,
                    root_hash: root.clone(),
                },
                &mut out,
            );
        }
        let audit = |cite: &Value, out: &mut Vec<Claim>| {
            if let Some(a) = cite.get("audit") {
                push(
                    Claim::Audit {
                        log: text(a, "log").to_string(),
                        index: a.get("index").and_then(Value::as_u64).unwrap_or(u64::MAX),
                        leaf_hash: text(a, "leaf_hash").to_string(),
                        size,
                        root_hash: root.clone(),
                    },
                    out,
                );
            }
        };
        for a in items(t, "principal_actions") {
            audit(a.get("cite").unwrap_or(&Value::Null), &mut out);
        }
        for v in items(t, "visitors") {
            let visitor_id = text(v, "visitor_id").to_string();
            for c in items(v, "citations") {
                audit(c, &mut out);
            }
            for s in items(v, "sessions") {
                push(
                    Claim::Exposure {
                        tenant_id: tenant_id.clone(),
                        visitor_id: visitor_id.clone(),
                        session_id: text(s, "session_id").to_string(),
                        started_at: text(s, "started_at").to_string(),
                    },
                    &mut out,
                );
            }
            for c in items(v, "conversations") {
                audit(c.get("cite").unwrap_or(&Value::Null), &mut out);
                for m in items(c, "card_mentions") {
                    push(
                        Claim::RedactionEvent {
                            tenant_id: tenant_id.clone(),
                            conversation_id: text(c, "conversation_id").to_string(),
                            id: m
                                .get("cite")
                                .and_then(|c| c.get("redaction_event"))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            brand: text(m, "brand").to_string(),
                            last4: text(m, "last4").to_string(),
                            at: text(m, "at").to_string(),
                        },
                        &mut out,
                    );
                }
            }
        }
    }
    out
}

/// Does the evidence bear the claim out? `report` is the verified report (its component and window decide
/// whether a session counts).
pub fn check(report: &Value, claim: &Claim, evidence: &Evidence) -> Result<(), VerifyError> {
    let fail = || VerifyError::Citation(describe(claim));
    match (claim, evidence) {
        (
            Claim::Exposure {
                tenant_id,
                visitor_id,
                session_id,
                started_at,
            },
            Evidence::Exposure(Some(row)),
        ) => {
            let same = &row.tenant_id == tenant_id
                && &row.visitor_id == visitor_id
                && &row.session_id == session_id
                && &format_millis(row.started_at) == started_at;
            if same && session_matches_component(report, row) {
                Ok(())
            } else {
                Err(fail())
            }
        }
        (
            Claim::RedactionEvent {
                tenant_id,
                conversation_id,
                id,
                brand,
                last4,
                at,
            },
            Evidence::RedactionEvent(Some(row)),
        ) => {
            let same = &row.tenant_id == tenant_id
                && &row.conversation_id == conversation_id
                && &row.id == id
                && &row.brand == brand
                && &row.last4 == last4
                && &format_millis(row.at) == at;
            same.then_some(()).ok_or_else(fail)
        }
        (
            Claim::Audit {
                index,
                leaf_hash,
                size,
                root_hash,
                ..
            },
            Evidence::Audit(Some((entry, proof))),
        ) => {
            let leaf = cordon_ledger::leaf_hash(entry);
            if B64.encode(leaf) != *leaf_hash {
                return Err(fail());
            }
            let root: Hash = B64
                .decode(root_hash)
                .ok()
                .and_then(|r| r.try_into().ok())
                .ok_or_else(fail)?;
            cordon_ledger::verify_inclusion(*index, *size, &leaf, proof, &root).map_err(|_| fail())
        }
        (
            Claim::Checkpoint {
                log,
                size,
                root_hash,
            },
            Evidence::Checkpoint(Some((note, verifier))),
        ) => {
            let origin = format!("cordon/audit/{log}");
            let cp = Checkpoint::open(note.as_bytes(), &origin, verifier).map_err(|_| fail())?;
            (cp.size() == *size && B64.encode(cp.root()) == *root_hash)
                .then_some(())
                .ok_or_else(fail)
        }
        _ => Err(fail()),
    }
}

fn session_matches_component(report: &Value, row: &ExposureRow) -> bool {
    let window = report.get("window");
    let bound = |k: &str| {
        window
            .and_then(|w| w.get(k))
            .and_then(Value::as_str)
            .and_then(|s| parse_rfc3339(s).ok())
    };
    let Some(Ok(window)) = bound("from")
        .zip(bound("to"))
        .map(|(f, t)| Window::new(f, t))
    else {
        return false;
    };
    if !window.overlaps(row.started_at, row.ended_at) {
        return false;
    }
    let component = report.get("component");
    let kind = component.map(|c| text(c, "kind")).unwrap_or_default();
    let value = component.map(|c| text(c, "value")).unwrap_or_default();
    match kind {
        "asset_hash" => sha384_hex_from_input(value).is_ok_and(|h| row.asset_hashes.contains(&h)),
        "node" => row.node == value,
        "platform" => true,
        _ => false,
    }
}

/// A claim named without its content (a failure message must not carry contact details).
pub fn describe(claim: &Claim) -> String {
    match claim {
        Claim::Exposure { session_id, .. } => format!("exposure record {session_id}"),
        Claim::RedactionEvent { id, .. } => format!("redaction event {id}"),
        Claim::Audit { log, index, .. } => format!("audit entry {log}#{index}"),
        Claim::Checkpoint { log, size, .. } => format!("checkpoint {log}@{size}"),
    }
}
