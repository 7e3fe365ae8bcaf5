//! Signing and verifying reports: a C2SP signed note (the format of the audit checkpoints, from cordon-ledger)
//! over the SHA-256 of the report's canonical JSON.
//!
//! The signed report is the report's JSON object with one more member, `signature`:
//!
//! ```text
//! "signature": {"key": "<note verifier key>", "note": "cordon/impact\n<report_id>\n<base64 SHA-256>\n\n— cordon/impact <base64 sig>\n"}
//! ```
//!
//! The digest covers every other member in RFC 8785 (JCS) form: keys sorted, no white space, strings escaped
//! the JSON way. The `key` member is informational; a verifier uses the key it already trusts.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cordon_ledger::{NoteSigner, NoteVerifier};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{Report, FORMAT};
use crate::VerifyError;

/// The note key name (and the note's first line) of impact reports. The key is the audit key's Ed25519 seed
/// under this name, so its verifier key is the audit key's public key with this name (docs/IMPACT.md).
pub const KEY_NAME: &str = "cordon/impact";

/// The report signer from the audit signing seed. The seed is not kept anywhere but in the signer.
pub fn signer_from_audit_seed(seed: &[u8; 32]) -> Result<NoteSigner, crate::ImpactError> {
    NoteSigner::from_seed(KEY_NAME, seed).map_err(|_| crate::ImpactError::Signing)
}

/// RFC 8785 canonical JSON of a value (integers only: reports hold no floating-point numbers, and a float
/// introduced by an edit is written in serde_json's form, which makes the digest fail, as it should).
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
        // serde_json escapes exactly what JCS escapes (", \, control characters; \b \t \n \f \r short, the
        // rest as lowercase \u00xx) and writes everything else as UTF-8.
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // JCS orders members by the UTF-16 code units of their names.
            keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(*key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
    }
}

/// Standard base64 of the SHA-256 of the canonical JSON of `value` minus its `signature` member.
pub fn report_digest(value: &Value) -> String {
    let digest = match value {
        Value::Object(map) => {
            let mut unsigned = map.clone();
            unsigned.remove("signature");
            Sha256::digest(canonical_json(&Value::Object(unsigned)).as_bytes())
        }
        other => Sha256::digest(canonical_json(other).as_bytes()),
    };
    B64.encode(digest)
}

fn note_text(report_id: &str, digest: &str) -> String {
    format!("{KEY_NAME}\n{report_id}\n{digest}\n")
}

/// A report id may appear on the note's second line: printable, no spaces.
fn valid_report_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The signed report as a JSON value (render it with `serde_json::to_string_pretty` or `canonical_json`).
pub fn sign(report: &Report, signer: &NoteSigner) -> Result<Value, crate::ImpactError> {
    if signer.name() != KEY_NAME {
        return Err(crate::ImpactError::Signing);
    }
    if !valid_report_id(&report.report_id) {
        return Err(crate::ImpactError::InvalidIdentifier);
    }
    let mut value = serde_json::to_value(report).map_err(|_| crate::ImpactError::Signing)?;
    let digest = report_digest(&value);
    let note = signer
        .sign(&note_text(&report.report_id, &digest))
        .map_err(|_| crate::ImpactError::Signing)?;
    let Value::Object(map) = &mut value else {
        return Err(crate::ImpactError::Signing);
    };
    map.insert(
        "signature".into(),
        serde_json::json!({ "key": signer.verifier().to_string(), "note": note }),
    );
    Ok(value)
}

/// What a verified report says about itself.
#[derive(Debug, Clone)]
pub struct Verified {
    pub report_id: String,
    pub digest: String,
    pub value: Value,
}

/// Check a signed report (the bytes of its JSON) against a trusted key: the signature, that the note names
/// this report and its exact content, and that its counts add up. An edited member, an added or removed
/// member, or a swapped note all fail.
pub fn verify(report_json: &[u8], trusted: &NoteVerifier) -> Result<Verified, VerifyError> {
    let value: Value = serde_json::from_slice(report_json).map_err(|_| VerifyError::NotJson)?;
    let note = value
        .get("signature")
        .and_then(|s| s.get("note"))
        .and_then(Value::as_str)
        .ok_or(VerifyError::Unsigned)?;
    let opened = trusted
        .open(note.as_bytes())
        .map_err(|_| VerifyError::BadSignature)?;
    let lines: Vec<&str> = opened.text().lines().collect();
    let [origin, report_id, digest] = lines[..] else {
        return Err(VerifyError::MalformedNote);
    };
    if origin != KEY_NAME {
        return Err(VerifyError::MalformedNote);
    }
    if value.get("report_id").and_then(Value::as_str) != Some(report_id) {
        return Err(VerifyError::ReportIdMismatch);
    }
    if report_digest(&value) != digest {
        return Err(VerifyError::DigestMismatch);
    }
    if value.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(VerifyError::UnknownFormat);
    }
    check_counts(&value)?;
    Ok(Verified {
        report_id: report_id.to_string(),
        digest: digest.to_string(),
        value,
    })
}

fn len_of(v: &Value, key: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(0, |a| a.len() as u64)
}

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get("counts")
        .or(Some(v))
        .and_then(|c| c.get(key))
        .and_then(Value::as_u64)
}

/// The counts of every tenant, and the totals, agree with the lists (a signed report always does; this
/// catches a signer bug, and documents the invariant for third parties).
fn check_counts(report: &Value) -> Result<(), VerifyError> {
    let tenants = report
        .get("tenants")
        .and_then(Value::as_array)
        .ok_or(VerifyError::CountsDisagree)?;
    let keys = [
        "sessions",
        "visitors",
        "conversations",
        "card_mentions",
        "audit_entries",
    ];
    let mut sums = [0u64; 5];
    for t in tenants {
        let visitors = t
            .get("visitors")
            .and_then(Value::as_array)
            .ok_or(VerifyError::CountsDisagree)?;
        let mut found = [0u64; 5];
        found[1] = visitors.len() as u64;
        for v in visitors {
            found[0] += len_of(v, "sessions");
            let convs = v
                .get("conversations")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            found[2] += convs.len() as u64;
            found[3] += convs
                .iter()
                .map(|c| len_of(c, "card_mentions"))
                .sum::<u64>();
        }
        found[4] = len_of(t, "principal_actions");
        for (i, key) in keys.iter().enumerate() {
            if count(t, key) != Some(found[i]) {
                return Err(VerifyError::CountsDisagree);
            }
            sums[i] += found[i];
        }
    }
    let totals = report.get("totals").ok_or(VerifyError::CountsDisagree)?;
    for (i, key) in keys.iter().enumerate() {
        if totals.get(*key).and_then(Value::as_u64) != Some(sums[i]) {
            return Err(VerifyError::CountsDisagree);
        }
    }
    if totals.get("tenants").and_then(Value::as_u64) != Some(tenants.len() as u64) {
        return Err(VerifyError::CountsDisagree);
    }
    Ok(())
}
