//! Management: tenants, agents and API keys, shared by the HTTP API and the CLI, so both validate, check grants,
//! audit and store the same way.

use cordon_crypto::SecretKey;
use cordon_store::{
    Agent, AgentPatch, AgentRole, ApiKey, NewAgent, NewApiKey, NewTenant, Tenant, TenantPatch,
};

use crate::access::{role_scopes, Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{Refusal, Result};
use crate::Service;

/// Who asks for a change: a caller of the API (held to the grant rule, access.rs) or the operator at the command
/// line (with database access, so not held to it), named by its actor label.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Caller(&'a Principal),
    Operator(&'a str),
}

impl Actor<'_> {
    /// The actor of audit entries.
    pub fn label(&self) -> String {
        match self {
            Actor::Caller(p) => p.actor(),
            Actor::Operator(label) => label.to_string(),
        }
    }

    fn authorize_grant(&self, scopes: &[Scope]) -> Result<()> {
        match self {
            Actor::Caller(p) => crate::access::authorize_grant(p, scopes),
            Actor::Operator(_) => Ok(()),
        }
    }
}

fn hash_password(password: &str) -> Result<String> {
    cordon_crypto::hash_password(password).map_err(|_| Refusal::internal("password hashing failed"))
}

pub const DEFAULT_KEY_DAYS: u32 = 90;
pub const MAX_KEY_DAYS: u32 = 365;
pub const MIN_PASSWORD_CHARS: usize = 10;

pub fn validate_slug(slug: &str) -> Result<()> {
    let ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(Refusal::invalid(
            "slug must be 2-40 characters of a-z, 0-9 and '-'",
        ))
    }
}

pub fn validate_username(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
        && cordon_card::find(name).is_empty();
    if ok {
        Ok(())
    } else {
        Err(Refusal::invalid(
            "username must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
        ))
    }
}

/// Free text from people (display names) is stored masked, like message text.
pub fn clean_text(text: &str, max_chars: usize) -> Result<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > max_chars || t.chars().any(char::is_control) {
        return Err(Refusal::invalid(
            "display name must be 1-80 printable characters",
        ));
    }
    Ok(cordon_card::redact(t).text.into_owned())
}

/// An allowed embedding origin: `scheme://host[:port]`, nothing else.
pub fn validate_origin(origin: &str) -> Result<()> {
    let bad = Err(Refusal::invalid(
        "allowed origins must look like https://shop.example or http://localhost:8090",
    ));
    let Some((scheme, rest)) = origin.split_once("://") else {
        return bad;
    };
    if !matches!(scheme, "http" | "https") || rest.is_empty() || rest.len() > 200 {
        return bad;
    }
    if !rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return bad;
    }
    // Origins are stored, echoed by the API and sent in CSP headers: one holding a card number is refused.
    // The host is checked on its own, because after "://" the detector reads digits as part of a URL path.
    if !cordon_card::find(rest).is_empty() {
        return bad;
    }
    Ok(())
}

pub fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(Refusal::invalid("password must be 10-1024 characters"));
    }
    Ok(())
}

/// Create a tenant with fresh keys (the operator's command). Returns the tenant and its identity secret (to
/// show once).
pub async fn create_tenant(
    svc: &Service,
    slug: &str,
    display_name: &str,
    allowed_origins: &[String],
    actor: &str,
) -> Result<(Tenant, SecretKey)> {
    validate_slug(slug)?;
    let display_name = clean_text(display_name, 80)?;
    for o in allowed_origins {
        validate_origin(o)?;
    }
    let id = cordon_crypto::new_id("t");
    let (data_wrapped, identity_wrapped, identity) = svc.keys.new_tenant_keys(&id);
    let target = format!("tenant:{id}");
    let audit = [
        audit::entry(&id, actor, Action::TenantCreate, &target),
        audit::entry(&id, actor, Action::KeyCreate, "data_key:1"),
        audit::entry(&id, actor, Action::KeyCreate, "identity_secret"),
    ];
    let tenant = svc
        .store
        .create_tenant(
            NewTenant {
                id,
                slug: slug.to_string(),
                display_name,
                widget_key: cordon_crypto::new_id("wk"),
                allowed_origins: allowed_origins.to_vec(),
                identity_secret_wrapped: identity_wrapped,
                data_key_wrapped: data_wrapped,
            },
            &audit,
        )
        .await?;
    Ok((tenant, identity))
}

/// Every tenant (the operator's listing, recorded in the platform log).
pub async fn list_tenants(svc: &Service, actor: &str) -> Result<Vec<Tenant>> {
    let tenants = svc.store.list_tenants().await?;
    audit::record(
        svc,
        vec![audit::platform_entry(actor, Action::TenantsList, "tenants")],
    )
    .await?;
    Ok(tenants)
}

