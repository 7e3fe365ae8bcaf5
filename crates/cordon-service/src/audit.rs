//! The audit ledger, wired in: every audited action (`Action`), canonical entries, the checkpoint signer, and
//! the reads an `audit:read` caller makes.
//!
//! Entries name ids, never content: an actor, an action, a target and a time. No message text, no card number,
//! no secret and no free text a person typed (a failed login records a keyed hash of the name given).

use std::time::Duration;

use cordon_ledger::{Checkpoint, NoteSigner};
use cordon_store::{AuditEntry, Store, StoreError, PLATFORM_LOG};
use serde::{Deserialize, Serialize};

use crate::access::{Principal, Scope};
use crate::error::{Refusal, Result};
use crate::Service;

/// Most entries one page of the log returns.
pub const MAX_ENTRIES_PER_PAGE: i64 = 1000;
/// The lease that makes exactly one process the checkpoint signer.
const SIGNER_LEASE_MS: i64 = 3000;
/// No log gets more than one checkpoint per this interval.
const CHECKPOINT_INTERVAL_MS: i64 = 1000;

/// The actor of CLI commands.
pub const CLI_ACTOR: &str = "operator:cli";
/// The actor of what the service does by itself (expiries, back-offs, its own keys).
pub const SYSTEM_ACTOR: &str = "system";

