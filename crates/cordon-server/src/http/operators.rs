//! Operators' own API (issue 12): signing in with a second factor, listing and revoking their sessions. An
//! operator authenticates with `Authorization: Bearer co_…` (the `operator` security scheme; never a cookie, which
//! belongs to tenants' agents, so there is no CSRF to refuse), and nothing here reaches a tenant's data.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use cordon_service::grants;
use cordon_service::model::now_ms;
use cordon_service::operators::{self, OperatorPrincipal};
use cordon_service::protocol::{ConversationView, MessageView};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::grants::GrantView;
use super::{BadRequest, Forbidden, JsonBody, NotFound, RateLimited, Unauthenticated};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in, list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(request_grant, own_grants))
        .routes(routes!(approve_break_glass))
        .routes(routes!(give_back_grant))
        .routes(routes!(tenant_conversations))
        .routes(routes!(tenant_transcript))
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

// ---- grants: the only way to a tenant's data ----------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GrantRequest {
    /// The tenant's slug.
    pub tenant: String,
    /// Why: shown to the tenant's admins, who decide (500 characters at most).
    pub reason: String,
    /// 1-24 hours from approval.
    pub hours: u32,
    /// Break-glass: approved by a second operator instead of the tenant, who is told at once.
    #[serde(default)]
    pub break_glass: bool,
}

/// Ask a tenant for access to its data, with a reason (or, break-glass, a second operator).
#[utoipa::path(post, path = "/api/v1/operator/grants", tag = "operators", request_body = GrantRequest, security(("operator" = [])),
    responses((status = 201, body = GrantView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn request_grant(
    State(state): State<AppState>,
    Operator(who): Operator,
    JsonBody(req): JsonBody<GrantRequest>,
) -> ApiResult<(StatusCode, Json<GrantView>)> {
    let g = grants::request(
        &state.service,
        &who,
        &req.tenant,
        &req.reason,
        req.hours,
        req.break_glass,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(GrantView::of(g, now_ms()))))
}

/// The calling operator's grants, every tenant, newest first.
#[utoipa::path(get, path = "/api/v1/operator/grants", tag = "operators", security(("operator" = [])),
    responses((status = 200, body = Vec<GrantView>), (status = 401, response = Unauthenticated), (status = 429, response = RateLimited)))]
pub(super) async fn own_grants(
    State(state): State<AppState>,
    Operator(who): Operator,
) -> ApiResult<Json<Vec<GrantView>>> {
    let now = now_ms();
    let list = grants::own(&state.service, &who).await?;
    Ok(Json(
        list.into_iter().map(|g| GrantView::of(g, now)).collect(),
    ))
}

/// Approve another operator's break-glass request (never one's own).
#[utoipa::path(post, path = "/api/v1/operator/grants/{grant_id}/approve", tag = "operators", security(("operator" = [])),
    params(("grant_id" = String, Path, description = "The grant's id.")),
    responses((status = 200, body = GrantView), (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`self_approval`: the caller asked for it."),
        (status = 404, response = NotFound), (status = 409, body = ErrorBody, description = "`conflict`: not break-glass, or not pending."), (status = 429, response = RateLimited)))]
pub(super) async fn approve_break_glass(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(grant_id): Path<String>,
) -> ApiResult<Json<GrantView>> {
    let g = grants::approve_break_glass(&state.service, &who, &grant_id).await?;
    Ok(Json(GrantView::of(g, now_ms())))
}

/// Give back one's own grant before it ends.
#[utoipa::path(post, path = "/api/v1/operator/grants/{grant_id}/revoke", tag = "operators", security(("operator" = [])),
    params(("grant_id" = String, Path, description = "The grant's id.")),
    responses((status = 204, description = "Revoked."), (status = 401, response = Unauthenticated), (status = 404, response = NotFound), (status = 409, body = ErrorBody, description = "`conflict`: already revoked."), (status = 429, response = RateLimited)))]
pub(super) async fn give_back_grant(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(grant_id): Path<String>,
) -> ApiResult<StatusCode> {
    grants::give_back(&state.service, &who, &grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConversationsPage {
    /// Most conversations, 1-100 (default 50), newest first.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MessagesPage {
    /// Messages after this sequence number (default 0).
    pub after_seq: Option<i64>,
    /// Most messages, 1-500 (default 100).
    pub limit: Option<i64>,
}

/// Through a live grant: the tenant's conversations. Each call is written to the tenant's audit log.
#[utoipa::path(get, path = "/api/v1/operator/tenants/{tenant}/conversations", tag = "operators", security(("operator" = [])),
    params(("tenant" = String, Path, description = "The tenant's slug."), ConversationsPage),
    responses((status = 200, body = Vec<ConversationView>), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn tenant_conversations(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path(tenant): Path<String>,
    q: Result<Query<ConversationsPage>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<ConversationView>>> {
    let q = super::query(q)?;
    let list = grants::conversations(&state.service, &who, &tenant, q.limit.unwrap_or(50)).await?;
    Ok(Json(list))
}

/// Through a live grant: a page of one transcript. Each call is written to the tenant's audit log.
#[utoipa::path(get, path = "/api/v1/operator/tenants/{tenant}/conversations/{conversation_id}/messages", tag = "operators", security(("operator" = [])),
    params(("tenant" = String, Path, description = "The tenant's slug."), ("conversation_id" = String, Path, description = "The conversation's id."), MessagesPage),
    responses((status = 200, body = Vec<MessageView>), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn tenant_transcript(
    State(state): State<AppState>,
    Operator(who): Operator,
    Path((tenant, conversation_id)): Path<(String, String)>,
    q: Result<Query<MessagesPage>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<MessageView>>> {
    let q = super::query(q)?;
    let list = grants::transcript(
        &state.service,
        &who,
        &tenant,
        &conversation_id,
        q.after_seq.unwrap_or(0),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(list))
}
