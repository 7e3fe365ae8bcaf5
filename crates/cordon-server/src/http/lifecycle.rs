//! Data lifecycle (issue 16): visitor requests (a tenant admin exports or deletes everything held of one visitor,
//! named by Cordon's visitor id or by the verified `user_id` the tenant's site sends) and the tenant's retention
//! periods. docs/LIFECYCLE.md.

use axum::extract::State;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::lifecycle::{self, Subject};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited, Unauthenticated,
};
use crate::error::{ApiError, ApiResult};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_visitor))
        .routes(routes!(delete_visitor))
        .routes(routes!(get_retention, put_retention))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetentionView {
    /// Days after a conversation closes before it is deleted with its messages and card mentions; null keeps.
    pub transcript_days: Option<i64>,
    /// Days after an exposure record (a visitor session record) ends before it is deleted; null keeps.
    pub exposure_days: Option<i64>,
    pub updated_by: Option<String>,
    /// Unix ms.
    pub updated_at: Option<i64>,
    /// What the transparency report says of it.
    pub description: String,
}

impl From<cordon_service::model::Retention> for RetentionView {
    fn from(r: cordon_service::model::Retention) -> Self {
        RetentionView {
            description: lifecycle::describe(&r),
            transcript_days: r.transcript_days,
            exposure_days: r.exposure_days,
            updated_by: r.updated_by,
            updated_at: r.updated_at,
        }
    }
}

/// The tenant's retention periods (admin).
#[utoipa::path(get, path = "/api/v1/tenant/retention", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = RetentionView), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn get_retention(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<RetentionView>> {
    Ok(Json(
        lifecycle::retention(&state.service, &principal)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetentionUpdate {
    /// 1-3650 days, or null to keep.
    pub transcript_days: Option<i64>,
    /// 1-3650 days, or null to keep.
    pub exposure_days: Option<i64>,
}

/// Set the tenant's retention periods (admin). A background purge on every node then deletes what is older, in
/// bounded batches, each audited with counts (`retention.purge`). Audited `tenant.retention.update`.
#[utoipa::path(put, path = "/api/v1/tenant/retention", tag = "tenant", request_body = RetentionUpdate,
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = RetentionView), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 429, response = RateLimited)))]
pub(super) async fn put_retention(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<RetentionUpdate>,
) -> ApiResult<Json<RetentionView>> {
    Ok(Json(
        lifecycle::set_retention(
            &state.service,
            &principal,
            req.transcript_days,
            req.exposure_days,
        )
        .await?
        .into(),
    ))
}

/// Whom the request is about: exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VisitorRequest {
    /// Cordon's visitor id (`v_…`).
    pub visitor_id: Option<String>,
    /// The verified user id your site signs into the widget (every visitor with it).
    pub user_id: Option<String>,
}

fn subject(r: &VisitorRequest) -> ApiResult<Subject<'_>> {
    match (&r.visitor_id, &r.user_id) {
        (Some(v), None) => Ok(Subject::Visitor(v)),
        (None, Some(u)) => Ok(Subject::UserId(u)),
        _ => Err(ApiError::bad_request(
            "name the visitor with exactly one of visitor_id and user_id",
        )),
    }
}

/// Export everything held of a visitor (admin): `{"tenant_id", "visitor_ids", "exported_at", "tables": {name:
/// [rows]}}`, every table that holds visitor data, messages with their (redacted) text; sealed bytes and token
/// hashes are left out. Audited `visitor.export`.
#[utoipa::path(post, path = "/api/v1/visitor-requests/export", tag = "visitors", request_body = VisitorRequest,
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Object), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn export_visitor(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<VisitorRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        lifecycle::export(&state.service, &principal, subject(&req)?).await?,
    ))
}

/// Delete everything held of a visitor (admin), in one transaction: `{"visitor_ids", "deleted": {table: rows}}`.
/// Audited `visitor.delete`; the audit log keeps its entries (ids and actions only).
#[utoipa::path(post, path = "/api/v1/visitor-requests/delete", tag = "visitors", request_body = VisitorRequest,
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Object), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn delete_visitor(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<VisitorRequest>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        lifecycle::delete(&state.service, &principal, subject(&req)?).await?,
    ))
}