/// Every action the audit log records. The name is what the entry says (docs/AUDIT.md); `ALL` lists them so a
/// test can hold each one to a route, a socket frame or a command that writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    TenantCreate,
    TenantRead,
    TenantUpdate,
    TenantsList,
    KeyCreate,
    KeyRotate,
    AgentCreate,
    AgentUpdate,
    AgentsList,
    ApiKeyCreate,
    ApiKeyRevoke,
    ApiKeyExpire,
    ApiKeysList,
    ApiKeyThrottled,
    LoginSuccess,
    LoginFailure,
    LoginThrottled,
    SessionRevoke,
    SessionRevokeAll,
    SessionExpire,
    MeRead,
    ConversationsList,
    ConversationRead,
    TranscriptRead,
    TranscriptOpen,
    VisitorSessionsList,
    VisitorTokenThrottled,
    WidgetRead,
    SchemaMigrate,
    /// A breach-impact report was computed; written in each affected tenant's log (docs/IMPACT.md).
    ImpactRun,
    TransparencyRead,
    // Operators (issue 12), all in the platform log.
    OperatorCreate,
    OperatorsList,
    OperatorLoginSuccess,
    OperatorLoginFailure,
    OperatorRecoveryCodeUse,
    OperatorSessionsList,
    OperatorSessionRevoke,
    OperatorDisable,
    // Operator grants (issue 12), in the tenant's log.
    GrantRequest,
    BreakGlassRequest,
    GrantsList,
    GrantApprove,
    BreakGlassApprove,
    GrantRevoke,
    GrantUse,
    // Tenant people's second factor (issue 12).
    TotpEnrol,
    TotpEnable,
    TotpPolicyUpdate,
    // Signed widget releases (issue 12): keys, proposals and approvals in the platform log, pins in the
    // tenant's.
    ReleaseKeyAdd,
    ReleasePropose,
    ReleaseApprove,
    ReleasePin,
    // Webhooks (issue 16), in the tenant's log.
    WebhookCreate,
    WebhookDelete,
    WebhooksList,
    WebhookDeliveriesList,
    WebhookRedeliver,
    /// A tenant crypto-shredded (issue 16): in its own log and the platform's.
    TenantShred,
    /// A visitor's data exported or deleted by a tenant admin (issue 16).
    VisitorExport,
    VisitorDelete,
    /// Retention (issue 16): the periods changed by an admin; a purge by the service, with counts.
    RetentionUpdate,
    RetentionPurge,
    /// The card vault (issue 15): a payment asked for by an agent, its form handed to the visitor, the card
    /// tokenized (by the visitor), a token forwarded to the processor or detokenized, tokens read, the
    /// tenant's payment settings read or changed.
    PaymentRequest,
    PaymentFormOpen,
    CardTokenize,
    CardForward,
    CardDetokenize,
    PaymentTokensList,
    PaymentTokenRead,
    PaymentSettingsRead,
    PaymentSettingsUpdate,
    /// Who the visitor is (issue 20): an agent's side panel read a conversation's visitor profile.
    VisitorProfileRead,
    /// Canned replies (issue 20): listed by those who chat, changed by admins.
    CannedRepliesList,
    CannedReplyCreate,
    CannedReplyUpdate,
    CannedReplyDelete,
    /// Internal notes, tags and priority (issue 20).
    NotesRead,
    NoteCreate,
    ConversationMetaUpdate,
    /// End of chat (issue 20): a visitor rated a chat; the staff read a rating; the reports were read.
    RatingCreate,
    RatingRead,
    ReportsRead,
    /// Offline and pre-chat forms (issue 20): a visitor gave a contact; an admin read or set the forms.
    VisitorContactSet,
    ChatFormsRead,
    ChatFormsUpdate,
    /// Transcript emails (issue 20): the service mailed a chat's transcript to its visitor, or gave up.
    TranscriptEmailed,
    TranscriptEmailFailed,
    /// Files (issue 20): sent by a visitor or an agent, downloaded by either, a visitor's file ticket issued.
    FileUpload,
    FileRead,
    FileTicketIssue,
    /// Search of history by words in messages (issue 20); the entry never holds the words.
    MessagesSearch,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::TenantCreate,
        Action::TenantRead,
        Action::TenantUpdate,
        Action::TenantsList,
        Action::KeyCreate,
        Action::KeyRotate,
        Action::AgentCreate,
        Action::AgentUpdate,
        Action::AgentsList,
        Action::ApiKeyCreate,
        Action::ApiKeyRevoke,
        Action::ApiKeyExpire,
        Action::ApiKeysList,
        Action::ApiKeyThrottled,
        Action::LoginSuccess,
        Action::LoginFailure,
        Action::LoginThrottled,
        Action::SessionRevoke,
        Action::SessionRevokeAll,
        Action::SessionExpire,
        Action::MeRead,
        Action::ConversationsList,
        Action::ConversationRead,
        Action::TranscriptRead,
        Action::TranscriptOpen,
        Action::VisitorSessionsList,
        Action::VisitorTokenThrottled,
        Action::WidgetRead,
        Action::SchemaMigrate,
        Action::ImpactRun,
        Action::TransparencyRead,
        Action::OperatorCreate,
        Action::OperatorsList,
        Action::OperatorLoginSuccess,
        Action::OperatorLoginFailure,
        Action::OperatorRecoveryCodeUse,
        Action::OperatorSessionsList,
        Action::OperatorSessionRevoke,
        Action::OperatorDisable,
        Action::GrantRequest,
        Action::BreakGlassRequest,
        Action::GrantsList,
        Action::GrantApprove,
        Action::BreakGlassApprove,
        Action::GrantRevoke,
        Action::GrantUse,
        Action::TotpEnrol,
        Action::TotpEnable,
        Action::TotpPolicyUpdate,
        Action::ReleaseKeyAdd,
        Action::ReleasePropose,
        Action::ReleaseApprove,
        Action::ReleasePin,
        Action::WebhookCreate,
        Action::WebhookDelete,
        Action::WebhooksList,
        Action::WebhookDeliveriesList,
        Action::WebhookRedeliver,
        Action::TenantShred,
        Action::VisitorExport,
        Action::VisitorDelete,
        Action::RetentionUpdate,
        Action::RetentionPurge,
        Action::PaymentRequest,
        Action::PaymentFormOpen,
        Action::CardTokenize,
        Action::CardForward,
        Action::CardDetokenize,
        Action::PaymentTokensList,
        Action::PaymentTokenRead,
        Action::PaymentSettingsRead,
        Action::PaymentSettingsUpdate,
        Action::VisitorProfileRead,
        Action::CannedRepliesList,
        Action::CannedReplyCreate,
        Action::CannedReplyUpdate,
        Action::CannedReplyDelete,
        Action::NotesRead,
        Action::NoteCreate,
        Action::ConversationMetaUpdate,
        Action::RatingCreate,
        Action::RatingRead,
        Action::ReportsRead,
        Action::VisitorContactSet,
        Action::ChatFormsRead,
        Action::ChatFormsUpdate,
        Action::TranscriptEmailed,
        Action::TranscriptEmailFailed,
        Action::FileUpload,
        Action::FileRead,
        Action::FileTicketIssue,
        Action::MessagesSearch,
    ];

    /// The name written in entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::TenantCreate => "tenant.create",
            Action::TenantRead => "tenant.read",
            Action::TenantUpdate => "tenant.update",
            Action::TenantsList => "tenants.list",
            Action::KeyCreate => "key.create",
            Action::KeyRotate => "key.rotate",
            Action::AgentCreate => "agent.create",
            Action::AgentUpdate => "agent.update",
            Action::AgentsList => "agents.list",
            Action::ApiKeyCreate => "apikey.create",
            Action::ApiKeyRevoke => "apikey.revoke",
            Action::ApiKeyExpire => "apikey.expire",
            Action::ApiKeysList => "apikeys.list",
            Action::ApiKeyThrottled => "apikey.throttled",
            Action::LoginSuccess => "login.success",
            Action::LoginFailure => "login.failure",
            Action::LoginThrottled => "login.throttled",
            Action::SessionRevoke => "session.revoke",
            Action::SessionRevokeAll => "session.revoke_all",
            Action::SessionExpire => "session.expire",
            Action::MeRead => "me.read",
            Action::ConversationsList => "conversations.list",
            Action::ConversationRead => "conversation.read",
            Action::TranscriptRead => "transcript.read",
            Action::TranscriptOpen => "transcript.open",
            Action::VisitorSessionsList => "visitor_sessions.list",
            Action::VisitorTokenThrottled => "visitor_token.throttled",
            Action::WidgetRead => "widget.read",
            Action::SchemaMigrate => "schema.migrate",
            Action::OperatorCreate => "operator.create",
            Action::OperatorsList => "operators.list",
            Action::OperatorLoginSuccess => "operator.login.success",
            Action::OperatorLoginFailure => "operator.login.failure",
            Action::OperatorRecoveryCodeUse => "operator.recovery_code.use",
            Action::OperatorSessionsList => "operator_sessions.list",
            Action::OperatorSessionRevoke => "operator_session.revoke",
            Action::OperatorDisable => "operator.disable",
            Action::GrantRequest => "grant.request",
            Action::BreakGlassRequest => "grant.break_glass_request",
            Action::GrantsList => "grants.list",
            Action::GrantApprove => "grant.approve",
            Action::BreakGlassApprove => "grant.break_glass_approve",
            Action::GrantRevoke => "grant.revoke",
            Action::GrantUse => "grant.use",
            Action::TotpEnrol => "totp.enrol",
            Action::TotpEnable => "totp.enable",
            Action::TotpPolicyUpdate => "tenant.mfa_policy.update",
            Action::ReleaseKeyAdd => "release.key_add",
            Action::ReleasePropose => "release.propose",
            Action::ReleaseApprove => "release.approve",
            Action::ReleasePin => "release.pin",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookDelete => "webhook.delete",
            Action::WebhooksList => "webhooks.list",
            Action::WebhookDeliveriesList => "webhook_deliveries.list",
            Action::WebhookRedeliver => "webhook.redeliver",
            Action::TenantShred => "tenant.shred",
            Action::VisitorExport => "visitor.export",
            Action::VisitorDelete => "visitor.delete",
            Action::RetentionUpdate => "tenant.retention.update",
            Action::RetentionPurge => "retention.purge",
            Action::ImpactRun => "impact.run",
            Action::TransparencyRead => "transparency.read",
            Action::PaymentRequest => "payment.request",
            Action::PaymentFormOpen => "payment.form_open",
            Action::CardTokenize => "card.tokenize",
            Action::CardForward => "card.forward",
            Action::CardDetokenize => "card.detokenize",
            Action::PaymentTokensList => "payment_tokens.list",
            Action::PaymentTokenRead => "payment_token.read",
            Action::PaymentSettingsRead => "payments.settings.read",
            Action::PaymentSettingsUpdate => "payments.settings.update",
            Action::VisitorProfileRead => "visitor_profile.read",
            Action::CannedRepliesList => "canned_replies.list",
            Action::CannedReplyCreate => "canned_reply.create",
            Action::CannedReplyUpdate => "canned_reply.update",
            Action::CannedReplyDelete => "canned_reply.delete",
            Action::NotesRead => "notes.read",
            Action::NoteCreate => "note.create",
            Action::ConversationMetaUpdate => "conversation_meta.update",
            Action::RatingCreate => "rating.create",
            Action::RatingRead => "rating.read",
            Action::ReportsRead => "reports.read",
            Action::VisitorContactSet => "visitor_contact.set",
            Action::ChatFormsRead => "chat_forms.read",
            Action::ChatFormsUpdate => "chat_forms.update",
            Action::TranscriptEmailed => "transcript.emailed",
            Action::TranscriptEmailFailed => "transcript.email_failed",
            Action::FileUpload => "file.upload",
            Action::FileRead => "file.read",
            Action::FileTicketIssue => "file.ticket_issue",
            Action::MessagesSearch => "messages.search",
        }
    }

    /// The action named `name` in an entry.
    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The expiry of a record kind the store reports (`session`, `apikey`).
    fn expiry_of(kind: &str) -> Option<Action> {
        match kind {
            "session" => Some(Action::SessionExpire),
            "apikey" => Some(Action::ApiKeyExpire),
            _ => None,
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The canonical entry: fields in alphabetical order, serialised without whitespace.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub action: String,
    pub actor: String,
    pub id: String,
    pub log: String,
    pub target: String,
    pub ts: i64,
}

/// Build an entry for `log_id` (a tenant id, or the platform log).
pub fn entry(log_id: &str, actor: &str, action: Action, target: &str) -> AuditEntry {
    let e = Entry {
        action: action.as_str().to_string(),
        actor: actor.to_string(),
        id: cordon_crypto::new_id("ae"),
        log: log_id.to_string(),
        target: target.to_string(),
        ts: cordon_store::now_ms(),
    };
    AuditEntry {
        log_id: log_id.to_string(),
        // Serialising a struct of strings and integers cannot fail.
        bytes: serde_json::to_vec(&e).unwrap_or_default(),
    }
}

pub fn platform_entry(actor: &str, action: Action, target: &str) -> AuditEntry {
    entry(PLATFORM_LOG, actor, action, target)
}

/// The entry of `principal` acting in its own tenant's log.
pub fn by(principal: &Principal, action: Action, target: &str) -> AuditEntry {
    entry(principal.tenant_id(), &principal.actor(), action, target)
}

/// The checkpoint origin (and signer key name) of a log.
pub fn origin(log_id: &str) -> String {
    format!("cordon/audit/{log_id}")
}

pub fn signer(seed: &[u8; 32], log_id: &str) -> Option<NoteSigner> {
    NoteSigner::from_seed(&origin(log_id), seed).ok()
}

/// Record entries with no transaction of their own (reads, back-offs) durably before the caller answers.
pub async fn record(svc: &Service, entries: Vec<AuditEntry>) -> Result<()> {
    Ok(svc.store.append_audit(entries).await?)
}

/// Record that `principal` read `target`, durably, before the data is returned.
pub async fn record_read(
    svc: &Service,
    principal: &Principal,
    action: Action,
    target: &str,
) -> Result<()> {
    record(svc, vec![by(principal, action, target)]).await
}

/// Sign due checkpoints and log expiries while this process holds the signer lease.
pub fn spawn_checkpointer(svc: Service) {
    let holder = format!(
        "{}/{}",
        svc.settings.node_id,
        cordon_crypto::new_id("lease")
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            rounds += 1;
            match svc
                .store
                .acquire_signer_lease(&holder, SIGNER_LEASE_MS)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "signer lease check failed");
                    continue;
                }
            }
            if let Err(e) = checkpoint_due_logs(&svc.store, svc.keys.audit_seed()).await {
                tracing::warn!(error = %e, "checkpointing failed");
            }
            if rounds % 10 == 0 {
                if let Err(e) = log_expiries(&svc.store).await {
                    tracing::warn!(error = %e, "expiry logging failed");
                }
            }
        }
    });
}

