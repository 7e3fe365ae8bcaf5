//! Agents' internal notes on a conversation, and its tags and priority (issue 20). Note text arrives sealed by
//! the service; tags are checked labels. Every query takes the tenant id; each write carries its audit entry in
//! the same transaction.

use sqlx::Row as _;

use crate::audit::append as append_audit;
use crate::{AuditEntry, Result, Store, StoreError};

/// Most notes one conversation keeps.
pub const MAX_NOTES_PER_CONVERSATION: i64 = 200;

/// A note as stored (`sealed` is opened by the service).
#[derive(Debug, Clone)]
pub struct StoredNote {
    pub id: String,
    pub conversation_id: String,
    pub agent_id: String,
    pub sealed: Vec<u8>,
    pub created_at: i64,
}

/// A conversation's tags and priority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationMeta {
    pub conversation_id: String,
    pub tags: Vec<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    pub updated_by: String,
    pub updated_at: i64,
}

/// How many rows `table` (one of the per-conversation tables with a cap: notes, files) holds for the conversation,
/// counted inside the write transaction that just inserted one, so that a row past the cap is rolled back with it.
pub(crate) async fn rows_in_conversation(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    table: &'static str,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = $1 AND conversation_id = $2");
    Ok(sqlx::query(&sql)
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get(0)?)
}

fn meta_from(r: &sqlx::any::AnyRow) -> Result<ConversationMeta> {
    let tags: String = r.try_get(1)?;
    Ok(ConversationMeta {
        conversation_id: r.try_get(0)?,
        tags: serde_json::from_str(&tags).map_err(|_| StoreError::Corrupt("conversation tags"))?,
        priority: r.try_get(2)?,
        updated_by: r.try_get(3)?,
        updated_at: r.try_get(4)?,
    })
}

impl Store {
    /// A conversation's notes, oldest first.
    pub async fn conversation_notes(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Vec<StoredNote>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, agent_id, sealed, created_at FROM conversation_notes \
             WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StoredNote {
                    id: r.try_get(0)?,
                    conversation_id: r.try_get(1)?,
                    agent_id: r.try_get(2)?,
                    sealed: r.try_get(3)?,
                    created_at: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Add a note; `Conflict` past the most a conversation keeps.
    pub async fn add_conversation_note(
        &self,
        tenant_id: &str,
        note: &StoredNote,
        audit: &[AuditEntry],
    ) -> Result<()> {
        // The write first: on SQLite it takes the write lock at once (a read first would have to upgrade its
        // snapshot, which fails outright when another writer committed meanwhile); the count then sees it.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO conversation_notes (id, tenant_id, conversation_id, agent_id, sealed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&note.id)
        .bind(tenant_id)
        .bind(&note.conversation_id)
        .bind(&note.agent_id)
        .bind(note.sealed.clone())
        .bind(note.created_at)
        .execute(&mut *tx)
        .await?;
        let n = rows_in_conversation(
            &mut tx,
            "conversation_notes",
            tenant_id,
            &note.conversation_id,
        )
        .await?;
        if n > MAX_NOTES_PER_CONVERSATION {
            // Dropping the transaction rolls the insert back.
            return Err(StoreError::Conflict("the conversation has 200 notes"));
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A conversation's tags and priority, if ever set.
    pub async fn conversation_meta(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Option<ConversationMeta>> {
        let row = sqlx::query(
            "SELECT conversation_id, tags, priority, updated_by, updated_at FROM conversation_meta \
             WHERE tenant_id = $1 AND conversation_id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(meta_from).transpose()
    }

    /// Set a conversation's tags and priority.
    pub async fn set_conversation_meta(
        &self,
        tenant_id: &str,
        meta: &ConversationMeta,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let tags = serde_json::to_string(&meta.tags).map_err(|_| StoreError::Corrupt("tags"))?;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO conversation_meta (tenant_id, conversation_id, tags, priority, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET tags = excluded.tags, \
             priority = excluded.priority, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(tenant_id)
        .bind(&meta.conversation_id)
        .bind(tags)
        .bind(&meta.priority)
        .bind(&meta.updated_by)
        .bind(meta.updated_at)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tenant's conversations with a tag and/or a priority, most recently changed first. `tag` is matched
    /// as a whole element of the stored JSON list (tags cannot hold a `"`).
    pub async fn conversations_by_meta(
        &self,
        tenant_id: &str,
        tag: Option<&str>,
        priority: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ConversationMeta>> {
        // Only the conditions given, numbered in order (both engines take `$n`).
        let mut sql = String::from(
            "SELECT conversation_id, tags, priority, updated_by, updated_at FROM conversation_meta \
             WHERE tenant_id = $1",
        );
        let mut n = 1;
        if tag.is_some() {
            n += 1;
            sql.push_str(&format!(" AND tags LIKE ${n}"));
        }
        if priority.is_some() {
            n += 1;
            sql.push_str(&format!(" AND priority = ${n}"));
        }
        sql.push_str(&format!(
            " ORDER BY updated_at DESC, conversation_id LIMIT ${}",
            n + 1
        ));
        let mut q = sqlx::query(&sql).bind(tenant_id);
        if let Some(t) = tag {
            q = q.bind(format!("%\"{t}\"%"));
        }
        if let Some(p) = priority {
            q = q.bind(p.to_string());
        }
        let rows = q.bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(meta_from).collect()
    }
}
