//! Tenants, their keys, agents, agent sessions, API keys and visitor session records.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::conversations::Visitor;
use crate::writer::Undo;
use crate::{now_ms, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub verify_identity: bool,
    /// Wrapped by the master key; never leaves the server.
    #[serde(skip)]
    pub identity_secret_wrapped: Vec<u8>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub identity_secret_wrapped: Vec<u8>,
    /// The first data key (id 1), wrapped by the master key.
    pub data_key_wrapped: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub display_name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub verify_identity: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    Admin,
    Agent,
    Auditor,
}

impl AgentRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentRole::Admin => "admin",
            AgentRole::Agent => "agent",
            AgentRole::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(AgentRole::Admin),
            "agent" => Some(AgentRole::Agent),
            "auditor" => Some(AgentRole::Auditor),
            _ => None,
        }
    }

    /// Roles that take chats.
    pub fn chats(self) -> bool {
        matches!(self, AgentRole::Admin | AgentRole::Agent)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentStatus {
    Online,
    Away,
    Offline,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Away => "away",
            AgentStatus::Offline => "offline",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "online" => Some(AgentStatus::Online),
            "away" => Some(AgentStatus::Away),
            "offline" => Some(AgentStatus::Offline),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub id: String,
    pub tenant_id: String,
    pub username: String,
    pub display_name: String,
    pub role: AgentRole,
    pub capacity: i64,
    pub status: AgentStatus,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewAgent {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: AgentRole,
    pub capacity: i64,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct AgentPatch {
    pub display_name: Option<String>,
    pub role: Option<AgentRole>,
    pub capacity: Option<i64>,
    pub disabled: Option<bool>,
    pub password_hash: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub tenant_id: String,
    pub agent_id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A live session with its agent, as found from a token.
#[derive(Debug, Clone)]
pub struct SessionLookup {
    pub session: Session,
    pub agent: Agent,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub tenant_id: String,
    /// The first characters of the key, to recognise it in a list. Not enough to use it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Who created it: an audit actor label (`agent:…`, `apikey:…`, `operator:cli`); empty for keys made before
    /// this was recorded.
    pub created_by: String,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub id: String,
    pub key_hash: Vec<u8>,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

/// A visitor session record to open (see `Store::start_visitor_session`).
#[derive(Debug, Clone)]
pub struct VisitorSessionStart {
    pub id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub node: String,
    pub embed_origin: Option<String>,
    /// SHA-384 hashes of the widget assets this session was served (the exposure record).
    pub asset_hashes: Vec<String>,
    /// The signed release those files are from (issue 12); `None` when no release was live.
    pub release_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VisitorSessionRecord {
    pub id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub node: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub agents: Vec<String>,
    pub cards_redacted: i64,
    pub embed_origin: Option<String>,
    pub asset_hashes: Vec<String>,
    /// The signed release the session ran (issue 12), when one was live.
    pub release_id: Option<String>,
}

const TENANT_COLS: &str = "id, slug, display_name, widget_key, allowed_origins, verify_identity, identity_secret, created_at";
const AGENT_COLS: &str =
    "id, tenant_id, username, display_name, role, capacity, status, disabled, created_at";

fn tenant_from_row(r: &AnyRow) -> Result<Tenant> {
    let origins: String = r.try_get(4)?;
    Ok(Tenant {
        id: r.try_get(0)?,
        slug: r.try_get(1)?,
        display_name: r.try_get(2)?,
        widget_key: r.try_get(3)?,
        allowed_origins: serde_json::from_str(&origins)
            .map_err(|_| StoreError::Corrupt("allowed_origins"))?,
        verify_identity: r.try_get::<i64, _>(5)? != 0,
        identity_secret_wrapped: r.try_get(6)?,
        created_at: r.try_get(7)?,
    })
}

pub(crate) fn agent_from_row(r: &AnyRow, offset: usize) -> Result<Agent> {
    let role: String = r.try_get(offset + 4)?;
    let status: String = r.try_get(offset + 6)?;
    Ok(Agent {
        id: r.try_get(offset)?,
        tenant_id: r.try_get(offset + 1)?,
        username: r.try_get(offset + 2)?,
        display_name: r.try_get(offset + 3)?,
        role: AgentRole::parse(&role).ok_or(StoreError::Corrupt("agent role"))?,
        capacity: r.try_get(offset + 5)?,
        status: AgentStatus::parse(&status).ok_or(StoreError::Corrupt("agent status"))?,
        disabled: r.try_get::<i64, _>(offset + 7)? != 0,
        created_at: r.try_get(offset + 8)?,
    })
}

fn api_key_from_row(r: &AnyRow) -> Result<ApiKey> {
    let scopes: String = r.try_get(3)?;
    Ok(ApiKey {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        prefix: r.try_get(2)?,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        created_at: r.try_get(4)?,
        expires_at: r.try_get(5)?,
        revoked_at: r.try_get(6)?,
        created_by: r.try_get(7)?,
    })
}

fn origins_json(origins: &[String]) -> String {
    serde_json::to_string(origins).unwrap_or_else(|_| "[]".to_string())
}

fn map_unique(err: sqlx::Error, what: &'static str) -> StoreError {
    if StoreError::is_unique_violation(&err) {
        StoreError::Conflict(what)
    } else {
        StoreError::Database(err)
    }
}

impl Store {
    // ---- tenants -------------------------------------------------------------------------------------------

    pub async fn create_tenant(&self, t: NewTenant, audit: &[AuditEntry]) -> Result<Tenant> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tenants (id, slug, display_name, widget_key, allowed_origins, verify_identity, \
             identity_secret, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $7)",
        )
        .bind(&t.id)
        .bind(&t.slug)
        .bind(&t.display_name)
        .bind(&t.widget_key)
        .bind(origins_json(&t.allowed_origins))
        .bind(t.identity_secret_wrapped.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "a tenant with this slug already exists"))?;
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, key_id, wrapped, created_at) VALUES ($1, 1, $2, $3)",
        )
        .bind(&t.id)
        .bind(t.data_key_wrapped.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Tenant {
            id: t.id,
            slug: t.slug,
            display_name: t.display_name,
            widget_key: t.widget_key,
            allowed_origins: t.allowed_origins,
            verify_identity: false,
            identity_secret_wrapped: t.identity_secret_wrapped,
            created_at: now,
        })
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>> {
        let rows = sqlx::query(&format!("SELECT {TENANT_COLS} FROM tenants ORDER BY slug"))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn tenant_where(&self, column: &str, value: &str) -> Result<Option<Tenant>> {
        let row = sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE {column} = $1"
        ))
        .bind(value)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(tenant_from_row).transpose()
    }

    pub async fn tenant(&self, tenant_id: &str) -> Result<Tenant> {
        self.tenant_where("id", tenant_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>> {
        self.tenant_where("slug", slug).await
    }

    /// The tenant a widget key names: from a cache for up to a second (tenant_cache.rs says why that is safe).
    pub async fn tenant_by_widget_key(&self, widget_key: &str) -> Result<Option<Tenant>> {
        if let Some(t) = self.inner.tenant_cache.get(widget_key) {
            return Ok(Some(t));
        }
        let read_at = std::time::Instant::now();
        let found = self.tenant_where("widget_key", widget_key).await?;
        if let Some(t) = &found {
            self.inner.tenant_cache.put(t, read_at);
        }
        Ok(found)
    }

    pub async fn update_tenant(
        &self,
        tenant_id: &str,
        patch: &TenantPatch,
        audit: &[AuditEntry],
    ) -> Result<Tenant> {
        let current = self.tenant(tenant_id).await?;
        let display_name = patch.display_name.clone().unwrap_or(current.display_name);
        let origins = patch
            .allowed_origins
            .clone()
            .unwrap_or(current.allowed_origins);
        let verify = patch.verify_identity.unwrap_or(current.verify_identity);
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE tenants SET display_name = $1, allowed_origins = $2, verify_identity = $3 WHERE id = $4",
        )
        .bind(&display_name)
        .bind(origins_json(&origins))
        .bind(i64::from(verify))
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.inner.tenant_cache.clear();
        self.tenant(tenant_id).await
    }

    /// Replace the tenant's wrapped identity-verification secret.
    pub async fn set_identity_secret(
        &self,
        tenant_id: &str,
        wrapped: &[u8],
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE tenants SET identity_secret = $1 WHERE id = $2")
            .bind(wrapped.to_vec())
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.inner.tenant_cache.clear();
        Ok(())
    }

    /// The tenant's newest data key: (key id, wrapped bytes).
    pub async fn current_data_key(&self, tenant_id: &str) -> Result<(u32, Vec<u8>)> {
        let row = sqlx::query(
            "SELECT key_id, wrapped FROM tenant_keys WHERE tenant_id = $1 ORDER BY key_id DESC LIMIT 1",
        )
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        let id: i64 = row.try_get(0)?;
        Ok((id as u32, row.try_get(1)?))
    }

    /// Crypto-shred a tenant: destroy every data key it has (what they sealed can never be opened again) and the
    /// message events still waiting for its webhooks (their text can no longer be read), with `audit` in the same
    /// transaction. Answers how many keys were destroyed; 0 when the tenant was shredded already.
    pub async fn shred_tenant_keys(&self, tenant_id: &str, audit: &[AuditEntry]) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM tenant_keys WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM webhook_outbox WHERE tenant_id = $1 AND event = 'message.created' \
             AND delivered_at IS NULL",
        )
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    /// A specific data key, for opening older ciphertexts after rotation. `NotFound` once shredded.
    pub async fn data_key(&self, tenant_id: &str, key_id: u32) -> Result<Vec<u8>> {
        let row =
            sqlx::query("SELECT wrapped FROM tenant_keys WHERE tenant_id = $1 AND key_id = $2")
                .bind(tenant_id)
                .bind(i64::from(key_id))
                .fetch_optional(self.pool())
                .await?
                .ok_or(StoreError::NotFound)?;
        Ok(row.try_get(0)?)
    }

    // ---- agents --------------------------------------------------------------------------------------------

    pub async fn create_agent(
        &self,
        tenant_id: &str,
        a: NewAgent,
        audit: &[AuditEntry],
    ) -> Result<Agent> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO agents (id, tenant_id, username, display_name, role, capacity, status, password_hash, \
             disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'offline', $7, 0, $8)",
        )
        .bind(&a.id)
        .bind(tenant_id)
        .bind(&a.username)
        .bind(&a.display_name)
        .bind(a.role.as_str())
        .bind(a.capacity)
        .bind(&a.password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_unique(e, "an agent with this username already exists"))?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Agent {
            id: a.id,
            tenant_id: tenant_id.to_string(),
            username: a.username,
            display_name: a.display_name,
            role: a.role,
            capacity: a.capacity,
            status: AgentStatus::Offline,
            disabled: false,
            created_at: now,
        })
    }

    pub async fn list_agents(&self, tenant_id: &str) -> Result<Vec<Agent>> {
        let rows = sqlx::query(&format!(
            "SELECT {AGENT_COLS} FROM agents WHERE tenant_id = $1 ORDER BY username"
        ))
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| agent_from_row(r, 0)).collect()
    }

    pub async fn agent(&self, tenant_id: &str, agent_id: &str) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLS} FROM agents WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(agent_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        agent_from_row(&row, 0)
    }

    /// The agent and its password hash, for login.
    pub async fn agent_credentials(
        &self,
        tenant_id: &str,
        username: &str,
    ) -> Result<Option<(Agent, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLS}, password_hash FROM agents WHERE tenant_id = $1 AND username = $2"
        ))
        .bind(tenant_id)
        .bind(username)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok(Some((agent_from_row(&r, 0)?, r.try_get(9)?))),
            None => Ok(None),
        }
    }

    /// Change an agent. Disabling one also revokes its sessions and takes it offline, in the same transaction.
    pub async fn update_agent(
        &self,
        tenant_id: &str,
        agent_id: &str,
        patch: &AgentPatch,
        audit: &[AuditEntry],
    ) -> Result<Agent> {
        let current = self.agent(tenant_id, agent_id).await?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE agents SET display_name = $1, role = $2, capacity = $3, disabled = $4 \
             WHERE tenant_id = $5 AND id = $6",
        )
        .bind(patch.display_name.clone().unwrap_or(current.display_name))
        .bind(patch.role.unwrap_or(current.role).as_str())
        .bind(patch.capacity.unwrap_or(current.capacity))
        .bind(i64::from(patch.disabled.unwrap_or(current.disabled)))
        .bind(tenant_id)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
        if let Some(hash) = &patch.password_hash {
            sqlx::query("UPDATE agents SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
                .bind(hash)
                .bind(tenant_id)
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
        }
        if patch.disabled == Some(true) {
            sqlx::query("UPDATE agents SET status = 'offline' WHERE tenant_id = $1 AND id = $2")
                .bind(tenant_id)
                .bind(agent_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND agent_id = $3 AND revoked_at IS NULL",
            )
            .bind(now_ms())
            .bind(tenant_id)
            .bind(agent_id)
            .execute(&mut *tx)
            .await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        self.agent(tenant_id, agent_id).await
    }

    pub async fn set_agent_status(
        &self,
        tenant_id: &str,
        agent_id: &str,
        status: AgentStatus,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE agents SET status = $1 WHERE tenant_id = $2 AND id = $3 AND disabled = 0",
        )
        .bind(status.as_str())
        .bind(tenant_id)
        .bind(agent_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    // ---- sessions ------------------------------------------------------------------------------------------

    pub async fn create_session(
        &self,
        id: &str,
        tenant_id: &str,
        agent_id: &str,
        token_hash: &[u8],
        expires_at: i64,
        audit: &[AuditEntry],
    ) -> Result<Session> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, tenant_id, agent_id, created_at, last_seen_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
        )
        .bind(id)
        .bind(token_hash.to_vec())
        .bind(tenant_id)
        .bind(agent_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Session {
            id: id.to_string(),
            tenant_id: tenant_id.to_string(),
            agent_id: agent_id.to_string(),
            created_at: now,
            last_seen_at: now,
            expires_at,
        })
    }

    /// A session that is live right now: not revoked, not past its absolute expiry, not idle longer than
    /// `idle_ms`, and whose agent is enabled. Touches `last_seen_at` at most once a minute.
    pub async fn live_session(
        &self,
        token_hash: &[u8],
        idle_ms: i64,
    ) -> Result<Option<SessionLookup>> {
        let now = now_ms();
        let row = sqlx::query(&format!(
            "SELECT s.id, s.tenant_id, s.agent_id, s.created_at, s.last_seen_at, s.expires_at, {} \
             FROM sessions s JOIN agents a ON a.id = s.agent_id AND a.tenant_id = s.tenant_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 \
             AND a.disabled = 0",
            AGENT_COLS
                .split(", ")
                .map(|c| format!("a.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .bind(token_hash.to_vec())
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let session = Session {
            id: r.try_get(0)?,
            tenant_id: r.try_get(1)?,
            agent_id: r.try_get(2)?,
            created_at: r.try_get(3)?,
            last_seen_at: r.try_get(4)?,
            expires_at: r.try_get(5)?,
        };
        let agent = agent_from_row(&r, 6)?;
        if now - session.last_seen_at > 60_000 {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
                .bind(now)
                .bind(&session.id)
                .execute(self.pool())
                .await?;
        }
        Ok(Some(SessionLookup { session, agent }))
    }

    /// Record activity on a session (open sockets call this, so an active agent is not idled out).
    pub async fn touch_session(&self, session_id: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(session_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Is this session still live? (open sockets poll this, so a revocation bites within a second)
    pub async fn session_is_live(&self, session_id: &str, idle_ms: i64) -> Result<bool> {
        let now = now_ms();
        let row = sqlx::query(
            "SELECT 1 FROM sessions s JOIN agents a ON a.id = s.agent_id \
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND s.last_seen_at > $3 AND a.disabled = 0",
        )
        .bind(session_id)
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    pub async fn revoke_session(
        &self,
        tenant_id: &str,
        session_id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn revoke_agent_sessions(
        &self,
        tenant_id: &str,
        agent_id: &str,
        audit: &[AuditEntry],
    ) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 WHERE tenant_id = $2 AND agent_id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    // ---- API keys ------------------------------------------------------------------------------------------

    pub async fn create_api_key(
        &self,
        tenant_id: &str,
        k: NewApiKey,
        audit: &[AuditEntry],
    ) -> Result<ApiKey> {
        self.create_api_key_by(tenant_id, k, "", audit).await
    }

    /// Create a key and record who created it (an audit actor label).
    pub async fn create_api_key_by(
        &self,
        tenant_id: &str,
        k: NewApiKey,
        created_by: &str,
        audit: &[AuditEntry],
    ) -> Result<ApiKey> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, key_hash, prefix, scopes, created_at, expires_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&k.id)
        .bind(tenant_id)
        .bind(k.key_hash.clone())
        .bind(&k.prefix)
        .bind(k.scopes.join(" "))
        .bind(now)
        .bind(k.expires_at)
        .bind(created_by)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ApiKey {
            id: k.id,
            tenant_id: tenant_id.to_string(),
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: now,
            expires_at: k.expires_at,
            revoked_at: None,
            created_by: created_by.to_string(),
        })
    }

    /// A key that is usable now: known, not revoked, not expired.
    pub async fn live_api_key(&self, key_hash: &[u8]) -> Result<Option<ApiKey>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, prefix, scopes, created_at, expires_at, revoked_at, created_by FROM api_keys \
             WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(key_hash.to_vec())
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(api_key_from_row).transpose()
    }

    pub async fn list_api_keys(&self, tenant_id: &str) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, prefix, scopes, created_at, expires_at, revoked_at, created_by FROM api_keys \
             WHERE tenant_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    pub async fn revoke_api_key(
        &self,
        tenant_id: &str,
        key_id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE tenant_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- visitor session records ---------------------------------------------------------------------------

    /// Open a visitor session record, creating the visitor first when it is new (one write, one commit).
    pub async fn start_visitor_session(
        &self,
        new_visitor: Option<(Visitor, Vec<u8>)>,
        start: VisitorSessionStart,
    ) -> Result<()> {
        // A new visitor and its session record stand or fall together.
        let undo = if new_visitor.is_some() {
            Undo::Savepoint
        } else {
            Undo::FailedStatement
        };
        let assets = serde_json::to_string(&start.asset_hashes).unwrap_or_else(|_| "[]".into());
        if self.has_sqlite_writer() {
            return self
                .write_native(move |conn| {
                    crate::sqlite_sessions::start_visitor_session(
                        conn,
                        new_visitor,
                        &start,
                        &assets,
                        now_ms(),
                    )
                })
                .await;
        }
        self.write(undo, move |conn| {
            Box::pin(async move {
                if let Some((visitor, token_hash)) = new_visitor {
                    crate::conversations::insert_visitor(conn, &visitor, token_hash).await?;
                }
                sqlx::query(crate::sqlite_sessions::INSERT_SESSION_RECORD)
                    .bind(start.id)
                    .bind(start.tenant_id)
                    .bind(start.visitor_id)
                    .bind(start.node)
                    .bind(now_ms())
                    .bind(start.embed_origin)
                    .bind(assets)
                    .bind(start.release_id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Close a visitor session record with the agents who took part and the number of card numbers redacted.
    pub async fn end_visitor_session(
        &self,
        tenant_id: &str,
        id: &str,
        agents: &[String],
        cards_redacted: i64,
    ) -> Result<()> {
        let (tenant_id, id) = (tenant_id.to_string(), id.to_string());
        let agents = serde_json::to_string(agents).unwrap_or_else(|_| "[]".into());
        let now = now_ms();
        if self.has_sqlite_writer() {
            return self
                .write_native(move |conn| {
                    crate::sqlite_sessions::end_visitor_session(
                        conn,
                        &tenant_id,
                        &id,
                        &agents,
                        cards_redacted,
                        now,
                    )
                })
                .await;
        }
        self.write(Undo::FailedStatement, move |conn| {
            Box::pin(async move {
                sqlx::query(crate::sqlite_sessions::END_SESSION_RECORD)
                    .bind(now)
                    .bind(agents)
                    .bind(cards_redacted)
                    .bind(tenant_id)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Session records of a tenant that overlap `[from, to)` (ms).
    pub async fn visitor_sessions(
        &self,
        tenant_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<VisitorSessionRecord>> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, visitor_id, node, started_at, ended_at, agents, cards_redacted, embed_origin, \
             asset_hashes, release_id FROM visitor_sessions WHERE tenant_id = $1 AND started_at < $3 \
             AND (ended_at IS NULL OR ended_at >= $2) ORDER BY started_at, id",
        )
        .bind(tenant_id)
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let agents: String = r.try_get(6)?;
                let assets: Option<String> = r.try_get(9)?;
                Ok(VisitorSessionRecord {
                    id: r.try_get(0)?,
                    tenant_id: r.try_get(1)?,
                    visitor_id: r.try_get(2)?,
                    node: r.try_get(3)?,
                    started_at: r.try_get(4)?,
                    ended_at: r.try_get(5)?,
                    agents: serde_json::from_str(&agents).unwrap_or_default(),
                    cards_redacted: r.try_get(7)?,
                    embed_origin: r.try_get(8)?,
                    asset_hashes: assets
                        .and_then(|a| serde_json::from_str(&a).ok())
                        .unwrap_or_default(),
                    release_id: r.try_get(10)?,
                })
            })
            .collect()
    }
}
