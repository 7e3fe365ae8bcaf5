//! The message pipeline: validate → redact → seal → durable append → fan-out. Shared by both sockets and by
//! system messages, so every path gets the same guarantees.

use std::collections::HashMap;
use std::sync::Arc;

use cordon_crypto::MessagePlace;
use cordon_store::{AppendOutcome, AppendRequest, Conversation, SenderKind, StoredMessage};

use crate::error::code;
use crate::hub::{Event, Topic};
use crate::protocol::{AgentRef, ConversationView, MessageView, Party, ServerFrame};
use crate::AppState;

/// A pipeline refusal: a stable code and a fixed, safe message.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<cordon_store::StoreError> for Refusal {
    fn from(err: cordon_store::StoreError) -> Self {
        use cordon_store::StoreError as E;
        match err {
            E::NotFound => Refusal::new(code::NOT_FOUND, "no such conversation"),
            E::ConversationClosed => {
                Refusal::new(code::CONVERSATION_CLOSED, "the conversation is closed")
            }
            E::NoCapacity => Refusal::new(code::NO_CAPACITY, "the agent has no free capacity"),
            E::Conflict(what) => Refusal::new(code::CONFLICT, what),
            E::ShuttingDown => Refusal::new(code::UNAVAILABLE, "the service is shutting down"),
            other => {
                tracing::error!(error = %other, "storage failure");
                Refusal::new(code::INTERNAL, "internal error")
            }
        }
    }
}

impl From<crate::keys::KeyError> for Refusal {
    fn from(err: crate::keys::KeyError) -> Self {
        tracing::error!(error = %err, "key failure");
        Refusal::new(code::INTERNAL, "internal error")
    }
}

/// A message accepted and durable.
#[derive(Debug, Clone)]
pub struct Sent {
    pub outcome: AppendOutcome,
    /// How many card numbers were masked in it.
    pub cards: usize,
}

/// Check a message text against the limits (on what the client typed, before masking).
pub fn check_text(text: &str, max_chars: usize) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(Refusal::new(code::TEXT_EMPTY, "message text is empty"));
    }
    if text.chars().count() > max_chars {
        return Err(Refusal::new(
            code::TEXT_TOO_LONG,
            format!("message text exceeds {max_chars} characters"),
        ));
    }
    Ok(())
}

pub fn party(kind: SenderKind, id: &str, name: &str) -> Party {
    Party {
        kind: kind.as_str(),
        id: id.to_string(),
        name: name.to_string(),
    }
}

/// Send one message. The ack (the returned `Sent`) exists only once the message is committed.
pub async fn send_message(
    state: &AppState,
    tenant_id: &str,
    conversation_id: &str,
    sender: &Party,
    sender_kind: SenderKind,
    client_msg_id: &str,
    text: &str,
) -> Result<Sent, Refusal> {
    let prepared = prepare_message(
        state,
        tenant_id,
        conversation_id,
        sender,
        sender_kind,
        client_msg_id,
        text,
    )
    .await?;
    store_message(state, prepared).await
}

/// A message checked, redacted and ready to seal: everything before the store. Messages that must keep their
/// order are prepared one by one, then stored together (`store_message` queues for the group commit at its first
/// poll, so futures polled in order are committed in order).
pub struct PreparedMessage {
    request: AppendRequest,
    masked: Arc<str>,
    cards: usize,
    sender: Party,
}

impl std::fmt::Debug for PreparedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the text, even redacted: diagnostics carry no message content.
        f.debug_struct("PreparedMessage")
            .field("request", &self.request)
            .field("cards", &self.cards)
            .finish_non_exhaustive()
    }
}

pub async fn prepare_message(
    state: &AppState,
    tenant_id: &str,
    conversation_id: &str,
    sender: &Party,
    sender_kind: SenderKind,
    client_msg_id: &str,
    text: &str,
) -> Result<PreparedMessage, Refusal> {
    check_text(text, state.config.limits.max_text_chars)?;
    let redaction = cordon_card::redact(text);
    let cards = redaction.findings.len();
    let masked: Arc<str> = Arc::from(redaction.text.as_ref());
    let key = state.keys.current_data_key(&state.store, tenant_id).await?;
    let (t, c, body) = (
        tenant_id.to_string(),
        conversation_id.to_string(),
        masked.clone(),
    );
    let seal = Box::new(move |seq: i64| {
        key.seal_message(
            MessagePlace {
                tenant_id: &t,
                conversation_id: &c,
                seq,
            },
            &body,
        )
    });
    Ok(PreparedMessage {
        request: AppendRequest {
            tenant_id: tenant_id.to_string(),
            conversation_id: conversation_id.to_string(),
            sender_kind,
            sender_id: sender.id.clone(),
            client_msg_id: client_msg_id.to_string(),
            seal,
        },
        masked,
        cards,
        sender: sender.clone(),
    })
}

