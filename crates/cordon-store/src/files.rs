//! Files and images in a conversation (issue 20). The bytes and the name arrive sealed by the service; the kind
//! is one of the allow-list's media types and the size a number. Every query takes the tenant id; the upload
//! carries its audit entry in the same transaction.

use sqlx::Row as _;

use crate::audit::append as append_audit;
use crate::{AuditEntry, Result, Store, StoreError};

/// Most files one conversation keeps (with the size limit, what one conversation can store).
pub const MAX_FILES_PER_CONVERSATION: i64 = 100;

/// A file as stored: `sealed` and `name_sealed` are opened by the service.
#[derive(Clone)]
pub struct StoredFile {
    pub meta: StoredFileMeta,
    pub name_sealed: Vec<u8>,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for StoredFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes, sealed or not.
        f.debug_struct("StoredFile")
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

/// What is stored in the clear about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFileMeta {
    pub id: String,
    pub conversation_id: String,
    /// `visitor` or `agent`.
    pub uploader_kind: String,
    pub uploader_id: String,
    /// The media type without parameters, one of the allow-list's.
    pub kind: String,
    /// Bytes, as stored (after metadata was stripped).
    pub size: i64,
    pub created_at: i64,
}

impl Store {
    /// Store a file; `Conflict` past the most a conversation keeps.
    pub async fn add_conversation_file(
        &self,
        tenant_id: &str,
        file: &StoredFile,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let m = &file.meta;
        // The write first, then the count (see add_conversation_note: a read first would have to upgrade its
        // SQLite snapshot to write, which fails when another writer committed meanwhile).
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO conversation_files (id, tenant_id, conversation_id, uploader_kind, uploader_id, kind, \
             size, name_sealed, sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&m.id)
        .bind(tenant_id)
        .bind(&m.conversation_id)
        .bind(&m.uploader_kind)
        .bind(&m.uploader_id)
        .bind(&m.kind)
        .bind(m.size)
        .bind(file.name_sealed.clone())
        .bind(file.sealed.clone())
        .bind(m.created_at)
        .execute(&mut *tx)
        .await?;
        let n = crate::notes::rows_in_conversation(
            &mut tx,
            "conversation_files",
            tenant_id,
            &m.conversation_id,
        )
        .await?;
        if n > MAX_FILES_PER_CONVERSATION {
            // Dropping the transaction rolls the insert back.
            return Err(StoreError::Conflict("the conversation has 100 files"));
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One file of the tenant's, with its sealed bytes; `None` when the tenant has no such file.
    /// How many files an uploader sent in a tenant since `since_ms`, and their bytes: a visitor's upload budget
    /// (cordon-service files.rs), counted from the rows so that it holds across nodes and restarts.
    pub async fn files_sent_since(
        &self,
        tenant_id: &str,
        uploader_id: &str,
        since_ms: i64,
    ) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM conversation_files \
             WHERE tenant_id = $1 AND uploader_id = $2 AND created_at > $3",
        )
        .bind(tenant_id)
        .bind(uploader_id)
        .bind(since_ms)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    pub async fn conversation_file(
        &self,
        tenant_id: &str,
        file_id: &str,
    ) -> Result<Option<StoredFile>> {
        let row = sqlx::query(
            "SELECT id, conversation_id, uploader_kind, uploader_id, kind, size, created_at, name_sealed, sealed \
             FROM conversation_files WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(file_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(StoredFile {
                meta: StoredFileMeta {
                    id: r.try_get(0)?,
                    conversation_id: r.try_get(1)?,
                    uploader_kind: r.try_get(2)?,
                    uploader_id: r.try_get(3)?,
                    kind: r.try_get(4)?,
                    size: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                },
                name_sealed: r.try_get(7)?,
                sealed: r.try_get(8)?,
            })
        })
        .transpose()
    }

    /// A conversation's files, oldest first, without their bytes (only their sealed names).
    pub async fn conversation_files(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Vec<(StoredFileMeta, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT id, conversation_id, uploader_kind, uploader_id, kind, size, created_at, name_sealed \
             FROM conversation_files WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY created_at, id",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    StoredFileMeta {
                        id: r.try_get(0)?,
                        conversation_id: r.try_get(1)?,
                        uploader_kind: r.try_get(2)?,
                        uploader_id: r.try_get(3)?,
                        kind: r.try_get(4)?,
                        size: r.try_get(5)?,
                        created_at: r.try_get(6)?,
                    },
                    r.try_get(7)?,
                ))
            })
            .collect()
    }
}
