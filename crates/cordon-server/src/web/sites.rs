//! Which site a request is for (the console's or the widget's, by `Host`), the gate that keeps each site's
//! pages on it, and the security headers every response gets.
#![allow(unused_imports)]

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cordon_service::code;

use crate::error::ApiError;
use crate::AppState;

use super::*;

// ---- sites -----------------------------------------------------------------------------------------------

/// `http://Host:80` → `host`, `https://host:8443/` → `host:8443` (lowercase, default ports dropped).
pub(super) fn authority_of_origin(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let rest = rest.split('/').next()?;
    Some(normalise_authority(scheme, rest))
}

pub(super) fn normalise_authority(scheme: &str, authority: &str) -> String {
    let a = authority.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    match a.strip_suffix(default) {
        Some(stripped) => stripped.to_string(),
        None => a,
    }
}

pub(super) fn request_authority(req: &Request, scheme: &str) -> Option<String> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))?;
    Some(normalise_authority(scheme, &host))
}

/// What a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PathKind {
    /// Widget files and the frame page.
    WidgetPage,
    /// Console and admin pages and their files.
    ConsolePage,
    /// The API and the agent socket: console origin (or any host that is not the widget's).
    ConsoleApi,
    /// Health, metrics and the visitor socket: any host.
    Neutral,
}

pub(super) fn path_kind(path: &str) -> PathKind {
    if path.starts_with("/w/") {
        PathKind::WidgetPage
    } else if path == "/"
        || path == "/console"
        || path.starts_with("/console/")
        || path.starts_with("/c/")
    {
        PathKind::ConsolePage
    } else if path.starts_with("/api/") || path == "/ws/agent" {
        PathKind::ConsoleApi
    } else {
        PathKind::Neutral
    }
}

/// Decide whether this host may serve this path. `None` lets it through; otherwise the response to send.
pub(super) fn gate(state: &AppState, req: &Request) -> Option<Response> {
    let cfg = &state.config;
    let scheme = if cfg.https { "https" } else { "http" };
    let host = request_authority(req, scheme);
    let console = authority_of_origin(&cfg.console_origin);
    let widget = authority_of_origin(&cfg.widget_origin);
    let on_console = host.is_some() && host == console;
    let on_widget = host.is_some() && host == widget;
    let path = req.uri().path();
    match path_kind(path) {
        PathKind::Neutral => None,
        PathKind::WidgetPage if on_widget => None,
        PathKind::WidgetPage => Some(
            ApiError::new(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                "the chat widget is served only on the widget origin",
            )
            .into_response(),
        ),
        PathKind::ConsolePage if on_console => None,
        PathKind::ConsolePage => {
            // A person who typed another name for the console (e.g. localhost for 127.0.0.1) is sent to it;
            // the widget origin never serves console pages.
            if req.method() == Method::GET && (path == "/" || path.starts_with("/console")) {
                let target = format!("{}{}", cfg.console_origin, path);
                Some(Redirect::temporary(&target).into_response())
            } else {
                Some(ApiError::not_found().into_response())
            }
        }
        PathKind::ConsoleApi if on_widget && !on_console => Some(
            ApiError::new(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                "the API is served only on the console origin",
            )
            .into_response(),
        ),
        PathKind::ConsoleApi => None,
    }
}

pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut res = match gate(&state, &req) {
        Some(refused) => refused,
        None => next.run(req).await,
    };
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if state.config.https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}