/// Sign a checkpoint for every log with entries past its last checkpoint, at most one per log per second.
pub async fn checkpoint_due_logs(store: &Store, seed: &[u8; 32]) -> Result<usize, StoreError> {
    let now = cordon_store::now_ms();
    let mut signed = 0;
    for (log_id, size, last_at) in store.logs_needing_checkpoint().await? {
        if now - last_at < CHECKPOINT_INTERVAL_MS {
            continue;
        }
        let root = store.audit_root(&log_id, size as u64).await?;
        let Some(signer) = signer(seed, &log_id) else {
            continue;
        };
        let note = match Checkpoint::new(&origin(&log_id), size as u64, root)
            .and_then(|c| c.sign(&signer))
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "checkpoint signing failed");
                continue;
            }
        };
        store.insert_checkpoint(&log_id, size, &root, &note).await?;
        signed += 1;
    }
    Ok(signed)
}

async fn log_expiries(store: &Store) -> Result<(), StoreError> {
    for (tenant_id, kind, id) in store.unlogged_expiries().await? {
        let Some(action) = Action::expiry_of(kind) else {
            tracing::warn!(kind, "expiry of an unknown record kind");
            continue;
        };
        let e = entry(&tenant_id, SYSTEM_ACTOR, action, &format!("{kind}:{id}"));
        store.log_expiry(kind, &id, &[e]).await?;
    }
    Ok(())
}

