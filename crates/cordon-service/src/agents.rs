//! Agents: sign-in (with its back-off per account and per address), sessions, presence.

use std::net::IpAddr;

use cordon_store::{Agent, AgentStatus, PLATFORM_LOG};

use crate::access::Principal;
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::management::{validate_slug, validate_username};
use crate::throttle::{self, Kind};
use crate::Service;

/// A session begun: the token (for the cookie, shown once) and when it ends.
#[derive(Debug)]
pub struct SignedIn {
    pub agent: Agent,
    pub token: String,
    pub expires_at: i64,
}

fn bad_credentials() -> Refusal {
    Refusal::new(code::BAD_CREDENTIALS, "wrong tenant, username or password")
}

/// Check a password off the async threads (Argon2 is slow on purpose). With no agent, spend the same time on a
/// dummy hash, so timing does not reveal which usernames exist.
async fn password_matches(password: &str, hash: Option<String>) -> bool {
    let password = password.to_string();
    let checked = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => cordon_crypto::verify_password(&password, &hash),
        None => {
            cordon_crypto::verify_password(&password, cordon_crypto::dummy_password_hash());
            false
        }
    });
    checked.await.unwrap_or(false)
}

/// Sign an agent in. Two limits, kept apart (throttle.rs): the client's address, checked before anything is
/// looked up, and the account, checked before the password is. A refused attempt tests nothing and lengthens
/// nothing.
pub async fn sign_in(
    svc: &Service,
    tenant_slug: &str,
    username: &str,
    password: &str,
    peer: IpAddr,
) -> Result<SignedIn> {
    sign_in_with_code(svc, tenant_slug, username, password, None, peer).await
}

/// [`sign_in`] with the second factor, for agents who enrolled one or whose tenant requires one (mfa.rs): once
/// the password is right, a missing code is answered `second_factor_required` (the console asks for it), a wrong
/// or replayed one like a wrong password.
pub async fn sign_in_with_code(
    svc: &Service,
    tenant_slug: &str,
    username: &str,
    password: &str,
    code_given: Option<&str>,
    peer: IpAddr,
) -> Result<SignedIn> {
    let throttles = &svc.throttle;
    let address = throttle::address_key(peer);
    let by_address = throttles
        .login_address
        .begin(address)
        .map_err(|wait| throttles.refuse(svc, Kind::LoginAddress, wait))?;
    let tenant = if validate_slug(tenant_slug).is_ok() {
        svc.store.tenant_by_slug(tenant_slug).await?
    } else {
        None
    };
    let found = match (&tenant, validate_username(username)) {
        (Some(t), Ok(())) => svc.store.agent_credentials(&t.id, username).await?,
        _ => None,
    };
    // The account is the agent if there is one, else the tenant and name typed, as a keyed hash: the name typed
    // is often a password. The same label is the actor of a failed login's audit entry.
    let account = match (&tenant, &found) {
        (_, Some((agent, _))) => format!("agent:{}", agent.id),
        (Some(t), None) => format!("name:{}", svc.keys.login_name_hash(&t.id, username)),
        (None, _) => format!("name:{}", svc.keys.login_name_hash(tenant_slug, username)),
    };
    let by_account = throttles
        .login_account
        .begin(account.clone())
        .map_err(|wait| throttles.refuse(svc, Kind::LoginAccount, wait))?;
    let (agent, hash) = match found {
        Some((agent, hash)) => (Some(agent), Some(hash)),
        None => (None, None),
    };
    let ok = password_matches(password, hash).await;
    let agent = agent.filter(|a| ok && !a.disabled);
    let second = match &agent {
        Some(a) => Some(crate::mfa::check_at_sign_in(svc, a, code_given).await?),
        None => None,
    };
    let why = match second {
        Some(crate::mfa::SignInCheck::Missing) | Some(crate::mfa::SignInCheck::NotEnrolled) => {
            // The password was right: this attempt counts for nothing, and the person is told what is missing.
            let enrolled = second == Some(crate::mfa::SignInCheck::Missing);
            let log_id = tenant.as_ref().map_or(PLATFORM_LOG, |t| t.id.as_str());
            audit::record(
                svc,
                vec![audit::entry(
                    log_id,
                    &account,
                    Action::LoginFailure,
                    if enrolled {
                        "session#second_factor_missing"
                    } else {
                        "session#second_factor_not_enrolled"
                    },
                )],
            )
            .await?;
            drop(by_account);
            drop(by_address);
            return Err(Refusal::new(
                code::SECOND_FACTOR_REQUIRED,
                if enrolled {
                    "Enter the code from your authenticator app."
                } else {
                    "Your company requires a second factor and you have none set up: ask an admin."
                },
            ));
        }
        Some(crate::mfa::SignInCheck::Wrong) => Some("session#totp"),
        Some(crate::mfa::SignInCheck::Replayed) => Some("session#totp_replayed"),
        _ => None,
    };
    let Some(agent) = agent.filter(|_| why.is_none()) else {
        svc.metrics.error(code::BAD_CREDENTIALS);
        // The tenant's log when there is a tenant, else the platform's.
        let log_id = tenant.as_ref().map_or(PLATFORM_LOG, |t| t.id.as_str());
        let mut entries = vec![audit::entry(
            log_id,
            &account,
            Action::LoginFailure,
            why.unwrap_or("session"),
        )];
        // A back-off is audited once, when it begins; the attempts it refuses are not (they would flood the log).
        if let Some(backoff) = by_account.failed() {
            entries.push(throttles.began_entry(Kind::LoginAccount, log_id, &account, backoff));
        }
        if let Some(backoff) = by_address.failed() {
            let subject = format!("addr:{}", svc.keys.address_hash(address));
            entries.push(throttles.began_entry(Kind::LoginAddress, log_id, &subject, backoff));
        }
        audit::record(svc, entries).await?;
        return Err(bad_credentials());
    };
    by_account.succeeded_and_forgive();
    by_address.succeeded();
    let (token, hash) = cordon_crypto::new_token("cs");
    let expires_at = cordon_store::now_ms() + svc.settings.session_absolute.as_millis() as i64;
    let session_id = cordon_crypto::new_id("s");
    let audit = [audit::entry(
        &agent.tenant_id,
        &format!("agent:{}", agent.id),
        Action::LoginSuccess,
        &format!("session:{session_id}"),
    )];
    svc.store
        .create_session(
            &session_id,
            &agent.tenant_id,
            &agent.id,
            &hash,
            expires_at,
            &audit,
        )
        .await?;
    Ok(SignedIn {
        agent,
        token,
        expires_at,
    })
}

