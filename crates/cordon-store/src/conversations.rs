//! Visitors, conversations (queue, assignment, transfer, close) and messages.
//!
//! Assignment decisions take a write lock on the tenant's row first (`UPDATE tenants SET id = id`): on PostgreSQL
//! that row lock serialises assignment per tenant across every process; on SQLite it takes the database write
//! lock up front, so the transaction never has to upgrade from a read lock. Capacity is therefore counted and
//! used under one lock, and two processes can never over-assign an agent.

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::writer::Undo;
use crate::{now_ms, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Visitor {
    pub id: String,
    pub tenant_id: String,
    pub user_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Queued,
    Assigned,
    Closed,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Queued => "queued",
            ConversationState::Assigned => "assigned",
            ConversationState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "queued" => Some(ConversationState::Queued),
            "assigned" => Some(ConversationState::Assigned),
            "closed" => Some(ConversationState::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Conversation {
    pub id: String,
    pub tenant_id: String,
    pub visitor_id: String,
    pub state: ConversationState,
    pub agent_id: Option<String>,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderKind {
    Visitor,
    Agent,
    System,
}

impl SenderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::Visitor => "visitor",
            SenderKind::Agent => "agent",
            SenderKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "visitor" => Some(SenderKind::Visitor),
            "agent" => Some(SenderKind::Agent),
            "system" => Some(SenderKind::System),
            _ => None,
        }
    }
}

/// A message as stored: the body is sealed; the server opens it with the tenant's key.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub conversation_id: String,
    pub seq: i64,
    pub sender_kind: SenderKind,
    pub sender_id: String,
    pub client_msg_id: String,
    pub body: Vec<u8>,
    pub created_at: i64,
}

/// Seals a message body once its sequence number is known (the AEAD binds the seq).
pub type NewMessageSealer = Box<dyn Fn(i64) -> Vec<u8> + Send + Sync>;

/// One message to append.
pub struct AppendRequest {
    pub tenant_id: String,
    pub conversation_id: String,
    pub sender_kind: SenderKind,
    pub sender_id: String,
    pub client_msg_id: String,
    pub seal: NewMessageSealer,
}

impl std::fmt::Debug for AppendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendRequest")
            .field("conversation_id", &self.conversation_id)
            .field("sender_kind", &self.sender_kind)
            .finish_non_exhaustive()
    }
}

/// The result of an append, known durable when returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendOutcome {
    pub seq: i64,
    pub created_at: i64,
    /// The same client id was already stored: this is its original seq, and nothing new was written.
    pub duplicate: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub state: Option<ConversationState>,
    pub agent_id: Option<String>,
    pub visitor_id: Option<String>,
    /// Page before this (created_at, id) cursor, newest first.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

// Pieces of the conversation columns as string literals, so that `concat!` can build both constants below from
// one text.
macro_rules! newest_message {
    ($col:literal) => {
        concat!(
            "(SELECT m.",
            $col,
            " FROM messages m WHERE m.conversation_id = conversations.id ORDER BY m.seq DESC LIMIT 1)"
        )
    };
}
macro_rules! derived_last_seq {
    () => {
        concat!("COALESCE(", newest_message!("seq"), ", 0)")
    };
}
macro_rules! derived_updated_at {
    () => {
        concat!(
            "CASE WHEN ",
            newest_message!("created_at"),
            " > updated_at THEN ",
            newest_message!("created_at"),
            " ELSE updated_at END"
        )
    };
}

/// A conversation's columns as read. `last_seq` and `updated_at` come from its newest message where there is one:
/// the SQLite writer takes seq from the messages table and does not write the conversation row when it appends
/// (migration 0012 says why). On PostgreSQL the row's own sequencer agrees with them after every commit. Each subquery is
/// one seek to the end of the conversation's primary-key range.
pub(crate) const CONV_COLS: &str = concat!(
    "id, tenant_id, visitor_id, state, agent_id, ",
    derived_last_seq!(),
    ", created_at, ",
    derived_updated_at!(),
    ", closed_at"
);