// ---- reads of the log (audit:read; the caller's tenant log only; reads of it are not themselves logged) ------

/// The log an `audit:read` caller may read: its own tenant's.
pub fn reader_log(principal: &Principal) -> Result<&str> {
    principal.require(Scope::AuditRead)?;
    Ok(principal.tenant_id())
}

/// The latest signed checkpoint (a C2SP signed note).
pub async fn latest_checkpoint(svc: &Service, principal: &Principal) -> Result<String> {
    let log = reader_log(principal)?;
    let cp = svc
        .store
        .latest_checkpoint(log)
        .await?
        .ok_or_else(Refusal::not_found)?;
    Ok(cp.note)
}

/// The verifier key of the caller's log, in note verifier-key format.
pub fn verifier_key(svc: &Service, principal: &Principal) -> Result<String> {
    let log = reader_log(principal)?;
    let signer = signer(svc.keys.audit_seed(), log).ok_or_else(|| Refusal::internal("signer"))?;
    Ok(signer.verifier().to_string())
}

/// Entries `[start, end)`, at most `MAX_ENTRIES_PER_PAGE`, as (index, exact leaf bytes).
pub async fn entries(
    svc: &Service,
    principal: &Principal,
    start: i64,
    end: i64,
) -> Result<Vec<(i64, Vec<u8>)>> {
    let log = reader_log(principal)?;
    if start < 0 || end < start {
        return Err(Refusal::invalid("need 0 <= start <= end"));
    }
    let end = end.min(start + MAX_ENTRIES_PER_PAGE);
    Ok(svc.store.audit_entries(log, start, end).await?)
}

