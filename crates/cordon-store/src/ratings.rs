//! Visitors' ratings of ended chats, and the rows the per-tenant reports are computed from (issue 20, item 9).
//! Every query takes the tenant id. The comment arrives sealed by the service; a rating's write carries its
//! audit entry in the same transaction.

use sqlx::Row as _;

use crate::audit::append as append_audit;
use crate::{AuditEntry, Result, Store, StoreError};

/// Most conversations one report reads: a report over more is answered from the first this many, and says so.
pub const MAX_REPORT_ROWS: i64 = 50_000;

/// A rating as stored (`sealed_comment` is opened by the service).
#[derive(Debug, Clone)]
pub struct StoredRating {
    pub conversation_id: String,
    pub visitor_id: String,
    /// 1 to 5.
    pub score: i64,
    pub sealed_comment: Option<Vec<u8>>,
    pub created_at: i64,
}

/// One conversation's timings and rating, as the reports need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub created_at: i64,
    pub closed_at: Option<i64>,
    /// The visitor's first message.
    pub first_visitor_at: Option<i64>,
    /// The first agent message at or after the visitor's first message.
    pub first_agent_reply_at: Option<i64>,
    pub score: Option<i64>,
}

impl Store {
    /// Keep a rating; `Conflict` when the conversation was rated already (one per conversation, by its key).
    pub async fn add_rating(
        &self,
        tenant_id: &str,
        rating: &StoredRating,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO conversation_ratings \
             (tenant_id, conversation_id, visitor_id, score, sealed_comment, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, conversation_id) DO NOTHING",
        )
        .bind(tenant_id)
        .bind(&rating.conversation_id)
        .bind(&rating.visitor_id)
        .bind(rating.score)
        .bind(rating.sealed_comment.clone())
        .bind(rating.created_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict("the conversation was rated already"));
        }
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A conversation's rating, if the visitor gave one.
    pub async fn conversation_rating(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Option<StoredRating>> {
        let row = sqlx::query(
            "SELECT conversation_id, visitor_id, score, sealed_comment, created_at FROM conversation_ratings \
             WHERE tenant_id = $1 AND conversation_id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(StoredRating {
                conversation_id: r.try_get(0)?,
                visitor_id: r.try_get(1)?,
                score: r.try_get(2)?,
                sealed_comment: r.try_get(3)?,
                created_at: r.try_get(4)?,
            })
        })
        .transpose()
    }

    /// The tenant's conversations opened in `[from_ms, to_ms)`, oldest first, at most `limit`, each with its
    /// first visitor message, the first agent message after it, its close and its rating. Bodies are never
    /// read: only timestamps and sender kinds, through the messages' primary key (conversation, seq).
    pub async fn report_rows(
        &self,
        tenant_id: &str,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReportRow>> {
        let rows = sqlx::query(
            "SELECT c.created_at, c.closed_at, \
               (SELECT MIN(v.created_at) FROM messages v \
                 WHERE v.conversation_id = c.id AND v.sender_kind = 'visitor') AS first_visitor, \
               (SELECT MIN(a.created_at) FROM messages a \
                 WHERE a.conversation_id = c.id AND a.sender_kind = 'agent' \
                   AND a.created_at >= (SELECT MIN(v2.created_at) FROM messages v2 \
                     WHERE v2.conversation_id = c.id AND v2.sender_kind = 'visitor')) AS first_reply, \
               r.score \
             FROM conversations c LEFT JOIN conversation_ratings r \
               ON r.tenant_id = c.tenant_id AND r.conversation_id = c.id \
             WHERE c.tenant_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
             ORDER BY c.created_at, c.id LIMIT $4",
        )
        .bind(tenant_id)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportRow {
                    created_at: r.try_get(0)?,
                    closed_at: r.try_get(1)?,
                    first_visitor_at: r.try_get(2)?,
                    first_agent_reply_at: r.try_get(3)?,
                    score: r.try_get(4)?,
                })
            })
            .collect()
    }
}
