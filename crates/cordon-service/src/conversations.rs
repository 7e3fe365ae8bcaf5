//! Conversations: who may see and take part in one, open, accept, transfer, close, the views clients get, the
//! announcements every watcher receives, and the history reads of the API.

use std::collections::HashMap;
use std::sync::Arc;

use cordon_store::{
    Agent, AgentRole, AgentStatus, Conversation, ConversationFilter, ConversationState,
};

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{code, Refusal, Result};
use crate::hub::{Event, Topic};
use crate::messages;
use crate::protocol::{self, AgentRef, ConversationView, MessageView, ServerFrame};
use crate::Service;

/// Who looks at a conversation: a visitor (only its own), or an agent (any of its tenant's).
#[derive(Debug, Clone, Copy)]
pub enum Viewer<'a> {
    Visitor {
        tenant_id: &'a str,
        visitor_id: &'a str,
    },
    Agent(&'a Agent),
}

impl Viewer<'_> {
    fn tenant_id(&self) -> &str {
        match self {
            Viewer::Visitor { tenant_id, .. } => tenant_id,
            Viewer::Agent(a) => &a.tenant_id,
        }
    }
}

fn no_such_conversation() -> Refusal {
    Refusal::new(code::NOT_FOUND, "no such conversation")
}

/// The conversation, if `viewer` may see it. Another tenant's, or another visitor's, does not exist for it.
pub async fn visible(
    svc: &Service,
    viewer: Viewer<'_>,
    conversation_id: &str,
) -> Result<Conversation> {
    if !protocol::valid_client_id(conversation_id) {
        return Err(no_such_conversation());
    }
    let conv = svc
        .store
        .conversation(viewer.tenant_id(), conversation_id)
        .await
        .map_err(|e| match e {
            cordon_store::StoreError::NotFound => no_such_conversation(),
            other => other.into(),
        })?;
    if let Viewer::Visitor { visitor_id, .. } = viewer {
        if conv.visitor_id != visitor_id {
            return Err(no_such_conversation());
        }
    }
    Ok(conv)
}

/// Typing and read events come only from the conversation's own visitor or its assigned agent.
pub async fn participant(
    svc: &Service,
    viewer: Viewer<'_>,
    conversation_id: &str,
) -> Result<Conversation> {
    let conv = visible(svc, viewer, conversation_id).await?;
    if let Viewer::Agent(a) = viewer {
        if conv.agent_id.as_deref() != Some(a.id.as_str()) {
            return Err(Refusal::new(
                code::FORBIDDEN,
                "only the assigned agent takes part in this conversation",
            ));
        }
    }
    Ok(conv)
}

/// A conversation an agent writes in must be assigned to it.
pub fn check_writer(conv: &Conversation, agent: &Agent) -> Result<()> {
    if conv.agent_id.as_deref() != Some(agent.id.as_str()) {
        return Err(Refusal::new(
            code::FORBIDDEN,
            "accept the conversation before writing in it",
        ));
    }
    Ok(())
}

/// A visitor opens (or finds again) its conversation. Returns it and whether it was made just now; the caller
/// shows it to the visitor, then calls [`announce_opened`].
pub async fn open(
    svc: &Service,
    tenant_id: &str,
    visitor_id: &str,
) -> Result<(Conversation, bool)> {
    let id = cordon_crypto::new_time_ordered_id("c");
    Ok(svc
        .store
        .open_conversation(&id, tenant_id, visitor_id)
        .await?)
}

/// Tell the tenant's agents about a conversation opened just now (and its agent's joining, if one was free).
pub async fn announce_opened(svc: &Service, names: &mut Names, conv: &Conversation) {
    if conv.state == ConversationState::Assigned {
        announce_assignment(svc, names, conv).await;
    } else {
        publish_conversation(svc, names, conv).await;
    }
}

