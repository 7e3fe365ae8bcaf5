//! Internal notes, tags and priority on conversations (issue 20), for the tenant's staff only: nothing here is
//! ever sent to a visitor. Notes are card-masked and sealed with the tenant's data key (bound to tenant,
//! conversation and note); tags are short labels and priority one of four words, so history can be filtered by
//! them. Reading needs `conversations:read`; writing is for those who chat. Every read and write is audited.

use std::sync::Arc;

use cordon_crypto::MessagePlace;
use cordon_store::{ConversationMeta, StoredNote};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::{conversation_view, Names};
use crate::error::{code, Refusal, Result};
use crate::hub::{Event, Topic};
use crate::protocol::{ConversationView, ServerFrame};
use crate::Service;

/// Longest note, in characters.
pub const MAX_NOTE_CHARS: usize = 4000;
/// Most tags on one conversation.
pub const MAX_TAGS: usize = 10;
/// The priorities, lowest first.
pub const PRIORITIES: &[&str] = &["low", "normal", "high", "urgent"];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    pub id: String,
    /// The agent who wrote it: `{id, name}`.
    pub agent: crate::protocol::AgentRef,
    /// Card numbers masked.
    pub text: String,
    pub created_at: i64,
}

/// A conversation's notes, tags and priority.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationNotes {
    pub conversation_id: String,
    pub notes: Vec<NoteView>,
    pub tags: Vec<String>,
    /// `low`, `normal` (also when never set), `high` or `urgent`.
    pub priority: String,
}

/// A conversation with its tags and priority, for filtered history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaggedConversation {
    pub conversation: ConversationView,
    pub tags: Vec<String>,
    pub priority: String,
}

/// Where a note is sealed: a label no message has (`note:…`, where a message has its `c_…` id) binds tenant,
/// conversation and note, and seq 0 (messages start at 1), so a note's ciphertext never opens as a message, a
/// message's never as a note, and a note moved to another conversation fails to open.
fn place<'a>(tenant_id: &'a str, label: &'a str) -> MessagePlace<'a> {
    MessagePlace {
        tenant_id,
        conversation_id: label,
        seq: 0,
    }
}

fn label(conversation_id: &str, note_id: &str) -> String {
    format!("note:{conversation_id}:{note_id}")
}

/// A tag: 1–24 lowercase letters, digits or `-`, starting with a letter or digit.
pub fn check_tag(t: &str) -> Result<String> {
    let t = t.trim().to_ascii_lowercase();
    let ok = (1..=24).contains(&t.len())
        && t.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        return Err(Refusal::invalid(
            "a tag is 1-24 lowercase letters, digits or -",
        ));
    }
    Ok(t)
}

pub fn check_priority(p: &str) -> Result<String> {
    if PRIORITIES.contains(&p) {
        Ok(p.to_string())
    } else {
        Err(Refusal::invalid("priority is low, normal, high or urgent"))
    }
}

/// The conversation, in the caller's tenant (`not_found` otherwise). Ratings (ratings.rs) find theirs so too.
pub(crate) async fn conversation(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
) -> Result<cordon_store::Conversation> {
    if !crate::protocol::valid_client_id(conversation_id) {
        return Err(Refusal::new(code::NOT_FOUND, "no such conversation"));
    }
    svc.store
        .conversation(principal.tenant_id(), conversation_id)
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => {
                Refusal::new(code::NOT_FOUND, "no such conversation")
            }
            other => other.into(),
        })
}

/// Those who chat write notes and tags: agents and admins signed in, never an API key or an auditor.
fn writer(principal: &Principal) -> Result<&cordon_store::Agent> {
    principal.require(Scope::Chat)?;
    match principal {
        Principal::Agent { agent, .. } => Ok(agent),
        Principal::ApiKey(_) => Err(Refusal::new(
            code::FORBIDDEN,
            "notes and tags are written by agents",
        )),
    }
}

/// A conversation's notes, tags and priority (`conversations:read`).
pub async fn read(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
) -> Result<ConversationNotes> {
    principal.require(Scope::ConversationsRead)?;
    let conv = conversation(svc, principal, conversation_id).await?;
    let tenant_id = principal.tenant_id();
    audit::record_read(
        svc,
        principal,
        Action::NotesRead,
        &format!("conversation:{}", conv.id),
    )
    .await?;
    let mut names = Names::default();
    let mut notes = Vec::new();
    for n in svc.store.conversation_notes(tenant_id, &conv.id).await? {
        notes.push(open(svc, &mut names, tenant_id, n).await?);
    }
    let meta = svc.store.conversation_meta(tenant_id, &conv.id).await?;
    Ok(ConversationNotes {
        conversation_id: conv.id,
        notes,
        tags: meta.as_ref().map(|m| m.tags.clone()).unwrap_or_default(),
        priority: meta.map_or_else(|| "normal".to_string(), |m| m.priority),
    })
}

