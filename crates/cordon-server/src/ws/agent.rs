//! The agent's frames: `hello` (the worklist), accept, transfer, status, and the session re-check that closes
//! the socket of a revoked session.

use std::time::{Duration, Instant};

use cordon_service::access::{role_scopes, Scope};
use cordon_service::hub::Topic;
use cordon_service::model::{Agent, AgentStatus};
use cordon_service::protocol::{AgentRef, ServerFrame};
use cordon_service::{agents, code, conversations, reads};

use super::{Conn, Exit, Role, CLOSE_REVOKED};

impl Conn {
    pub(super) async fn agent_hello(&mut self) -> Result<(), Exit> {
        let Role::Agent(a) = &self.role else {
            return Ok(());
        };
        let svc = self.state.service.clone();
        let agent = match agents::current(&svc, &a.agent).await {
            Ok(a) => a,
            Err(r) => return self.refuse(r, None).await,
        };
        let worklist = match conversations::worklist(&svc, &agent).await {
            Ok(w) => w,
            Err(r) => return self.refuse(r, None).await,
        };
        // Read marks are a convenience: a failure to load them shows messages as unread, nothing worse.
        let marks = reads::marks(&svc, &agent).await.unwrap_or_default();
        self.subscribe(Topic::TenantAgents(agent.tenant_id.clone()));
        self.subscribe(Topic::Agent(agent.tenant_id.clone(), agent.id.clone()));
        let mut views = Vec::new();
        for c in &worklist {
            if c.agent_id.as_deref() == Some(agent.id.as_str()) {
                self.assigned.insert(c.id.clone());
                self.subscribe(Topic::Conversation(c.tenant_id.clone(), c.id.clone()));
            }
            let mut view = conversations::conversation_view(&svc, &mut self.names, c).await;
            view.read_seq = marks.get(&c.id).copied();
            views.push(view);
        }
        if let Role::Agent(a) = &mut self.role {
            a.hello_done = true;
            a.agent = agent.clone();
        }
        let welcome = ServerFrame::Welcome {
            v: 1,
            role: "agent",
            visitor_id: None,
            visitor_token: None,
            agent: Some(AgentRef {
                id: agent.id.clone(),
                name: agent.display_name.clone(),
            }),
            conversations: views,
            limits: self.limits_view(),
            availability: None,
        };
        self.send(&welcome).await
    }

    /// The agent, if this connection is one who takes chats.
    pub(super) fn chatting_agent(&self) -> Option<Agent> {
        match &self.role {
            Role::Agent(a) if role_scopes(a.agent.role).contains(&Scope::Chat) => {
                Some(a.agent.clone())
            }
            _ => None,
        }
    }

    pub(super) async fn on_accept(&mut self, conversation_id: String) -> Result<(), Exit> {
        let Some(agent) = self.chatting_agent() else {
            return self
                .send_error(code::FORBIDDEN, "only agents accept conversations", None)
                .await;
        };
        match conversations::accept(&self.state.service, &agent, &conversation_id).await {
            Ok(()) => Ok(()),
            Err(r) => self.refuse(r, None).await,
        }
    }

    pub(super) async fn on_transfer(
        &mut self,
        conversation_id: String,
        to: String,
    ) -> Result<(), Exit> {
        let Some(agent) = self.chatting_agent() else {
            return self
                .send_error(code::FORBIDDEN, "only agents transfer conversations", None)
                .await;
        };
        match conversations::transfer(&self.state.service, &agent, &conversation_id, &to).await {
            Ok(()) => Ok(()),
            Err(r) => self.refuse(r, None).await,
        }
    }

    pub(super) async fn on_status(&mut self, status: String) -> Result<(), Exit> {
        let Some(agent) = self.chatting_agent() else {
            return self
                .send_error(code::FORBIDDEN, "only agents set a status", None)
                .await;
        };
        let Some(status) = AgentStatus::parse(&status) else {
            return self
                .send_error(
                    code::BAD_FRAME,
                    "status must be online, away or offline",
                    None,
                )
                .await;
        };
        let svc = self.state.service.clone();
        if let Err(r) = agents::set_status(&svc, &agent, status).await {
            return self.refuse(r, None).await;
        }
        self.send(&ServerFrame::Notice {
            code: "status",
            message: match status {
                AgentStatus::Online => "online",
                AgentStatus::Away => "away",
                AgentStatus::Offline => "offline",
            },
            conversation_id: None,
        })
        .await?;
        if status == AgentStatus::Online {
            conversations::drain_queue(&svc, &agent.tenant_id).await;
        }
        Ok(())
    }

    pub(super) async fn recheck_session(&mut self) -> Result<(), Exit> {
        let Role::Agent(a) = &self.role else {
            return Ok(());
        };
        let session_id = a.session_id.clone();
        let svc = self.state.service.clone();
        match agents::session_is_live(&svc, &session_id).await {
            Ok(true) => {
                // An open console socket is activity: keep the idle timer from signing out a working agent.
                if self.last_touch.elapsed() > Duration::from_secs(60) {
                    self.last_touch = Instant::now();
                    agents::touch_session(&svc, &session_id).await;
                }
                Ok(())
            }
            Ok(false) => {
                let _ = self
                    .send_error(
                        code::SESSION_REVOKED,
                        "your session ended; sign in again",
                        None,
                    )
                    .await;
                Err(Exit::Close(CLOSE_REVOKED, "session revoked"))
            }
            // A database hiccup is not a revocation; the next tick checks again.
            Err(e) => {
                tracing::warn!(error = %e, "session recheck failed");
                Ok(())
            }
        }
    }
}
