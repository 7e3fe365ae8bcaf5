//! Management operations shared by the HTTP API and the CLI, so both validate and store the same way.

use cordon_crypto::SecretKey;
use cordon_store::{
    Agent, AgentPatch, AgentRole, ApiKey, NewAgent, NewApiKey, NewTenant, Store, StoreError, Tenant,
};

use crate::auth::Scope;
use crate::keys::Keys;

/// A validation failure: a stable code and a message that never quotes the input.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error("password hashing failed")]
    Hash,
}

impl From<OpError> for crate::ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid(msg) => crate::ApiError::bad_request(msg),
            OpError::Store(s) => s.into(),
            other => crate::ApiError::internal(other),
        }
    }
}

pub const DEFAULT_KEY_DAYS: u32 = 90;
pub const MAX_KEY_DAYS: u32 = 365;
pub const MIN_PASSWORD_CHARS: usize = 10;

pub fn validate_slug(slug: &str) -> Result<(), OpError> {
    let ok = (2..=40).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(OpError::Invalid(
            "slug must be 2-40 characters of a-z, 0-9 and '-'",
        ))
    }
}

pub fn validate_username(name: &str) -> Result<(), OpError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
        && cordon_card::find(name).is_empty();
    if ok {
        Ok(())
    } else {
        Err(OpError::Invalid(
            "username must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-', '@'",
        ))
    }
}

/// Free text from people (display names) is stored masked, like message text.
pub fn clean_text(text: &str, max_chars: usize) -> Result<String, OpError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > max_chars || t.chars().any(char::is_control) {
        return Err(OpError::Invalid(
            "display name must be 1-80 printable characters",
        ));
    }
    Ok(cordon_card::redact(t).text.into_owned())
}

/// An allowed embedding origin: `scheme://host[:port]`, nothing else.
pub fn validate_origin(origin: &str) -> Result<(), OpError> {
    let bad = Err(OpError::Invalid(
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

pub fn validate_password(password: &str) -> Result<(), OpError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > 1024 {
        return Err(OpError::Invalid("password must be 10-1024 characters"));
    }
    Ok(())
}

/// Create a tenant with fresh keys. Returns the tenant and its identity secret (to show once).
pub async fn create_tenant(
    store: &Store,
    keys: &Keys,
    slug: &str,
    display_name: &str,
    allowed_origins: &[String],
    actor: &str,
) -> Result<(Tenant, SecretKey), OpError> {
    validate_slug(slug)?;
    let display_name = clean_text(display_name, 80)?;
    for o in allowed_origins {
        validate_origin(o)?;
    }
    let id = cordon_crypto::new_id("t");
    let (data_wrapped, identity_wrapped, identity) = keys.new_tenant_keys(&id);
    let target = format!("tenant:{id}");
    let audit = [
        crate::audit::entry(&id, actor, "tenant.create", &target),
        crate::audit::entry(&id, actor, "key.create", "data_key:1"),
        crate::audit::entry(&id, actor, "key.create", "identity_secret"),
    ];
    let tenant = store
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

pub async fn create_agent(
    store: &Store,
    tenant_id: &str,
    username: &str,
    display_name: &str,
    role: AgentRole,
    capacity: i64,
    password: &str,
    actor: &str,
) -> Result<Agent, OpError> {
    validate_username(username)?;
    validate_password(password)?;
    if !(0..=100).contains(&capacity) {
        return Err(OpError::Invalid("capacity must be 0-100"));
    }
    let display_name = clean_text(display_name, 80)?;
    let hash = cordon_crypto::hash_password(password).map_err(|_| OpError::Hash)?;
    let id = cordon_crypto::new_id("a");
    let audit = [crate::audit::entry(
        tenant_id,
        actor,
        "agent.create",
        &format!("agent:{id}#role={}", role.as_str()),
    )];
    Ok(store
        .create_agent(
            tenant_id,
            NewAgent {
                id,
                username: username.to_string(),
                display_name,
                role,
                capacity,
                password_hash: hash,
            },
            &audit,
        )
        .await?)
}

pub fn agent_patch(
    display_name: Option<&str>,
    role: Option<AgentRole>,
    capacity: Option<i64>,
    disabled: Option<bool>,
    password: Option<&str>,
) -> Result<AgentPatch, OpError> {
    if let Some(c) = capacity {
        if !(0..=100).contains(&c) {
            return Err(OpError::Invalid("capacity must be 0-100"));
        }
    }
    let password_hash = match password {
        Some(p) => {
            validate_password(p)?;
            Some(cordon_crypto::hash_password(p).map_err(|_| OpError::Hash)?)
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
pub fn patch_fields(patch: &AgentPatch) -> String {
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
pub async fn create_api_key(
    store: &Store,
    tenant_id: &str,
    scopes: &[String],
    expires_in_days: Option<u32>,
    actor: &str,
) -> Result<(ApiKey, String), OpError> {
    if scopes.is_empty() {
        return Err(OpError::Invalid(
            "give at least one scope: admin, conversations:read, audit:read",
        ));
    }
    for s in scopes {
        if Scope::parse_key_scope(s).is_none() {
            return Err(OpError::Invalid(
                "scopes are admin, conversations:read and audit:read",
            ));
        }
    }
    let days = expires_in_days.unwrap_or(DEFAULT_KEY_DAYS);
    if days == 0 || days > MAX_KEY_DAYS {
        return Err(OpError::Invalid("keys expire after 1 to 365 days"));
    }
    let (token, hash) = cordon_crypto::new_token("ck");
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let id = cordon_crypto::new_id("k");
    let audit = [crate::audit::entry(
        tenant_id,
        actor,
        "apikey.create",
        &format!("apikey:{id}#scopes={}", scopes.join(",")),
    )];
    let key = store
        .create_api_key_by(
            tenant_id,
            NewApiKey {
                id,
                key_hash: hash.to_vec(),
                prefix: token.chars().take(8).collect(),
                scopes,
                expires_at: cordon_store::now_ms() + i64::from(days) * 86_400_000,
            },
            actor,
            &audit,
        )
        .await?;
    Ok((key, token))
}

/// Parse durations like `90d`, `12h`, `30` (days).
pub fn parse_days(text: &str) -> Result<u32, OpError> {
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
        .map_err(|_| OpError::Invalid("durations look like 90d or 1y"))?;
    let days = (n * unit).ceil();
    if !(1.0..=f64::from(MAX_KEY_DAYS)).contains(&days) {
        return Err(OpError::Invalid("keys expire after 1 to 365 days"));
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
