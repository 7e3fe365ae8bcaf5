//! What the agents' side panel shows of a visitor (issue 20), one row per visitor, replaced at each visit. The
//! free text (page address and title, the verified name and email) arrives sealed by the service; every query
//! takes the tenant id.

use sqlx::Row as _;

use crate::{Result, Store};

/// A visitor's profile row as stored: `sealed` is opened by the service with the tenant's data key.
#[derive(Debug, Clone)]
pub struct StoredVisitorProfile {
    pub visitor_id: String,
    pub sealed: Vec<u8>,
    pub browser: String,
    pub os: String,
    pub time_zone: String,
    pub updated_at: i64,
}

impl Store {
    /// Replace the visitor's profile (insert or update).
    pub async fn put_visitor_profile(
        &self,
        tenant_id: &str,
        p: &StoredVisitorProfile,
    ) -> Result<()> {
        const UPSERT: &str =
            "INSERT INTO visitor_profiles (tenant_id, visitor_id, sealed, browser, os, time_zone, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, visitor_id) DO UPDATE SET sealed = excluded.sealed, \
             browser = excluded.browser, os = excluded.os, time_zone = excluded.time_zone, \
             updated_at = excluded.updated_at";
        let (tenant_id, p) = (tenant_id.to_string(), p.clone());
        // Every `hello` writes one: through the writer, sharing its commit (in a storm, an autocommit write of its
        // own per visitor would take the write lock and an fsync each).
        if self.has_sqlite_writer() {
            return self
                .write_native(move |conn| {
                    conn.prepare_cached(UPSERT)?.execute(rusqlite::named_params! {
                        "$1": tenant_id, "$2": p.visitor_id, "$3": p.sealed, "$4": p.browser, "$5": p.os,
                        "$6": p.time_zone, "$7": p.updated_at,
                    })?;
                    Ok(())
                })
                .await;
        }
        self.write(crate::writer::Undo::FailedStatement, move |conn| {
            Box::pin(async move {
                sqlx::query(UPSERT)
                    .bind(tenant_id)
                    .bind(&p.visitor_id)
                    .bind(p.sealed.clone())
                    .bind(&p.browser)
                    .bind(&p.os)
                    .bind(&p.time_zone)
                    .bind(p.updated_at)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The visitor's profile, if one was recorded.
    pub async fn visitor_profile(
        &self,
        tenant_id: &str,
        visitor_id: &str,
    ) -> Result<Option<StoredVisitorProfile>> {
        let row = sqlx::query(
            "SELECT visitor_id, sealed, browser, os, time_zone, updated_at FROM visitor_profiles \
             WHERE tenant_id = $1 AND visitor_id = $2",
        )
        .bind(tenant_id)
        .bind(visitor_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(StoredVisitorProfile {
                visitor_id: r.try_get(0)?,
                sealed: r.try_get(1)?,
                browser: r.try_get(2)?,
                os: r.try_get(3)?,
                time_zone: r.try_get(4)?,
                updated_at: r.try_get(5)?,
            })
        })
        .transpose()
    }

    /// The tenant's user id of a visitor who came with a verified identity (`None` for anonymous visitors).
    pub async fn visitor_user_id(
        &self,
        tenant_id: &str,
        visitor_id: &str,
    ) -> Result<Option<String>> {
        let row = sqlx::query("SELECT user_id FROM visitors WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(visitor_id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(r) => Ok(r.try_get::<Option<String>, _>(0)?),
            None => Ok(None),
        }
    }
}
