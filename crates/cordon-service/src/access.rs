//! Who may do what: scopes, the roles that hold them, the principal behind a request, and the one rule for
//! handing out access. Finding the principal behind a credential (an API key, a session token) is here too,
//! with its back-off; reading the credential off a request is the transport's.

use std::net::IpAddr;

use cordon_store::{Agent, AgentRole, ApiKey, PLATFORM_LOG};

use crate::error::{code, Refusal, Result};
use crate::throttle;
use crate::Service;

/// What a principal may do. API keys carry scopes; agent roles imply them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Manage settings, agents and keys. Does not read transcripts.
    Admin,
    /// Read conversation history.
    ConversationsRead,
    /// Read the audit log.
    AuditRead,
    /// Take part in chats (agents only, never an API key).
    Chat,
    /// Use card tokens of the vault (issue 15): list them, forward them to the tenant's processor, detokenize
    /// where the tenant allows it. No transcripts, no settings.
    Payments,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::ConversationsRead => "conversations:read",
            Scope::AuditRead => "audit:read",
            Scope::Chat => "chat",
            Scope::Payments => "payments",
        }
    }

    /// Scopes that reach tenant data beyond settings (transcripts, the audit log): granting one needs a tenant
    /// admin signed in interactively (see [`authorize_grant`]).
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            Scope::ConversationsRead | Scope::AuditRead | Scope::Payments
        )
    }

    /// Scopes an API key may be given.
    pub fn parse_key_scope(s: &str) -> Option<Scope> {
        match s {
            "admin" => Some(Scope::Admin),
            "conversations:read" => Some(Scope::ConversationsRead),
            "audit:read" => Some(Scope::AuditRead),
            "payments" => Some(Scope::Payments),
            _ => None,
        }
    }
}

/// What each role holds. A tenant admin holds every scope, `audit:read` included (the audit log holds ids, never
/// content, and admins get the audit viewer and the transparency report), so a signed-in admin can grant any
/// role or key scope; nobody else can grant more than they hold (see [`authorize_grant`]).
pub fn role_scopes(role: AgentRole) -> &'static [Scope] {
    match role {
        AgentRole::Admin => &[
            Scope::Admin,
            Scope::Chat,
            Scope::ConversationsRead,
            Scope::AuditRead,
            Scope::Payments,
        ],
        AgentRole::Agent => &[Scope::Chat, Scope::ConversationsRead],
        AgentRole::Auditor => &[Scope::ConversationsRead, Scope::AuditRead],
    }
}

#[derive(Debug, Clone)]
pub enum Principal {
    Agent { session_id: String, agent: Agent },
    ApiKey(ApiKey),
}

impl Principal {
    pub fn tenant_id(&self) -> &str {
        match self {
            Principal::Agent { agent, .. } => &agent.tenant_id,
            Principal::ApiKey(k) => &k.tenant_id,
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        match self {
            Principal::Agent { agent, .. } => role_scopes(agent.role).contains(&scope),
            Principal::ApiKey(k) => k.scopes.iter().any(|s| s == scope.as_str()),
        }
    }

    pub fn require(&self, scope: Scope) -> Result<(), Refusal> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(Refusal::forbidden())
        }
    }

    /// A label for logs: ids only, never names or secrets.
    pub fn actor(&self) -> String {
        match self {
            Principal::Agent { agent, .. } => format!("agent:{}", agent.id),
            Principal::ApiKey(k) => format!("apikey:{}", k.id),
        }
    }
}

/// The one rule for handing out access, applied to every API key created and every agent role given (and to
/// setting an agent's password, which hands out that agent's role). The caller may grant `scopes` only if:
/// 1. it manages the tenant (`admin`), else `403 forbidden`;
/// 2. for `conversations:read` and `audit:read`, it is an agent signed in with a session (a person at the
///    console), not an API key, else `403 session_required`: a leaked or over-shared admin key must not be able to
///    turn itself into a transcript reader;
/// 3. it holds every scope it grants, else `403 scope_not_held`.
///
/// The CLI (the operator, with database access) does not go through this rule.
pub fn authorize_grant(principal: &Principal, scopes: &[Scope]) -> Result<(), Refusal> {
    principal.require(Scope::Admin)?;
    let by_session = matches!(principal, Principal::Agent { .. });
    if !by_session && scopes.iter().any(|s| s.is_sensitive()) {
        return Err(Refusal::new(
            code::SESSION_REQUIRED,
            "granting conversations:read, audit:read or payments needs a tenant admin signed in at the console, not an API key",
        ));
    }
    if let Some(missing) = scopes.iter().find(|s| !principal.has(**s)) {
        return Err(Refusal::new(
            code::SCOPE_NOT_HELD,
            format!("you cannot grant {}: you do not hold it", missing.as_str()),
        ));
    }
    Ok(())
}

