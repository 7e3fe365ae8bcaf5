//! Transcript emails (issue 20, item 2): the durable outbox of chats whose transcript is to be mailed to the
//! visitor. A row is queued in the transaction that closes the conversation (conversations.rs), at most one per
//! conversation (the primary key); it holds ids and bookkeeping only. The address and the messages stay sealed
//! where they are: the sender opens them when it composes the mail. The sender's claim is the one query across
//! tenants, and each row it returns carries its own tenant.

use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::audit::{append as append_audit, AuditEntry};
use crate::{now_ms, Backend, Result, Store};

/// A queued transcript email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptJob {
    pub tenant_id: String,
    pub conversation_id: String,
    pub visitor_id: String,
    pub created_at: i64,
    /// Attempts made so far (before this one).
    pub attempts: i64,
    pub next_attempt_at: i64,
    /// The last failure: the mail server's answer or what went wrong, never an address or a password.
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    /// Given up after the last attempt.
    pub failed_at: Option<i64>,
}

const COLS: &str =
    "tenant_id, conversation_id, visitor_id, created_at, attempts, next_attempt_at, last_error, \
                    sent_at, failed_at";

fn job_from_row(r: &AnyRow) -> Result<TranscriptJob> {
    Ok(TranscriptJob {
        tenant_id: r.try_get(0)?,
        conversation_id: r.try_get(1)?,
        visitor_id: r.try_get(2)?,
        created_at: r.try_get(3)?,
        attempts: r.try_get(4)?,
        next_attempt_at: r.try_get(5)?,
        last_error: r.try_get(6)?,
        sent_at: r.try_get(7)?,
        failed_at: r.try_get(8)?,
    })
}

/// Queue the conversation's transcript inside the closing transaction, when its tenant turned transcripts on
/// and its visitor gave a contact; nothing when a row is there already.
pub(crate) async fn queue_in(
    conn: &mut sqlx::AnyConnection,
    tenant_id: &str,
    conversation_id: &str,
    now: i64,
) -> Result<()> {
    // SQLite reads `ON CONFLICT` after `INSERT ... SELECT` as an upsert only when the SELECT has a WHERE (it
    // has).
    sqlx::query(
        "INSERT INTO transcript_outbox (tenant_id, conversation_id, visitor_id, created_at, next_attempt_at) \
         SELECT c.tenant_id, c.id, c.visitor_id, $1, $1 FROM conversations c \
         WHERE c.tenant_id = $2 AND c.id = $3 \
         AND EXISTS (SELECT 1 FROM chat_forms f WHERE f.tenant_id = c.tenant_id AND f.transcript = 1) \
         AND EXISTS (SELECT 1 FROM visitor_contacts v WHERE v.tenant_id = c.tenant_id \
                     AND v.visitor_id = c.visitor_id) \
         ON CONFLICT (tenant_id, conversation_id) DO NOTHING",
    )
    .bind(now)
    .bind(tenant_id)
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// Claim up to `limit` due transcripts for `lease_ms` (another node skips them meanwhile; a node that dies
    /// holding them loses the lease and they are tried again). Oldest due first.
    pub async fn claim_transcripts(&self, limit: i64, lease_ms: i64) -> Result<Vec<TranscriptJob>> {
        let now = now_ms();
        // A read first, as for webhooks: on SQLite a write every second, even one that changes nothing, takes
        // the write lock from under the message writer. Nothing is due most of the time.
        let due = sqlx::query(
            "SELECT 1 FROM transcript_outbox WHERE sent_at IS NULL AND failed_at IS NULL \
             AND next_attempt_at <= $1 AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let lock = match self.backend() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        // The key is two columns: the subquery picks rows by both (a row value IN works on both engines).
        let rows = sqlx::query(&format!(
            "UPDATE transcript_outbox SET claimed_until = $1 \
             WHERE (tenant_id, conversation_id) IN (SELECT tenant_id, conversation_id FROM transcript_outbox \
                 WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 AND claimed_until <= $2 \
                 ORDER BY next_attempt_at LIMIT $3{lock}) \
             AND claimed_until <= $2 RETURNING {COLS}"
        ))
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Record a sent transcript, with its audit entry, in one transaction.
    pub async fn transcript_sent(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE transcript_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL, \
             claimed_until = 0 WHERE tenant_id = $2 AND conversation_id = $3",
        )
        .bind(now_ms())
        .bind(tenant_id)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record a failed attempt: try again at `retry_at`, or (None) give up, with the audit entry of giving up.
    pub async fn transcript_failed(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        error: &str,
        retry_at: Option<i64>,
        audit: &[AuditEntry],
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE transcript_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at), \
             failed_at = CASE WHEN $3 = 1 THEN $4 ELSE NULL END, claimed_until = 0 \
             WHERE tenant_id = $5 AND conversation_id = $6",
        )
        .bind(error)
        .bind(retry_at)
        .bind(i64::from(retry_at.is_none()))
        .bind(now_ms())
        .bind(tenant_id)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        append_audit(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The conversation's transcript job, if one was queued.
    pub async fn transcript_job(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Option<TranscriptJob>> {
        let row = sqlx::query(&format!(
            "SELECT {COLS} FROM transcript_outbox WHERE tenant_id = $1 AND conversation_id = $2"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }
}