async fn log_size(svc: &Service, log: &str) -> Result<u64> {
    Ok(svc.store.audit_size(log).await?.max(0) as u64)
}

/// An inclusion proof (RFC 9162 §2.1.3) for `index` in the tree of `size`.
pub async fn inclusion_proof(
    svc: &Service,
    principal: &Principal,
    index: u64,
    size: u64,
) -> Result<Vec<[u8; 32]>> {
    let log = reader_log(principal)?;
    if size > log_size(svc, log).await? {
        return Err(Refusal::invalid("size exceeds the log"));
    }
    let nodes = cordon_ledger::inclusion_proof_nodes(index, size)
        .map_err(|_| Refusal::invalid("need index < size"))?;
    let hashes = svc.store.audit_nodes(log, nodes.ids()).await?;
    nodes.assemble(&hashes).map_err(Refusal::internal)
}

/// A consistency proof (RFC 9162 §2.1.4) between tree sizes `first` and `second`.
pub async fn consistency_proof(
    svc: &Service,
    principal: &Principal,
    first: u64,
    second: u64,
) -> Result<Vec<[u8; 32]>> {
    let log = reader_log(principal)?;
    if second > log_size(svc, log).await? {
        return Err(Refusal::invalid("second exceeds the log"));
    }
    let nodes = cordon_ledger::consistency_proof_nodes(first, second)
        .map_err(|_| Refusal::invalid("need 0 < first <= second"))?;
    let hashes = svc.store.audit_nodes(log, nodes.ids()).await?;
    nodes.assemble(&hashes).map_err(Refusal::internal)
}

// ---- the operator's reads (`cordon audit verify`: the CLI, with database access) -------------------------

/// Every log and its size, or only `tenant_id`'s.
pub async fn operator_logs(svc: &Service, tenant_id: Option<&str>) -> Result<Vec<(String, i64)>> {
    Ok(match tenant_id {
        Some(id) => vec![(id.to_string(), svc.store.audit_size(id).await?)],
        None => svc.store.audit_logs().await?,
    })
}

/// Entries `[start, end)` of any log, as (index, exact leaf bytes).
pub async fn operator_entries(
    svc: &Service,
    log: &str,
    start: i64,
    end: i64,
) -> Result<Vec<(i64, Vec<u8>)>> {
    Ok(svc.store.audit_entries(log, start, end).await?)
}

/// The stored leaf hashes of entries `[start, end)`, as (index, hash).
pub async fn operator_leaf_hashes(
    svc: &Service,
    log: &str,
    start: i64,
    end: i64,
) -> Result<Vec<(i64, Vec<u8>)>> {
    Ok(svc.store.audit_leaf_nodes(log, start, end).await?)
}

/// Every checkpoint of a log, smallest first.
pub async fn operator_checkpoints(
    svc: &Service,
    log: &str,
) -> Result<Vec<cordon_store::StoredCheckpoint>> {
    Ok(svc.store.checkpoints(log).await?)
}

/// The checkpoint signer of a log (its verifier checks the stored notes).
pub fn operator_signer(svc: &Service, log: &str) -> Option<NoteSigner> {
    signer(svc.keys.audit_seed(), log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            assert!(seen.insert(a.as_str()), "{a} twice");
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
    }
}
