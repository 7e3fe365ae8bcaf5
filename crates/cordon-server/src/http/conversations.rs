//! Conversation history (conversations:read).

use axum::extract::{Path, Query, State};
use axum::Json;
use cordon_service::access::{Principal, Scope};
use cordon_service::conversations;
use cordon_service::model::{ConversationFilter, ConversationState};
use cordon_service::protocol::{self, ConversationView, MessageView};
use cordon_service::visitor_profile::{self, VisitorProfileView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{query, BadRequest, Forbidden, NotFound, RateLimited, Unauthenticated};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConversationQuery {
    /// Only conversations in this state: `queued`, `assigned` or `closed` (default: any).
    #[param(nullable = false, pattern = "^(queued|assigned|closed)?$")]
    pub state: Option<String>,
    /// Only conversations assigned to this agent (an agent id).
    #[param(nullable = false)]
    pub agent_id: Option<String>,
    /// Only conversations of this visitor (a visitor id).
    #[param(nullable = false)]
    pub visitor_id: Option<String>,
    /// `next_cursor` from the previous page, unchanged (opaque); with the same filters.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Page size, 1-200 (default 50; larger values count as 200).
    #[param(nullable = false, default = 50, minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConversationPage {
    pub conversations: Vec<ConversationView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    // Absent, not null, as PROTOCOL §15.3 says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn parse_cursor(c: &str) -> ApiResult<(i64, String)> {
    let (ts, id) = c
        .split_once('.')
        .ok_or_else(|| ApiError::bad_request("invalid cursor"))?;
    let ts = ts
        .parse()
        .map_err(|_| ApiError::bad_request("invalid cursor"))?;
    if !protocol::valid_client_id(id) {
        return Err(ApiError::bad_request("invalid cursor"));
    }
    Ok((ts, id.to_string()))
}

/// Conversation history, newest first (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ConversationPage), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_conversations(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConversationPage>> {
    principal.require(Scope::ConversationsRead)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let state_filter = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ConversationState::parse(s)
                .ok_or_else(|| ApiError::bad_request("state must be queued, assigned or closed"))?,
        ),
    };
    let filter = ConversationFilter {
        state: state_filter,
        agent_id: q.agent_id,
        visitor_id: q.visitor_id,
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let (conversations, next_cursor) =
        conversations::list(&state.service, &principal, &filter).await?;
    Ok(Json(ConversationPage {
        conversations,
        next_cursor,
    }))
}

/// One conversation (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 200, body = ConversationView), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn get_conversation(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    Ok(Json(
        conversations::read(&state.service, &principal, &conversation_id).await?,
    ))
}

/// Who the conversation's visitor is, for the console's side panel (issue 20; conversations:read): the page and
/// browser of the last visit, the verified name and email when the tenant signed them, past conversations.
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/visitor", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 200, body = VisitorProfileView), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn get_visitor_profile(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<VisitorProfileView>> {
    Ok(Json(
        visitor_profile::for_conversation(&state.service, &principal, &conversation_id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessageQuery {
    /// Messages with `seq` greater than this (default 0): `next_after_seq` of the previous page.
    #[param(nullable = false, default = 0, minimum = 0)]
    pub after_seq: Option<i64>,
    /// Page size, 1-500 (default 100; larger values count as 500).
    #[param(nullable = false, default = 100, minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    // Absent, not null, as PROTOCOL §15.3 says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<i64>,
}

/// A conversation's messages, oldest first, already redacted (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/messages", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id."), MessageQuery),
    responses((status = 200, body = MessagePage), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
    q: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MessagePage>> {
    principal.require(Scope::ConversationsRead)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let after_seq = q.after_seq.unwrap_or(0).max(0);
    let (messages, next_after_seq) = conversations::transcript(
        &state.service,
        &principal,
        &conversation_id,
        after_seq,
        limit,
    )
    .await?;
    Ok(Json(MessagePage {
        messages,
        next_after_seq,
    }))
}
