//! The computation: from plain rows (what the store returns) to a report. Nothing here trusts the rows to be
//! pre-filtered: every row is checked again against the component, the window, its tenant and the checkpoint,
//! so the store's indexes make the query fast but never decide what the report says.

use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::component::{sri_from_hex, Component, Window};
use crate::model::{
    AuditAction, AuditCitation, CardMentionEntry, CheckpointView, Citation, ComponentView, Contact,
    ConversationEntry, Counts, Report, SessionEntry, TenantImpact, Totals, VisitorImpact, FORMAT,
};
use crate::time::{format_millis, format_minutes};
use crate::ImpactError;

/// Card brands a redaction event may name (the display names cordon-card masks with). Anything else is refused,
/// so a corrupted or hostile row cannot smuggle digits into a report.
pub const CARD_BRANDS: &[&str] = &[
    "Visa",
    "Mastercard",
    "Amex",
    "Discover",
    "JCB",
    "Diners Club",
    "UnionPay",
    "Maestro",
    "Mir",
];

#[derive(Debug, Clone)]
pub struct TenantRow {
    pub id: String,
    pub slug: String,
    pub name: String,
}

/// The checkpoint of a tenant's log that the rows were read at (audit rows at or past `size` are ignored).
#[derive(Debug, Clone)]
pub struct CheckpointRow {
    pub log_id: String,
    pub size: u64,
    pub root: [u8; 32],
}

/// One visitor session record (the exposure record).
#[derive(Debug, Clone)]
pub struct ExposureRow {
    pub session_id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub node: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub embed_origin: Option<String>,
    /// SHA-384 of each widget file served, lowercase hex.
    pub asset_hashes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct VisitorRow {
    pub tenant_id: String,
    pub visitor_id: String,
    pub user_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub tenant_id: String,
    pub conversation_id: String,
    pub visitor_id: String,
    pub agent_id: Option<String>,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// A card-mention redaction event: brand and last four only.
#[derive(Debug, Clone)]
pub struct CardMentionRow {
    pub id: String,
    pub tenant_id: String,
    pub conversation_id: String,
    pub brand: String,
    pub last4: String,
    pub at: i64,
}

/// An audit entry as stored: its log, index and exact leaf bytes.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub log_id: String,
    pub index: u64,
    pub entry: Vec<u8>,
}

/// The compromised principal of an agent or API-key component, resolved by the caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant_id: String,
    /// The audit actor label: `agent:<id>` or `apikey:<id>`.
    pub actor: String,
    /// How reasons name it, e.g. `agent skyway/sam`.
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct ImpactInput {
    pub report_id: String,
    pub generated_at_ms: i64,
    pub component: Component,
    pub window: Window,
    /// For an asset hash: what the file is (`loader`, `frame script`, …) when the caller knows; else `widget file`.
    pub asset_label: Option<String>,
    pub principal: Option<Principal>,
    pub tenants: Vec<TenantRow>,
    pub checkpoints: Vec<CheckpointRow>,
    pub exposures: Vec<ExposureRow>,
    pub visitors: Vec<VisitorRow>,
    pub conversations: Vec<ConversationRow>,
    pub card_mentions: Vec<CardMentionRow>,
    pub audit: Vec<AuditRow>,
}

/// The parts of an audit entry impact reads (docs/AUDIT.md: the entry's canonical JSON).
#[derive(Debug, serde::Deserialize)]
struct EntryFields {
    action: String,
    actor: String,
    log: String,
    target: String,
    ts: i64,
}

/// A span `[start, end]` during which a visitor's browser ran the compromised component.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: i64,
    end: Option<i64>,
}

impl Span {
    fn covers(&self, at: i64) -> bool {
        at >= self.start && self.end.is_none_or(|e| at <= e)
    }
    fn overlaps(&self, start: i64, end: Option<i64>) -> bool {
        start <= self.end.unwrap_or(i64::MAX) && end.unwrap_or(i64::MAX) >= self.start
    }
}

/// What makes a visitor affected, in the order found (the earliest first after sorting).
#[derive(Debug, Default)]
struct Affected<'a> {
    sessions: Vec<&'a ExposureRow>,
    /// Conversations reached through the audit log, with the entries that reached them.
    audited: BTreeMap<String, Vec<(i64, Citation, String)>>,
}

fn check_card(row: &CardMentionRow) -> Result<(), ImpactError> {
    let last4_ok = row.last4.len() == 4 && row.last4.bytes().all(|b| b.is_ascii_digit());
    if last4_ok && CARD_BRANDS.contains(&row.brand.as_str()) {
        Ok(())
    } else {
        Err(ImpactError::InvalidCardMention)
    }
}

