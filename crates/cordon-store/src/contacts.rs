//! Offline and pre-chat forms (issue 20, item 2): which forms a tenant's widget shows, and the contact a visitor
//! gave in one (name and email, sealed by the service). Every query takes the tenant id; each write carries its
//! audit entry in the same transaction.

use sqlx::Row as _;

use crate::audit::append as append_audit;
use crate::{AuditEntry, Result, Store};

/// The forms a tenant's widget shows, and whether a chat's transcript is emailed; all off until an admin turns
/// them on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatForms {
    /// Before the first message: name, email and an optional question.
    pub prechat: bool,
    /// When no agent is online: an email to answer to.
    pub offline: bool,
    /// When a chat ends: its transcript emailed to the address the visitor gave (migration 0021).
    pub transcript: bool,
}

impl Store {
    /// The tenant's chat forms (both off when never set).
    pub async fn chat_forms(&self, tenant_id: &str) -> Result<ChatForms> {
        let row =
            sqlx::query("SELECT prechat, offline, transcript FROM chat_forms WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            Some(r) => ChatForms {
                prechat: r.try_get::<i64, _>(0)? != 0,
                offline: r.try_get::<i64, _>(1)? != 0,
                transcript: r.try_get::<i64, _>(2)? != 0,
            },
            None => ChatForms::default(),
        })
    }

    pub async fn set_chat_forms(
        &self,
        tenant_id: &str,
        forms: ChatForms,
        updated_by: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO chat_forms (tenant_id, prechat, offline, transcript, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET prechat = excluded.prechat, \
             offline = excluded.offline, transcript = excluded.transcript, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(i64::from(forms.prechat))
        .bind(i64::from(forms.offline))
        .bind(i64::from(forms.transcript))
        .bind(updated_by)
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keep (replace) the contact a visitor gave.
    pub async fn put_visitor_contact(
        &self,
        tenant_id: &str,
        visitor_id: &str,
        sealed: &[u8],
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO visitor_contacts (tenant_id, visitor_id, sealed, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, visitor_id) DO UPDATE SET sealed = excluded.sealed, \
             updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(visitor_id)
        .bind(sealed.to_vec())
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sealed contact a visitor gave and when, if any.
    pub async fn visitor_contact(
        &self,
        tenant_id: &str,
        visitor_id: &str,
    ) -> Result<Option<(Vec<u8>, i64)>> {
        let row = sqlx::query(
            "SELECT sealed, updated_at FROM visitor_contacts WHERE tenant_id = $1 AND visitor_id = $2",
        )
        .bind(tenant_id)
        .bind(visitor_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }
}