/// `last_seq` and `updated_at` as [`CONV_COLS`] derives them, named, to follow a `SELECT *` that would otherwise
/// show the row's own columns (which SQLite no longer maintains): the visitor export.
pub(crate) const CONV_DERIVED_NAMED: &str = concat!(
    derived_last_seq!(),
    " AS last_seq, ",
    derived_updated_at!(),
    " AS updated_at"
);

/// The same columns straight from the row, for a conversation just inserted (it has no messages yet).
pub(crate) const CONV_COLS_NEW: &str =
    "id, tenant_id, visitor_id, state, agent_id, last_seq, created_at, updated_at, closed_at";

pub(crate) fn conv_from_row(r: &AnyRow) -> Result<Conversation> {
    let state: String = r.try_get(3)?;
    Ok(Conversation {
        id: r.try_get(0)?,
        tenant_id: r.try_get(1)?,
        visitor_id: r.try_get(2)?,
        state: ConversationState::parse(&state).ok_or(StoreError::Corrupt("conversation state"))?,
        agent_id: r.try_get(4)?,
        last_seq: r.try_get(5)?,
        created_at: r.try_get(6)?,
        updated_at: r.try_get(7)?,
        closed_at: r.try_get(8)?,
    })
}

pub(crate) fn message_from_row(r: &AnyRow) -> Result<StoredMessage> {
    let kind: String = r.try_get(2)?;
    Ok(StoredMessage {
        conversation_id: r.try_get(0)?,
        seq: r.try_get(1)?,
        sender_kind: SenderKind::parse(&kind).ok_or(StoreError::Corrupt("sender kind"))?,
        sender_id: r.try_get(3)?,
        client_msg_id: r.try_get(4)?,
        body: r.try_get(5)?,
        created_at: r.try_get(6)?,
    })
}

pub(crate) const MESSAGE_COLS: &str =
    "conversation_id, seq, sender_kind, sender_id, client_msg_id, body, created_at";

