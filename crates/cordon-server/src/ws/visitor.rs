//! The visitor's frames: `hello` (admission by the service), `conversation.open`, and messages, which pass the
//! split-card hold-back (docs/CARD-REDACTION.md, "Split across messages") before the service's message path.

use cordon_service::conversations;
use cordon_service::hub::Topic;
use cordon_service::messages::{self, Draft, Offer, Release, Sent};
use cordon_service::model::ConversationState;
use cordon_service::protocol::{self, Hello, ServerFrame};
use cordon_service::{code, contact, ratings, visitors, Refusal};

use super::{viewer, Conn, Exit, Role};

impl Conn {
    pub(super) async fn visitor_hello(&mut self, h: Hello) -> Result<(), Exit> {
        let peer = match &self.role {
            Role::Visitor(v) => v.peer,
            Role::Agent(_) => None,
        };
        let arrival = visitors::Arrival {
            widget_key: h.widget_key.as_deref(),
            identity: h.identity.as_ref(),
            visitor_token: h.visitor_token.as_deref(),
            embed_origin: h.embed_origin.as_deref(),
            context: h.context.as_ref(),
            peer,
            asset_hashes: crate::web::session_asset_hashes(),
        };
        let admitted = match visitors::admit(&self.state.service, arrival).await {
            Ok(a) => a,
            Err(r) => return self.refuse(r, None).await,
        };
        // What the widget shows before the first message; a failure to count leaves it out, not the visitor.
        let availability =
            cordon_service::availability::for_tenant(&self.state.service, &admitted.tenant.id)
                .await
                .ok();
        let mut views = Vec::new();
        for c in &admitted.conversations {
            views.push(
                conversations::conversation_view(&self.state.service, &mut self.names, c).await,
            );
        }
        let welcome = ServerFrame::Welcome {
            v: 1,
            role: "visitor",
            visitor_id: Some(admitted.visitor.id.clone()),
            visitor_token: admitted.new_token,
            agent: None,
            conversations: views,
            limits: self.limits_view(),
            availability,
        };
        let ids: Vec<String> = admitted
            .conversations
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let tenant_id = admitted.tenant.id.clone();
        if let Role::Visitor(v) = &mut self.role {
            v.owned = ids.iter().cloned().collect();
            v.identity_expires = admitted.identity_expires;
            v.tenant = Some(admitted.tenant);
            v.visitor = Some(admitted.visitor);
            v.session_record = Some(admitted.session_record);
        }
        for id in ids {
            self.subscribe(Topic::Conversation(tenant_id.clone(), id));
        }
        self.send(&welcome).await
    }

    pub(super) async fn on_open(&mut self) -> Result<(), Exit> {
        let Role::Visitor(v) = &self.role else {
            return self
                .send_error(code::FORBIDDEN, "only visitors open conversations", None)
                .await;
        };
        let (Some(t), Some(vis)) = (&v.tenant, &v.visitor) else {
            return Ok(());
        };
        let (tenant_id, visitor_id) = (t.id.clone(), vis.id.clone());
        let svc = self.state.service.clone();
        let (conv, created) = match conversations::open(&svc, &tenant_id, &visitor_id).await {
            Ok(x) => x,
            Err(r) => return self.refuse(r, None).await,
        };
        self.owns(&conv.id);
        self.subscribe(Topic::Conversation(tenant_id.clone(), conv.id.clone()));
        let view = conversations::conversation_view(&svc, &mut self.names, &conv).await;
        self.send(&ServerFrame::Conversation { conversation: view })
            .await?;
        if created {
            // The view above looked the agent's name up already; reuse it.
            conversations::announce_opened(&svc, &mut self.names, &conv).await;
        }
        if conv.state == ConversationState::Queued {
            self.send(&ServerFrame::Notice {
                code: "queued",
                message: "No agent is free right now. Leave a message and we'll reply here.",
                conversation_id: Some(conv.id.clone()),
            })
            .await?;
        }
        // Stream the conversation from its start; clients dedupe by seq. A conversation made just now holds
        // at most what was published to this socket's subscription since (the agent's join), so there is
        // nothing to read back.
        self.cursors.insert(conv.id.clone(), 0);
        if created {
            return Ok(());
        }
        self.catch_up(&conv.id).await
    }

