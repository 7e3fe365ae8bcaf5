//! The caller's tenant: settings and the identity secret.

use axum::extract::State;
use axum::Json;
use cordon_service::access::{Principal, Scope};
use cordon_service::management::{self, Actor};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, RateLimited, TenantView, Unauthenticated,
};
use crate::error::ApiResult;
use crate::AppState;

/// The caller's tenant settings.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(
        management::read_tenant(&state.service, &principal)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TenantUpdate {
    pub display_name: Option<String>,
    /// Origins allowed to embed the chat frame, e.g. `https://shop.example`.
    pub allowed_origins: Option<Vec<String>>,
    /// Require HMAC-verified visitor identity on every frame.
    pub verify_identity: Option<bool>,
}

/// Change tenant settings (admin).
#[utoipa::path(patch, path = "/api/v1/tenant", tag = "tenant", request_body = TenantUpdate, security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
pub(super) async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<TenantUpdate>,
) -> ApiResult<Json<TenantView>> {
    principal.require(Scope::Admin)?;
    let change = management::TenantChange {
        display_name: req.display_name,
        allowed_origins: req.allowed_origins,
        verify_identity: req.verify_identity,
    };
    let t = management::update_tenant(
        &state.service,
        principal.tenant_id(),
        change,
        Actor::Caller(&principal),
    )
    .await?;
    Ok(Json(t.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IdentitySecretResponse {
    /// Shown once. Your site signs `user_id + ":" + expires` with HMAC-SHA256 under this text.
    pub identity_secret: String,
}

/// Replace the identity-verification secret and show the new one once (admin).
#[utoipa::path(post, path = "/api/v1/tenant/identity-secret", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = IdentitySecretResponse), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
pub(super) async fn rotate_identity_secret(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<IdentitySecretResponse>> {
    let secret = management::rotate_identity_secret(&state.service, &principal).await?;
    Ok(Json(IdentitySecretResponse {
        identity_secret: secret.dangerous_export_hex(),
    }))
}
