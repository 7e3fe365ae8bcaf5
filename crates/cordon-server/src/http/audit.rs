//! The audit log over HTTP (audit:read; the caller's tenant log only; reads of it are not themselves logged).

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use cordon_service::access::Principal;
use cordon_service::audit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The latest signed checkpoint of the caller's tenant log (C2SP tlog-checkpoint signed note).
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit", security(("session" = []), ("api_key" = [])),
    responses((status = 200, description = "signed note", content_type = "text/plain", body = String),
              (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden),
              (status = 404, body = ErrorBody, description = "`not_found`: no checkpoint signed yet."),
              (status = 429, response = super::RateLimited)))]
pub(super) async fn get_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Response> {
    let note = audit::latest_checkpoint(&state.service, &principal).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

/// The verifier key of the caller's tenant log, in note verifier-key format (`name+keyid+base64`).
#[utoipa::path(get, path = "/api/v1/audit/key", tag = "audit", security(("session" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden),
              (status = 429, response = super::RateLimited)))]
pub(super) async fn get_key(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Response> {
    let key = audit::verifier_key(&state.service, &principal)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], key).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EntriesQuery {
    /// First index (inclusive), from 0.
    #[param(minimum = 0)]
    pub start: i64,
    /// Last index (exclusive), at least `start`. At most 1000 entries per call: a longer range is cut short.
    #[param(minimum = 0)]
    pub end: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryView {
    pub index: i64,
    /// Base64 of the exact leaf bytes.
    pub entry: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntriesResponse {
    pub entries: Vec<EntryView>,
}

/// Entries `[start, end)` of the caller's tenant log.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", params(EntriesQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = EntriesResponse), (status = 400, response = super::BadRequest), (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden), (status = 429, response = super::RateLimited)))]
pub(super) async fn get_entries(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EntriesResponse>> {
    audit::reader_log(&principal)?;
    let Query(q) = q.map_err(|_| ApiError::bad_request("start and end are required integers"))?;
    let rows = audit::entries(&state.service, &principal, q.start, q.end).await?;
    Ok(Json(EntriesResponse {
        entries: rows
            .into_iter()
            .map(|(index, bytes)| EntryView {
                index,
                entry: b64(&bytes),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InclusionQuery {
    /// Index of the entry (leaf) to prove, below `size`.
    pub index: u64,
    /// Tree size the proof is for (at most the log's size).
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InclusionResponse {
    pub audit_path: Vec<String>,
}

/// An inclusion proof (RFC 9162 §2.1.3) for `index` in the tree of `size`.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit", params(InclusionQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = InclusionResponse), (status = 400, response = super::BadRequest), (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden), (status = 429, response = super::RateLimited)))]
pub(super) async fn get_inclusion(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<InclusionResponse>> {
    audit::reader_log(&principal)?;
    let Query(q) = q.map_err(|_| ApiError::bad_request("index and size are required integers"))?;
    let proof = audit::inclusion_proof(&state.service, &principal, q.index, q.size).await?;
    Ok(Json(InclusionResponse {
        audit_path: proof.iter().map(|h| b64(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ConsistencyQuery {
    /// The older tree size, at least 1.
    #[param(minimum = 1)]
    pub first: u64,
    /// The newer tree size: at least `first`, at most the log's size.
    #[param(minimum = 1)]
    pub second: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConsistencyResponse {
    pub consistency: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4) between tree sizes `first` and `second`.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit", params(ConsistencyQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ConsistencyResponse), (status = 400, response = super::BadRequest), (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden), (status = 429, response = super::RateLimited)))]
pub(super) async fn get_consistency(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConsistencyResponse>> {
    audit::reader_log(&principal)?;
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("first and second are required integers"))?;
    let proof = audit::consistency_proof(&state.service, &principal, q.first, q.second).await?;
    Ok(Json(ConsistencyResponse {
        consistency: proof.iter().map(|h| b64(h)).collect(),
    }))
}
