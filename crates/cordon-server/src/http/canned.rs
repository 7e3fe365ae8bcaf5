//! Canned replies (issue 20): the tenant's stock answers for the console's composer. Everyone who chats reads
//! them; admins add, change and delete them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::canned::{self, CannedReply};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited, Unauthenticated,
};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_canned, create_canned))
        .routes(routes!(update_canned, delete_canned))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct CannedReplyInput {
    /// 1–32 lowercase letters, digits, `-` or `_` (a leading `/` is dropped; letters are lowercased).
    pub shortcut: String,
    /// 1–2,000 characters; card numbers are masked before it is stored.
    pub text: String,
}

/// The tenant's canned replies, by shortcut (those who chat, and admins).
#[utoipa::path(get, path = "/api/v1/canned-replies", tag = "canned replies", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<CannedReply>), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_canned(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<CannedReply>>> {
    Ok(Json(canned::list(&state.service, &principal).await?))
}

/// Add a canned reply (admin).
#[utoipa::path(post, path = "/api/v1/canned-replies", tag = "canned replies", request_body = CannedReplyInput,
    security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = CannedReply), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 409, body = ErrorBody, description = "`conflict`: the shortcut is taken, or the tenant has 500 canned replies"),
        (status = 429, response = RateLimited)))]
pub(super) async fn create_canned(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<CannedReplyInput>,
) -> ApiResult<(StatusCode, Json<CannedReply>)> {
    let r = canned::create(&state.service, &principal, &req.shortcut, &req.text).await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Replace a canned reply's shortcut and text (admin).
#[utoipa::path(put, path = "/api/v1/canned-replies/{reply_id}", tag = "canned replies", request_body = CannedReplyInput,
    security(("session" = []), ("api_key" = [])),
    params(("reply_id" = String, Path, description = "The canned reply's id.")),
    responses((status = 204, description = "Changed."), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: the shortcut is taken"),
        (status = 429, response = RateLimited)))]
pub(super) async fn update_canned(
    State(state): State<AppState>,
    principal: Principal,
    Path(reply_id): Path<String>,
    JsonBody(req): JsonBody<CannedReplyInput>,
) -> ApiResult<StatusCode> {
    canned::update(
        &state.service,
        &principal,
        &reply_id,
        &req.shortcut,
        &req.text,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a canned reply (admin).
#[utoipa::path(delete, path = "/api/v1/canned-replies/{reply_id}", tag = "canned replies",
    security(("session" = []), ("api_key" = [])),
    params(("reply_id" = String, Path, description = "The canned reply's id.")),
    responses((status = 204, description = "Deleted."), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound),
        (status = 429, response = RateLimited)))]
pub(super) async fn delete_canned(
    State(state): State<AppState>,
    principal: Principal,
    Path(reply_id): Path<String>,
) -> ApiResult<StatusCode> {
    canned::delete(&state.service, &principal, &reply_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
