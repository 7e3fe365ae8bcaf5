//! A tenant's widget release (issue 12): which signed release its snippet and frame use, and pinning one
//! (`/api/v1/tenant/release`, admin). Releases themselves are made and approved by operators at the command
//! line; the public release log is on the widget origin (`/w/releases`, web/release.rs).

use axum::extract::State;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::releases;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited, Unauthenticated,
};
use crate::error::ApiResult;
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tenant_release, pin_release))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LiveReleaseView {
    pub id: String,
    /// When the second operator approved it (unix ms).
    pub approved_at: Option<i64>,
    /// The loader's path on the widget origin and its SRI value.
    pub loader_path: String,
    pub loader_integrity: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantRelease {
    /// The release the tenant pinned, or null (it follows the latest approved release).
    pub pinned: Option<String>,
    /// The release its snippet and frame use now (null: no release is live, the widget is not served).
    pub current: Option<String>,
    /// Every live release (approved by a second operator, signed by a trusted key), oldest first.
    pub releases: Vec<LiveReleaseView>,
}

async fn view(state: &AppState, principal: &Principal) -> ApiResult<Json<TenantRelease>> {
    let v = releases::tenant_view(&state.service, principal).await?;
    Ok(Json(TenantRelease {
        pinned: v.pinned,
        current: v.current,
        releases: v
            .live
            .iter()
            .map(|r| {
                let loader = r.manifest.file("loader.js");
                LiveReleaseView {
                    id: r.id().to_string(),
                    approved_at: r.record.approved_at,
                    loader_path: loader.map(|f| f.path()).unwrap_or_default(),
                    loader_integrity: loader.map(|f| f.integrity()).unwrap_or_default(),
                }
            })
            .collect(),
    }))
}

/// The tenant's release: its pin, the release in use, and the live releases it may pin (admin).
#[utoipa::path(get, path = "/api/v1/tenant/release", tag = "widget", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantRelease), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn tenant_release(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TenantRelease>> {
    view(&state, &principal).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PinRequest {
    /// A live release's id, or null to follow the latest approved release.
    pub release_id: Option<String>,
}

/// Pin the tenant's snippet and frame to one live release, or (null) follow the latest (admin; audited as
/// `release.pin`).
#[utoipa::path(put, path = "/api/v1/tenant/release", tag = "widget", request_body = PinRequest, security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantRelease), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn pin_release(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<PinRequest>,
) -> ApiResult<Json<TenantRelease>> {
    releases::pin(&state.service, &principal, req.release_id.as_deref()).await?;
    view(&state, &principal).await
}
