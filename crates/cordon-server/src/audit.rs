//! The audit ledger, wired in: canonical entries, the checkpoint signer, and the read API for `audit:read` keys.
//!
//! Entries name ids, never content: an actor, an action, a target and a time. No message text, no card number,
//! no secret and no free text a person typed (a failed login records a keyed hash of the name given).

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use cordon_ledger::{Checkpoint, NoteSigner};
use cordon_store::{AuditEntry, Store, PLATFORM_LOG};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

/// Most entries one `GET /api/v1/audit/entries` returns.
pub const MAX_ENTRIES_PER_PAGE: i64 = 1000;
/// The lease that makes exactly one process the checkpoint signer.
const SIGNER_LEASE_MS: i64 = 3000;
/// No log gets more than one checkpoint per this interval.
const CHECKPOINT_INTERVAL_MS: i64 = 1000;

/// The actor of CLI commands.
pub const CLI_ACTOR: &str = "operator:cli";

/// The canonical entry: fields in alphabetical order, serialised without whitespace.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub action: String,
    pub actor: String,
    pub id: String,
    pub log: String,
    pub target: String,
    pub ts: i64,
}

/// Build an entry for `log_id` (a tenant id, or the platform log).
pub fn entry(log_id: &str, actor: &str, action: &str, target: &str) -> AuditEntry {
    let e = Entry {
        action: action.to_string(),
        actor: actor.to_string(),
        id: cordon_crypto::new_id("ae"),
        log: log_id.to_string(),
        target: target.to_string(),
        ts: cordon_store::now_ms(),
    };
    AuditEntry {
        log_id: log_id.to_string(),
        // Serialising a struct of strings and integers cannot fail.
        bytes: serde_json::to_vec(&e).unwrap_or_default(),
    }
}

pub fn platform_entry(actor: &str, action: &str, target: &str) -> AuditEntry {
    entry(PLATFORM_LOG, actor, action, target)
}

/// The checkpoint origin (and signer key name) of a log.
pub fn origin(log_id: &str) -> String {
    format!("cordon/audit/{log_id}")
}

pub fn signer(seed: &[u8; 32], log_id: &str) -> Option<NoteSigner> {
    NoteSigner::from_seed(&origin(log_id), seed).ok()
}

/// Record a read (or another action with no transaction of its own) durably before the caller answers.
pub async fn record(state: &AppState, entries: Vec<AuditEntry>) -> ApiResult<()> {
    state
        .store
        .append_audit(entries)
        .await
        .map_err(ApiError::from)
}

/// Sign due checkpoints and log expiries while this process holds the signer lease.
pub fn spawn_checkpointer(state: AppState) {
    let holder = format!(
        "{}/{}",
        state.config.node_id,
        cordon_crypto::new_id("lease")
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            rounds += 1;
            match state
                .store
                .acquire_signer_lease(&holder, SIGNER_LEASE_MS)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "signer lease check failed");
                    continue;
                }
            }
            if let Err(e) = checkpoint_due_logs(&state.store, state.keys.audit_seed()).await {
                tracing::warn!(error = %e, "checkpointing failed");
            }
            if rounds % 10 == 0 {
                if let Err(e) = log_expiries(&state.store).await {
                    tracing::warn!(error = %e, "expiry logging failed");
                }
            }
        }
    });
}

/// Sign a checkpoint for every log with entries past its last checkpoint, at most one per log per second.
pub async fn checkpoint_due_logs(
    store: &Store,
    seed: &[u8; 32],
) -> Result<usize, cordon_store::StoreError> {
    let now = cordon_store::now_ms();
    let mut signed = 0;
    for (log_id, size, last_at) in store.logs_needing_checkpoint().await? {
        if now - last_at < CHECKPOINT_INTERVAL_MS {
            continue;
        }
        let root = store.audit_root(&log_id, size as u64).await?;
        let Some(signer) = signer(seed, &log_id) else {
            continue;
        };
        let note = match Checkpoint::new(&origin(&log_id), size as u64, root)
            .and_then(|c| c.sign(&signer))
        {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "checkpoint signing failed");
                continue;
            }
        };
        store.insert_checkpoint(&log_id, size, &root, &note).await?;
        signed += 1;
    }
    Ok(signed)
}

async fn log_expiries(store: &Store) -> Result<(), cordon_store::StoreError> {
    for (tenant_id, kind, id) in store.unlogged_expiries().await? {
        let e = entry(
            &tenant_id,
            "system",
            &format!("{kind}.expire"),
            &format!("{kind}:{id}"),
        );
        store.log_expiry(kind, &id, &[e]).await?;
    }
    Ok(())
}

// ---- HTTP API (audit:read; the caller's tenant log only; reads of it are not themselves logged) -------------

fn require_audit(principal: &Principal) -> ApiResult<&str> {
    principal.require(Scope::AuditRead)?;
    Ok(principal.tenant_id())
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The latest signed checkpoint of the caller's tenant log (C2SP tlog-checkpoint signed note).
#[utoipa::path(get, path = "/api/v1/audit/checkpoint", tag = "audit", security(("session" = []), ("api_key" = [])),
    responses((status = 200, description = "signed note", content_type = "text/plain", body = String),
              (status = 401, response = crate::api::Unauthenticated), (status = 403, response = crate::api::Forbidden),
              (status = 404, body = ErrorBody, description = "`not_found`: no checkpoint signed yet."),
              (status = 429, response = crate::api::RateLimited)))]
