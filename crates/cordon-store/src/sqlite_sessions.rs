//! The session path's write transactions in their SQLite form (issue 13).
//!
//! A storm of new visitors is three writes per session (the visitor with its session record, the conversation,
//! the session's end) besides its messages. Through sqlx each statement was a hand-off to sqlx's SQLite thread and
//! back; here they run on the SQLite writer thread (sqlite_appender.rs) with prepared, cached statements, sharing
//! its commits. The SQL text is the same as the PostgreSQL path's (the constants below, used by both): SQLite
//! binds `$n` parameters by name, so one statement serves both engines.

use rusqlite::{named_params, Connection, OptionalExtension as _, Row};

use crate::conversations::{Conversation, ConversationState, Visitor, CONV_COLS, CONV_COLS_NEW};
use crate::directory::VisitorSessionStart;
use crate::{Result, StoreError};

pub(crate) const INSERT_VISITOR: &str =
    "INSERT INTO visitors (id, tenant_id, token_hash, user_id, created_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const INSERT_SESSION_RECORD: &str =
    "INSERT INTO visitor_sessions (id, tenant_id, visitor_id, node, started_at, embed_origin, \
     asset_hashes, release_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const END_SESSION_RECORD: &str =
    "UPDATE visitor_sessions SET ended_at = $1, agents = $2, \
     cards_redacted = cards_redacted + $3 WHERE tenant_id = $4 AND id = $5";

/// A new visitor (if any) and its session record, together.
pub(crate) fn start_visitor_session(
    conn: &Connection,
    new_visitor: Option<(Visitor, Vec<u8>)>,
    start: &VisitorSessionStart,
    asset_hashes_json: &str,
    now: i64,
) -> Result<()> {
    if let Some((v, token_hash)) = new_visitor {
        conn.prepare_cached(INSERT_VISITOR)?.execute(named_params! {
            "$1": v.id, "$2": v.tenant_id, "$3": token_hash, "$4": v.user_id, "$5": v.created_at,
        })?;
    }
    conn.prepare_cached(INSERT_SESSION_RECORD)?
        .execute(named_params! {
            "$1": start.id, "$2": start.tenant_id, "$3": start.visitor_id, "$4": start.node, "$5": now,
            "$6": start.embed_origin, "$7": asset_hashes_json, "$8": start.release_id,
        })?;
    Ok(())
}

pub(crate) fn end_visitor_session(
    conn: &Connection,
    tenant_id: &str,
    id: &str,
    agents_json: &str,
    cards_redacted: i64,
    now: i64,
) -> Result<()> {
    conn.prepare_cached(END_SESSION_RECORD)?
        .execute(named_params! {
            "$1": now, "$2": agents_json, "$3": cards_redacted, "$4": tenant_id, "$5": id,
        })?;
    Ok(())
}

/// The visitor's open conversation, or a new one assigned to the least-loaded free agent (or queued); `true`
/// when it was made now. The PostgreSQL path first locks the tenant's row to serialise assignment across
/// processes; here the writer's `BEGIN IMMEDIATE` already holds the database's one write lock, so the tenant is
/// only checked, not written.
pub(crate) fn open_conversation(
    conn: &Connection,
    id: &str,
    tenant_id: &str,
    visitor_id: &str,
    now: i64,
) -> Result<(Conversation, bool)> {
    let tenant: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM tenants WHERE id = $1")?
        .query_row(named_params! {"$1": tenant_id}, |r| r.get(0))
        .optional()?;
    if tenant.is_none() {
        return Err(StoreError::NotFound);
    }
    let inserted = conn
        .prepare_cached(&crate::conversations::open_insert_sql(CONV_COLS_NEW))?
        .query_row(
            named_params! {"$1": id, "$2": tenant_id, "$3": visitor_id, "$4": now},
            conversation_from_row,
        )
        .optional()?;
    if let Some(c) = inserted {
        return Ok((c?, true));
    }
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {CONV_COLS} FROM conversations WHERE tenant_id = $1 AND visitor_id = $2 \
             AND state <> 'closed' ORDER BY created_at DESC LIMIT 1"
        ))?
        .query_row(
            named_params! {"$1": tenant_id, "$2": visitor_id},
            conversation_from_row,
        )
        .optional()?
        .ok_or(StoreError::Corrupt("open conversation vanished"))?;
    Ok((existing?, false))
}

/// A row of `CONV_COLS` (or `CONV_COLS_NEW`). The inner result reports a state this binary does not know.
fn conversation_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Conversation>> {
    let state: String = r.get(3)?;
    let Some(state) = ConversationState::parse(&state) else {
        return Ok(Err(StoreError::Corrupt("conversation state")));
    };
    Ok(Ok(Conversation {
        id: r.get(0)?,
        tenant_id: r.get(1)?,
        visitor_id: r.get(2)?,
        state,
        agent_id: r.get(4)?,
        last_seq: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
        closed_at: r.get(8)?,
    }))
}
