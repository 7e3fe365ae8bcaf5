//! Operator grants (issue 12): the only way an operator reaches a tenant's data. Every query takes the tenant id
//! (a tenant admin sees and decides only its own tenant's grants).

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct OperatorGrant {
    pub id: String,
    pub tenant_id: String,
    pub operator_id: String,
    /// The operator's name, for the tenant admin deciding.
    pub operator_name: String,
    pub reason: String,
    pub duration_ms: i64,
    pub break_glass: bool,
    pub requested_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewGrant {
    pub id: String,
    pub tenant_id: String,
    pub operator_id: String,
    pub reason: String,
    pub duration_ms: i64,
    pub break_glass: bool,
}

const COLS: &str =
    "g.id, g.tenant_id, g.operator_id, o.name, g.reason, g.duration_ms, g.break_glass, \
     g.requested_at, g.approved_by, g.approved_at, g.expires_at, g.revoked_by, g.revoked_at";
const FROM: &str = "operator_grants g JOIN operators o ON o.id = g.operator_id";

fn grant_from_row(r: &AnyRow) -> Result<OperatorGrant> {
    Ok(OperatorGrant {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        operator_id: r.try_get(2)?,
        operator_name: r.try_get(3)?,
        reason: r.try_get(4)?,
        duration_ms: r.try_get(5)?,
        break_glass: r.try_get::<i64, _>(6)? != 0,
        requested_at: r.try_get(7)?,
        approved_by: r.try_get(8)?,
        approved_at: r.try_get(9)?,
        expires_at: r.try_get(10)?,
        revoked_by: r.try_get(11)?,
        revoked_at: r.try_get(12)?,
    })
}

/// Why a conditional update of a grant changed nothing: another tenant's (or no) grant is NotFound, exactly as an
/// unknown id, so ids cannot be probed across tenants; the tenant's own grant in the wrong state is a Conflict.
async fn not_found_or(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant_id: &str,
    grant_id: &str,
    conflict: &'static str,
) -> StoreError {
    let found = sqlx::query("SELECT 1 FROM operator_grants WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(grant_id)
        .fetch_optional(&mut **tx)
        .await;
    match found {
        Ok(Some(_)) => StoreError::Conflict(conflict),
        Ok(None) => StoreError::NotFound,
        Err(e) => StoreError::Database(e),
    }
}

impl Store {
    pub async fn create_grant(&self, g: &NewGrant, audit: &[AuditEntry]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO operator_grants (id, tenant_id, operator_id, reason, duration_ms, break_glass, \
             requested_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&g.id)
        .bind(&g.tenant_id)
        .bind(&g.operator_id)
        .bind(&g.reason)
        .bind(g.duration_ms)
        .bind(i64::from(g.break_glass))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One grant of one tenant (NotFound for another tenant's id).
    pub async fn grant(&self, tenant_id: &str, grant_id: &str) -> Result<OperatorGrant> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM {FROM} WHERE g.tenant_id = $1 AND g.id = $2"
        ))
        .bind(tenant_id)
        .bind(grant_id)
        .fetch_optional(self.pool())
        .await?;
        grant_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// One grant by id alone (the operator side, which then checks it is the caller's or, break-glass, not).
    pub async fn grant_by_id(&self, grant_id: &str) -> Result<OperatorGrant> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM {FROM} WHERE g.id = $1"))
            .bind(grant_id)
            .fetch_optional(self.pool())
            .await?;
        grant_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    pub async fn tenant_grants(&self, tenant_id: &str) -> Result<Vec<OperatorGrant>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM {FROM} WHERE g.tenant_id = $1 ORDER BY g.requested_at DESC LIMIT 200"
        ))
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    pub async fn operator_grants(&self, operator_id: &str) -> Result<Vec<OperatorGrant>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM {FROM} WHERE g.operator_id = $1 ORDER BY g.requested_at DESC LIMIT 200"
        ))
        .bind(operator_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    /// The operator's grant on the tenant that is approved, unrevoked and unexpired right now, newest first.
    pub async fn live_grant(
        &self,
        tenant_id: &str,
        operator_id: &str,
    ) -> Result<Option<OperatorGrant>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM {FROM} WHERE g.tenant_id = $1 AND g.operator_id = $2 \
             AND g.approved_at IS NOT NULL AND g.revoked_at IS NULL AND g.expires_at > $3 \
             ORDER BY g.expires_at DESC LIMIT 1"
        ))
        .bind(tenant_id)
        .bind(operator_id)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| grant_from_row(&r)).transpose()
    }

    /// Approve a pending grant: it runs from now for its duration. Conflict if it is not pending any more (a
    /// second approval, or one after a revocation, changes nothing).
    pub async fn approve_grant(
        &self,
        tenant_id: &str,
        grant_id: &str,
        approved_by: &str,
        audit: &[AuditEntry],
    ) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operator_grants SET approved_by = $1, approved_at = $2, expires_at = $2 + duration_ms \
             WHERE tenant_id = $3 AND id = $4 AND approved_at IS NULL AND revoked_at IS NULL",
        )
        .bind(approved_by)
        .bind(now)
        .bind(tenant_id)
        .bind(grant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(
                not_found_or(&mut tx, tenant_id, grant_id, "the grant is not pending").await,
            );
        }
        append_audit(&mut tx, audit).await?;
        let row = sqlx::query("SELECT expires_at FROM operator_grants WHERE id = $1")
            .bind(grant_id)
            .fetch_one(&mut *tx)
            .await?;
        let expires_at: i64 = row.try_get(0)?;
        tx.commit().await?;
        Ok(expires_at)
    }

    /// Revoke a grant, pending or live. Conflict if it was already revoked.
    pub async fn revoke_grant(
        &self,
        tenant_id: &str,
        grant_id: &str,
        revoked_by: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE operator_grants SET revoked_by = $1, revoked_at = $2 \
             WHERE tenant_id = $3 AND id = $4 AND revoked_at IS NULL",
        )
        .bind(revoked_by)
        .bind(now_ms())
        .bind(tenant_id)
        .bind(grant_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(
                not_found_or(&mut tx, tenant_id, grant_id, "the grant is already revoked").await,
            );
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
