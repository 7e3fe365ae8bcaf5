//! Reading who calls off a request: the session cookie (with its CSRF rule) or an `Authorization: Bearer` key.
//! Who that is, and what it may do, is the service's (cordon_service::access).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use cordon_service::access::{self, Principal};
use cordon_service::code;

use crate::error::ApiError;
use crate::AppState;

pub(crate) const SESSION_COOKIE: &str = "cordon_session";

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Cookie-authenticated requests that change state must come from the console's own origin. SameSite=Strict
/// already keeps the cookie off cross-site requests; this also refuses same-site but cross-origin callers
/// (e.g. the widget origin on a sibling loopback host).
fn check_csrf(method: &Method, headers: &HeaderMap, state: &AppState) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin == Some(state.config.console_origin.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            code::CSRF,
            "state-changing requests must come from the console's origin",
        ))
    }
}

/// Who is calling. `peer` is the TCP peer's address: bad API keys back off by it.
pub(crate) async fn authenticate(
    method: &Method,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    state: &AppState,
) -> Result<Principal, ApiError> {
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        let token = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return Ok(access::principal_for_api_key(&state.service, token, peer).await?);
    }
    let token = cookie_value(headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
    match access::principal_for_session(&state.service, token).await? {
        Some(principal) => {
            check_csrf(method, headers, state)?;
            Ok(principal)
        }
        None => Err(ApiError::unauthenticated()),
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        authenticate(&parts.method, &parts.headers, peer, state).await
    }
}

/// The `Set-Cookie` value for a new session: host-only (no Domain), HttpOnly, SameSite=Strict.
pub(crate) fn session_cookie(token: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub(crate) fn clear_session_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}
