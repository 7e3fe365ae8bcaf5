//! Agents' second factor and a tenant's policy for it (issue 12). Every query takes the tenant id.

use sqlx::Row as _;

use crate::{now_ms, Result, Store, StoreError};

/// An agent's TOTP state: the wrapped secrets, never serialised.
#[derive(Debug, Clone, Default)]
pub struct AgentTotp {
    /// The confirmed secret: sign-in asks for a code when this is set.
    pub secret_wrapped: Option<Vec<u8>>,
    /// An enrolment begun, waiting for its first code.
    pub pending_wrapped: Option<Vec<u8>>,
}

impl Store {
    pub async fn agent_totp(&self, tenant_id: &str, agent_id: &str) -> Result<AgentTotp> {
        let row = sqlx::query(
            "SELECT secret_wrapped, pending_wrapped FROM agent_totp WHERE tenant_id = $1 AND agent_id = $2",
        )
        .bind(tenant_id)
        .bind(agent_id)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => Ok(AgentTotp {
                secret_wrapped: r.try_get(0)?,
                pending_wrapped: r.try_get(1)?,
            }),
            None => Ok(AgentTotp::default()),
        }
    }

    /// Begin (or restart) an enrolment: the confirmed secret, if any, stays until the new one is confirmed.
    pub async fn set_pending_totp(
        &self,
        tenant_id: &str,
        agent_id: &str,
        wrapped: &[u8],
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE agent_totp SET pending_wrapped = $1 WHERE tenant_id = $2 AND agent_id = $3",
        )
        .bind(wrapped.to_vec())
        .bind(tenant_id)
        .bind(agent_id)
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO agent_totp (agent_id, tenant_id, pending_wrapped, last_step) VALUES ($1, $2, $3, 0)",
            )
            .bind(agent_id)
            .bind(tenant_id)
            .bind(wrapped.to_vec())
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// The pending secret becomes the agent's second factor (its first code consumed at `step`).
    pub async fn confirm_totp(
        &self,
        tenant_id: &str,
        agent_id: &str,
        step: i64,
        audit: &[crate::AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE agent_totp SET secret_wrapped = pending_wrapped, pending_wrapped = NULL, last_step = $1, \
             enabled_at = $2 WHERE tenant_id = $3 AND agent_id = $4 AND pending_wrapped IS NOT NULL",
        )
        .bind(step)
        .bind(now_ms())
        .bind(tenant_id)
        .bind(agent_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("no enrolment is pending"));
        }
        crate::audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accept time step `step` for the agent only if it is later than every step accepted before (a replayed
    /// code fails on every node).
    pub async fn consume_agent_totp_step(
        &self,
        tenant_id: &str,
        agent_id: &str,
        step: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE agent_totp SET last_step = $1 WHERE tenant_id = $2 AND agent_id = $3 AND last_step < $1 \
             AND secret_wrapped IS NOT NULL",
        )
        .bind(step)
        .bind(tenant_id)
        .bind(agent_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn tenant_requires_totp(&self, tenant_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT require_totp FROM tenant_mfa_policy WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>(0)? != 0,
            None => false,
        })
    }

    pub async fn set_tenant_requires_totp(
        &self,
        tenant_id: &str,
        require: bool,
        audit: &[crate::AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tenant_mfa_policy SET require_totp = $1, updated_at = $2 WHERE tenant_id = $3",
        )
        .bind(i64::from(require))
        .bind(now_ms())
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO tenant_mfa_policy (tenant_id, require_totp, updated_at) VALUES ($1, $2, $3)",
            )
            .bind(tenant_id)
            .bind(i64::from(require))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        crate::audit::append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Which of the tenant's agents have a confirmed second factor.
    pub async fn agents_with_totp(&self, tenant_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT agent_id FROM agent_totp WHERE tenant_id = $1 AND secret_wrapped IS NOT NULL",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}