/// Append a prepared message (durable when this returns) and publish it.
pub async fn store_message(state: &AppState, m: PreparedMessage) -> Result<Sent, Refusal> {
    let conversation_id = m.request.conversation_id.clone();
    let client_msg_id = m.request.client_msg_id.clone();
    let started = std::time::Instant::now();
    let outcome = state.store.append_message(m.request).await?;
    state.metrics.observe_commit(started.elapsed());
    if !outcome.duplicate {
        state.metrics.messages_total.inc();
        state.metrics.cards_redacted.add(m.cards as u64);
        let frame = ServerFrame::Message(MessageView {
            conversation_id: conversation_id.clone(),
            seq: outcome.seq,
            sender: m.sender,
            client_msg_id,
            text: m.masked.to_string(),
            created_at: outcome.created_at,
        });
        state.hub.publish(
            &Topic::Conversation(conversation_id.clone()),
            Event::Message {
                conversation_id: Arc::from(conversation_id.as_str()),
                seq: outcome.seq,
                frame: Arc::from(frame.to_json()),
            },
        );
    }
    Ok(Sent {
        outcome,
        cards: m.cards,
    })
}

/// A system message in a conversation's history (agent joined, conversation closed, ...).
pub async fn system_message(state: &AppState, tenant_id: &str, conversation_id: &str, text: &str) {
    let id = cordon_crypto::new_id("sys");
    let sender = party(SenderKind::System, "system", "Cordon");
    if let Err(r) = send_message(
        state,
        tenant_id,
        conversation_id,
        &sender,
        SenderKind::System,
        &id,
        text,
    )
    .await
    {
        if r.code != code::CONVERSATION_CLOSED {
            tracing::warn!(code = r.code, "system message not stored");
        }
    }
}

/// Resolves agent display names for views, caching per caller.
#[derive(Debug, Default)]
pub struct Names {
    agents: HashMap<String, String>,
}

impl Names {
    pub async fn agent(&mut self, state: &AppState, tenant_id: &str, agent_id: &str) -> String {
        if let Some(n) = self.agents.get(agent_id) {
            return n.clone();
        }
        let name = match state.store.agent(tenant_id, agent_id).await {
            Ok(a) => a.display_name,
            Err(_) => "Agent".to_string(),
        };
        self.agents.insert(agent_id.to_string(), name.clone());
        name
    }
}

pub async fn conversation_view(
    state: &AppState,
    names: &mut Names,
    c: &Conversation,
) -> ConversationView {
    let agent = match &c.agent_id {
        Some(id) => Some(AgentRef {
            id: id.clone(),
            name: names.agent(state, &c.tenant_id, id).await,
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
    }
}

/// Open a stored message for a reader of this tenant.
pub async fn message_view(
    state: &AppState,
    names: &mut Names,
    tenant_id: &str,
    m: &StoredMessage,
) -> Result<MessageView, Refusal> {
    let key_id = cordon_crypto::sealed_key_id(&m.body).map_err(|e| {
        tracing::error!(error = %e, "sealed message malformed");
        Refusal::new(code::INTERNAL, "internal error")
    })?;
    let key = state.keys.data_key(&state.store, tenant_id, key_id).await?;
    let text = key
        .open_message(
            MessagePlace {
                tenant_id,
                conversation_id: &m.conversation_id,
                seq: m.seq,
            },
            &m.body,
        )
        .map_err(|e| {
            tracing::error!(error = %e, "message failed to open");
            Refusal::new(code::INTERNAL, "internal error")
        })?;
    let sender = match m.sender_kind {
        SenderKind::Agent => {
            let name = names.agent(state, tenant_id, &m.sender_id).await;
            party(SenderKind::Agent, &m.sender_id, &name)
        }
        SenderKind::Visitor => party(SenderKind::Visitor, &m.sender_id, "Visitor"),
        SenderKind::System => party(SenderKind::System, "system", "Cordon"),
    };
    Ok(MessageView {
        conversation_id: m.conversation_id.clone(),
        seq: m.seq,
        sender,
        client_msg_id: m.client_msg_id.clone(),
        text,
        created_at: m.created_at,
    })
}

/// Tell everyone watching a conversation, and the tenant's agents, that it changed.
pub async fn publish_conversation(state: &AppState, names: &mut Names, c: &Conversation) {
    // Re-read it: system messages written since `c` was loaded moved `last_seq`.
    let fresh = state.store.conversation(&c.tenant_id, &c.id).await;
    let c = fresh.as_ref().unwrap_or(c);
    let view = conversation_view(state, names, c).await;
    let frame: Arc<str> =
        Arc::from(ServerFrame::ConversationUpdated { conversation: view }.to_json());
    let event = Event::Conversation {
        conversation_id: Arc::from(c.id.as_str()),
        agent_id: c.agent_id.as_deref().map(Arc::from),
        frame,
    };
    state
        .hub
        .publish(&Topic::Conversation(c.id.clone()), event.clone());
    // Every agent of the tenant is in this room, the assigned one included.
    state
        .hub
        .publish(&Topic::TenantAgents(c.tenant_id.clone()), event);
}

/// After capacity frees up or an agent comes online: assign what is queued and announce it.
pub async fn drain_queue(state: &AppState, tenant_id: &str) {
    match state.store.assign_queued(tenant_id).await {
        Ok(assigned) => {
            let mut names = Names::default();
            for c in assigned {
                announce_assignment(state, &mut names, &c).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue assignment failed"),
    }
}

pub async fn announce_assignment(state: &AppState, names: &mut Names, c: &Conversation) {
    if let Some(agent_id) = &c.agent_id {
        let name = names.agent(state, &c.tenant_id, agent_id).await;
        system_message(
            state,
            &c.tenant_id,
            &c.id,
            &format!("{name} joined the chat"),
        )
        .await;
    }
    publish_conversation(state, names, c).await;
}
