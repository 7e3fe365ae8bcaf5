//! The widget, served only from signed, approved releases (issue 12).
//!
//! A release's files live on disk (`DATA/releases/<id>/loader.js`, `frame.html`, `frame.js`, `frame.css`). On
//! every request the file is read and checked against the release's manifest (size and SHA-384), whose
//! signature by a trusted release key and whose approval by a second operator the service checked; a file that
//! differs is never sent: `500 release_tampered`, and an error in the log. So a byte changed on disk after
//! approval is refused at the next request. With no live release the widget is `503 no_release`.
//!
//! The public release log (`/w/releases`, and each live release's files as signed, `/w/releases/<id>/<file>`)
//! is what `cordon monitor` checks a deployment against, with the release key the tenant pinned.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cordon_release::{Manifest, WIDGET_FILES};
use cordon_service::code;
use cordon_service::releases::{self, LiveRelease};
use serde_json::json;

use super::{
    header_safe_origin, html_escape, html_response, widget_origin_is_separate, PERMISSIONS,
};
use crate::error::ApiError;
use crate::AppState;

/// How long the list of live releases is reused before it is read again (new approvals show within this).
const LIVE_TTL: Duration = Duration::from_secs(1);

/// Where releases are on disk, and the live releases as last read.
#[derive(Debug)]
pub struct Releases {
    dir: Option<PathBuf>,
    cache: tokio::sync::Mutex<Option<(Instant, Arc<Vec<LiveRelease>>)>>,
}

impl Releases {
    /// Releases under `dir` (`DATA/releases`); `None` serves no widget at all.
    pub fn new(dir: Option<PathBuf>) -> Releases {
        Releases {
            dir,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    async fn live(&self, state: &AppState, fresh: bool) -> Result<Arc<Vec<LiveRelease>>, Response> {
        let mut cache = self.cache.lock().await;
        if let Some((at, list)) = cache.as_ref() {
            if !fresh && at.elapsed() < LIVE_TTL {
                return Ok(list.clone());
            }
        }
        let list = Arc::new(
            releases::live(&state.service)
                .await
                .map_err(|e| ApiError::from(e).into_response())?,
        );
        *cache = Some((Instant::now(), list.clone()));
        Ok(list)
    }

    /// The bytes of one file of a live release, read now and checked against its manifest.
    async fn read(&self, release: &Manifest, name: &'static str) -> Result<Vec<u8>, Response> {
        let Some(dir) = &self.dir else {
            return Err(no_release());
        };
        let path = dir.join(release.id()).join(name);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(release = %release.id(), file = name, error = %e,
                    "widget file of an approved release cannot be read: refused");
                return Err(tampered());
            }
        };
        if release.check(name, &bytes).is_err() {
            tracing::error!(release = %release.id(), file = name,
                "widget file on disk differs from its signed, approved manifest: refused");
            return Err(tampered());
        }
        Ok(bytes)
    }
}

fn no_release() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        code::NO_RELEASE,
        "no signed, approved widget release is live",
    )
    .into_response()
}

fn tampered() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        code::RELEASE_TAMPERED,
        "a widget file differs from its signed release and is not served",
    )
    .into_response()
}

fn unknown_key() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        code::UNKNOWN_TENANT,
        "unknown widget key",
    )
    .into_response()
}