/// The principal behind an `Authorization: Bearer` key. `peer` is the TCP peer's address: bad keys back off by
/// it (throttle.rs).
pub async fn principal_for_api_key(
    svc: &Service,
    token: Option<&str>,
    peer: Option<IpAddr>,
) -> Result<Principal> {
    // While the address backs off, no key from it is looked up, valid or not: otherwise guessing would go on at
    // full speed, only with `429` for the misses.
    let address = throttle::client_address(peer);
    let throttles = &svc.throttle;
    let limiter = &throttles.api_key_address;
    if let Err(wait) = limiter.check(&address) {
        return Err(throttles.refuse(svc, throttle::Kind::ApiKeyAddress, wait));
    }
    let key = match token {
        Some(token) => {
            let hash = cordon_crypto::hash_token(token);
            svc.store.live_api_key(&hash).await?
        }
        None => None,
    };
    match key {
        Some(key) => Ok(Principal::ApiKey(key)),
        None => {
            if let Some(backoff) = limiter.fail(address) {
                // No tenant is known from a key that matches nothing: the platform log holds it.
                let subject = format!("addr:{}", svc.keys.address_hash(address));
                throttles
                    .began(
                        svc,
                        throttle::Kind::ApiKeyAddress,
                        PLATFORM_LOG,
                        &subject,
                        backoff,
                    )
                    .await?;
            }
            Err(Refusal::unauthenticated())
        }
    }
}

/// The agent signed in with a session token, if the session is live.
pub async fn principal_for_session(svc: &Service, token: &str) -> Result<Option<Principal>> {
    let hash = cordon_crypto::hash_token(token);
    let idle = svc.settings.session_idle.as_millis() as i64;
    Ok(svc
        .store
        .live_session(&hash, idle)
        .await?
        .map(|found| Principal::Agent {
            session_id: found.session.id,
            agent: found.agent,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_store::AgentStatus;

    fn key(scopes: &[&str]) -> Principal {
        Principal::ApiKey(ApiKey {
            id: "k_1".into(),
            tenant_id: "t_1".into(),
            prefix: "ck_abcde".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            created_at: 0,
            expires_at: i64::MAX,
            revoked_at: None,
            created_by: String::new(),
        })
    }

    fn agent(role: AgentRole) -> Principal {
        Principal::Agent {
            session_id: "s_1".into(),
            agent: Agent {
                id: "a_1".into(),
                tenant_id: "t_1".into(),
                username: "ada".into(),
                display_name: "Ada".into(),
                role,
                capacity: 1,
                status: AgentStatus::Offline,
                disabled: false,
                created_at: 0,
            },
        }
    }

    fn code_of(r: Result<(), Refusal>) -> Option<&'static str> {
        r.err().map(|e| e.code)
    }

    #[test]
    fn nobody_grants_what_they_do_not_hold_and_sensitive_scopes_need_a_session() {
        let admin_key = key(&["admin"]);
        assert_eq!(code_of(authorize_grant(&admin_key, &[Scope::Admin])), None);
        assert_eq!(
            code_of(authorize_grant(&admin_key, &[Scope::Chat])),
            Some(code::SCOPE_NOT_HELD)
        );
        for sensitive in [Scope::ConversationsRead, Scope::AuditRead] {
            assert!(sensitive.is_sensitive());
            assert_eq!(
                code_of(authorize_grant(&admin_key, &[sensitive])),
                Some(code::SESSION_REQUIRED)
            );
            let holds_it = key(&["admin", sensitive.as_str()]);
            assert_eq!(
                code_of(authorize_grant(&holds_it, &[sensitive])),
                Some(code::SESSION_REQUIRED),
                "a key never passes on a sensitive scope, even one it holds"
            );
        }
        assert_eq!(
            code_of(authorize_grant(&key(&["conversations:read"]), &[])),
            Some(code::FORBIDDEN),
            "granting at all needs admin"
        );
        let admin = agent(AgentRole::Admin);
        for role in [AgentRole::Admin, AgentRole::Agent, AgentRole::Auditor] {
            assert_eq!(code_of(authorize_grant(&admin, role_scopes(role))), None);
            assert_eq!(
                code_of(authorize_grant(
                    &agent(AgentRole::Auditor),
                    role_scopes(role)
                )),
                Some(code::FORBIDDEN)
            );
        }
        // The admin role holds every scope, so the rule never stops a signed-in admin.
        for scope in [
            Scope::Admin,
            Scope::Chat,
            Scope::ConversationsRead,
            Scope::AuditRead,
        ] {
            assert!(admin.has(scope), "{}", scope.as_str());
        }
    }
}
