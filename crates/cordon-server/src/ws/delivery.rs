//! Delivery: what a connection follows and how every committed message reaches it once, in order.
//!
//! Per conversation, each connection has a cursor, the last seq it has sent to the client. A conversation
//! streams to a connection only once it has a cursor (set by `sync`, by opening a conversation, or by an
//! assignment to the agent). Live events at `cursor + 1` are forwarded; older ones are skipped; a gap, or a hub
//! lag signal, is filled from storage. So every committed message reaches a connected client exactly once, in
//! order, with bounded memory. Typing, read and close frames, which either side sends, are here too.

use std::sync::Arc;

use cordon_service::conversations;
use cordon_service::hub::{Event, Topic};
use cordon_service::model::Conversation;
use cordon_service::protocol::ServerFrame;
use cordon_service::{code, messages, reads, Refusal};

use super::{viewer, Conn, Exit, Role};

/// Messages read from storage per round of a catch-up.
const CATCH_UP_BATCH: i64 = 200;

impl Conn {
    pub(super) fn subscribe(&mut self, topic: Topic) {
        if self.topics.insert(topic.clone()) {
            let capacity = self.state.config.limits.outbound_buffer;
            let id = self.mailbox_id;
            let new_inbox = &mut self.new_inbox;
            let mailbox = self.mailbox.get_or_insert_with(|| {
                let (mb, inbox) = cordon_service::hub::mailbox_with_id(id, capacity);
                *new_inbox = Some(inbox);
                mb
            });
            self.state.service.hub().subscribe(topic, mailbox);
        }
    }

    fn unsubscribe(&mut self, topic: &Topic) {
        if self.topics.remove(topic) {
            self.state.service.hub().unsubscribe(topic, self.mailbox_id);
        }
    }

    fn publish_ephemeral(&self, tenant_id: String, conversation_id: String, frame: ServerFrame) {
        self.state.service.hub().publish(
            &Topic::Conversation(tenant_id, conversation_id),
            Event::Ephemeral {
                from_connection: self.mailbox_id,
                frame: Arc::from(frame.to_json()),
            },
        );
    }

