//! A tenant's side of operator grants (issue 12): its admins see every request with its reason, approve or revoke
//! it; a live break-glass grant is flagged for the admin pages' banner.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::grants::{self, GrantState};
use cordon_service::model::{now_ms, OperatorGrant};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Forbidden, ForbiddenOrCsrf, NotFound, RateLimited, Unauthenticated};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_grants))
        .routes(routes!(approve_grant))
        .routes(routes!(revoke_grant))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantView {
    pub id: String,
    pub tenant_id: String,
    pub operator_id: String,
    /// The named operator who asked.
    pub operator_name: String,
    pub reason: String,
    /// How long it runs once approved.
    pub hours: i64,
    pub break_glass: bool,
    /// `pending`, `active`, `expired` or `revoked`.
    pub state: &'static str,
    pub requested_at: i64,
    /// `agent:…` (a tenant admin) or, break-glass, `operator:…` (the second operator).
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub revoked_at: Option<i64>,
}

impl GrantView {
    pub(crate) fn of(g: OperatorGrant, now: i64) -> GrantView {
        GrantView {
            state: GrantState::of(&g, now).as_str(),
            hours: g.duration_ms / 3_600_000,
            id: g.id,
            tenant_id: g.tenant_id,
            operator_id: g.operator_id,
            operator_name: g.operator_name,
            reason: g.reason,
            break_glass: g.break_glass,
            requested_at: g.requested_at,
            approved_by: g.approved_by,
            approved_at: g.approved_at,
            expires_at: g.expires_at,
            revoked_by: g.revoked_by,
            revoked_at: g.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantList {
    pub grants: Vec<GrantView>,
    /// Live break-glass grants: operators reading this tenant's data without its approval. The admin pages show
    /// a banner while this is not empty.
    pub break_glass_active: Vec<String>,
}

/// The tenant's operator grants, newest first (admin).
#[utoipa::path(get, path = "/api/v1/operator-grants", tag = "grants", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = GrantList), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_grants(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<GrantList>> {
    let now = now_ms();
    let list = grants::for_tenant(&state.service, &principal).await?;
    let break_glass_active = grants::active_break_glass(&list, now)
        .into_iter()
        .map(|g| g.id.clone())
        .collect();
    Ok(Json(GrantList {
        grants: list.into_iter().map(|g| GrantView::of(g, now)).collect(),
        break_glass_active,
    }))
}

/// Approve an operator's request: it runs from now for the hours asked (a tenant admin signed in at the console).
#[utoipa::path(post, path = "/api/v1/operator-grants/{grant_id}/approve", tag = "grants", security(("session" = []), ("api_key" = [])),
    params(("grant_id" = String, Path, description = "The grant's id.")),
    responses((status = 200, body = GrantView), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: not pending (approved, revoked), or break-glass."),
        (status = 429, response = RateLimited)))]
pub(super) async fn approve_grant(
    State(state): State<AppState>,
    principal: Principal,
    Path(grant_id): Path<String>,
) -> ApiResult<Json<GrantView>> {
    let g = grants::approve(&state.service, &principal, &grant_id).await?;
    Ok(Json(GrantView::of(g, now_ms())))
}

/// Revoke a grant, pending or live: the operator loses access at once (admin).
#[utoipa::path(post, path = "/api/v1/operator-grants/{grant_id}/revoke", tag = "grants", security(("session" = []), ("api_key" = [])),
    params(("grant_id" = String, Path, description = "The grant's id.")),
    responses((status = 204, description = "Revoked."), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: already revoked."), (status = 429, response = RateLimited)))]
pub(super) async fn revoke_grant(
    State(state): State<AppState>,
    principal: Principal,
    Path(grant_id): Path<String>,
) -> ApiResult<StatusCode> {
    grants::revoke(&state.service, &principal, &grant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