pub async fn get_checkpoint(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Response> {
    let log = require_audit(&principal)?;
    let cp = state
        .store
        .latest_checkpoint(log)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        cp.note,
    )
        .into_response())
}

/// The verifier key of the caller's tenant log, in note verifier-key format (`name+keyid+base64`).
#[utoipa::path(get, path = "/api/v1/audit/key", tag = "audit", security(("session" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/plain", body = String),
              (status = 401, response = crate::api::Unauthenticated), (status = 403, response = crate::api::Forbidden),
              (status = 429, response = crate::api::RateLimited)))]
pub async fn get_key(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    let log = require_audit(&principal)?;
    let signer =
        signer(state.keys.audit_seed(), log).ok_or_else(|| ApiError::internal("signer"))?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        signer.verifier().to_string(),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// First index (inclusive), from 0.
    #[param(minimum = 0)]
    pub start: i64,
    /// Last index (exclusive), at least `start`. At most 1000 entries per call: a longer range is cut short.
    #[param(minimum = 0)]
    pub end: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub index: i64,
    /// Base64 of the exact leaf bytes.
    pub entry: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntriesResponse {
    pub entries: Vec<EntryView>,
}

/// Entries `[start, end)` of the caller's tenant log.
#[utoipa::path(get, path = "/api/v1/audit/entries", tag = "audit", params(EntriesQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = EntriesResponse), (status = 400, response = crate::api::BadRequest), (status = 401, response = crate::api::Unauthenticated), (status = 403, response = crate::api::Forbidden), (status = 429, response = crate::api::RateLimited)))]
pub async fn get_entries(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<EntriesResponse>> {
    let log = require_audit(&principal)?;
    let Query(q) = q.map_err(|_| ApiError::bad_request("start and end are required integers"))?;
    if q.start < 0 || q.end < q.start {
        return Err(ApiError::bad_request("need 0 <= start <= end"));
    }
    let end = q.end.min(q.start + MAX_ENTRIES_PER_PAGE);
    let rows = state.store.audit_entries(log, q.start, end).await?;
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
pub struct InclusionQuery {
    /// Index of the entry (leaf) to prove, below `size`.
    pub index: u64,
    /// Tree size the proof is for (at most the log's size).
    pub size: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionResponse {
    pub audit_path: Vec<String>,
}

async fn log_size(state: &AppState, log: &str) -> ApiResult<u64> {
    Ok(state.store.audit_size(log).await?.max(0) as u64)
}

/// An inclusion proof (RFC 9162 §2.1.3) for `index` in the tree of `size`.
#[utoipa::path(get, path = "/api/v1/audit/proof/inclusion", tag = "audit", params(InclusionQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = InclusionResponse), (status = 400, response = crate::api::BadRequest), (status = 401, response = crate::api::Unauthenticated), (status = 403, response = crate::api::Forbidden), (status = 429, response = crate::api::RateLimited)))]
pub async fn get_inclusion(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<InclusionResponse>> {
    let log = require_audit(&principal)?;
    let Query(q) = q.map_err(|_| ApiError::bad_request("index and size are required integers"))?;
    if q.size > log_size(&state, log).await? {
        return Err(ApiError::bad_request("size exceeds the log"));
    }
    let nodes = cordon_ledger::inclusion_proof_nodes(q.index, q.size)
        .map_err(|_| ApiError::bad_request("need index < size"))?;
    let hashes = state.store.audit_nodes(log, nodes.ids()).await?;
    let proof = nodes.assemble(&hashes).map_err(ApiError::internal)?;
    Ok(Json(InclusionResponse {
        audit_path: proof.iter().map(|h| b64(h)).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size, at least 1.
    #[param(minimum = 1)]
    pub first: u64,
    /// The newer tree size: at least `first`, at most the log's size.
    #[param(minimum = 1)]
    pub second: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyResponse {
    pub consistency: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4) between tree sizes `first` and `second`.
#[utoipa::path(get, path = "/api/v1/audit/proof/consistency", tag = "audit", params(ConsistencyQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ConsistencyResponse), (status = 400, response = crate::api::BadRequest), (status = 401, response = crate::api::Unauthenticated), (status = 403, response = crate::api::Forbidden), (status = 429, response = crate::api::RateLimited)))]
pub async fn get_consistency(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConsistencyResponse>> {
    let log = require_audit(&principal)?;
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("first and second are required integers"))?;
    if q.second > log_size(&state, log).await? {
        return Err(ApiError::bad_request("second exceeds the log"));
    }
    let nodes = cordon_ledger::consistency_proof_nodes(q.first, q.second)
        .map_err(|_| ApiError::bad_request("need 0 < first <= second"))?;
    let hashes = state.store.audit_nodes(log, nodes.ids()).await?;
    let proof = nodes.assemble(&hashes).map_err(ApiError::internal)?;
    Ok(Json(ConsistencyResponse {
        consistency: proof.iter().map(|h| b64(h)).collect(),
    }))
}