/// The tenant with this slug, if any (no audit entry: a slug is public, it names the tenant at sign-in).
pub async fn tenant_by_slug(svc: &Service, slug: &str) -> Result<Option<Tenant>> {
    Ok(svc.store.tenant_by_slug(slug).await?)
}

/// The caller's tenant settings (admin).
pub async fn read_tenant(svc: &Service, principal: &Principal) -> Result<Tenant> {
    principal.require(Scope::Admin)?;
    let t = svc.store.tenant(principal.tenant_id()).await?;
    audit::record_read(
        svc,
        principal,
        Action::TenantRead,
        &format!("tenant:{}", t.id),
    )
    .await?;
    Ok(t)
}

/// A change of tenant settings; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct TenantChange {
    pub display_name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub verify_identity: Option<bool>,
}

/// Change a tenant's settings. The entry names the fields changed, never their values.
pub async fn update_tenant(
    svc: &Service,
    tenant_id: &str,
    change: TenantChange,
    by: Actor<'_>,
) -> Result<Tenant> {
    if let Some(origins) = &change.allowed_origins {
        if origins.len() > 20 {
            return Err(Refusal::invalid("at most 20 allowed origins"));
        }
        for o in origins {
            validate_origin(o)?;
        }
    }
    let display_name = change
        .display_name
        .as_deref()
        .map(|d| clean_text(d, 80))
        .transpose()?;
    let mut fields = Vec::new();
    if display_name.is_some() {
        fields.push("display_name");
    }
    if change.allowed_origins.is_some() {
        fields.push("allowed_origins");
    }
    match change.verify_identity {
        Some(true) => fields.push("verify_identity=true"),
        Some(false) => fields.push("verify_identity=false"),
        None => {}
    }
    let audit = [audit::entry(
        tenant_id,
        &by.label(),
        Action::TenantUpdate,
        &format!("tenant:{tenant_id}#{}", fields.join(",")),
    )];
    let patch = TenantPatch {
        display_name,
        allowed_origins: change.allowed_origins,
        verify_identity: change.verify_identity,
    };
    Ok(svc.store.update_tenant(tenant_id, &patch, &audit).await?)
}

/// Replace the tenant's identity-verification secret; returns the new one (to show once).
/// Crypto-shred a tenant (the operator's command line, issue 16): destroy its data keys, so every message it
/// ever sealed is unreadable from now on, on every node within `keys::KEY_RECHECK`; new messages are refused
/// (`data_shredded`). The audit log stays whole and verifiable (it is signed with the platform's audit key,
/// not the tenant's): `tenant.shred` is written to the tenant's log and the platform's, with the number of keys
/// destroyed. Answers that number (0: already shredded).
pub async fn shred_tenant(svc: &Service, tenant_id: &str, actor: &str) -> Result<u64> {
    svc.store.tenant(tenant_id).await?;
    let target = format!("tenant:{tenant_id}#data_keys");
    let audit = [
        audit::entry(tenant_id, actor, Action::TenantShred, &target),
        audit::platform_entry(actor, Action::TenantShred, &target),
    ];
    Ok(svc.store.shred_tenant_keys(tenant_id, &audit).await?)
}

pub async fn rotate_identity_secret(svc: &Service, principal: &Principal) -> Result<SecretKey> {
    principal.require(Scope::Admin)?;
    let secret = SecretKey::generate();
    let wrapped = svc.keys.master().wrap(
        &crate::keys::identity_secret_context(principal.tenant_id()),
        &secret,
    );
    let audit = [audit::by(principal, Action::KeyRotate, "identity_secret")];
    svc.store
        .set_identity_secret(principal.tenant_id(), &wrapped, &audit)
        .await?;
    Ok(secret)
}

/// A new agent, as asked for.
#[derive(Debug)]
pub struct AgentRequest<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub role: AgentRole,
    pub capacity: i64,
    pub password: &'a str,
}

pub async fn create_agent(
    svc: &Service,
    tenant_id: &str,
    req: AgentRequest<'_>,
    by: Actor<'_>,
) -> Result<Agent> {
    by.authorize_grant(role_scopes(req.role))?;
    validate_username(req.username)?;
    validate_password(req.password)?;
    if !(0..=100).contains(&req.capacity) {
        return Err(Refusal::invalid("capacity must be 0-100"));
    }
    let display_name = clean_text(req.display_name, 80)?;
    let hash = hash_password(req.password)?;
    let id = cordon_crypto::new_id("a");
    let audit = [audit::entry(
        tenant_id,
        &by.label(),
        Action::AgentCreate,
        &format!("agent:{id}#role={}", req.role.as_str()),
    )];
    Ok(svc
        .store
        .create_agent(
            tenant_id,
            NewAgent {
                id,
                username: req.username.to_string(),
                display_name,
                role: req.role,
                capacity: req.capacity,
                password_hash: hash,
            },
            &audit,
        )
        .await?)
}

