//! Offline and pre-chat forms (issue 20, item 2): which forms the tenant's widget shows (admins).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::contact::{self, ChatFormsView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, RateLimited, Unauthenticated};
use crate::error::ApiResult;
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_chat_forms, set_chat_forms))
}

/// The tenant's chat forms: a pre-chat form (name, email, optional question) and an offline form (an email when
/// no agent is online); both off until turned on (admin).
#[utoipa::path(get, path = "/api/v1/tenant/chat-forms", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ChatFormsView), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn get_chat_forms(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<ChatFormsView>> {
    Ok(Json(contact::forms(&state.service, &principal).await?))
}

/// Turn the chat forms on or off (admin).
#[utoipa::path(put, path = "/api/v1/tenant/chat-forms", tag = "tenant", request_body = ChatFormsView,
    security(("session" = []), ("api_key" = [])),
    responses((status = 204, description = "Set."), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 429, response = RateLimited)))]
pub(super) async fn set_chat_forms(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<ChatFormsView>,
) -> ApiResult<StatusCode> {
    contact::set_forms(&state.service, &principal, req).await?;
    Ok(StatusCode::NO_CONTENT)
}
