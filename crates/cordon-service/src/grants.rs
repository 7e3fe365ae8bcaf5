//! Operator grants (issue 12): no standing access. An operator reads a tenant's data only through a grant that
//! it requested with a reason and that a tenant admin, signed in at the console, approved; a grant runs for at
//! most 24 h from approval and either side can revoke it. Every use is written to the tenant's audit log, as are
//! the request, the approval and the revocation.
//!
//! Break-glass (the tenant's admins cannot be reached and something is on fire): a grant requested as
//! break-glass is approved by a second, distinct operator instead of the tenant. It is written to the tenant's
//! log at once, shown to the tenant's admins as a banner (`active_break_glass`), and pushed to the tenant's
//! webhooks (`operator_access.break_glass_requested` and `…_approved`, written by triggers with the grant).

use cordon_store::{ConversationFilter, NewGrant, OperatorGrant};

use crate::access::Principal;
use crate::audit::{self, Action};
use crate::conversations::{self, Names};
use crate::error::{code, Refusal, Result};
use crate::management::{clean_text, validate_slug};
use crate::operators::OperatorPrincipal;
use crate::protocol::{ConversationView, MessageView};
use crate::Service;

/// The longest a grant runs, from its approval.
pub const MAX_HOURS: u32 = 24;
/// Longest reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Where a grant stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    Pending,
    Active,
    Expired,
    Revoked,
}

impl GrantState {
    pub fn of(g: &OperatorGrant, now_ms: i64) -> GrantState {
        match (g.revoked_at, g.expires_at) {
            (Some(_), _) => GrantState::Revoked,
            (None, None) => GrantState::Pending,
            (None, Some(end)) if end > now_ms => GrantState::Active,
            (None, Some(_)) => GrantState::Expired,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GrantState::Pending => "pending",
            GrantState::Active => "active",
            GrantState::Expired => "expired",
            GrantState::Revoked => "revoked",
        }
    }
}

fn target(g: &str) -> String {
    format!("grant:{g}")
}

fn no_grant() -> Refusal {
    Refusal::new(
        code::GRANT_REQUIRED,
        "no approved, unexpired grant for this tenant: request one with a reason",
    )
}

/// An operator asks for access to a tenant's data, for `hours` (1-24) from approval, with a reason the tenant's
/// admins will read. With `break_glass`, a second operator approves instead of the tenant.
pub async fn request(
    svc: &Service,
    who: &OperatorPrincipal,
    tenant_slug: &str,
    reason: &str,
    hours: u32,
    break_glass: bool,
) -> Result<OperatorGrant> {
    if !(1..=MAX_HOURS).contains(&hours) {
        return Err(Refusal::invalid("a grant lasts 1 to 24 hours"));
    }
    // The reason is shown to people: card numbers are masked in it as in any text (and it never enters the log).
    let reason = clean_text(reason, MAX_REASON_CHARS)?;
    if reason.trim().is_empty() {
        return Err(Refusal::invalid("a grant needs a reason"));
    }
    validate_slug(tenant_slug)?;
    let tenant = svc
        .store
        .tenant_by_slug(tenant_slug)
        .await?
        .ok_or_else(Refusal::not_found)?;
    let id = cordon_crypto::new_id("gr");
    let action = if break_glass {
        Action::BreakGlassRequest
    } else {
        Action::GrantRequest
    };
    svc.store
        .create_grant(
            &NewGrant {
                id: id.clone(),
                tenant_id: tenant.id.clone(),
                operator_id: who.operator.id.clone(),
                reason,
                duration_ms: i64::from(hours) * 3600 * 1000,
                break_glass,
            },
            &[audit::entry(&tenant.id, &who.actor(), action, &target(&id))],
        )
        .await?;
    Ok(svc.store.grant(&tenant.id, &id).await?)
}

/// The caller's own grants, every tenant.
pub async fn own(svc: &Service, who: &OperatorPrincipal) -> Result<Vec<OperatorGrant>> {
    Ok(svc.store.operator_grants(&who.operator.id).await?)
}

/// A tenant admin's view of its tenant's grants (pending ones to decide, active ones to revoke).
pub async fn for_tenant(svc: &Service, principal: &Principal) -> Result<Vec<OperatorGrant>> {
    principal.require(crate::access::Scope::Admin)?;
    let grants = svc.store.tenant_grants(principal.tenant_id()).await?;
    audit::record_read(svc, principal, Action::GrantsList, "operator_grants").await?;
    Ok(grants)
}

/// Break-glass grants of the tenant that are live now: the admin pages show a banner while there is one.
pub fn active_break_glass(grants: &[OperatorGrant], now_ms: i64) -> Vec<&OperatorGrant> {
    grants
        .iter()
        .filter(|g| g.break_glass && GrantState::of(g, now_ms) == GrantState::Active)
        .collect()
}