    pub(super) async fn on_message(
        &mut self,
        conversation_id: String,
        client_msg_id: String,
        text: String,
    ) -> Result<(), Exit> {
        if !protocol::valid_client_id(&client_msg_id) {
            return self
                .send_error(
                    code::INVALID_ID,
                    "client_msg_id must be 1-64 characters of A-Z a-z 0-9 . _ : - and not a card number",
                    None,
                )
                .await;
        }
        let reference = Some(client_msg_id.as_str());
        let max_chars = self.state.config.limits.max_text_chars;
        let draft = Draft {
            conversation_id,
            client_msg_id: client_msg_id.clone(),
            text,
        };
        // A visitor's own conversation, already verified on this socket (at hello, open or an earlier frame),
        // stays the visitor's: its owner never changes and the writer refuses closed ones. So the per-message
        // database read is skipped for it.
        if let Role::Visitor(v) = &self.role {
            if v.owned.contains(&draft.conversation_id) {
                if let Err(r) = messages::check_text(&draft.text, max_chars) {
                    return self.refuse(r, reference).await;
                }
                return self.visitor_message(draft).await;
            }
        }
        let Some(who) = viewer(&self.role) else {
            return self
                .refuse(
                    Refusal::new(code::NOT_FOUND, "no such conversation"),
                    reference,
                )
                .await;
        };
        let visible =
            conversations::visible(&self.state.service, who, &draft.conversation_id).await;
        let conv = match visible {
            Ok(c) => c,
            Err(r) => return self.refuse(r, reference).await,
        };
        self.owns(&conv.id);
        if let Role::Agent(a) = &self.role {
            if let Err(r) = conversations::check_writer(&conv, &a.agent) {
                return self.refuse(r, reference).await;
            }
        }
        if let Err(r) = messages::check_text(&draft.text, max_chars) {
            return self.refuse(r, reference).await;
        }
        if matches!(self.role, Role::Visitor(_)) {
            return self.visitor_message(draft).await;
        }
        let result = messages::send_checked(&self.state.service, &self.sender(), &draft).await;
        self.acknowledge(&draft, result).await
    }

    /// The tenant and visitor of a visitor socket past its hello, or the refusal to send: `not_authenticated`
    /// before the hello, `forbidden` (with `on_agent`) on an agent socket.
    pub(super) fn visitor_ids(
        &self,
        on_agent: &'static str,
    ) -> Result<(String, String), (&'static str, &'static str)> {
        match &self.role {
            Role::Visitor(v) => match (&v.tenant, &v.visitor) {
                (Some(t), Some(vis)) => Ok((t.id.clone(), vis.id.clone())),
                _ => Err((code::NOT_AUTHENTICATED, "send a valid hello first")),
            },
            Role::Agent(_) => Err((code::FORBIDDEN, on_agent)),
        }
    }

    /// A visitor rates one of their ended conversations (issue 20); the service checks whose it is and when.
    pub(super) async fn on_rating(
        &mut self,
        conversation_id: String,
        score: i64,
        comment: Option<String>,
    ) -> Result<(), Exit> {
        let (tenant_id, visitor_id) = match self.visitor_ids("only visitors rate chats") {
            Ok(ids) => ids,
            Err((c, m)) => return self.send_error(c, m, None).await,
        };
        let svc = self.state.service.clone();
        match ratings::submit(
            &svc,
            &tenant_id,
            &visitor_id,
            &conversation_id,
            score,
            comment.as_deref(),
        )
        .await
        {
            Ok(rating) => self.send(&ServerFrame::RatingSaved { rating }).await,
            Err(r) => self.refuse(r, None).await,
        }
    }

