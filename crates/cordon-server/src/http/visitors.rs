//! Visitor requests (issue 16): a tenant admin exports or deletes everything held of one visitor, named by
//! Cordon's visitor id or by the verified `user_id` the tenant's site sends. docs/LIFECYCLE.md.

use axum::extract::State;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::lifecycle::{self, Subject};
use serde::Deserialize;
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
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
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