/// A tenant admin approves a pending grant. Only a person signed in at the console decides (not an API key: a
/// leaked admin key must not open the tenant to an operator), and not break-glass ones (those are the second
/// operator's).
pub async fn approve(
    svc: &Service,
    principal: &Principal,
    grant_id: &str,
) -> Result<OperatorGrant> {
    principal.require(crate::access::Scope::Admin)?;
    if !matches!(principal, Principal::Agent { .. }) {
        return Err(Refusal::new(
            code::SESSION_REQUIRED,
            "a tenant admin signed in at the console approves operator grants, not an API key",
        ));
    }
    let tenant_id = principal.tenant_id();
    let g = svc.store.grant(tenant_id, grant_id).await?;
    if g.break_glass {
        return Err(Refusal::new(
            code::CONFLICT,
            "a break-glass grant is approved by a second operator; revoke it if it is not wanted",
        ));
    }
    svc.store
        .approve_grant(
            tenant_id,
            grant_id,
            &principal.actor(),
            &[audit::by(
                principal,
                Action::GrantApprove,
                &target(grant_id),
            )],
        )
        .await?;
    Ok(svc.store.grant(tenant_id, grant_id).await?)
}

/// A second operator approves a break-glass grant: never the one who asked. Written to the tenant's log.
pub async fn approve_break_glass(
    svc: &Service,
    who: &OperatorPrincipal,
    grant_id: &str,
) -> Result<OperatorGrant> {
    let g = svc.store.grant_by_id(grant_id).await?;
    if !g.break_glass {
        return Err(Refusal::new(
            code::CONFLICT,
            "only the tenant's admins approve this grant",
        ));
    }
    if g.operator_id == who.operator.id {
        return Err(Refusal::new(
            code::SELF_APPROVAL,
            "break-glass needs a second operator: you cannot approve your own request",
        ));
    }
    svc.store
        .approve_grant(
            &g.tenant_id,
            grant_id,
            &who.actor(),
            &[audit::entry(
                &g.tenant_id,
                &who.actor(),
                Action::BreakGlassApprove,
                &target(grant_id),
            )],
        )
        .await?;
    Ok(svc.store.grant(&g.tenant_id, grant_id).await?)
}

/// A tenant admin revokes a grant of its tenant (pending or live): it ends at once.
pub async fn revoke(svc: &Service, principal: &Principal, grant_id: &str) -> Result<()> {
    principal.require(crate::access::Scope::Admin)?;
    svc.store
        .revoke_grant(
            principal.tenant_id(),
            grant_id,
            &principal.actor(),
            &[audit::by(principal, Action::GrantRevoke, &target(grant_id))],
        )
        .await?;
    Ok(())
}

/// The operator gives back its own grant.
pub async fn give_back(svc: &Service, who: &OperatorPrincipal, grant_id: &str) -> Result<()> {
    let g = svc.store.grant_by_id(grant_id).await?;
    if g.operator_id != who.operator.id {
        return Err(Refusal::not_found());
    }
    svc.store
        .revoke_grant(
            &g.tenant_id,
            grant_id,
            &who.actor(),
            &[audit::entry(
                &g.tenant_id,
                &who.actor(),
                Action::GrantRevoke,
                &target(grant_id),
            )],
        )
        .await?;
    Ok(())
}

/// The tenant an operator names and the live grant it holds there; refused without one (pending, expired or
/// revoked grants are no grant). An unknown tenant is answered the same way, so slugs are not probed.
async fn live(svc: &Service, who: &OperatorPrincipal, tenant_slug: &str) -> Result<OperatorGrant> {
    let tenant = match validate_slug(tenant_slug) {
        Ok(()) => svc.store.tenant_by_slug(tenant_slug).await?,
        Err(_) => None,
    };
    let Some(tenant) = tenant else {
        return Err(no_grant());
    };
    svc.store
        .live_grant(&tenant.id, &who.operator.id)
        .await?
        .ok_or_else(no_grant)
}

/// Record one use of a grant in the tenant's log, durably, before the data is returned.
async fn record_use(
    svc: &Service,
    who: &OperatorPrincipal,
    g: &OperatorGrant,
    what: &str,
) -> Result<()> {
    audit::record(
        svc,
        vec![audit::entry(
            &g.tenant_id,
            &who.actor(),
            Action::GrantUse,
            &format!("grant:{}#{what}", g.id),
        )],
    )
    .await
}

/// Through a grant: a page of the tenant's conversations, newest first.
pub async fn conversations(
    svc: &Service,
    who: &OperatorPrincipal,
    tenant_slug: &str,
    limit: i64,
) -> Result<Vec<ConversationView>> {
    let g = live(svc, who, tenant_slug).await?;
    let filter = ConversationFilter {
        limit: limit.clamp(1, 100),
        ..ConversationFilter::default()
    };
    let convs = svc.store.list_conversations(&g.tenant_id, &filter).await?;
    record_use(svc, who, &g, "conversations.list").await?;
    let mut names = Names::default();
    let mut views = Vec::with_capacity(convs.len());
    for c in &convs {
        views.push(conversations::conversation_view(svc, &mut names, c).await);
    }
    Ok(views)
}

/// Through a grant: a page of one transcript (already masked, as every stored message is).
pub async fn transcript(
    svc: &Service,
    who: &OperatorPrincipal,
    tenant_slug: &str,
    conversation_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<MessageView>> {
    let g = live(svc, who, tenant_slug).await?;
    svc.store
        .conversation(&g.tenant_id, conversation_id)
        .await?;
    let messages = conversations::messages_after(
        svc,
        &mut Names::default(),
        &g.tenant_id,
        conversation_id,
        after_seq,
        limit.clamp(1, 500),
    )
    .await?;
    record_use(
        svc,
        who,
        &g,
        &format!("transcript:conversation:{conversation_id}"),
    )
    .await?;
    Ok(messages)
}