fn exposure_matches(input: &ImpactInput, row: &ExposureRow) -> bool {
    if !input.window.overlaps(row.started_at, row.ended_at) {
        return false;
    }
    match &input.component {
        Component::AssetHash { sha384_hex } => row.asset_hashes.iter().any(|h| h == sha384_hex),
        Component::Node { id } => &row.node == id,
        Component::Platform => true,
        Component::Agent { .. } | Component::ApiKey { .. } => false,
    }
}

fn origin_text(origin: &Option<String>) -> &str {
    origin.as_deref().unwrap_or("an unrecorded site")
}

fn exposure_reason(input: &ImpactInput, row: &ExposureRow) -> String {
    let when = format_minutes(row.started_at);
    let site = origin_text(&row.embed_origin);
    match &input.component {
        Component::AssetHash { sha384_hex } => {
            let label = input.asset_label.as_deref().unwrap_or("widget file");
            format!(
                "ran {label} {} at {when} on {site}",
                sri_from_hex(sha384_hex)
            )
        }
        Component::Node { id } => format!("was served by node {id} at {when} on {site}"),
        _ => format!("had a chat session at {when} on {site} during the platform compromise"),
    }
}

/// The conversation a target names (`conversation:<id>`, with or without a `#fields` suffix).
fn conversation_target(target: &str) -> Option<&str> {
    let id = target.strip_prefix("conversation:")?;
    Some(id.split('#').next().unwrap_or(id))
}

fn leaf_citation(row: &AuditRow) -> Citation {
    Citation::Audit(AuditCitation {
        log: row.log_id.clone(),
        index: row.index,
        leaf_hash: B64.encode(cordon_ledger::leaf_hash(&row.entry)),
    })
}

