//! Internal notes, tags and priority on conversations (issue 20): for the tenant's staff only, never sent to a
//! visitor. Reading needs conversations:read; writing is for agents and admins signed in at the console.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::notes::{self, ConversationNotes, NoteView, TaggedConversation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    query, BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited, Unauthenticated,
};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notes, add_note))
        .routes(routes!(set_meta))
        .routes(routes!(list_tagged))
}

/// A conversation's notes (oldest first), tags and priority (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/notes", tag = "notes", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 200, body = ConversationNotes), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn list_notes(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<ConversationNotes>> {
    Ok(Json(
        notes::read(&state.service, &principal, &conversation_id).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct NoteInput {
    /// 1–4,000 characters; card numbers are masked before it is stored.
    pub text: String,
}

/// Add an internal note (agents and admins signed in; never shown to the visitor).
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/notes", tag = "notes", request_body = NoteInput,
    security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 201, body = NoteView), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: the conversation has 200 notes"),
        (status = 429, response = RateLimited)))]
pub(super) async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
    JsonBody(req): JsonBody<NoteInput>,
) -> ApiResult<(StatusCode, Json<NoteView>)> {
    let n = notes::add(&state.service, &principal, &conversation_id, &req.text).await?;
    Ok((StatusCode::CREATED, Json(n)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct MetaInput {
    /// At most 10 tags, each 1–24 lowercase letters, digits or `-`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
}

/// Set a conversation's tags and priority (agents and admins signed in).
#[utoipa::path(put, path = "/api/v1/conversations/{conversation_id}/meta", tag = "notes", request_body = MetaInput,
    security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 204, description = "Set."), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn set_meta(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
    JsonBody(req): JsonBody<MetaInput>,
) -> ApiResult<StatusCode> {
    notes::set_meta(
        &state.service,
        &principal,
        &conversation_id,
        &req.tags,
        &req.priority,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TaggedQuery {
    /// Only conversations with this tag.
    #[param(nullable = false)]
    pub tag: Option<String>,
    /// Only conversations of this priority: `low`, `normal`, `high` or `urgent`.
    #[param(nullable = false)]
    pub priority: Option<String>,
    /// At most this many, 1-200 (default 50).
    #[param(nullable = false, default = 50, minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TaggedPage {
    pub conversations: Vec<TaggedConversation>,
}

/// History by tag and priority (conversations:read), most recently tagged first.
#[utoipa::path(get, path = "/api/v1/conversation-tags", tag = "notes", security(("session" = []), ("api_key" = [])),
    params(TaggedQuery),
    responses((status = 200, body = TaggedPage), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
pub(super) async fn list_tagged(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<TaggedQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<TaggedPage>> {
    let q = query(q)?;
    let conversations = notes::tagged(
        &state.service,
        &principal,
        q.tag.as_deref(),
        q.priority.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(TaggedPage { conversations }))
}
