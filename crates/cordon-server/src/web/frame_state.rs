//! The frame's memory between page loads: `/w/state`, a partitioned cookie only the frame reads and writes.
#![allow(unused_imports)]

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use cordon_service::code;

use crate::error::ApiError;
use crate::AppState;

use super::*;

// ---- the frame's memory ------------------------------------------------------------------------------------
//
// The frame keeps the visitor token (and which conversation it shows, and what was read) in its origin's
// localStorage. Browsers that block third-party storage (Chromium does by default) refuse that to an iframe, so
// the frame also keeps it in a partitioned cookie (CHIPS): keyed by the embedding site, HttpOnly, sent only to
// `/w/state`, never in a URL. Only the frame itself can write it (same-origin JSON POST; any other origin is
// refused) or read it (the response has no CORS headers, and is JSON that no other page can load as script).

pub(super) const STATE_COOKIE: &str = "cordon_frame";

/// What the frame remembers between page loads.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub(super) struct FrameState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    visitor_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    conversation_id: Option<String>,
    #[serde(default)]
    read_seq: i64,
    /// Issue 20: the conversations whose rating the frame offered (rated or skipped), newest last, at most 10,
    /// so it is offered once; and whether the visitor gave a contact in a form already.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    offered: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    contact: bool,
}

impl FrameState {
    fn valid(&self) -> bool {
        let id_ok = |s: &str, prefix: &str, max: usize| {
            s.len() <= max
                && s.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty()
                        && rest
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                })
        };
        self.visitor_token
            .as_deref()
            .is_none_or(|t| id_ok(t, "cv_", 128))
            && self
                .conversation_id
                .as_deref()
                .is_none_or(|c| id_ok(c, "c_", 64))
            && (0..=i64::MAX / 2).contains(&self.read_seq)
            && self.offered.len() <= 10
            && self.offered.iter().all(|c| id_ok(c, "c_", 64))
    }
}

pub(super) fn no_store_json(body: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

pub(super) async fn frame_state_get(headers: HeaderMap) -> Response {
    let state = crate::auth::cookie_value(&headers, STATE_COOKIE)
        .and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<FrameState>(&bytes).ok())
        .filter(FrameState::valid)
        .unwrap_or_default();
    no_store_json(serde_json::to_string(&state).unwrap_or_else(|_| "{}".into()))
}

pub(super) async fn frame_state_put(State(state): State<AppState>, req: Request) -> Response {
    let headers = req.headers();
    let same_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|o| o == state.config.widget_origin);
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !same_origin || !json {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            code::CSRF,
            "only the chat frame itself may store its state",
        )
        .into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1024).await else {
        return ApiError::bad_request("state too large").into_response();
    };
    let Some(fs) = serde_json::from_slice::<FrameState>(&bytes)
        .ok()
        .filter(FrameState::valid)
    else {
        return ApiError::bad_request("state must match the documented shape").into_response();
    };
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&fs).unwrap_or_default());
    let cookie = format!(
        "{STATE_COOKIE}={value}; Path=/w/state; Max-Age=31536000; HttpOnly; Secure; SameSite=None; Partitioned"
    );
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_state_is_validated() {
        let ok = FrameState {
            visitor_token: Some("cv_abc-DEF_123".into()),
            conversation_id: Some("c_x".into()),
            read_seq: 4,
            offered: vec!["c_a".into(), "c_b".into()],
            contact: true,
        };
        assert!(ok.valid());
        // The rated or skipped conversations (issue 20): ids only, at most ten.
        for offered in [vec!["x_a".to_string()], vec!["c_a".to_string(); 11]] {
            assert!(!FrameState {
                offered,
                ..Default::default()
            }
            .valid());
        }
        for bad in ["cv_", "cv_a b", "xx_abc", "cv_a;Path=/"] {
            let s = FrameState {
                visitor_token: Some(bad.into()),
                ..Default::default()
            };
            assert!(!s.valid(), "{bad}");
        }
        assert!(!FrameState {
            read_seq: -1,
            ..Default::default()
        }
        .valid());
    }
}