/// A change of an agent; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct AgentChange<'a> {
    pub display_name: Option<&'a str>,
    pub role: Option<AgentRole>,
    pub capacity: Option<i64>,
    pub disabled: Option<bool>,
    pub password: Option<&'a str>,
}

/// Change an agent, with its one `agent.update` entry (the fields changed, never their values). A new role hands
/// out its scopes, and a new password hands out the agent's role to whoever knows it: both pass the grant rule.
pub async fn update_agent(
    svc: &Service,
    tenant_id: &str,
    agent_id: &str,
    change: AgentChange<'_>,
    by: Actor<'_>,
) -> Result<Agent> {
    let patch = agent_patch(
        change.display_name,
        change.role,
        change.capacity,
        change.disabled,
        change.password,
    )?;
    let current = svc.store.agent(tenant_id, agent_id).await?;
    let mut granted: Vec<Scope> = change.role.map(role_scopes).unwrap_or_default().to_vec();
    if change.password.is_some() {
        granted.extend_from_slice(role_scopes(change.role.unwrap_or(current.role)));
    }
    if !granted.is_empty() {
        by.authorize_grant(&granted)?;
    }
    let audit = [audit::entry(
        tenant_id,
        &by.label(),
        Action::AgentUpdate,
        &format!("agent:{agent_id}#{}", patch_fields(&patch)),
    )];
    Ok(svc
        .store
        .update_agent(tenant_id, agent_id, &patch, &audit)
        .await?)
}

/// The agent with this username, if any (the operator's look-up; no entry, as for a slug).
pub async fn agent_by_username(
    svc: &Service,
    tenant_id: &str,
    username: &str,
) -> Result<Option<Agent>> {
    Ok(svc
        .store
        .agent_credentials(tenant_id, username)
        .await?
        .map(|(agent, _)| agent))
}

/// The tenant's agents, the listing recorded in its log.
pub async fn list_agents(svc: &Service, tenant_id: &str, actor: &str) -> Result<Vec<Agent>> {
    let agents = svc.store.list_agents(tenant_id).await?;
    audit::record(
        svc,
        vec![audit::entry(tenant_id, actor, Action::AgentsList, "agents")],
    )
    .await?;
    Ok(agents)
}

/// Sign an agent out everywhere; returns how many sessions ended.
pub async fn revoke_agent_sessions(
    svc: &Service,
    principal: &Principal,
    agent_id: &str,
) -> Result<u64> {
    principal.require(Scope::Admin)?;
    svc.store.agent(principal.tenant_id(), agent_id).await?;
    let audit = [audit::by(
        principal,
        Action::SessionRevokeAll,
        &format!("agent:{agent_id}"),
    )];
    Ok(svc
        .store
        .revoke_agent_sessions(principal.tenant_id(), agent_id, &audit)
        .await?)
}

fn agent_patch(
    display_name: Option<&str>,
    role: Option<AgentRole>,
    capacity: Option<i64>,
    disabled: Option<bool>,
    password: Option<&str>,
) -> Result<AgentPatch> {
    if let Some(c) = capacity {
        if !(0..=100).contains(&c) {
            return Err(Refusal::invalid("capacity must be 0-100"));
        }
    }
    let password_hash = match password {
        Some(p) => {
            validate_password(p)?;
            Some(hash_password(p)?)
        }
        None => None,
    };
    Ok(AgentPatch {
        display_name: display_name.map(|d| clean_text(d, 80)).transpose()?,
        role,
        capacity,
        disabled,
        password_hash,
    })
}

/// The names of the fields an agent patch changes, for its audit entry (names only, never values).
fn patch_fields(patch: &AgentPatch) -> String {
    let mut f = Vec::new();
    if patch.display_name.is_some() {
        f.push("display_name");
    }
    if let Some(r) = patch.role {
        f.push(match r {
            AgentRole::Admin => "role=admin",
            AgentRole::Agent => "role=agent",
            AgentRole::Auditor => "role=auditor",
        });
    }
    if patch.capacity.is_some() {
        f.push("capacity");
    }
    match patch.disabled {
        Some(true) => f.push("disabled=true"),
        Some(false) => f.push("disabled=false"),
        None => {}
    }
    if patch.password_hash.is_some() {
        f.push("password");
    }
    f.join(",")
}