async fn open(
    svc: &Service,
    names: &mut Names,
    tenant_id: &str,
    n: StoredNote,
) -> Result<NoteView> {
    let key_id = cordon_crypto::sealed_key_id(&n.sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    let key = svc.keys.data_key(&svc.store, tenant_id, key_id).await?;
    let l = label(&n.conversation_id, &n.id);
    let text = key
        .open_message(place(tenant_id, &l), &n.sealed)
        .map_err(|_| Refusal::new(code::INTERNAL, "internal error"))?;
    Ok(NoteView {
        agent: crate::protocol::AgentRef {
            name: names.agent(svc, tenant_id, &n.agent_id).await,
            id: n.agent_id,
        },
        id: n.id,
        text,
        created_at: n.created_at,
    })
}

/// A conversation's notes opened, by note id, for the visitor's data export (lifecycle). The caller holds the
/// admin scope and audits the export.
pub async fn opened_for_export(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<std::collections::HashMap<String, String>> {
    let mut names = Names::default();
    let mut out = std::collections::HashMap::new();
    for n in svc
        .store
        .conversation_notes(tenant_id, conversation_id)
        .await?
    {
        let v = open(svc, &mut names, tenant_id, n).await?;
        out.insert(v.id, v.text);
    }
    Ok(out)
}

/// Add a note to a conversation (agents and admins who chat; any conversation of their tenant).
pub async fn add(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
    text: &str,
) -> Result<NoteView> {
    let agent = writer(principal)?;
    let conv = conversation(svc, principal, conversation_id).await?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_NOTE_CHARS {
        return Err(Refusal::invalid("a note is 1-4000 characters"));
    }
    // Masked like any message before it is sealed: a card number in a note is never stored or shown.
    let text = cordon_card::redact(text).text.into_owned();
    let tenant_id = principal.tenant_id();
    let id = cordon_crypto::new_id("n");
    let key = svc.keys.current_data_key(&svc.store, tenant_id).await?;
    let l = label(&conv.id, &id);
    let note = StoredNote {
        id: id.clone(),
        conversation_id: conv.id.clone(),
        agent_id: agent.id.clone(),
        sealed: key.seal_message(place(tenant_id, &l), &text),
        created_at: cordon_store::now_ms(),
    };
    let entry = audit::by(principal, Action::NoteCreate, &format!("note:{id}"));
    svc.store
        .add_conversation_note(tenant_id, &note, &[entry])
        .await?;
    announce(svc, tenant_id, &conv.id, agent);
    Ok(NoteView {
        id,
        agent: crate::protocol::AgentRef {
            id: agent.id.clone(),
            name: agent.display_name.clone(),
        },
        text,
        created_at: note.created_at,
    })
}

/// Set a conversation's tags and priority (agents and admins who chat).
pub async fn set_meta(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
    tags: &[String],
    priority: &str,
) -> Result<()> {
    let agent = writer(principal)?;
    let conv = conversation(svc, principal, conversation_id).await?;
    if tags.len() > MAX_TAGS {
        return Err(Refusal::invalid("at most 10 tags"));
    }
    let mut clean = Vec::new();
    for t in tags {
        let t = check_tag(t)?;
        if !clean.contains(&t) {
            clean.push(t);
        }
    }
    let meta = ConversationMeta {
        conversation_id: conv.id.clone(),
        tags: clean,
        priority: check_priority(priority)?,
        updated_by: principal.actor(),
        updated_at: cordon_store::now_ms(),
    };
    let entry = audit::by(
        principal,
        Action::ConversationMetaUpdate,
        &format!("conversation:{}", conv.id),
    );
    svc.store
        .set_conversation_meta(principal.tenant_id(), &meta, &[entry])
        .await?;
    announce(svc, principal.tenant_id(), &conv.id, agent);
    Ok(())
}

/// Tell the tenant's consoles (every node's, through the hub) that a conversation's notes, tags or priority
/// changed, so one showing it reads them again: the tenant's agent topic, which no visitor socket follows, and no
/// content, so every read of a note stays an audited read. Best-effort, like typing: a console that misses it
/// shows the change when it next opens the conversation.
fn announce(svc: &Service, tenant_id: &str, conversation_id: &str, agent: &cordon_store::Agent) {
    let frame = ServerFrame::NotesUpdated {
        conversation_id: conversation_id.to_string(),
        by: crate::protocol::AgentRef {
            id: agent.id.clone(),
            name: agent.display_name.clone(),
        },
    };
    svc.hub().publish(
        &Topic::TenantAgents(tenant_id.to_string()),
        Event::Ephemeral {
            // No connection's: a REST request. Mailbox ids start at 1, so every console gets it, the writer's too
            // (its other devices need it; the page that wrote ignores a note it holds already).
            from_connection: 0,
            frame: Arc::from(frame.to_json()),
        },
    );
}

/// History filtered by tag and/or priority (`conversations:read`), most recently tagged first.
pub async fn tagged(
    svc: &Service,
    principal: &Principal,
    tag: Option<&str>,
    priority: Option<&str>,
    limit: i64,
) -> Result<Vec<TaggedConversation>> {
    principal.require(Scope::ConversationsRead)?;
    let tag = tag.filter(|t| !t.is_empty()).map(check_tag).transpose()?;
    let priority = priority
        .filter(|p| !p.is_empty())
        .map(check_priority)
        .transpose()?;
    audit::record_read(
        svc,
        principal,
        Action::ConversationsList,
        "conversations:tagged",
    )
    .await?;
    let tenant_id = principal.tenant_id();
    let rows = svc
        .store
        .conversations_by_meta(
            tenant_id,
            tag.as_deref(),
            priority.as_deref(),
            limit.clamp(1, 200),
        )
        .await?;
    let mut names = Names::default();
    let mut out = Vec::new();
    for m in rows {
        // A conversation purged or deleted since is skipped, not an error.
        let Ok(c) = svc.store.conversation(tenant_id, &m.conversation_id).await else {
            continue;
        };
        out.push(TaggedConversation {
            conversation: conversation_view(svc, &mut names, &c).await,
            tags: m.tags,
            priority: m.priority,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_priorities_are_checked() {
        assert_eq!(check_tag(" Refund ").unwrap(), "refund");
        assert_eq!(check_tag("vip-2").unwrap(), "vip-2");
        for bad in ["", "-x", "a b", "a_b", "a%", "a\"b", &"x".repeat(25)] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
        assert!(check_priority("urgent").is_ok());
        assert!(check_priority("URGENT").is_err());
    }
}
