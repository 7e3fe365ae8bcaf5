//! API routes of the browser side: the exposure record (which visitor sessions ran which widget code, on
//! which embedding site) and the tenant's embed snippet with the SRI of the exact bytes served.

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use axum::extract::{Query, State};
use axum::Json;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use cordon_service::access::{Principal, Scope};
use cordon_service::model::{is_sha384_hex, now_ms, ExposureQuery};
use cordon_service::visitors;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_visitor_sessions))
        .routes(routes!(widget_embed))
}

// ---- exposure record -------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    /// Start of the time range, unix ms (default: `to` minus 24 hours).
    #[param(nullable = false)]
    pub from: Option<i64>,
    /// End of the time range, unix ms, exclusive (default: now). Sessions overlapping the range are listed.
    #[param(nullable = false)]
    pub to: Option<i64>,
    /// Only sessions served this widget file: its SHA-384 as 96 hex digits, or as an SRI value
    /// `sha384-<base64>`.
    #[param(nullable = false)]
    pub asset_hash: Option<String>,
    /// `next_cursor` from the previous page, unchanged (opaque); with the same filters.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 200; larger values count as 1000).
    #[param(nullable = false, default = 200, minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VisitorSessionView {
    pub id: String,
    pub visitor_id: String,
    /// The server node that held the session.
    pub node: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    /// Agents who took part.
    pub agents: Vec<String>,
    pub cards_redacted: i64,
    /// The embedding page's origin as the browser reported it to the frame.
    pub embed_origin: Option<String>,
    /// SHA-384 (hex) of each widget file served to the session: loader, frame page, frame script and style.
    pub asset_hashes: Vec<String>,
    /// The signed release those files are from (null when no release was live).
    pub release_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VisitorSessionPage {
    pub sessions: Vec<VisitorSessionView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `sha384-<base64>` or hex → lowercase hex, or a 400.
fn parse_asset_hash(s: &str) -> ApiResult<String> {
    let invalid =
        || ApiError::bad_request("asset_hash must be a SHA-384 as hex or sha384-<base64>");
    let hex = if let Some(b64) = s.strip_prefix("sha384-") {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| invalid())?;
        if bytes.len() != 48 {
            return Err(invalid());
        }
        hex::encode(bytes)
    } else {
        s.to_ascii_lowercase()
    };
    if is_sha384_hex(&hex) {
        Ok(hex)
    } else {
        Err(invalid())
    }
}

fn parse_cursor(c: &str) -> ApiResult<(i64, String)> {
    let invalid = || ApiError::bad_request("invalid cursor");
    let (ts, id) = c.split_once('.').ok_or_else(invalid)?;
    let ts = ts.parse().map_err(|_| invalid())?;
    if !cordon_service::protocol::valid_client_id(id) {
        return Err(invalid());
    }
    Ok((ts, id.to_string()))
}

