//! How far each agent has read each conversation (issue 20), so every console of one agent shows the same unread
//! counts. Every query takes the tenant id; the rows hold seq numbers only.

use std::collections::HashMap;

use sqlx::Row as _;

use crate::{now_ms, Backend, Result, Store};

impl Store {
    /// Move the agent's read mark in a conversation forward to `seq` (never back). The caller has checked that
    /// the agent takes part in the conversation and clamped `seq` to its last seq.
    pub async fn mark_agent_read(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        agent_id: &str,
        seq: i64,
    ) -> Result<()> {
        // The engines name "the larger of two" differently; the rest of the statement is shared.
        let larger = match self.backend() {
            Backend::Sqlite => "MAX(agent_reads.seq, excluded.seq)",
            Backend::Postgres => "GREATEST(agent_reads.seq, excluded.seq)",
        };
        let sql = format!(
            "INSERT INTO agent_reads (tenant_id, conversation_id, agent_id, seq, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_id, agent_id, conversation_id) DO UPDATE SET seq = {larger}, \
             updated_at = excluded.updated_at WHERE excluded.seq > agent_reads.seq"
        );
        let (tenant_id, conversation_id, agent_id) = (
            tenant_id.to_string(),
            conversation_id.to_string(),
            agent_id.to_string(),
        );
        let now = now_ms();
        // Through the writer, sharing its commit: an agent reading a busy chat marks many times a minute, and an
        // autocommit write of its own would take the write lock and an fsync for each.
        if self.has_sqlite_writer() {
            return self
                .write_native(move |conn| {
                    conn.prepare_cached(&sql)?.execute(rusqlite::named_params! {
                        "$1": tenant_id, "$2": conversation_id, "$3": agent_id, "$4": seq, "$5": now,
                    })?;
                    Ok(())
                })
                .await;
        }
        self.write(crate::writer::Undo::FailedStatement, move |conn| {
            Box::pin(async move {
                sqlx::query(&sql)
                    .bind(tenant_id)
                    .bind(conversation_id)
                    .bind(agent_id)
                    .bind(seq)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// The agent's read marks in the conversations assigned to it now (its worklist), by conversation id.
    pub async fn agent_reads(
        &self,
        tenant_id: &str,
        agent_id: &str,
    ) -> Result<HashMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT r.conversation_id, r.seq FROM agent_reads r JOIN conversations c \
             ON c.tenant_id = r.tenant_id AND c.id = r.conversation_id \
             WHERE r.tenant_id = $1 AND r.agent_id = $2 AND c.agent_id = $2 AND c.state = 'assigned'",
        )
        .bind(tenant_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }
}
