//! A tenant's canned replies (issue 20). The text arrives sealed by the service; every query takes the tenant id,
//! and each change is written with its audit entry in one transaction.

use sqlx::Row as _;

use crate::audit::append as append_audit;
use crate::{AuditEntry, Result, Store, StoreError};

/// Most canned replies one tenant keeps.
pub const MAX_CANNED_REPLIES: i64 = 500;

/// A canned reply as stored (`sealed` is opened by the service).
#[derive(Debug, Clone)]
pub struct StoredCannedReply {
    pub id: String,
    pub shortcut: String,
    pub sealed: Vec<u8>,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// The tenant's canned replies, by shortcut.
    pub async fn canned_replies(&self, tenant_id: &str) -> Result<Vec<StoredCannedReply>> {
        let rows = sqlx::query(
            "SELECT id, shortcut, sealed, created_by, created_at, updated_at FROM canned_replies \
             WHERE tenant_id = $1 ORDER BY shortcut",
        )
        .bind(tenant_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredCannedReply {
                    id: r.try_get(0)?,
                    shortcut: r.try_get(1)?,
                    sealed: r.try_get(2)?,
                    created_by: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                    updated_at: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// Add a canned reply. `Conflict` when the shortcut is taken or the tenant has the most it may keep.
    pub async fn create_canned_reply(
        &self,
        tenant_id: &str,
        reply: &StoredCannedReply,
        audit: &[AuditEntry],
    ) -> Result<()> {
        // The write first: on SQLite it takes the write lock at once (a read first would have to upgrade its
        // snapshot, which fails outright when another writer committed meanwhile); the count then sees it.
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO canned_replies (id, tenant_id, shortcut, sealed, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&reply.id)
        .bind(tenant_id)
        .bind(&reply.shortcut)
        .bind(reply.sealed.clone())
        .bind(&reply.created_by)
        .bind(reply.created_at)
        .bind(reply.updated_at)
        .execute(&mut *tx)
        .await;
        match done {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::Conflict("the shortcut is taken"))
            }
            other => {
                other?;
            }
        }
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM canned_replies WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if n > MAX_CANNED_REPLIES {
            // Dropping the transaction rolls the insert back.
            return Err(StoreError::Conflict("the tenant has 500 canned replies"));
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace a canned reply's shortcut and text. `NotFound` for an id that is not the tenant's.
    pub async fn update_canned_reply(
        &self,
        tenant_id: &str,
        id: &str,
        shortcut: &str,
        sealed: &[u8],
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE canned_replies SET shortcut = $1, sealed = $2, updated_at = $3 \
             WHERE tenant_id = $4 AND id = $5",
        )
        .bind(shortcut)
        .bind(sealed.to_vec())
        .bind(crate::now_ms())
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await;
        let done = match done {
            Err(e) if StoreError::is_unique_violation(&e) => {
                return Err(StoreError::Conflict("the shortcut is taken"))
            }
            other => other?,
        };
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delete a canned reply. `NotFound` for an id that is not the tenant's.
    pub async fn delete_canned_reply(
        &self,
        tenant_id: &str,
        id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM canned_replies WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