/// Create an API key. Returns the key record and the secret key text, which is shown once and never stored.
/// Unknown scope names are refused (`bad_request`); the known ones must pass the grant rule.
pub async fn create_api_key(
    svc: &Service,
    tenant_id: &str,
    scopes: &[String],
    expires_in_days: Option<u32>,
    by: Actor<'_>,
) -> Result<(ApiKey, String)> {
    let granted: Vec<Scope> = scopes
        .iter()
        .filter_map(|s| Scope::parse_key_scope(s))
        .collect();
    by.authorize_grant(&granted)?;
    if scopes.is_empty() {
        return Err(Refusal::invalid(
            "give at least one scope: admin, conversations:read, audit:read",
        ));
    }
    for s in scopes {
        if Scope::parse_key_scope(s).is_none() {
            return Err(Refusal::invalid(
                "scopes are admin, conversations:read and audit:read",
            ));
        }
    }
    let days = expires_in_days.unwrap_or(DEFAULT_KEY_DAYS);
    if days == 0 || days > MAX_KEY_DAYS {
        return Err(Refusal::invalid("keys expire after 1 to 365 days"));
    }
    let (token, hash) = cordon_crypto::new_token("ck");
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let id = cordon_crypto::new_id("k");
    let actor = by.label();
    let audit = [audit::entry(
        tenant_id,
        &actor,
        Action::ApiKeyCreate,
        &format!("apikey:{id}#scopes={}", scopes.join(",")),
    )];
    let key = svc
        .store
        .create_api_key_by(
            tenant_id,
            NewApiKey {
                id,
                key_hash: hash.to_vec(),
                prefix: token.chars().take(8).collect(),
                scopes,
                expires_at: cordon_store::now_ms() + i64::from(days) * 86_400_000,
            },
            &actor,
            &audit,
        )
        .await?;
    Ok((key, token))
}

/// The tenant's API keys, without secrets; the listing recorded in its log.
pub async fn list_api_keys(svc: &Service, tenant_id: &str, actor: &str) -> Result<Vec<ApiKey>> {
    let keys = svc.store.list_api_keys(tenant_id).await?;
    audit::record(
        svc,
        vec![audit::entry(
            tenant_id,
            actor,
            Action::ApiKeysList,
            "apikeys",
        )],
    )
    .await?;
    Ok(keys)
}

/// Revoke an API key at once.
pub async fn revoke_api_key(
    svc: &Service,
    tenant_id: &str,
    key_id: &str,
    actor: &str,
) -> Result<()> {
    let audit = [audit::entry(
        tenant_id,
        actor,
        Action::ApiKeyRevoke,
        &format!("apikey:{key_id}"),
    )];
    Ok(svc.store.revoke_api_key(tenant_id, key_id, &audit).await?)
}

/// Record a schema migration in the platform log; returns the version the database is at.
pub async fn record_migration(svc: &Service, actor: &str) -> Result<i64> {
    let version = svc.schema_version().await?;
    audit::record(
        svc,
        vec![audit::platform_entry(
            actor,
            Action::SchemaMigrate,
            &format!("schema:{version}"),
        )],
    )
    .await?;
    Ok(version)
}

/// Parse durations like `90d`, `12h`, `30` (days).
pub fn parse_days(text: &str) -> Result<u32> {
    let t = text.trim();
    let (num, unit) = match t.strip_suffix('d') {
        Some(n) => (n, 1.0),
        None => match t.strip_suffix('y') {
            Some(n) => (n, 365.0),
            None => (t, 1.0),
        },
    };
    let n: f64 = num
        .parse()
        .map_err(|_| Refusal::invalid("durations look like 90d or 1y"))?;
    let days = (n * unit).ceil();
    if !(1.0..=f64::from(MAX_KEY_DAYS)).contains(&days) {
        return Err(Refusal::invalid("keys expire after 1 to 365 days"));
    }
    Ok(days as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate_slug("acme-air").is_ok());
        assert!(validate_slug("A").is_err());
        assert!(validate_origin("http://localhost:8090").is_ok());
        assert!(validate_origin("https://shop.example").is_ok());
        assert!(validate_origin("https://shop.example/path").is_err());
        assert!(validate_origin("javascript:alert(1)").is_err());
        assert!(validate_origin("*").is_err());
        assert!(validate_origin("https://5375-2394-5601-8340.example").is_err());
        assert!(validate_origin("https://4539578763621486115.example").is_err());
        assert_eq!(parse_days("90d").unwrap(), 90);
        assert_eq!(parse_days("1y").unwrap(), 365);
        assert!(parse_days("2y").is_err());
        assert!(validate_password("short").is_err());
    }
}
