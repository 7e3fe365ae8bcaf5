//! A second factor for a tenant's own people (issue 12): any agent or admin signed in at the console can enrol
//! an authenticator app (RFC 6238 TOTP, the same parameters and replay rule as operators'), after which sign-in
//! asks for a code; a tenant admin can require it of every agent of the tenant.
//!
//! Enrolment is two steps, so a secret that never reached an app cannot lock anyone out: `begin` makes a
//! secret (shown once, as an otpauth URI) and keeps it pending; `confirm` with a code from the app makes it the
//! agent's second factor.

use cordon_crypto::SecretKey;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::operators::{matching_step, now_secs, totp_for};
use crate::Service;

/// A secret made for an app, shown this once.
#[derive(Debug)]
pub struct Enrolment {
    pub otpauth_uri: String,
    pub secret_base32: String,
}

/// The caller's second factor and the tenant's rule.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    pub enabled: bool,
    pub pending: bool,
    pub required_by_tenant: bool,
}

fn context(tenant_id: &str, agent_id: &str) -> String {
    format!("agent-totp:{tenant_id}:{agent_id}")
}

/// The agent behind a console session; enrolment is a person's, never an API key's.
fn person(principal: &Principal) -> Result<&cordon_store::Agent> {
    match principal {
        Principal::Agent { agent, .. } => Ok(agent),
        Principal::ApiKey(_) => Err(Refusal::new(
            code::SESSION_REQUIRED,
            "a second factor belongs to a person signed in at the console, not an API key",
        )),
    }
}

pub async fn status(svc: &Service, principal: &Principal) -> Result<Status> {
    let agent = person(principal)?;
    let totp = svc.store.agent_totp(&agent.tenant_id, &agent.id).await?;
    audit::record_read(svc, principal, Action::MeRead, "principal#totp").await?;
    Ok(Status {
        enabled: totp.secret_wrapped.is_some(),
        pending: totp.pending_wrapped.is_some(),
        required_by_tenant: svc.store.tenant_requires_totp(&agent.tenant_id).await?,
    })
}

/// Make a new secret for the caller's app and keep it pending until [`confirm`].
pub async fn begin(svc: &Service, principal: &Principal) -> Result<Enrolment> {
    let agent = person(principal)?;
    // Replacing a confirmed app would let whoever holds a stolen session cookie take over the second factor
    // without ever knowing a code; moving to a new app (with the old one's code) is not built yet.
    if svc
        .store
        .agent_totp(&agent.tenant_id, &agent.id)
        .await?
        .secret_wrapped
        .is_some()
    {
        return Err(Refusal::new(
            code::CONFLICT,
            "an authenticator app is already set up for you",
        ));
    }
    let secret = SecretKey::generate();
    // The account label the app shows: the username within the tenant's slug would need a lookup; the id is
    // stable and names no one outside the tenant.
    let label = format!("{}@{}", agent.username, agent.tenant_id);
    let totp = totp_for(secret.dangerous_bytes(), &label)?;
    let wrapped = svc
        .keys
        .master()
        .wrap(&context(&agent.tenant_id, &agent.id), &secret);
    svc.store
        .set_pending_totp(&agent.tenant_id, &agent.id, &wrapped)
        .await?;
    audit::record(
        svc,
        vec![audit::by(
            principal,
            Action::TotpEnrol,
            &format!("agent:{}", agent.id),
        )],
    )
    .await?;
    Ok(Enrolment {
        otpauth_uri: totp.get_url(),
        secret_base32: totp.get_secret_base32(),
    })
}