/// The chat frame for one tenant, from its release's template. The widget key is public; the page may be
/// framed only by the tenant's allowed origins (`frame-ancestors`), and it never receives a token in its URL.
pub(super) async fn frame_page(
    State(state): State<AppState>,
    Path(widget_key): Path<String>,
) -> Response {
    if !widget_origin_is_separate(&state) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "the widget needs an origin of its own: set --widget-url (or --widget-listen)",
        )
        .into_response();
    }
    if !cordon_service::protocol::valid_client_id(&widget_key) {
        return unknown_key();
    }
    let tenant =
        match cordon_service::visitors::tenant_by_widget_key(&state.service, &widget_key).await {
            Ok(Some(t)) => t,
            Ok(None) => return unknown_key(),
            Err(e) => return ApiError::from(e).into_response(),
        };
    let release = match releases::for_tenant(&state.service, &tenant.id).await {
        Ok(Some(r)) => r,
        Ok(None) => return no_release(),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let template = match state.releases.read(&release.manifest, "frame.html").await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let Ok(template) = String::from_utf8(template) else {
        return tampered();
    };
    let origins: Vec<&str> = tenant
        .allowed_origins
        .iter()
        .map(String::as_str)
        .filter(|o| header_safe_origin(o))
        .collect();
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let body = cordon_release::render_frame(
        &template,
        &release.manifest,
        &html_escape(&tenant.display_name),
        &html_escape(&origins.join(" ")),
    );
    let mut csp = cordon_release::page_csp(&state.config.widget_origin, &ancestors);
    // The card vault's form (issue 15) is the one page this frame may frame: its origin, nothing else.
    if let Some(vault) = state
        .config
        .payments
        .vault_origin
        .as_deref()
        .filter(|o| header_safe_origin(o))
    {
        csp.push_str(&format!("; frame-src {vault}"));
    }
    html_response(body, &csp, &[("permissions-policy", PERMISSIONS)])
}

fn content_type(name: &str) -> &'static str {
    WIDGET_FILES
        .iter()
        .find(|f| f.name == name)
        .map_or("application/octet-stream", |f| f.content_type)
}

/// A content-addressed widget file (`/w/loader-<hash>.js`, `/w/frame-<hash>.js`, `/w/frame-<hash>.css`) of
/// any live release, checked on disk before it is sent.
pub(super) async fn widget_file(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/w/{file}");
    let mut found = None;
    for fresh in [false, true] {
        let live = match state.releases.live(&state, fresh).await {
            Ok(l) => l,
            Err(res) => return res,
        };
        found = live.iter().rev().find_map(|r| {
            r.manifest
                .file_at_path(&path)
                .map(|f| (r.manifest.clone(), f.name, f.sha384.clone()))
        });
        if found.is_some() {
            break;
        }
    }
    let Some((manifest, name, sha384)) = found else {
        return ApiError::not_found().into_response();
    };
    let etag = format!("\"{}\"", &sha384[..32.min(sha384.len())]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let bytes = match state.releases.read(&manifest, name).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(name)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(super::IMMUTABLE),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let (acao, corp) = if name == "loader.js" {
        // The loader runs on tenants' pages: SRI on a cross-origin script needs CORS.
        (Some("*"), "cross-origin")
    } else {
        (None, "same-origin")
    };
    if let Some(v) = acao {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static(v),
        );
    }
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static(corp),
    );
    res
}

/// The public release log: every live release's signed manifest, who proposed and who approved it (operator
/// ids) and when, oldest first, and the latest. A monitor verifies each note with the key it pinned.
pub(super) async fn release_log(State(state): State<AppState>) -> Response {
    let live = match state.releases.live(&state, true).await {
        Ok(l) => l,
        Err(res) => return res,
    };
    let list: Vec<_> = live
        .iter()
        .map(|r| {
            json!({
                "id": r.id(), "note": r.record.note,
                "proposed_by": r.record.proposed_by, "proposed_at": r.record.proposed_at,
                "approved_by": r.record.approved_by, "approved_at": r.record.approved_at,
            })
        })
        .collect();
    let mut res = Json(json!({
        "key_name": cordon_release::KEY_NAME,
        "latest": live.last().map(|r| r.id().to_string()),
        "releases": list,
    }))
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// One file of a live release exactly as signed (the frame page's template, unrendered), checked on disk like
/// every other read. Served as text, never as a page.
pub(super) async fn release_file(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> Response {
    let live = match state.releases.live(&state, true).await {
        Ok(l) => l,
        Err(res) => return res,
    };
    let Some(release) = live.iter().find(|r| r.id() == id) else {
        return ApiError::not_found().into_response();
    };
    let Some(wf) = WIDGET_FILES.iter().find(|f| f.name == file) else {
        return ApiError::not_found().into_response();
    };
    let bytes = match state.releases.read(&release.manifest, wf.name).await {
        Ok(b) => b,
        Err(res) => return res,
    };
    let mut res = Response::new(Body::from(bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}
