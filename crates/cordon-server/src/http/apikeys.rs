//! The tenant's API keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::{Principal, Scope};
use cordon_service::management::{self, Actor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ApiKeyView, BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited,
    Unauthenticated,
};
use crate::error::ApiResult;
use crate::AppState;

/// The tenant's API keys, without their secrets (admin).
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    principal.require(Scope::Admin)?;
    let keys = management::list_api_keys(&state.service, principal.tenant_id(), &principal.actor())
        .await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ApiKeyCreate {
    /// Any of `admin`, `conversations:read`, `audit:read`.
    pub scopes: Vec<String>,
    /// 1-365, default 90.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyCreated {
    /// The key itself, shown this once. Only its hash is stored.
    pub key: String,
    pub api_key: ApiKeyView,
}

/// Create an API key (admin).
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body = ApiKeyCreate, security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = ApiKeyCreated), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
pub(super) async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    principal.require(Scope::Admin)?;
    let (key, token) = management::create_api_key(
        &state.service,
        principal.tenant_id(),
        &req.scopes,
        req.expires_in_days,
        Actor::Caller(&principal),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            key: token,
            api_key: key.into(),
        }),
    ))
}

/// Revoke an API key at once (admin).
#[utoipa::path(delete, path = "/api/v1/apikeys/{key_id}", tag = "apikeys", security(("session" = []), ("api_key" = [])),
    params(("key_id" = String, Path, description = "The key's id (not the key).")),
    responses((status = 204, description = "Revoked."), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Admin)?;
    management::revoke_api_key(
        &state.service,
        principal.tenant_id(),
        &key_id,
        &principal.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