/// The viewer closes a conversation: its visitor, its assigned agent, or a tenant admin.
pub async fn close(
    svc: &Service,
    viewer: Viewer<'_>,
    names: &mut Names,
    conversation_id: &str,
) -> Result<()> {
    let conv = visible(svc, viewer, conversation_id).await?;
    if let Viewer::Agent(a) = viewer {
        if conv.agent_id.as_deref() != Some(a.id.as_str()) && a.role != AgentRole::Admin {
            return Err(Refusal::new(
                code::FORBIDDEN,
                "only the assigned agent can close this conversation",
            ));
        }
    }
    if conv.state == ConversationState::Closed {
        return Err(Refusal::new(
            code::CONVERSATION_CLOSED,
            "the conversation is already closed",
        ));
    }
    let who = match viewer {
        Viewer::Visitor { .. } => "The visitor".to_string(),
        Viewer::Agent(a) => a.display_name.clone(),
    };
    messages::system_message(
        svc,
        &conv.tenant_id,
        &conv.id,
        &format!("{who} closed the chat"),
    )
    .await;
    // With outgoing mail configured, the close queues the transcript email in its own transaction when the
    // tenant turned transcripts on and the visitor gave an address (transcripts.rs).
    let mail = svc.settings.mail.enabled();
    let closed = svc
        .store
        .close_conversation_queueing(&conv.tenant_id, &conv.id, mail)
        .await?;
    if mail {
        svc.transcript_wake.notify_one();
    }
    publish_conversation(svc, names, &closed).await;
    drain_queue(svc, &conv.tenant_id).await;
    Ok(())
}

/// An agent who takes chats (the caller checked its role) accepts a conversation.
pub async fn accept(svc: &Service, agent: &Agent, conversation_id: &str) -> Result<()> {
    let conv = visible(svc, Viewer::Agent(agent), conversation_id).await?;
    if conv.state == ConversationState::Closed {
        return Err(Refusal::new(
            code::CONVERSATION_CLOSED,
            "the conversation is closed",
        ));
    }
    // Already mine: nothing changes, so nothing is announced.
    if conv.agent_id.as_deref() == Some(agent.id.as_str()) {
        return Ok(());
    }
    let conv = svc
        .store
        .accept_conversation(&agent.tenant_id, conversation_id, &agent.id)
        .await?;
    announce_assignment(svc, &mut Names::default(), &conv).await;
    Ok(())
}

/// The assigned agent hands a conversation to another agent of the tenant who takes chats.
pub async fn transfer(svc: &Service, agent: &Agent, conversation_id: &str, to: &str) -> Result<()> {
    let conv = visible(svc, Viewer::Agent(agent), conversation_id).await?;
    if conv.agent_id.as_deref() != Some(agent.id.as_str()) {
        return Err(Refusal::new(
            code::FORBIDDEN,
            "only the assigned agent can transfer this conversation",
        ));
    }
    if to == agent.id {
        return Err(Refusal::new(
            code::CONFLICT,
            "the conversation is already yours",
        ));
    }
    let tenant_id = &agent.tenant_id;
    let target = match protocol::valid_client_id(to) {
        true => svc.store.agent(tenant_id, to).await.ok(),
        false => None,
    };
    let Some(target) = target.filter(|a| !a.disabled && a.role.chats()) else {
        return Err(Refusal::new(
            code::NOT_FOUND,
            "no such agent who takes chats",
        ));
    };
    // Away is a colleague at the desk who takes no new chats from the queue: a handover to them is deliberate.
    // Offline is nobody: the visitor would wait on a chat no one sees.
    if target.status == AgentStatus::Offline {
        return Err(Refusal::new(code::AGENT_OFFLINE, "the agent is offline"));
    }
    let moved = svc
        .store
        .transfer_conversation(tenant_id, &conv.id, to)
        .await?;
    let mut names = Names::default();
    let from_name = names.agent(svc, tenant_id, &agent.id).await;
    let to_name = names.agent(svc, tenant_id, to).await;
    messages::system_message(
        svc,
        tenant_id,
        &moved.id,
        &format!("{from_name} transferred the chat to {to_name}"),
    )
    .await;
    publish_conversation(svc, &mut names, &moved).await;
    drain_queue(svc, tenant_id).await;
    Ok(())
}