/// Compute the report. Errors only on rows that must never reach a report (a card mention with more than a
/// brand and four digits) or on a component that needs a principal the caller did not resolve.
pub fn compute(input: &ImpactInput) -> Result<Report, ImpactError> {
    for m in &input.card_mentions {
        check_card(m)?;
    }
    let principal = match &input.component {
        Component::Agent { .. } | Component::ApiKey { .. } => Some(
            input
                .principal
                .as_ref()
                .ok_or(ImpactError::MissingPrincipal)?,
        ),
        _ => None,
    };
    let tenants: HashMap<&str, &TenantRow> =
        input.tenants.iter().map(|t| (t.id.as_str(), t)).collect();
    let checkpoints: HashMap<&str, &CheckpointRow> = input
        .checkpoints
        .iter()
        .map(|c| (c.log_id.as_str(), c))
        .collect();
    let conversations: HashMap<(&str, &str), &ConversationRow> = input
        .conversations
        .iter()
        .map(|c| ((c.tenant_id.as_str(), c.conversation_id.as_str()), c))
        .collect();

    // tenant id -> visitor id -> what affected it
    let mut affected: BTreeMap<&str, BTreeMap<&str, Affected<'_>>> = BTreeMap::new();
    let mut actions: BTreeMap<&str, Vec<(u64, AuditAction)>> = BTreeMap::new();

    for row in &input.exposures {
        if tenants.contains_key(row.tenant_id.as_str()) && exposure_matches(input, row) {
            affected
                .entry(&row.tenant_id)
                .or_default()
                .entry(&row.visitor_id)
                .or_default()
                .sessions
                .push(row);
        }
    }

    if let Some(p) = principal {
        let size = checkpoints.get(p.tenant_id.as_str()).map_or(0, |c| c.size);
        for row in &input.audit {
            // Only the principal's own log, and only what the checkpoint covers (so every citation is provable).
            if row.log_id != p.tenant_id || row.index >= size {
                continue;
            }
            let Ok(fields) = serde_json::from_slice::<EntryFields>(&row.entry) else {
                return Err(ImpactError::CorruptAuditEntry { index: row.index });
            };
            if fields.log != row.log_id
                || fields.actor != p.actor
                || !input.window.contains(fields.ts)
            {
                continue;
            }
            let cite = leaf_citation(row);
            actions.entry(&p.tenant_id).or_default().push((
                row.index,
                AuditAction {
                    action: fields.action.clone(),
                    target: fields.target.clone(),
                    at: format_millis(fields.ts),
                    cite: cite.clone(),
                },
            ));
            let Some(conv_id) = conversation_target(&fields.target) else {
                continue;
            };
            let Some(conv) = conversations.get(&(p.tenant_id.as_str(), conv_id)) else {
                continue;
            };
            let reason = format!(
                "{} ran {} on conversation {} at {}",
                p.label,
                fields.action,
                conv.conversation_id,
                format_minutes(fields.ts)
            );
            affected
                .entry(&p.tenant_id)
                .or_default()
                .entry(&conv.visitor_id)
                .or_default()
                .audited
                .entry(conv.conversation_id.clone())
                .or_default()
                .push((fields.ts, cite, reason));
        }
    }

    let visitors: HashMap<(&str, &str), &VisitorRow> = input
        .visitors
        .iter()
        .map(|v| ((v.tenant_id.as_str(), v.visitor_id.as_str()), v))
        .collect();
    let mut conversations_by_visitor: HashMap<(&str, &str), Vec<&ConversationRow>> = HashMap::new();
    for c in &input.conversations {
        conversations_by_visitor
            .entry((&c.tenant_id, &c.visitor_id))
            .or_default()
            .push(c);
    }
    let mut mentions_by_conversation: HashMap<(&str, &str), Vec<&CardMentionRow>> = HashMap::new();
    for m in &input.card_mentions {
        mentions_by_conversation
            .entry((&m.tenant_id, &m.conversation_id))
            .or_default()
            .push(m);
    }

    let mut out_tenants = Vec::new();
    let mut totals = Totals::default();
    let tenant_ids: std::collections::BTreeSet<&str> =
        affected.keys().chain(actions.keys()).copied().collect();
    for tenant_id in tenant_ids {
        let Some(tenant) = tenants.get(tenant_id) else {
            continue;
        };
        let mut counts = Counts::default();
        let mut visitor_entries = Vec::new();
        for (visitor_id, mut a) in affected.remove(tenant_id).unwrap_or_default() {
            a.sessions
                .sort_by(|x, y| (x.started_at, &x.session_id).cmp(&(y.started_at, &y.session_id)));
            let entry = visitor_entry(
                input,
                tenant_id,
                visitor_id,
                &a,
                visitors.get(&(tenant_id, visitor_id)).copied(),
                conversations_by_visitor
                    .get(&(tenant_id, visitor_id))
                    .map_or(&[][..], Vec::as_slice),
                &mentions_by_conversation,
            );
            counts.sessions += entry.sessions.len() as u64;
            counts.visitors += 1;
            counts.verified_visitors += u64::from(entry.contact.user_id.is_some());
            counts.conversations += entry.conversations.len() as u64;
            counts.card_mentions += entry
                .conversations
                .iter()
                .map(|c| c.card_mentions.len() as u64)
                .sum::<u64>();
            visitor_entries.push((first_seen(&a), entry));
        }
        visitor_entries.sort_by(|(ta, a), (tb, b)| (ta, &a.visitor_id).cmp(&(tb, &b.visitor_id)));
        let mut principal_actions = actions.remove(tenant_id).unwrap_or_default();
        principal_actions.sort_by_key(|(i, _)| *i);
        counts.audit_entries = principal_actions.len() as u64;
        totals.counts.add(&counts);
        totals.tenants += 1;
        out_tenants.push(TenantImpact {
            tenant_id: tenant.id.clone(),
            slug: tenant.slug.clone(),
            name: tenant.name.clone(),
            checkpoint: checkpoints.get(tenant_id).map(|c| CheckpointView {
                log: c.log_id.clone(),
                size: c.size,
                root_hash: B64.encode(c.root),
            }),
            counts,
            visitors: visitor_entries.into_iter().map(|(_, v)| v).collect(),
            principal_actions: principal_actions.into_iter().map(|(_, a)| a).collect(),
        });
    }
    out_tenants.sort_by(|a, b| (&a.slug, &a.tenant_id).cmp(&(&b.slug, &b.tenant_id)));

    Ok(Report {
        format: FORMAT,
        report_id: input.report_id.clone(),
        generated_at: format_millis(input.generated_at_ms),
        component: ComponentView {
            kind: input.component.kind(),
            value: input.component.value(),
        },
        window: input.window.into(),
        totals,
        tenants: out_tenants,
    })
}

fn first_seen(a: &Affected<'_>) -> i64 {
    let from_sessions = a.sessions.first().map(|s| s.started_at);
    let from_audit = a.audited.values().flatten().map(|(ts, _, _)| *ts).min();
    from_sessions
        .into_iter()
        .chain(from_audit)
        .min()
        .unwrap_or(0)
}

