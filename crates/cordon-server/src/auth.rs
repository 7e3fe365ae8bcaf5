//! Who is calling: an agent with a session cookie, or a tenant API key. Every principal belongs to exactly one
//! tenant, and every handler scopes its work by `principal.tenant_id()`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use cordon_store::{Agent, AgentRole, ApiKey};

use crate::error::{code, ApiError};
use crate::AppState;

pub const SESSION_COOKIE: &str = "cordon_session";

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
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::ConversationsRead => "conversations:read",
            Scope::AuditRead => "audit:read",
            Scope::Chat => "chat",
        }
    }

    /// Scopes an API key may be given.
    pub fn parse_key_scope(s: &str) -> Option<Scope> {
        match s {
            "admin" => Some(Scope::Admin),
            "conversations:read" => Some(Scope::ConversationsRead),
            "audit:read" => Some(Scope::AuditRead),
            _ => None,
        }
    }
}

pub fn role_scopes(role: AgentRole) -> &'static [Scope] {
    match role {
        AgentRole::Admin => &[Scope::Admin, Scope::Chat, Scope::ConversationsRead],
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

    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
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

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Cookie-authenticated requests that change state must come from the console's own origin. SameSite=Strict
/// already keeps the cookie off cross-site requests; this also refuses same-site but cross-origin callers
/// (e.g. the widget origin on a sibling loopback host).
fn check_csrf(method: &Method, headers: &HeaderMap, state: &AppState) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin == Some(state.config.console_origin.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            code::CSRF,
            "state-changing requests must come from the console's origin",
        ))
    }
}

pub async fn authenticate(
    method: &Method,
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Principal, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(ApiError::unauthenticated)?;
        let hash = cordon_crypto::hash_token(token);
        return match state.store.live_api_key(&hash).await? {
            Some(key) => Ok(Principal::ApiKey(key)),
            None => Err(ApiError::unauthenticated()),
        };
    }
    let token = cookie_value(headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
    let hash = cordon_crypto::hash_token(token);
    let idle = state.config.limits.session_idle.as_millis() as i64;
    match state.store.live_session(&hash, idle).await? {
        Some(found) => {
            check_csrf(method, headers, state)?;
            Ok(Principal::Agent {
                session_id: found.session.id,
                agent: found.agent,
            })
        }
        None => Err(ApiError::unauthenticated()),
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(&parts.method, &parts.headers, state).await
    }
}

/// The `Set-Cookie` value for a new session: host-only (no Domain), HttpOnly, SameSite=Strict.
pub fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}