/// A viewer starts following a conversation from `after_seq`. An agent opening a transcript from the start is a
/// history read and is audited; resuming from a later seq after a reconnect is delivery, and is not.
pub async fn follow(
    svc: &Service,
    viewer: Viewer<'_>,
    conversation_id: &str,
    after_seq: i64,
) -> Result<Conversation> {
    let conv = visible(svc, viewer, conversation_id).await?;
    if let (Viewer::Agent(a), true) = (viewer, after_seq <= 0) {
        let e = audit::entry(
            &conv.tenant_id,
            &format!("agent:{}", a.id),
            Action::TranscriptOpen,
            &format!("conversation:{}", conv.id),
        );
        audit::record(svc, vec![e]).await?;
    }
    Ok(conv)
}

/// Up to `limit` messages after `after_seq`, opened for a reader of the tenant.
pub async fn messages_after(
    svc: &Service,
    names: &mut Names,
    tenant_id: &str,
    conversation_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<MessageView>> {
    let stored = svc
        .store
        .messages_after(tenant_id, conversation_id, after_seq, limit)
        .await?;
    let mut views = Vec::with_capacity(stored.len());
    for m in &stored {
        views.push(messages::message_view(svc, names, tenant_id, m).await?);
    }
    Ok(views)
}

/// Up to `limit` stored (sealed) messages after `after_seq`, for a caller that opens them one by one
/// ([`messages::message_view`]) and stops at the first that fails, keeping what it sent (a socket's catch-up).
pub async fn stored_after(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<cordon_store::StoredMessage>> {
    Ok(svc
        .store
        .messages_after(tenant_id, conversation_id, after_seq, limit)
        .await?)
}

/// An agent's worklist: its own conversations and the tenant's queue.
pub async fn worklist(svc: &Service, agent: &Agent) -> Result<Vec<Conversation>> {
    Ok(svc
        .store
        .agent_worklist(&agent.tenant_id, &agent.id)
        .await?)
}

/// A conversation as stored now (after a lag, to refresh what a client shows).
pub async fn current(
    svc: &Service,
    tenant_id: &str,
    conversation_id: &str,
) -> Result<Conversation> {
    Ok(svc.store.conversation(tenant_id, conversation_id).await?)
}

// ---- history (the API; conversations:read) ---------------------------------------------------------------

/// A page of conversations, newest first, and the cursor of the next page.
pub async fn list(
    svc: &Service,
    principal: &Principal,
    filter: &ConversationFilter,
) -> Result<(Vec<ConversationView>, Option<String>)> {
    principal.require(Scope::ConversationsRead)?;
    let convs = svc
        .store
        .list_conversations(principal.tenant_id(), filter)
        .await?;
    let next_cursor = if convs.len() as i64 == filter.limit {
        convs.last().map(|c| format!("{}.{}", c.created_at, c.id))
    } else {
        None
    };
    audit::record_read(svc, principal, Action::ConversationsList, "conversations").await?;
    let mut names = Names::default();
    let mut views = Vec::with_capacity(convs.len());
    for c in &convs {
        views.push(conversation_view(svc, &mut names, c).await);
    }
    Ok((views, next_cursor))
}

/// One conversation.
pub async fn read(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
) -> Result<ConversationView> {
    principal.require(Scope::ConversationsRead)?;
    let c = svc
        .store
        .conversation(principal.tenant_id(), conversation_id)
        .await?;
    audit::record_read(
        svc,
        principal,
        Action::ConversationRead,
        &format!("conversation:{}", c.id),
    )
    .await?;
    Ok(conversation_view(svc, &mut Names::default(), &c).await)
}

/// A page of a transcript, oldest first, and the `after_seq` of the next page.
pub async fn transcript(
    svc: &Service,
    principal: &Principal,
    conversation_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<(Vec<MessageView>, Option<i64>)> {
    principal.require(Scope::ConversationsRead)?;
    let tenant_id = principal.tenant_id();
    svc.store.conversation(tenant_id, conversation_id).await?;
    let messages = messages_after(
        svc,
        &mut Names::default(),
        tenant_id,
        conversation_id,
        after_seq,
        limit,
    )
    .await?;
    let next_after_seq = if messages.len() as i64 == limit {
        messages.last().map(|m| m.seq)
    } else {
        None
    };
    audit::record_read(
        svc,
        principal,
        Action::TranscriptRead,
        &format!("conversation:{conversation_id}"),
    )
    .await?;
    Ok((messages, next_after_seq))
}

// ---- views and announcements -----------------------------------------------------------------------------

/// Resolves agent display names for views, caching per caller.
#[derive(Debug, Default)]
pub struct Names {
    agents: HashMap<String, String>,
}

impl Names {
    pub async fn agent(&mut self, svc: &Service, tenant_id: &str, agent_id: &str) -> String {
        if let Some(n) = self.agents.get(agent_id) {
            return n.clone();
        }
        let name = match svc.store.agent(tenant_id, agent_id).await {
            Ok(a) => a.display_name,
            Err(_) => "Agent".to_string(),
        };
        self.agents.insert(agent_id.to_string(), name.clone());
        name
    }
}

pub async fn conversation_view(
    svc: &Service,
    names: &mut Names,
    c: &Conversation,
) -> ConversationView {
    let agent = match &c.agent_id {
        Some(id) => Some(AgentRef {
            id: id.clone(),
            name: names.agent(svc, &c.tenant_id, id).await,
        }),
        None => None,
    };
    ConversationView {
        id: c.id.clone(),
        state: c.state.as_str(),
        visitor_id: c.visitor_id.clone(),
        agent,
        last_seq: c.last_seq,
        created_at: c.created_at,
        updated_at: c.updated_at,
        read_seq: None,
    }
}

/// Tell everyone watching a conversation, and the tenant's agents, that it changed.
pub async fn publish_conversation(svc: &Service, names: &mut Names, c: &Conversation) {
    // Re-read it: system messages written since `c` was loaded moved `last_seq`.
    let fresh = svc.store.conversation(&c.tenant_id, &c.id).await;
    let c = fresh.as_ref().unwrap_or(c);
    let view = conversation_view(svc, names, c).await;
    let frame: Arc<str> =
        Arc::from(ServerFrame::ConversationUpdated { conversation: view }.to_json());
    let event = Event::Conversation {
        conversation_id: Arc::from(c.id.as_str()),
        agent_id: c.agent_id.as_deref().map(Arc::from),
        frame,
    };
    // Every agent of the tenant is in its room, the assigned one included: one event on both topics.
    svc.hub.publish_all(
        &[
            Topic::Conversation(c.tenant_id.clone(), c.id.clone()),
            Topic::TenantAgents(c.tenant_id.clone()),
        ],
        event,
    );
}

/// After capacity frees up or an agent comes online: assign what is queued and announce it.
pub async fn drain_queue(svc: &Service, tenant_id: &str) {
    match svc.store.assign_queued(tenant_id).await {
        Ok(assigned) => {
            let mut names = Names::default();
            for c in assigned {
                announce_assignment(svc, &mut names, &c).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue assignment failed"),
    }
}

pub async fn announce_assignment(svc: &Service, names: &mut Names, c: &Conversation) {
    if let Some(agent_id) = &c.agent_id {
        let name = names.agent(svc, &c.tenant_id, agent_id).await;
        messages::system_message(svc, &c.tenant_id, &c.id, &format!("{name} joined the chat"))
            .await;
    }
    publish_conversation(svc, names, c).await;
}
