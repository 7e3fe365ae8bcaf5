//! Breach impact and the transparency report over HTTP (issue 11, docs/IMPACT.md).
//!
//! `POST /api/v1/impact` is the operator's question asked by a tenant admin, for their own tenant only. The
//! operator's cross-tenant path is `cordon impact` at the command line: operator accounts (issue 12) reach a
//! tenant only through a grant it approves, which a report over every tenant cannot have. `GET /api/v1/transparency` is for the tenant's admins and auditors.

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use axum::extract::State;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::impact::{self, Caller, Component, Query, Window};
use cordon_service::transparency::{self, CheckpointCheck, KnownFile, Transparency};
use serde::Deserialize;
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
        .routes(routes!(run_impact))
        .routes(routes!(get_transparency))
        .routes(routes!(check_checkpoint))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ImpactRequest {
    /// `asset_hash`, `agent`, `api_key`, `node` or `platform`.
    pub kind: String,
    /// The component: a SHA-384 (hex or `sha384-<base64>`), `TENANT/USERNAME`, a key id or a node id; omitted
    /// for `platform`.
    #[serde(default)]
    pub value: Option<String>,
    /// Start of the window, RFC 3339.
    pub from: String,
    /// End of the window (exclusive), RFC 3339.
    pub to: String,
}

fn component(kind: &str, value: Option<&str>) -> ApiResult<Component> {
    let need = || ApiError::bad_request("value is required for this kind");
    let invalid = |e: impact::InputError| ApiError::bad_request(e.to_string());
    match kind {
        "asset_hash" => Component::asset_hash(value.ok_or_else(need)?).map_err(invalid),
        "agent" => Component::agent(value.ok_or_else(need)?).map_err(invalid),
        "api_key" => Component::api_key(value.ok_or_else(need)?).map_err(invalid),
        "node" => Component::node(value.ok_or_else(need)?).map_err(invalid),
        "platform" => Ok(Component::Platform),
        _ => Err(ApiError::bad_request(
            "kind must be asset_hash, agent, api_key, node or platform",
        )),
    }
}

/// The files this server's releases serve, for the transparency report's "known release" column.
fn known_files() -> Vec<KnownFile> {
    crate::web::known_widget_files()
        .into_iter()
        .map(|(name, sha384)| KnownFile { name, sha384 })
        .collect()
}

/// Compute a signed breach-impact report for the caller's own tenant (admin). The answer is the signed JSON
/// report of docs/IMPACT.md (`cordon-impact/v1`); the run is recorded in the tenant's audit log (`impact.run`).
#[utoipa::path(post, path = "/api/v1/impact", tag = "impact", request_body = ImpactRequest, security(("session" = []), ("api_key" = [])),
    responses((status = 200, description = "The signed report (docs/IMPACT.md, format cordon-impact/v1).", body = Object),
              (status = 400, response = BadRequest), (status = 401, response = Unauthenticated),
              (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn run_impact(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<ImpactRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    let time = |s: &str| impact::parse_rfc3339(s).map_err(|e| ApiError::bad_request(e.to_string()));
    let window = Window::new(time(&req.from)?, time(&req.to)?)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let query = Query {
        component: component(&req.kind, req.value.as_deref())?,
        window,
        tenant_slug: None,
        asset_label: None,
    };
    let run = impact::run(
        &state.service,
        Caller::TenantAdmin(&principal),
        &query,
        &|_, _, _| {},
    )
    .await?;
    Ok(Json(run.signed))
}

/// The tenant's transparency report: data held, who and what can reach it, the widget files served on its
/// origins by day, the latest audit checkpoint (admin or auditor; recorded as `transparency.read`).
#[utoipa::path(get, path = "/api/v1/transparency", tag = "transparency", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Transparency), (status = 401, response = Unauthenticated),
              (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn get_transparency(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Transparency>> {
    Ok(Json(
        transparency::report(&state.service, &principal, &known_files()).await?,
    ))
}

/// Check the latest audit checkpoint on the server: its signature with the log's key and its root against the
/// log's stored tree (admin or auditor). To check it yourself, use `GET /api/v1/audit/checkpoint` and the
/// proofs (docs/AUDIT.md).
#[utoipa::path(post, path = "/api/v1/transparency/checkpoint-check", tag = "transparency", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = CheckpointCheck), (status = 401, response = Unauthenticated),
              (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
pub(super) async fn check_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<CheckpointCheck>> {
    Ok(Json(
        transparency::check_checkpoint(&state.service, &principal).await?,
    ))
}