/// The exposure record: the tenant's visitor sessions in a time range, each with the embedding origin and
/// the hashes of the widget files served to it; optionally only those served one file
/// (conversations:read or admin).
#[utoipa::path(get, path = "/api/v1/visitor-sessions", tag = "exposure", params(SessionQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = VisitorSessionPage), (status = 400, response = super::BadRequest), (status = 401, response = super::Unauthenticated), (status = 403, response = super::Forbidden), (status = 429, response = super::RateLimited)))]
async fn list_visitor_sessions(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<SessionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<VisitorSessionPage>> {
    if !(principal.has(Scope::ConversationsRead) || principal.has(Scope::Admin)) {
        return Err(ApiError::forbidden());
    }
    let Query(q) = q.map_err(|_| {
        ApiError::bad_request("query parameters do not match the documented schema")
    })?;
    let to = q.to.unwrap_or_else(|| now_ms() + 1);
    let from = q.from.unwrap_or(to - 24 * 3600 * 1000);
    if from > to {
        return Err(ApiError::bad_request("from must not be after to"));
    }
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let query = ExposureQuery {
        from,
        to,
        asset_sha384: q.asset_hash.as_deref().map(parse_asset_hash).transpose()?,
        after: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let records = visitors::session_page(&state.service, &principal, &query).await?;
    let next_cursor = if records.len() as i64 == limit {
        records.last().map(|r| format!("{}.{}", r.started_at, r.id))
    } else {
        None
    };
    Ok(Json(VisitorSessionPage {
        sessions: records
            .into_iter()
            .map(|r| VisitorSessionView {
                id: r.id,
                visitor_id: r.visitor_id,
                node: r.node,
                started_at: r.started_at,
                ended_at: r.ended_at,
                agents: r.agents,
                cards_redacted: r.cards_redacted,
                embed_origin: r.embed_origin,
                asset_hashes: r.asset_hashes,
                release_id: r.release_id,
            })
            .collect(),
        next_cursor,
    }))
}

// ---- embed snippet ---------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WidgetFile {
    /// `loader.js`, `frame.html`, `frame.js` or `frame.css`.
    pub name: String,
    /// Its path on the widget origin (the frame page's path has the widget key in it).
    pub path: String,
    /// The SRI value of its exact bytes.
    pub integrity: String,
    /// SHA-384 as hex, the form kept in session records.
    pub sha384: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WidgetEmbed {
    pub widget_origin: String,
    pub widget_key: String,
    /// The loader's immutable URL.
    pub loader_url: String,
    /// `sha384-<base64>` of the loader's exact bytes.
    pub integrity: String,
    /// The one line to paste into the site.
    pub snippet: String,
    /// Every widget file of the tenant's release, with its digests.
    pub files: Vec<WidgetFile>,
    /// The signed release the snippet pins (the tenant's pin, or the latest approved); null when no release is
    /// live, in which case the widget is not served.
    pub release: Option<String>,
}

/// The tenant's embed snippet, pinned by SRI to the loader of the tenant's release (admin).
#[utoipa::path(get, path = "/api/v1/widget", tag = "widget", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = WidgetEmbed), (status = 401, response = super::Unauthenticated),
              (status = 403, response = super::Forbidden), (status = 429, response = super::RateLimited)))]
async fn widget_embed(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<WidgetEmbed>> {
    let tenant = visitors::widget_tenant(&state.service, &principal).await?;
    let origin = state.config.widget_origin.clone();
    // The tenant's release (its pin, or the latest approved one); with none live, the files this node carries
    // (which it does not serve until a release is approved).
    let release = cordon_service::releases::for_tenant(&state.service, &tenant.id).await?;
    let (path, integrity, files) = match &release {
        Some(r) => {
            let loader = r.manifest.file("loader.js");
            let files = r
                .manifest
                .files()
                .iter()
                .map(|f| WidgetFile {
                    name: f.name.to_string(),
                    path: if f.name == "frame.html" {
                        "/w/frame/{widget_key}".to_string()
                    } else {
                        f.path()
                    },
                    integrity: f.integrity(),
                    sha384: f.sha384.clone(),
                })
                .collect();
            (
                loader.map(|f| f.path()).unwrap_or_default(),
                loader.map(|f| f.integrity()).unwrap_or_default(),
                files,
            )
        }
        None => {
            let (path, integrity) = crate::web::loader();
            let files = crate::web::widget_files()
                .into_iter()
                .map(|(name, path, integrity, sha384)| WidgetFile {
                    name: name.to_string(),
                    path,
                    integrity,
                    sha384,
                })
                .collect();
            (path.to_string(), integrity.to_string(), files)
        }
    };
    Ok(Json(WidgetEmbed {
        loader_url: format!("{origin}{path}"),
        snippet: crate::web::snippet_for(&origin, &path, &integrity, &tenant.widget_key),
        integrity,
        release: release.map(|r| r.id().to_string()),
        files,
        widget_origin: origin,
        widget_key: tenant.widget_key,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_hash_forms() {
        let (sri, hex) = crate::web::digest(b"abc");
        assert_eq!(parse_asset_hash(&sri).unwrap(), hex);
        assert_eq!(parse_asset_hash(&hex.to_uppercase()).unwrap(), hex);
        assert!(parse_asset_hash("sha384-AAAA").is_err());
        assert!(parse_asset_hash("%\"").is_err());
    }
}
