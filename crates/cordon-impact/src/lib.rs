//! Breach impact for Cordon: which tenants, visitor sessions, visitors, conversations and card mentions (brand
//! and last four only) a compromised component reached in a time window, as a signed, verifiable report.
//!
//! Pure: no I/O, no clock, no database. The caller reads plain rows from the store ([`compute::ImpactInput`]),
//! and this crate checks, groups and renders them ([`compute::compute`], [`render`]), signs the result with the
//! audit key ([`sign::sign`]) and verifies it ([`sign::verify`], [`citations`]). docs/IMPACT.md describes the
//! JSON shape and how to verify a report by hand.
#![forbid(unsafe_code)]

pub mod citations;
pub mod component;
pub mod compute;
pub mod model;
pub mod render;
pub mod sign;
pub mod time;

pub use component::{Component, Window};
pub use compute::{compute, ImpactInput};
pub use model::Report;

/// Errors from building a report. No variant carries input text (inputs may hold contact details).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpactError {
    #[error("asset hash must be 96 hex digits or an SRI value sha384-<base64>")]
    InvalidAssetHash,
    #[error("agent must be given as TENANT/USERNAME")]
    InvalidAgent,
    #[error("identifier may hold only letters, digits and _ - . :")]
    InvalidIdentifier,
    #[error("time must be RFC 3339, e.g. 2017-09-26T00:00:00Z")]
    InvalidTime,
    #[error("the window is empty: --from must be before --to")]
    EmptyWindow,
    #[error("an agent or API-key component needs its principal resolved")]
    MissingPrincipal,
    #[error("a card mention holds more than a known brand and four digits; refusing to report it")]
    InvalidCardMention,
    #[error("audit entry {index} is not the canonical JSON entry format")]
    CorruptAuditEntry { index: u64 },
    #[error("the report could not be signed")]
    Signing,
}

/// Why a report does not verify. Messages name records by id only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a JSON report")]
    NotJson,
    #[error("the report has no signature")]
    Unsigned,
    #[error("the signature does not verify with the trusted key")]
    BadSignature,
    #[error("the signed note is not an impact-report note")]
    MalformedNote,
    #[error("the signed note is for another report")]
    ReportIdMismatch,
    #[error("the report was changed after it was signed (digest mismatch)")]
    DigestMismatch,
    #[error("unknown report format")]
    UnknownFormat,
    #[error("the report's counts disagree with its lists")]
    CountsDisagree,
    #[error("citation does not match the record: {0}")]
    Citation(String),
}
