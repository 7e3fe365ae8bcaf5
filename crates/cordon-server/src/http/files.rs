//! Files and images in a conversation (issue 20), both ways. Agents send and fetch on the console origin with
//! their session (`/api/v1/conversations/{id}/files`); the conversation's visitor on the widget origin with the
//! file ticket its socket gave it (`/w/files`). The body is the file's bytes, its `Content-Type` the declared
//! type, read up to the server's limit and no further. Every rule is the service's (`cordon_service::files`).
//!
//! A download is never a page: `Content-Security-Policy: default-src 'none'; sandbox`, `nosniff`, the stored
//! type (never HTML or SVG: neither is accepted), `Content-Disposition: attachment` for every file except the
//! raster images, which are `inline` only when the browser asks for an image (or a script fetches it to show as
//! one), never when it is opened as a document.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::code;
use cordon_service::files::{self, Download, FileView, TICKET_HEADER};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    query, BadRequest, Forbidden, ForbiddenOrCsrf, NotFound, RateLimited, Unauthenticated,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(agent_upload))
        .routes(routes!(agent_download))
        .routes(routes!(visitor_upload))
        .routes(routes!(visitor_download))
}

/// The policy of every download: nothing in it may run, load or be framed.
pub(crate) const FILE_CSP: &str = "default-src 'none'; sandbox";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AgentUploadQuery {
    /// The file's name (at most 120 characters are kept; card numbers are masked, paths dropped).
    pub name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VisitorUploadQuery {
    /// The visitor's conversation.
    pub conversation_id: String,
    /// The file's name (at most 120 characters are kept; card numbers are masked, paths dropped).
    pub name: String,
}

/// Read the body up to the limit; past it, `file_too_large` without reading on.
async fn read_body(state: &AppState, headers: &HeaderMap, body: Body) -> ApiResult<Vec<u8>> {
    let max = files::max_bytes(&state.service);
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > max as u64) {
        return Err(files::too_large(max).into());
    }
    axum::body::to_bytes(body, max)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| files::too_large(max).into())
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Send a file in a conversation assigned to the caller (agents and admins signed in). The conversation gets a
/// message `[file f_…] name (type, size)` from the agent; both sides see it.
#[utoipa::path(post, path = "/api/v1/conversations/{conversation_id}/files", tag = "files",
    security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id."), AgentUploadQuery),
    request_body(description = "The file's bytes; `Content-Type` is its type, which the bytes must match.",
        content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("text/plain"))),
    responses((status = 201, body = FileView), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conversation_closed`, or `conflict`: the conversation has 100 files"),
        (status = 413, body = ErrorBody, description = "`file_too_large`: past the server's limit (`--max-file-bytes`, 10 MiB by default)"),
        (status = 415, body = ErrorBody, description = "`file_type_not_allowed` (not PNG, JPEG, GIF, WebP, PDF or plain text) or `file_type_mismatch` (the bytes are not of the declared type)"),
        (status = 429, response = RateLimited)))]
pub(super) async fn agent_upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
    q: Result<Query<AgentUploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileView>)> {
    let q = query(q)?;
    let bytes = read_body(&state, &headers, body).await?;
    let view = files::upload_as_agent(
        &state.service,
        &principal,
        &conversation_id,
        &q.name,
        content_type(&headers),
        &bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A file of the conversation (conversations:read), with the headers of every download (see the module).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/files/{file_id}", tag = "files",
    security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id."),
        ("file_id" = String, Path, description = "The file's id (`f_…`).")),
    responses((status = 200, description = "The file, as stored.",
            content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("text/plain"))),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn agent_download(
    State(state): State<AppState>,
    principal: Principal,
    Path((conversation_id, file_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let d = files::download_as_principal(&state.service, &principal, &conversation_id, &file_id)
        .await?;
    Ok(file_response(d, &headers))
}

/// The ticket a visitor's request carries, after the origin check: a request from any page but the widget's
/// own frame is refused.
async fn ticket_holder(state: &AppState, headers: &HeaderMap) -> ApiResult<files::TicketHolder> {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin.is_some_and(|o| o != state.config.widget_origin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            code::CSRF,
            "file requests must come from the chat frame",
        ));
    }
    let ticket = headers.get(TICKET_HEADER).and_then(|v| v.to_str().ok());
    Ok(files::check_ticket(&state.service, ticket).await?)
}

/// The visitor sends a file in its conversation (widget origin; `X-Cordon-File-Ticket` from `file.ticket`). The
/// conversation gets a message `[file f_…] name (type, size)` from the visitor; both sides see it.
#[utoipa::path(post, path = "/w/files", tag = "files", security(("visitor_ticket" = [])),
    params(VisitorUploadQuery),
    request_body(description = "The file's bytes; `Content-Type` is its type, which the bytes must match.",
        content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("text/plain"))),
    responses((status = 201, body = FileView), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`csrf_rejected`: the request's `Origin` is not the widget origin"),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conversation_closed`, or `conflict`: the conversation has 100 files"),
        (status = 413, body = ErrorBody, description = "`file_too_large`: past the server's limit"),
        (status = 415, body = ErrorBody, description = "`file_type_not_allowed` or `file_type_mismatch`"),
        (status = 429, response = RateLimited)))]