#[allow(clippy::too_many_arguments)]
fn visitor_entry(
    input: &ImpactInput,
    tenant_id: &str,
    visitor_id: &str,
    a: &Affected<'_>,
    visitor: Option<&VisitorRow>,
    their_conversations: &[&ConversationRow],
    mentions: &HashMap<(&str, &str), Vec<&CardMentionRow>>,
) -> VisitorImpact {
    let spans: Vec<(Span, &ExposureRow)> = a
        .sessions
        .iter()
        .map(|s| {
            (
                Span {
                    start: s.started_at,
                    end: s.ended_at,
                },
                *s,
            )
        })
        .collect();
    let mut conversations = Vec::new();
    let mut citations: Vec<Citation> = a
        .sessions
        .iter()
        .map(|s| Citation::ExposureRecord(s.session_id.clone()))
        .collect();
    let mut sorted: Vec<&ConversationRow> = their_conversations.to_vec();
    sorted.sort_by(|x, y| {
        (x.created_at, &x.conversation_id).cmp(&(y.created_at, &y.conversation_id))
    });
    for c in sorted {
        let key = (tenant_id, c.conversation_id.as_str());
        let all_mentions = mentions.get(&key).map_or(&[][..], Vec::as_slice);
        // Through an exposure: the conversation overlaps a compromised session, and only cards typed while
        // that session ran count (a card typed on another day never met the compromised code).
        let through_session = spans
            .iter()
            .find(|(span, _)| span.overlaps(c.created_at, c.closed_at));
        let through_audit = a.audited.get(&c.conversation_id);
        let (cite, mut cards): (Citation, Vec<&CardMentionRow>) =
            match (through_session, through_audit) {
                (Some((_, s)), _) => (
                    Citation::ExposureRecord(s.session_id.clone()),
                    all_mentions
                        .iter()
                        .filter(|m| spans.iter().any(|(span, _)| span.covers(m.at)))
                        .copied()
                        .collect(),
                ),
                (None, Some(reads)) => {
                    // Through the audit log: the principal saw the masked transcript up to its last access.
                    let last = reads.iter().map(|(ts, _, _)| *ts).max().unwrap_or(i64::MIN);
                    let first_cite = reads
                        .iter()
                        .min_by_key(|(ts, _, _)| *ts)
                        .map(|(_, cite, _)| cite.clone());
                    let Some(cite) = first_cite else { continue };
                    (
                        cite,
                        all_mentions
                            .iter()
                            .filter(|m| m.at <= last)
                            .copied()
                            .collect(),
                    )
                }
                (None, None) => continue,
            };
        cards.sort_by(|x, y| (x.at, &x.id).cmp(&(y.at, &y.id)));
        conversations.push(ConversationEntry {
            conversation_id: c.conversation_id.clone(),
            agent_id: c.agent_id.clone(),
            created_at: format_millis(c.created_at),
            closed_at: c.closed_at.map(format_millis),
            card_mentions: cards
                .into_iter()
                .map(|m| CardMentionEntry {
                    brand: m.brand.clone(),
                    last4: m.last4.clone(),
                    at: format_millis(m.at),
                    cite: Citation::RedactionEvent(m.id.clone()),
                })
                .collect(),
            cite,
        });
    }
    let mut audit_reads: Vec<&(i64, Citation, String)> = a.audited.values().flatten().collect();
    audit_reads.sort_by_key(|r| r.0);
    citations.extend(audit_reads.iter().map(|(_, cite, _)| cite.clone()));
    let reason = match (a.sessions.first(), audit_reads.first()) {
        (Some(s), Some((ts, _, _))) if *ts < s.started_at => audit_reads[0].2.clone(),
        (Some(s), _) => exposure_reason(input, s),
        (None, Some((_, _, reason))) => reason.clone(),
        (None, None) => String::new(),
    };
    VisitorImpact {
        visitor_id: visitor_id.to_string(),
        contact: visitor.map_or_else(Contact::default, |v| Contact {
            user_id: v.user_id.clone(),
            name: v.name.clone(),
            email: v.email.clone(),
        }),
        reason,
        sessions: a
            .sessions
            .iter()
            .map(|s| SessionEntry {
                session_id: s.session_id.clone(),
                started_at: format_millis(s.started_at),
                ended_at: s.ended_at.map(format_millis),
                embed_origin: s.embed_origin.clone(),
                node: s.node.clone(),
                cite: Citation::ExposureRecord(s.session_id.clone()),
            })
            .collect(),
        conversations,
        citations,
    }
}
