//! The report: what `--json` prints (docs/IMPACT.md documents every field). Field order here is the order of
//! the rendered JSON; the signature covers the canonical form (sorted keys), so the order is for people only.

use serde::Serialize;

use crate::component::WindowView;

/// The `format` field: bumped when a field changes meaning or goes away (adding a field does not bump it).
pub const FORMAT: &str = "cordon-impact/v1";

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub report_id: String,
    pub generated_at: String,
    pub component: ComponentView,
    pub window: WindowView,
    pub totals: Totals,
    pub tenants: Vec<TenantImpact>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub kind: &'static str,
    pub value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub tenants: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub sessions: u64,
    pub visitors: u64,
    /// Visitors the tenant knows by a verified user id (the ones it can contact).
    pub verified_visitors: u64,
    pub conversations: u64,
    pub card_mentions: u64,
    /// Audit entries of the compromised principal (agent and API-key components).
    pub audit_entries: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, other: &Counts) {
        self.sessions += other.sessions;
        self.visitors += other.visitors;
        self.verified_visitors += other.verified_visitors;
        self.conversations += other.conversations;
        self.card_mentions += other.card_mentions;
        self.audit_entries += other.audit_entries;
    }
}

/// The tree head of a tenant's audit log that the report was computed at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointView {
    pub log: String,
    pub size: u64,
    /// Standard base64 of the 32-byte RFC 6962 root, as in the signed checkpoint note.
    pub root_hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TenantImpact {
    pub tenant_id: String,
    pub slug: String,
    pub name: String,
    pub checkpoint: Option<CheckpointView>,
    pub counts: Counts,
    pub visitors: Vec<VisitorImpact>,
    /// What the compromised principal did in this tenant's log during the window (agent and key components).
    pub principal_actions: Vec<AuditAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VisitorImpact {
    pub visitor_id: String,
    pub contact: Contact,
    /// One line saying why this visitor is on the list.
    pub reason: String,
    pub sessions: Vec<SessionEntry>,
    pub conversations: Vec<ConversationEntry>,
    /// Where the visitor's inclusion comes from: its exposure records, or the audit entries that name it.
    pub citations: Vec<Citation>,
}

/// The contact details the tenant holds. Today that is the verified user id; name and email are carried when
/// a tenant's record has them, and are `null` otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Contact {
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionEntry {
    pub session_id: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub embed_origin: Option<String>,
    pub node: String,
    pub cite: Citation,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConversationEntry {
    pub conversation_id: String,
    pub agent_id: Option<String>,
    pub created_at: String,
    pub closed_at: Option<String>,
    pub card_mentions: Vec<CardMentionEntry>,
    pub cite: Citation,
}

/// A card number that was typed and masked: its brand and last four digits, never more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardMentionEntry {
    pub brand: String,
    pub last4: String,
    pub at: String,
    pub cite: Citation,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditAction {
    pub action: String,
    pub target: String,
    pub at: String,
    pub cite: Citation,
}

/// Where an entry came from, so that anyone holding docs/IMPACT.md can check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Citation {
    /// A visitor session record (the exposure record), by its id.
    ExposureRecord(String),
    /// An entry of a tenant's audit log: its index and leaf hash, provable against the report's checkpoint.
    Audit(AuditCitation),
    /// A card-mention redaction event, by its id.
    RedactionEvent(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCitation {
    pub log: String,
    pub index: u64,
    /// Standard base64 of `SHA-256(0x00 ‖ entry bytes)`.
    pub leaf_hash: String,
}
