//! Signing in and out, and who the caller is.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cordon_service::access::{Principal, Scope};
use cordon_service::{agents, code};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ForbiddenOrCsrf;
use super::{AgentView, BadRequest, JsonBody, RateLimited, TenantView, Unauthenticated};
use crate::auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LoginRequest {
    /// The tenant's slug.
    pub tenant: String,
    pub username: String,
    pub password: String,
    /// The authenticator app's code, for people who enrolled one or whose tenant requires one (issue 12).
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LoginResponse {
    pub agent: AgentView,
    pub tenant: String,
    pub expires_at: i64,
}

/// Sign in an agent. Sets the host-only, HttpOnly, SameSite=Strict session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 400, response = BadRequest),
        (status = 401, body = ErrorBody, description = "`bad_credentials`: wrong tenant, username, password or code, or a disabled agent; `second_factor_required`: the password was right and a code from the authenticator app is needed (or the tenant requires one and none is set up)."),
        (status = 403, body = ErrorBody, description = "`csrf_rejected`: an `Origin` other than the console origin."),
        (status = 429, response = RateLimited)))]
pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    // Login sets a cookie, so a browser may only do it from the console's own page.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin != state.config.console_origin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code::CSRF,
                "sign in from the console",
            ));
        }
    }
    let signed_in = agents::sign_in_with_code(
        &state.service,
        &req.tenant,
        &req.username,
        &req.password,
        req.code.as_deref(),
        peer.ip(),
    )
    .await?;
    let limits = &state.config.limits;
    let cookie = auth::session_cookie(
        &signed_in.token,
        limits.session_absolute.as_secs(),
        state.config.https,
    );
    let body = LoginResponse {
        tenant: req.tenant,
        agent: signed_in.agent.into(),
        expires_at: signed_in.expires_at,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// End the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("session" = []), ("api_key" = [])),
    responses((status = 204, description = "Signed out; the cookie is cleared."), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
pub(super) async fn logout(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Response> {
    agents::sign_out(&state.service, &principal).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(state.config.https),
        )],
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeResponse {
    /// `agent` or `api_key`.
    pub kind: String,
    pub tenant: TenantView,
    pub agent: Option<AgentView>,
    pub scopes: Vec<String>,
}

/// Who the caller is, in which tenant, with which scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, response = Unauthenticated), (status = 429, response = RateLimited)))]
pub(super) async fn me(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<MeResponse>> {
    let tenant = agents::whoami(&state.service, &principal).await?;
    let scopes = [
        Scope::Admin,
        Scope::ConversationsRead,
        Scope::AuditRead,
        Scope::Chat,
    ]
    .into_iter()
    .filter(|s| principal.has(*s))
    .map(|s| s.as_str().to_string())
    .collect();
    Ok(Json(match principal {
        Principal::Agent { agent, .. } => MeResponse {
            kind: "agent".into(),
            tenant: tenant.into(),
            agent: Some(agent.into()),
            scopes,
        },
        Principal::ApiKey(_) => MeResponse {
            kind: "api_key".into(),
            tenant: tenant.into(),
            agent: None,
            scopes,
        },
    }))
}