async fn lock_tenant(conn: &mut AnyConnection, tenant_id: &str) -> Result<()> {
    let done = sqlx::query("UPDATE tenants SET id = id WHERE id = $1")
        .bind(tenant_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

async fn conversation_in(
    conn: &mut AnyConnection,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<Conversation> {
    let row = sqlx::query(&format!(
        "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(conversation_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    conv_from_row(&row)
}

/// How many assigned conversations an agent holds, and its capacity, if it may take chats now.
async fn agent_load(
    conn: &mut AnyConnection,
    tenant_id: &str,
    agent_id: &str,
) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT a.capacity, (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = a.tenant_id \
         AND c.agent_id = a.id AND c.state = 'assigned') FROM agents a \
         WHERE a.tenant_id = $1 AND a.id = $2 AND a.disabled = 0 AND a.role IN ('admin', 'agent')",
    )
    .bind(tenant_id)
    .bind(agent_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok((row.try_get(1)?, row.try_get(0)?))
}

/// The least-loaded online agent with free capacity (ties: fewest chats, then id, for determinism), for the
/// tenant in placeholder `$TENANT`.
const PICK_AGENT: &str = "SELECT id FROM (SELECT a.id AS id, a.capacity AS capacity, \
     (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.id \
      AND c.state = 'assigned') AS load \
     FROM agents a WHERE a.tenant_id = $TENANT AND a.status = 'online' AND a.disabled = 0 \
     AND a.role IN ('admin', 'agent')) AS x WHERE load < capacity ORDER BY load, id LIMIT 1";

async fn pick_agent(conn: &mut AnyConnection, tenant_id: &str) -> Result<Option<String>> {
    let row = sqlx::query(&PICK_AGENT.replace("$TENANT", "$1"))
        .bind(tenant_id)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get(0)?),
        None => None,
    })
}

async fn set_assignment(
    conn: &mut AnyConnection,
    tenant_id: &str,
    conversation_id: &str,
    agent_id: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE conversations SET state = 'assigned', agent_id = $1, updated_at = $2 \
         WHERE tenant_id = $3 AND id = $4",
    )
    .bind(agent_id)
    .bind(now_ms())
    .bind(tenant_id)
    .bind(conversation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn insert_visitor(
    conn: &mut AnyConnection,
    v: &Visitor,
    token_hash: Vec<u8>,
) -> Result<()> {
    sqlx::query(crate::sqlite_sessions::INSERT_VISITOR)
        .bind(v.id.as_str())
        .bind(v.tenant_id.as_str())
        .bind(token_hash)
        .bind(v.user_id.clone())
        .bind(v.created_at)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Unless the visitor (`$3`) of tenant `$2` has an open conversation, insert one (`$1`, at `$4`), assigned to the
/// least-loaded free agent or queued, returning `returning`. Shared by both engines' paths.
pub(crate) fn open_insert_sql(returning: &str) -> String {
    format!(
        "INSERT INTO conversations (id, tenant_id, visitor_id, state, agent_id, last_seq, created_at, updated_at) \
         SELECT $1, $2, $3, CASE WHEN p.id IS NULL THEN 'queued' ELSE 'assigned' END, p.id, 0, $4, $4 \
         FROM (SELECT 1 AS one) AS one LEFT JOIN ({}) AS p ON 1 = 1 \
         WHERE NOT EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $2 AND visitor_id = $3 \
         AND state <> 'closed') RETURNING {returning}",
        PICK_AGENT.replace("$TENANT", "$2")
    )
}

async fn open_conversation_in(
    conn: &mut AnyConnection,
    id: &str,
    tenant_id: &str,
    visitor_id: &str,
) -> Result<(Conversation, bool)> {
    lock_tenant(conn, tenant_id).await?;
    // The common case in one statement: unless the visitor has an open conversation, insert one, assigned to
    // the least-loaded free agent (or queued), and return it.
    let now = now_ms();
    let inserted = sqlx::query(&open_insert_sql(CONV_COLS_NEW))
        .bind(id)
        .bind(tenant_id)
        .bind(visitor_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = inserted {
        return Ok((conv_from_row(&row)?, true));
    }
    let existing = sqlx::query(&format!(
        "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND visitor_id = $2 \
         AND state <> 'closed' ORDER BY created_at DESC LIMIT 1"
    ))
    .bind(tenant_id)
    .bind(visitor_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::Corrupt("open conversation vanished"))?;
    Ok((conv_from_row(&existing)?, false))
}

impl Store {
    // ---- visitors ------------------------------------------------------------------------------------------

    pub async fn create_visitor(
        &self,
        id: &str,
        tenant_id: &str,
        token_hash: &[u8],
        user_id: Option<&str>,
    ) -> Result<Visitor> {
        let visitor = Visitor {
            id: id.to_string(),
            tenant_id: tenant_id.to_string(),
            user_id: user_id.map(str::to_string),
            created_at: now_ms(),
        };
        let token_hash = token_hash.to_vec();
        self.write(Undo::FailedStatement, move |conn| {
            Box::pin(async move {
                insert_visitor(conn, &visitor, token_hash).await?;
                Ok(visitor)
            })
        })
        .await
    }

    /// The visitor holding this token, within this tenant only.
    pub async fn visitor_by_token(
        &self,
        tenant_id: &str,
        token_hash: &[u8],
    ) -> Result<Option<Visitor>> {
        let row = sqlx::query(
            "SELECT id, tenant_id, user_id, created_at FROM visitors WHERE tenant_id = $1 AND token_hash = $2",
        )
        .bind(tenant_id)
        .bind(token_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(Visitor {
                id: r.try_get(0)?,
                tenant_id: r.try_get(1)?,
                user_id: r.try_get(2)?,
                created_at: r.try_get(3)?,
            })
        })
        .transpose()
    }

    // ---- conversations -------------------------------------------------------------------------------------

    pub async fn conversation(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Conversation> {
        let row = sqlx::query(&format!(
            "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        conv_from_row(&row)
    }

    /// Conversations of a tenant, newest first, filtered and paged by a (created_at, id) cursor.
    pub async fn list_conversations(
        &self,
        tenant_id: &str,
        filter: &ConversationFilter,
    ) -> Result<Vec<Conversation>> {
        let (before_ts, before_id) = filter.before.clone().unwrap_or((i64::MAX, String::new()));
        let rows = sqlx::query(&format!(
            "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 \
             AND ($2 = '' OR state = $2) AND ($3 = '' OR agent_id = $3) AND ($4 = '' OR visitor_id = $4) \
             AND (created_at < $5 OR (created_at = $5 AND ($6 = '' OR id < $6))) \
             ORDER BY created_at DESC, id DESC LIMIT $7"
        ))
        .bind(tenant_id)
        .bind(filter.state.map(|s| s.as_str()).unwrap_or(""))
        .bind(filter.agent_id.clone().unwrap_or_default())
        .bind(filter.visitor_id.clone().unwrap_or_default())
        .bind(before_ts)
        .bind(before_id)
        .bind(filter.limit.clamp(1, 500))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(conv_from_row).collect()
    }

    /// Conversations assigned to an agent, plus the tenant's queue, oldest first (what an agent console shows).
    pub async fn agent_worklist(
        &self,
        tenant_id: &str,
        agent_id: &str,
    ) -> Result<Vec<Conversation>> {
        let rows = sqlx::query(&format!(
            "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 \
             AND (state = 'queued' OR (state = 'assigned' AND agent_id = $2)) ORDER BY created_at, id LIMIT 1000"
        ))
        .bind(tenant_id)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(conv_from_row).collect()
    }

    /// Open a conversation for a visitor, or return the one it already has open. A new one is assigned at once
    /// to the least-loaded online agent with free capacity, or queued. `created` tells which happened.
    pub async fn open_conversation(
        &self,
        id: &str,
        tenant_id: &str,
        visitor_id: &str,
    ) -> Result<(Conversation, bool)> {
        let (id, tenant_id, visitor_id) = (
            id.to_string(),
            tenant_id.to_string(),
            visitor_id.to_string(),
        );
        if self.has_sqlite_writer() {
            return self
                .write_native(move |conn| {
                    crate::sqlite_sessions::open_conversation(
                        conn,
                        &id,
                        &tenant_id,
                        &visitor_id,
                        now_ms(),
                    )
                })
                .await;
        }
        // The tenant lock changes nothing; the INSERT is the only write.
        self.write(Undo::FailedStatement, move |conn| {
            Box::pin(async move { open_conversation_in(conn, &id, &tenant_id, &visitor_id).await })
        })
        .await
    }

    /// Assign queued conversations, oldest first, while online agents have capacity. Returns what was assigned.
    pub async fn assign_queued(&self, tenant_id: &str) -> Result<Vec<Conversation>> {
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant_id).await?;
        let queued = sqlx::query(
            "SELECT id FROM conversations WHERE tenant_id = $1 AND state = 'queued' ORDER BY created_at, id LIMIT 200",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut assigned = Vec::new();
        for row in queued {
            let conv_id: String = row.try_get(0)?;
            let Some(agent_id) = pick_agent(&mut tx, tenant_id).await? else {
                break;
            };
            set_assignment(&mut tx, tenant_id, &conv_id, &agent_id).await?;
            assigned.push(conversation_in(&mut tx, tenant_id, &conv_id).await?);
        }
        tx.commit().await?;
        Ok(assigned)
    }

    /// An agent takes a queued conversation (or one already theirs), within capacity.
    pub async fn accept_conversation(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        agent_id: &str,
    ) -> Result<Conversation> {
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant_id).await?;
        let conv = conversation_in(&mut tx, tenant_id, conversation_id).await?;
        match conv.state {
            ConversationState::Closed => return Err(StoreError::ConversationClosed),
            ConversationState::Assigned if conv.agent_id.as_deref() == Some(agent_id) => {
                tx.commit().await?;
                return Ok(conv);
            }
            ConversationState::Assigned => {
                return Err(StoreError::Conflict(
                    "conversation is assigned to another agent",
                ))
            }
            ConversationState::Queued => {}
        }
        let (load, capacity) = agent_load(&mut tx, tenant_id, agent_id).await?;
        if load >= capacity {
            return Err(StoreError::NoCapacity);
        }
        set_assignment(&mut tx, tenant_id, conversation_id, agent_id).await?;
        let conv = conversation_in(&mut tx, tenant_id, conversation_id).await?;
        tx.commit().await?;
        Ok(conv)
    }

    /// Move a conversation to another agent of the same tenant, within that agent's capacity.
    pub async fn transfer_conversation(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        to_agent_id: &str,
    ) -> Result<Conversation> {
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant_id).await?;
        let conv = conversation_in(&mut tx, tenant_id, conversation_id).await?;
        if conv.state == ConversationState::Closed {
            return Err(StoreError::ConversationClosed);
        }
        if conv.agent_id.as_deref() == Some(to_agent_id) {
            tx.commit().await?;
            return Ok(conv);
        }
        let (load, capacity) = agent_load(&mut tx, tenant_id, to_agent_id).await?;
        if load >= capacity {
            return Err(StoreError::NoCapacity);
        }
        set_assignment(&mut tx, tenant_id, conversation_id, to_agent_id).await?;
        let conv = conversation_in(&mut tx, tenant_id, conversation_id).await?;
        tx.commit().await?;
        Ok(conv)
    }

    pub async fn close_conversation(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<Conversation> {
        self.close_conversation_queueing(tenant_id, conversation_id, false)
            .await
    }

    /// Close a conversation; with `queue_transcript` (the operator configured outgoing mail), queue its
    /// transcript email in the same transaction when the tenant turned transcripts on and the visitor gave an
    /// address (crate::transcripts). Only the close that changes the state queues, and the outbox keeps one row
    /// per conversation, so a conversation is mailed at most once.
    pub async fn close_conversation_queueing(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        queue_transcript: bool,
    ) -> Result<Conversation> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE conversations SET state = 'closed', closed_at = $1, updated_at = $1 \
             WHERE tenant_id = $2 AND id = $3 AND state <> 'closed'",
        )
        .bind(now)
        .bind(tenant_id)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        if queue_transcript && done.rows_affected() == 1 {
            crate::transcripts::queue_in(&mut tx, tenant_id, conversation_id, now).await?;
        }
        let conv = conversation_in(&mut tx, tenant_id, conversation_id).await?;
        if done.rows_affected() == 0 && conv.state != ConversationState::Closed {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(conv)
    }

    // ---- messages ------------------------------------------------------------------------------------------

    /// Append a message through the group-commit writer. Returns only after the transaction holding it has
    /// committed (and so, with the durability settings applied at connect, is on disk).
    pub async fn append_message(&self, req: AppendRequest) -> Result<AppendOutcome> {
        self.inner.writer.append(req).await
    }

    /// Messages of a conversation with `seq > after`, oldest first, at most `limit`.
    pub async fn messages_after(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq > $3 \
             ORDER BY seq LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(after)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// The newest messages of a conversation, newest first, at most `limit`.
    pub async fn latest_messages(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        limit: i64,
    ) -> Result<Vec<StoredMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 \
             ORDER BY seq DESC LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(limit.clamp(1, 100))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// One message of a conversation by its seq, if it is stored.
    pub async fn message_at(
        &self,
        tenant_id: &str,
        conversation_id: &str,
        seq: i64,
    ) -> Result<Option<StoredMessage>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND seq = $3"
        ))
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(seq)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    /// Total number of card numbers ever counted for a conversation is kept on session records; this counts
    /// stored messages, for tests and metrics.
    pub async fn message_count(&self, tenant_id: &str, conversation_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND conversation_id = $2",
        )
        .bind(tenant_id)
        .bind(conversation_id)
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get(0)?)
    }
}
