//! Who can answer a tenant's visitors right now (issue 20, item 2): the online agents, how many of them have room
//! for another chat, and how many chats wait in the queue. Counts only; every query takes the tenant id.

use sqlx::Row as _;

use crate::{Result, Store};

/// A tenant's agents and queue at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Staffing {
    /// Agents and admins who are online (not disabled).
    pub online: i64,
    /// Of those, how many hold fewer chats than their capacity.
    pub with_room: i64,
    /// Conversations waiting for an agent.
    pub queued: i64,
}

impl Store {
    /// The tenant's online agents, those with room, and its queue.
    pub async fn staffing(&self, tenant_id: &str) -> Result<Staffing> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN load < capacity THEN 1 ELSE 0 END), 0), \
               (SELECT COUNT(*) FROM conversations q WHERE q.tenant_id = $1 AND q.state = 'queued') \
             FROM (SELECT a.capacity AS capacity, \
               (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id \
                 AND c.state = 'assigned') AS load \
               FROM agents a WHERE a.tenant_id = $1 AND a.status = 'online' AND a.disabled = 0 \
               AND a.role IN ('admin', 'agent')) AS x",
        )
        .bind(tenant_id)
        .fetch_one(self.pool())
        .await?;
        Ok(Staffing {
            online: row.try_get(0)?,
            with_room: row.try_get(1)?,
            queued: row.try_get(2)?,
        })
    }
}