pub(super) async fn visitor_upload(
    State(state): State<AppState>,
    q: Result<Query<VisitorUploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<FileView>)> {
    let holder = ticket_holder(&state, &headers).await?;
    let q = query(q)?;
    let bytes = read_body(&state, &headers, body).await?;
    let view = files::upload_as_visitor(
        &state.service,
        &holder,
        &q.conversation_id,
        &q.name,
        content_type(&headers),
        &bytes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A file of one of the visitor's conversations (widget origin; `X-Cordon-File-Ticket`).
#[utoipa::path(get, path = "/w/files/{file_id}", tag = "files", security(("visitor_ticket" = [])),
    params(("file_id" = String, Path, description = "The file's id (`f_…`).")),
    responses((status = 200, description = "The file, as stored.",
            content(("image/png"), ("image/jpeg"), ("image/gif"), ("image/webp"), ("application/pdf"), ("text/plain"))),
        (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`csrf_rejected`: the request's `Origin` is not the widget origin"),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn visitor_download(
    State(state): State<AppState>,
    Path(file_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let holder = ticket_holder(&state, &headers).await?;
    let d = files::download_as_visitor(&state.service, &holder, &file_id).await?;
    Ok(file_response(d, &headers))
}

/// `filename="…"` in ASCII (anything else as `_`) and `filename*=UTF-8''…` percent-encoded (RFC 6266).
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The headers of every download; see the module.
fn file_response(d: Download, headers: &HeaderMap) -> Response {
    // `Sec-Fetch-Dest` says how the browser will use the answer: as a document (opened in a tab) a file is
    // always a download; an image shows inline only in an `<img>` or a script's fetch (which the widget turns
    // into an `<img>`).
    let dest = headers
        .get("sec-fetch-dest")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let inline = d.kind.is_image() && matches!(dest, "image" | "empty" | "");
    let mut res = (StatusCode::OK, d.bytes).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(d.kind.mime()),
    );
    let disp = disposition(if inline { "inline" } else { "attachment" }, &d.name);
    // Only printable ASCII went into it, so the value is always valid; the fallback is a plain download.
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disp).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FILE_CSP),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_are_quoted_and_encoded() {
        assert_eq!(
            disposition("attachment", "a b.pdf"),
            "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"
        );
        let d = disposition("inline", "café.png");
        assert!(d.starts_with("inline; filename=\"caf_.png\""), "{d}");
        assert!(d.ends_with("caf%C3%A9.png"), "{d}");
        assert!(HeaderValue::from_str(&disposition("attachment", "x\"y\\z.txt")).is_ok());
    }
}