    pub(super) async fn on_sync(
        &mut self,
        conversation_id: String,
        after_seq: i64,
    ) -> Result<(), Exit> {
        let Some(who) = viewer(&self.role) else {
            return self.refuse(no_such_conversation(), None).await;
        };
        // The service audits an agent opening a transcript from the start (a history read).
        let followed =
            conversations::follow(&self.state.service, who, &conversation_id, after_seq).await;
        let conv = match followed {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        self.owns(&conv.id);
        self.subscribe(Topic::Conversation(conv.tenant_id.clone(), conv.id.clone()));
        // A cursor beyond the last message would silently skip live messages up to it.
        self.cursors
            .insert(conv.id.clone(), after_seq.clamp(0, conv.last_seq));
        self.catch_up(&conv.id).await?;
        let last = self.cursors.get(&conv.id).copied().unwrap_or(0);
        self.send(&ServerFrame::Synced {
            conversation_id: conv.id,
            last_seq: last,
        })
        .await
    }

    /// Send everything after the cursor from storage. A message that fails to open ends the catch-up with an
    /// error frame; the cursor stays on the last message sent.
    pub(super) async fn catch_up(&mut self, conversation_id: &str) -> Result<(), Exit> {
        let Some(tenant_id) = self.tenant_id() else {
            return Ok(());
        };
        let svc = self.state.service.clone();
        loop {
            let Some(cursor) = self.cursors.get(conversation_id).copied() else {
                return Ok(());
            };
            let batch = match conversations::stored_after(
                &svc,
                &tenant_id,
                conversation_id,
                cursor,
                CATCH_UP_BATCH,
            )
            .await
            {
                Ok(b) => b,
                Err(r) => return self.refuse(r, None).await,
            };
            let n = batch.len() as i64;
            for m in &batch {
                let view = match messages::message_view(&svc, &mut self.names, &tenant_id, m).await
                {
                    Ok(v) => v,
                    Err(r) => return self.refuse(r, None).await,
                };
                self.send(&ServerFrame::Message(view)).await?;
                self.cursors.insert(conversation_id.to_string(), m.seq);
            }
            if n < CATCH_UP_BATCH {
                return Ok(());
            }
        }
    }

    // ---- frames either side sends ---------------------------------------------------------------------------

    /// Typing and read events, from the conversation's own visitor or its assigned agent, to the others in it.
    pub(super) async fn on_typing(
        &mut self,
        conversation_id: String,
        active: bool,
    ) -> Result<(), Exit> {
        let conv = match self.participant(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        let frame = ServerFrame::Typing {
            conversation_id: conv.id.clone(),
            from: self.me(),
            active,
        };
        self.publish_ephemeral(conv.tenant_id, conv.id, frame);
        Ok(())
    }

    pub(super) async fn on_read(&mut self, conversation_id: String, seq: i64) -> Result<(), Exit> {
        let conv = match self.participant(&conversation_id).await {
            Ok(c) => c,
            Err(r) => return self.refuse(r, None).await,
        };
        if let Role::Agent(a) = &self.role {
            // Kept, so the agent's other consoles (and the next sign-in) count unread from here (issue 20).
            if let Err(r) = reads::record(&self.state.service, &a.agent, &conv, seq).await {
                return self.refuse(r, None).await;
            }
        }
        let frame = ServerFrame::Read {
            conversation_id: conv.id.clone(),
            by: self.me(),
            seq: seq.clamp(0, conv.last_seq),
        };
        self.publish_ephemeral(conv.tenant_id, conv.id, frame);
        Ok(())
    }

    async fn participant(&mut self, conversation_id: &str) -> Result<Conversation, Refusal> {
        let who = viewer(&self.role).ok_or_else(no_such_conversation)?;
        let conv = conversations::participant(&self.state.service, who, conversation_id).await;
        // A visitor's conversation it could see is its own from now on.
        if let Ok(c) = &conv {
            let id = c.id.clone();
            self.owns(&id);
        }
        conv
    }

    /// Close a conversation: its visitor, its assigned agent, or a tenant admin.
    pub(super) async fn on_close(&mut self, conversation_id: String) -> Result<(), Exit> {
        let Some(who) = viewer(&self.role) else {
            return self.refuse(no_such_conversation(), None).await;
        };
        let result =
            conversations::close(&self.state.service, who, &mut self.names, &conversation_id).await;
        // The visitor could see it (closed now, or already closed): its own from now on.
        if matches!(&result, Err(r) if r.code == code::CONVERSATION_CLOSED) || result.is_ok() {
            self.owns(&conversation_id);
        }
        match result {
            Ok(()) => Ok(()),
            Err(r) => self.refuse(r, None).await,
        }
    }

    // ---- hub events ----------------------------------------------------------------------------------------

    pub(super) async fn on_event(&mut self, event: Event) -> Result<(), Exit> {
        match event {
            Event::Message {
                conversation_id,
                seq,
                frame,
            } => {
                let Some(cursor) = self.cursors.get(conversation_id.as_ref()).copied() else {
                    return Ok(());
                };
                if seq <= cursor {
                    Ok(())
                } else if seq == cursor + 1 {
                    self.cursors.insert(conversation_id.to_string(), seq);
                    self.send_raw(&frame).await
                } else {
                    self.catch_up(&conversation_id).await
                }
            }
            Event::Conversation {
                conversation_id,
                agent_id,
                frame,
            } => {
                self.on_conversation_event(&conversation_id, agent_id.as_deref(), frame)
                    .await
            }
            Event::Ephemeral { frame, .. } => self.send_raw(&frame).await,
        }
    }

    async fn on_conversation_event(
        &mut self,
        conversation_id: &str,
        agent_id: Option<&str>,
        frame: Arc<str>,
    ) -> Result<(), Exit> {
        // One update reaches an agent through several topics (the conversation, the tenant's agents): forward it
        // once.
        if self.recent_updates.iter().any(|f| Arc::ptr_eq(f, &frame)) {
            return Ok(());
        }
        if self.recent_updates.len() >= 16 {
            self.recent_updates.pop_front();
        }
        self.recent_updates.push_back(frame.clone());
        let newly_mine = self.follow_owner(conversation_id, agent_id);
        self.send_raw(&frame).await?;
        if newly_mine {
            // Newly assigned to me: follow it from the start (or from where I already am).
            self.cursors.entry(conversation_id.to_string()).or_insert(0);
            return self.catch_up(conversation_id).await;
        }
        Ok(())
    }

    /// A conversation's owner as now known: an agent follows what is assigned to it and stops following what
    /// moved away; a visitor notes the agents it met. Answers whether it just became this agent's.
    fn follow_owner(&mut self, conversation_id: &str, agent_id: Option<&str>) -> bool {
        let Some(tenant_id) = self.tenant_id() else {
            return false;
        };
        if let Role::Agent(a) = &self.role {
            let mine = agent_id == Some(a.agent.id.as_str());
            let was_mine = self.assigned.contains(conversation_id);
            let topic = Topic::Conversation(tenant_id, conversation_id.to_string());
            if mine && !was_mine {
                self.assigned.insert(conversation_id.to_string());
                self.subscribe(topic);
                return true;
            }
            if !mine && was_mine {
                // Moved away from me. A watcher who synced it keeps following it.
                self.assigned.remove(conversation_id);
                self.unsubscribe(&topic);
                self.cursors.remove(conversation_id);
            }
        } else if let (Role::Visitor(v), Some(agent)) = (&mut self.role, agent_id) {
            v.agents_seen.insert(agent.to_string());
        }
        false
    }

    /// The hub (or the broker) dropped events for us: refresh what changed hands, refill every followed
    /// conversation from storage, and send each conversation's state as stored now.
    pub(super) async fn on_lag(&mut self) -> Result<(), Exit> {
        let Some(tenant_id) = self.tenant_id() else {
            return Ok(());
        };
        let svc = self.state.service.clone();
        let convs = match &self.role {
            Role::Agent(a) => conversations::worklist(&svc, &a.agent)
                .await
                .unwrap_or_default(),
            Role::Visitor(v) => {
                let mut out = Vec::new();
                for id in &v.owned {
                    if let Ok(c) = conversations::current(&svc, &tenant_id, id).await {
                        out.push(c);
                    }
                }
                out
            }
        };
        // An agent follows what was assigned to it while events were lost, and catches up on everything it
        // follows; then it lets go of what is no longer its own (closed or moved away meanwhile).
        let mut gone: Vec<String> = Vec::new();
        if let Role::Agent(a) = &self.role {
            let me = a.agent.id.as_str();
            let still_mine = |id: &String| {
                convs
                    .iter()
                    .any(|c| &c.id == id && c.agent_id.as_deref() == Some(me))
            };
            gone = self
                .assigned
                .iter()
                .filter(|id| !still_mine(id))
                .cloned()
                .collect();
            for c in &convs {
                if self.follow_owner(&c.id, c.agent_id.as_deref()) {
                    self.cursors.entry(c.id.clone()).or_insert(0);
                }
            }
        }
        let followed: Vec<String> = self.cursors.keys().cloned().collect();
        for c in followed {
            self.catch_up(&c).await?;
        }
        for id in gone {
            self.follow_owner(&id, None);
        }
        for c in convs {
            let view = conversations::conversation_view(&svc, &mut self.names, &c).await;
            self.send(&ServerFrame::ConversationUpdated { conversation: view })
                .await?;
        }
        Ok(())
    }
}

fn no_such_conversation() -> Refusal {
    Refusal::new(code::NOT_FOUND, "no such conversation")
}