/// Confirm the pending secret with a code from the app: from now on sign-in asks for a code.
pub async fn confirm(svc: &Service, principal: &Principal, code_given: &str) -> Result<()> {
    let agent = person(principal)?;
    let totp = svc.store.agent_totp(&agent.tenant_id, &agent.id).await?;
    let Some(pending) = totp.pending_wrapped else {
        return Err(Refusal::new(code::CONFLICT, "no enrolment is pending"));
    };
    let secret = svc
        .keys
        .master()
        .unwrap_key(&context(&agent.tenant_id, &agent.id), &pending)
        .map_err(|_| Refusal::internal("a pending TOTP secret does not unwrap"))?;
    let app = totp_for(secret.dangerous_bytes(), &agent.username)?;
    let Some(step) = matching_step(&app, code_given.trim(), now_secs()) else {
        return Err(Refusal::new(
            code::BAD_CREDENTIALS,
            "that code does not match: check the app's clock and try the next code",
        ));
    };
    let step = i64::try_from(step).map_err(|_| Refusal::internal("time step"))?;
    svc.store
        .confirm_totp(
            &agent.tenant_id,
            &agent.id,
            step,
            &[audit::by(
                principal,
                Action::TotpEnable,
                &format!("agent:{}", agent.id),
            )],
        )
        .await?;
    Ok(())
}

/// A tenant admin at the console requires (or stops requiring) a second factor of every agent. Turning it on
/// needs the admin's own second factor first, so the admin cannot lock the tenant out of its console.
pub async fn set_required(svc: &Service, principal: &Principal, require: bool) -> Result<()> {
    principal.require(Scope::Admin)?;
    let admin = person(principal)?;
    if require
        && svc
            .store
            .agent_totp(&admin.tenant_id, &admin.id)
            .await?
            .secret_wrapped
            .is_none()
    {
        return Err(Refusal::new(
            code::CONFLICT,
            "enrol your own authenticator app before requiring one of every agent",
        ));
    }
    let target = if require {
        "tenant#require_totp=on"
    } else {
        "tenant#require_totp=off"
    };
    svc.store
        .set_tenant_requires_totp(
            &admin.tenant_id,
            require,
            &[audit::by(principal, Action::TotpPolicyUpdate, target)],
        )
        .await?;
    Ok(())
}

/// For the admin pages: the tenant's rule and which agents have a second factor.
pub async fn tenant_overview(svc: &Service, principal: &Principal) -> Result<(bool, Vec<String>)> {
    principal.require(Scope::Admin)?;
    let tenant_id = principal.tenant_id();
    audit::record_read(svc, principal, Action::TenantRead, "tenant#mfa").await?;
    Ok((
        svc.store.tenant_requires_totp(tenant_id).await?,
        svc.store.agents_with_totp(tenant_id).await?,
    ))
}

/// What sign-in found of an agent's second factor, once its password was right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInCheck {
    /// No second factor enrolled and none required.
    NotNeeded,
    Passed,
    /// A code is needed and none was given (the console then asks for one).
    Missing,
    /// The tenant requires one and the agent has none enrolled.
    NotEnrolled,
    Wrong,
    Replayed,
}

pub(crate) async fn check_at_sign_in(
    svc: &Service,
    agent: &cordon_store::Agent,
    code_given: Option<&str>,
) -> Result<SignInCheck> {
    let totp = svc.store.agent_totp(&agent.tenant_id, &agent.id).await?;
    let Some(secret) = totp.secret_wrapped else {
        return Ok(if svc.store.tenant_requires_totp(&agent.tenant_id).await? {
            SignInCheck::NotEnrolled
        } else {
            SignInCheck::NotNeeded
        });
    };
    let Some(given) = code_given.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(SignInCheck::Missing);
    };
    let secret = svc
        .keys
        .master()
        .unwrap_key(&context(&agent.tenant_id, &agent.id), &secret)
        .map_err(|_| Refusal::internal("a TOTP secret does not unwrap"))?;
    let app = totp_for(secret.dangerous_bytes(), &agent.username)?;
    let Some(step) = matching_step(&app, given, now_secs()) else {
        return Ok(SignInCheck::Wrong);
    };
    let step = i64::try_from(step).map_err(|_| Refusal::internal("time step"))?;
    Ok(
        if svc
            .store
            .consume_agent_totp_step(&agent.tenant_id, &agent.id, step)
            .await?
        {
            SignInCheck::Passed
        } else {
            SignInCheck::Replayed
        },
    )
}