    /// A visitor gives a contact in the tenant's pre-chat or offline form (issue 20).
    pub(super) async fn on_contact(
        &mut self,
        name: Option<String>,
        email: String,
    ) -> Result<(), Exit> {
        let (tenant_id, visitor_id) = match self.visitor_ids("only visitors give a contact") {
            Ok(ids) => ids,
            Err((c, m)) => return self.send_error(c, m, None).await,
        };
        let svc = self.state.service.clone();
        match contact::set_contact(&svc, &tenant_id, &visitor_id, name.as_deref(), &email).await {
            Ok(contact) => self.send(&ServerFrame::ContactSaved { contact }).await,
            Err(r) => self.refuse(r, None).await,
        }
    }

    /// Visitors' messages pass the hold-back: a message made only of digit groups that could begin a card
    /// waits, unacknowledged, for the next one (or the fragment window).
    async fn visitor_message(&mut self, draft: Draft) -> Result<(), Exit> {
        if self.hold.may_resume(&draft) {
            self.resume_hold(&draft).await;
        }
        let (release, single) = match self.hold.offer(draft) {
            // A resend of a message being held: it is acknowledged when released.
            Offer::Resend => return Ok(()),
            Offer::Go { release, single } => (release, single),
        };
        self.held_deadline = if self.hold.is_holding() {
            Some(tokio::time::Instant::now() + self.state.config.limits.fragment_window)
        } else {
            None
        };
        self.commit_released(release).await?;
        if let Some(draft) = single {
            let result = messages::send_checked(&self.state.service, &self.sender(), &draft).await;
            self.acknowledge(&draft, result).await?;
        }
        Ok(())
    }

    /// The first fragment this connection writes in a conversation: an earlier connection (before a reconnect, or
    /// on another node) may have delivered the start of the same card, so the hold-back starts from the history's
    /// tail. Read only for digit-only messages, off the chat's hot path. A failed read starts afresh: the send
    /// that follows reports a store that is down.
    async fn resume_hold(&mut self, draft: &Draft) {
        let Ok((tenant_id, visitor_id)) = self.visitor_ids("") else {
            return;
        };
        let window = self.state.config.limits.fragment_window;
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let svc = self.state.service.clone();
        let now = cordon_service::model::now_ms();
        let conv = &draft.conversation_id;
        match messages::recent_fragments(&svc, &tenant_id, &visitor_id, conv, now, window_ms).await
        {
            // The offer that follows starts the window again.
            Ok(shown) => self.hold.resume(shown),
            Err(r) => tracing::debug!(code = r.code, "the split-card history was not read"),
        }
    }

    /// The fragment window passed: release every held fragment, masking any card they form together.
    pub(super) async fn release_held(&mut self) -> Result<(), Exit> {
        self.held_deadline = None;
        let released = self.hold.release_all();
        self.commit_released(released).await
    }

    /// Store released fragments (already masked) together, so they share one group commit, then acknowledge
    /// them in order.
    async fn commit_released(&mut self, released: Vec<Release>) -> Result<(), Exit> {
        if released.is_empty() {
            return Ok(());
        }
        let results = messages::send_released(&self.state.service, &self.sender(), &released).await;
        for (r, result) in released.iter().zip(results) {
            self.acknowledge(&r.draft, result).await?;
        }
        Ok(())
    }

    /// Answer a message's sender: the ack (the message is committed), or the refusal.
    async fn acknowledge(
        &mut self,
        draft: &Draft,
        result: Result<Sent, Refusal>,
    ) -> Result<(), Exit> {
        let sent = match result {
            Ok(s) => s,
            Err(r) => return self.refuse(r, Some(&draft.client_msg_id)).await,
        };
        let conv_id = draft.conversation_id.clone();
        // The ack leaves only now: the message is committed.
        self.send(&ServerFrame::MessageAck {
            conversation_id: conv_id.clone(),
            client_msg_id: draft.client_msg_id.clone(),
            seq: sent.outcome.seq,
            created_at: sent.outcome.created_at,
            duplicate: sent.outcome.duplicate,
        })
        .await?;
        if sent.cards > 0 {
            if let Role::Visitor(v) = &mut self.role {
                v.cards += sent.cards as i64;
            }
            self.send(&ServerFrame::Notice {
                code: "card_redacted",
                message: "For your security, card numbers are removed from chat. Please never send card details here.",
                conversation_id: Some(conv_id),
            })
            .await?;
        }
        Ok(())
    }
}
