//! Agents' read marks (issue 20): a `read` an agent sends is kept, so each console of the agent, on any device,
//! counts unread messages from the same mark. Visitors' reads stay events only (PROTOCOL.md §10).

use std::collections::HashMap;

use cordon_store::{Agent, Conversation};

use crate::{Refusal, Service};

/// Keep how far `agent` has read `conv`. The caller has checked that the agent takes part in it
/// (`conversations::participant`); `seq` is clamped to the conversation's last seq here.
pub async fn record(
    svc: &Service,
    agent: &Agent,
    conv: &Conversation,
    seq: i64,
) -> Result<(), Refusal> {
    let seq = seq.clamp(0, conv.last_seq);
    if seq == 0 {
        return Ok(());
    }
    svc.store
        .mark_agent_read(&conv.tenant_id, &conv.id, &agent.id, seq)
        .await?;
    Ok(())
}

/// The agent's read marks in the conversations assigned to it, for its `welcome`.
pub async fn marks(svc: &Service, agent: &Agent) -> Result<HashMap<String, i64>, Refusal> {
    Ok(svc.store.agent_reads(&agent.tenant_id, &agent.id).await?)
}