/// End the caller's session (an API key has none: nothing happens).
pub async fn sign_out(svc: &Service, principal: &Principal) -> Result<()> {
    if let Principal::Agent { session_id, agent } = principal {
        let audit = [audit::by(
            principal,
            Action::SessionRevoke,
            &format!("session:{session_id}"),
        )];
        svc.store
            .revoke_session(&agent.tenant_id, session_id, &audit)
            .await?;
    }
    Ok(())
}

/// Is the session still live? (Open sockets re-check it: revocation closes them.) A database hiccup is not a
/// revocation: it answers `Err`, and the caller checks again later.
pub async fn session_is_live(svc: &Service, session_id: &str) -> Result<bool, String> {
    let idle = svc.settings.session_idle.as_millis() as i64;
    svc.store
        .session_is_live(session_id, idle)
        .await
        .map_err(|e| e.to_string())
}

/// An open console socket is activity: keep the idle timer from signing out a working agent.
pub async fn touch_session(svc: &Service, session_id: &str) {
    if let Err(e) = svc.store.touch_session(session_id).await {
        tracing::warn!(error = %e, "session touch failed");
    }
}

/// The agent as stored now.
pub async fn current(svc: &Service, agent: &Agent) -> Result<Agent> {
    Ok(svc.store.agent(&agent.tenant_id, &agent.id).await?)
}

/// An agent sets its status; coming online takes what is queued.
pub async fn set_status(svc: &Service, agent: &Agent, status: AgentStatus) -> Result<()> {
    svc.store
        .set_agent_status(&agent.tenant_id, &agent.id, status)
        .await?;
    Ok(())
}

/// The agent's last console socket in this process closed: stop routing new chats to someone who left, unless
/// another node of the cluster still holds one of its sockets.
pub async fn went_away(svc: &Service, tenant_id: &str, agent_id: &str) {
    if svc.hub.agent_disconnected(agent_id) > 0 {
        return;
    }
    if svc.hub.agent_elsewhere(tenant_id, agent_id).await {
        return;
    }
    if let Err(e) = svc
        .store
        .set_agent_status(tenant_id, agent_id, AgentStatus::Offline)
        .await
    {
        tracing::warn!(error = %e, "could not mark agent offline");
    }
}

/// The caller's tenant, for "who am I" (recorded as a read).
pub async fn whoami(svc: &Service, principal: &Principal) -> Result<cordon_store::Tenant> {
    let tenant = svc.store.tenant(principal.tenant_id()).await?;
    audit::record_read(svc, principal, Action::MeRead, "principal").await?;
    Ok(tenant)
}
