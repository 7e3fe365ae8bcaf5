//! Signed widget releases (issue 12): trusted release keys, releases (the signed manifest, who proposed and who
//! approved), and tenants' pins. Releases are platform records; a pin is the tenant's and every pin query takes
//! the tenant id.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Result, Store, StoreError};

/// A trusted release key.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseKey {
    pub key_id: String,
    pub vkey: String,
    pub added_by: String,
    pub added_at: i64,
}

/// A release: its signed manifest and its two people.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub id: String,
    /// The C2SP signed note of the manifest.
    pub note: String,
    pub key_id: String,
    pub proposed_by: String,
    pub proposed_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
}

const COLS: &str = "id, note, key_id, proposed_by, proposed_at, approved_by, approved_at";

fn release_from_row(r: &AnyRow) -> Result<Release> {
    Ok(Release {
        id: r.try_get(0)?,
        note: r.try_get(1)?,
        key_id: r.try_get(2)?,
        proposed_by: r.try_get(3)?,
        proposed_at: r.try_get(4)?,
        approved_by: r.try_get(5)?,
        approved_at: r.try_get(6)?,
    })
}

impl Store {
    /// Trust a release key (idempotent: a key trusted already is left as it was, and no entry is written).
    /// Answers whether it was added.
    pub async fn add_release_key(&self, key: &ReleaseKey, audit: &[AuditEntry]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT 1 FROM release_keys WHERE key_id = $1 OR vkey = $2")
            .bind(&key.key_id)
            .bind(&key.vkey)
            .fetch_optional(&mut *tx)
            .await?;
        if existing.is_some() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO release_keys (key_id, vkey, added_by, added_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.key_id)
        .bind(&key.vkey)
        .bind(&key.added_by)
        .bind(key.added_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every trusted release key, oldest first.
    pub async fn release_keys(&self) -> Result<Vec<ReleaseKey>> {
        let rows = sqlx::query(
            "SELECT key_id, vkey, added_by, added_at FROM release_keys ORDER BY added_at, key_id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReleaseKey {
                    key_id: r.try_get(0)?,
                    vkey: r.try_get(1)?,
                    added_by: r.try_get(2)?,
                    added_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// Record a proposed release with its audit entries (Conflict if the id is taken).
    pub async fn create_release(&self, r: &Release, audit: &[AuditEntry]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let taken = sqlx::query("SELECT 1 FROM releases WHERE id = $1")
            .bind(&r.id)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(StoreError::Conflict("release id taken"));
        }
        sqlx::query(&format!(
            "INSERT INTO releases ({COLS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL)"
        ))
        .bind(&r.id)
        .bind(&r.note)
        .bind(&r.key_id)
        .bind(&r.proposed_by)
        .bind(r.proposed_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn release(&self, id: &str) -> Result<Release> {
        let row = sqlx::query(&format!("SELECT {COLS} FROM releases WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        release_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Every release, approved or not, oldest proposal first.
    pub async fn releases(&self) -> Result<Vec<Release>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM releases ORDER BY proposed_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(release_from_row).collect()
    }

    /// Approved releases, oldest approval first (the last is the latest).
    pub async fn approved_releases(&self) -> Result<Vec<Release>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM releases WHERE approved_at IS NOT NULL ORDER BY approved_at, id"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(release_from_row).collect()
    }

    /// Approve a pending release by an operator other than its proposer, in one conditional update with its
    /// audit entries: NotFound for no such release, Conflict("self_approval") for its proposer, Conflict for
    /// one approved already. The database decides, so two nodes cannot both approve it.
    pub async fn approve_release(
        &self,
        id: &str,
        approver: &str,
        audit: &[AuditEntry],
    ) -> Result<Release> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE releases SET approved_by = $1, approved_at = $2 \
             WHERE id = $3 AND approved_at IS NULL AND proposed_by <> $1",
        )
        .bind(approver)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let row = sqlx::query("SELECT proposed_by, approved_at FROM releases WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            return Err(match row {
                None => StoreError::NotFound,
                Some(r) => {
                    let approved: Option<i64> = r.try_get(1)?;
                    let proposer: String = r.try_get(0)?;
                    if approved.is_some() {
                        StoreError::Conflict("release approved already")
                    } else if proposer == approver {
                        StoreError::Conflict("self_approval")
                    } else {
                        StoreError::Conflict("release not approvable")
                    }
                }
            });
        }
        append_audit(&mut tx, audit).await?;
        let row = sqlx::query(&format!("SELECT {COLS} FROM releases WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let r = release_from_row(&row)?;
        tx.commit().await?;
        Ok(r)
    }

    /// The release a tenant pinned, if any.
    pub async fn release_pin(&self, tenant_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT release_id FROM release_pins WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Pin a tenant to an approved release (`Some`), or unpin it (`None`), with its audit entries. Pinning a
    /// release that is not approved is NotFound.
    pub async fn set_release_pin(
        &self,
        tenant_id: &str,
        release_id: Option<&str>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM release_pins WHERE tenant_id = $1")
            .bind(tenant_id)
            .execute(&mut *tx)
            .await?;
        if let Some(id) = release_id {
            let approved =
                sqlx::query("SELECT 1 FROM releases WHERE id = $1 AND approved_at IS NOT NULL")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if approved.is_none() {
                return Err(StoreError::NotFound);
            }
            sqlx::query(
                "INSERT INTO release_pins (tenant_id, release_id, pinned_at) VALUES ($1, $2, $3)",
            )
            .bind(tenant_id)
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The release a tenant is served: its pin, or the latest approved release when it has none.
    pub async fn release_for_tenant(&self, tenant_id: &str) -> Result<Option<Release>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM releases WHERE approved_at IS NOT NULL AND \
             (id IN (SELECT release_id FROM release_pins WHERE tenant_id = $1) \
              OR NOT EXISTS (SELECT 1 FROM release_pins WHERE tenant_id = $1)) \
             ORDER BY approved_at DESC, id DESC LIMIT 1"
        ))
        .bind(tenant_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(release_from_row).transpose()
    }
}
