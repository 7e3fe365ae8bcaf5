//! Operators' own API (issue 12): signing in with a second factor, listing and revoking their sessions. An
//! operator authenticates with `Authorization: Bearer co_…` (the `operator` security scheme; never a cookie, which
//! belongs to tenants' agents, so there is no CSRF to refuse), and nothing here reaches a tenant's data.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use cordon_service::model::now_ms;
use cordon_service::operators::{self, OperatorPrincipal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{BadRequest, JsonBody, NotFound, RateLimited, Unauthenticated};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, list_sessions))
        .routes(routes!(revoke_session))
}

/// The operator behind the request's bearer token.
pub(crate) struct Operator(pub(crate) OperatorPrincipal);

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(Operator(
            operators::principal_for_session(&state.service, token, peer).await?,
        ))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OperatorSignIn {
    pub name: String,
    pub password: String,
    /// The authenticator app's current 6-digit code, or one unused recovery code.
    pub code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OperatorSignedIn {
    /// The bearer token for `Authorization: Bearer`, shown this once. Lives 12 h at most, 30 min idle.
    pub token: String,
    pub session_id: String,
    pub operator_id: String,
    pub name: String,
    pub expires_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OperatorSessionView {
    pub id: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Not revoked, not expired, not idle for 30 min.
    pub live: bool,
    /// The session this request came with.
    pub current: bool,
}

/// Sign an operator in: name, password and a second factor (TOTP code or recovery code).
#[utoipa::path(post, path = "/api/v1/operator/sessions", tag = "operators", request_body = OperatorSignIn, security(()),
    responses((status = 201, body = OperatorSignedIn), (status = 400, response = BadRequest),
        (status = 401, body = ErrorBody, description = "`second_factor_required`: no code was given; `bad_credentials`: a wrong name, password or code, or a code already used."),
        (status = 429, response = RateLimited)))]
pub(super) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<OperatorSignIn>,
) -> ApiResult<(StatusCode, Json<OperatorSignedIn>)> {
    let done = operators::sign_in(
        &state.service,
        &req.name,
        &req.password,
        req.code.as_deref(),
        peer.ip(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(OperatorSignedIn {
            token: done.token,
            session_id: done.session_id,
            operator_id: done.operator.id,
            name: done.operator.name,
            expires_at: done.expires_at,
        }),
    ))
}

/// The calling operator's sessions, newest first.
#[utoipa::path(get, path = "/api/v1/operator/sessions", tag = "operators", security(("operator" = [])),
    responses((status = 200, body = Vec<OperatorSessionView>), (status = 401, response = Unauthenticated), (status = 429, response = RateLimited)))]
pub(super) async fn list_sessions(
    State(state): State<AppState>,
    Operator(who): Operator,
) -> ApiResult<Json<Vec<OperatorSessionView>>> {
    let now = now_ms();
    let sessions = operators::own_sessions(&state.service, &who).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| OperatorSessionView {
                live: operators::is_live(&s, now),
                current: s.id == who.session_id,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                revoked_at: s.revoked_at,
            })
            .collect(),
    ))
}

/// Revoke one of the calling operator's sessions (its own current one signs it out).
#[utoipa::path(delete, path = "/api/v1/operator/sessions/{session_id}", tag = "operators", security(("operator" = [])),
    params(("session_id" = String, Path, description = "The session's id.")),
    responses((status = 204, description = "Revoked."), (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(session_id): Path<String>,
) -> ApiResult<StatusCode> {
    operators::revoke_own_session(&state.service, &who, &session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
