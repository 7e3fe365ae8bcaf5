//! A second factor for a tenant's people (issue 12): the caller's own enrolment (`/api/v1/me/totp`) and the
//! tenant's rule (`/api/v1/tenant/mfa`). Enrolment is a person's: an API key gets `session_required`.

use axum::extract::State;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::mfa;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, RateLimited, Unauthenticated};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_totp, enrol))
        .routes(routes!(tenant_mfa, update_tenant_mfa))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TotpStatus {
    /// Sign-in asks this person for a code.
    pub enabled: bool,
    /// An enrolment was begun and not confirmed.
    pub pending: bool,
    /// The tenant requires a second factor of every agent.
    pub required_by_tenant: bool,
}

/// The caller's second factor.
#[utoipa::path(get, path = "/api/v1/me/totp", tag = "auth", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TotpStatus), (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`session_required`: an API key has no second factor."), (status = 429, response = RateLimited)))]
pub(super) async fn my_totp(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TotpStatus>> {
    let s = mfa::status(&state.service, &principal).await?;
    Ok(Json(TotpStatus {
        enabled: s.enabled,
        pending: s.pending,
        required_by_tenant: s.required_by_tenant,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EnrolRequest {
    /// Without a code: begin (a new secret, pending). With the app's current code: confirm the pending secret.
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EnrolResponse {
    /// `pending` (scan `otpauth_uri`, then send a code) or `enabled`.
    pub state: &'static str,
    /// For the authenticator app, shown this once (begin only).
    pub otpauth_uri: Option<String>,
    pub secret: Option<String>,
}

/// Enrol an authenticator app: first without a code (a secret to scan), then with the app's code to confirm.
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth", request_body = EnrolRequest, security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = EnrolResponse), (status = 400, response = BadRequest),
        (status = 401, body = ErrorBody, description = "`bad_credentials`: the code does not match; `not_authenticated`."),
        (status = 403, response = ForbiddenOrCsrf), (status = 409, body = ErrorBody, description = "`conflict`: no enrolment pending."),
        (status = 429, response = RateLimited)))]
pub(super) async fn enrol(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<EnrolRequest>,
) -> ApiResult<Json<EnrolResponse>> {
    match req.code.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => {
            let e = mfa::begin(&state.service, &principal).await?;
            Ok(Json(EnrolResponse {
                state: "pending",
                otpauth_uri: Some(e.otpauth_uri),
                secret: Some(e.secret_base32),
            }))
        }
        Some(code) => {
            mfa::confirm(&state.service, &principal, code).await?;
            Ok(Json(EnrolResponse {
                state: "enabled",
                otpauth_uri: None,
                secret: None,
            }))
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantMfa {
    pub require_totp: bool,
    /// Ids of the agents with a second factor.
    pub agents_with_totp: Vec<String>,
}

/// The tenant's second-factor rule and who has one (admin).
#[utoipa::path(get, path = "/api/v1/tenant/mfa", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantMfa), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn tenant_mfa(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TenantMfa>> {
    let (require_totp, agents_with_totp) = mfa::tenant_overview(&state.service, &principal).await?;
    Ok(Json(TenantMfa {
        require_totp,
        agents_with_totp,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TenantMfaUpdate {
    pub require_totp: bool,
}

/// Require (or stop requiring) a second factor of every agent (an admin at the console, with one of their own).
#[utoipa::path(patch, path = "/api/v1/tenant/mfa", tag = "tenant", request_body = TenantMfaUpdate, security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantMfa), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 409, body = ErrorBody, description = "`conflict`: enrol your own app first."),
        (status = 429, response = RateLimited)))]
pub(super) async fn update_tenant_mfa(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<TenantMfaUpdate>,
) -> ApiResult<Json<TenantMfa>> {
    mfa::set_required(&state.service, &principal, req.require_totp).await?;
    let (require_totp, agents_with_totp) = mfa::tenant_overview(&state.service, &principal).await?;
    Ok(Json(TenantMfa {
        require_totp,
        agents_with_totp,
    }))
}
