//! Errors as clients see them: an HTTP status, a stable machine-readable code and a message that is safe to
//! show. What goes to the log is kept apart (`log_detail`) and is never sent to the client.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cordon_store::StoreError;
use serde::Serialize;

/// The stable error codes of the HTTP API and the WebSocket protocol. Documented in docs/PROTOCOL.md.
pub mod code {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const BAD_FRAME: &str = "bad_frame";
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    pub const FRAME_TOO_LARGE: &str = "frame_too_large";
    pub const UNSUPPORTED_VERSION: &str = "unsupported_version";
    pub const NOT_AUTHENTICATED: &str = "not_authenticated";
    pub const BAD_CREDENTIALS: &str = "bad_credentials";
    pub const FORBIDDEN: &str = "forbidden";
    pub const CSRF: &str = "csrf_rejected";
    pub const NOT_FOUND: &str = "not_found";
    pub const UNKNOWN_TENANT: &str = "unknown_tenant";
    pub const IDENTITY_REQUIRED: &str = "identity_required";
    pub const IDENTITY_INVALID: &str = "identity_invalid";
    pub const IDENTITY_EXPIRED: &str = "identity_expired";
    pub const TEXT_TOO_LONG: &str = "text_too_long";
    pub const TEXT_EMPTY: &str = "text_empty";
    pub const INVALID_ID: &str = "invalid_id";
    /// Too many frames on a socket, or (HTTP `429` with `Retry-After`, and a visitor `hello`) too many failed
    /// sign-ins, API keys or visitor tokens: wait and retry.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// A grant (API key scope, agent role or password) of a scope the caller does not hold itself.
    pub const SCOPE_NOT_HELD: &str = "scope_not_held";
    /// Granting `conversations:read` or `audit:read` needs a tenant admin signed in (a session, not an API key).
    pub const SESSION_REQUIRED: &str = "session_required";
    pub const TOO_MANY_CONNECTIONS: &str = "too_many_connections";
    pub const CONVERSATION_CLOSED: &str = "conversation_closed";
    pub const NO_CAPACITY: &str = "no_capacity";
    pub const CONFLICT: &str = "conflict";
    pub const ALREADY_AUTHENTICATED: &str = "already_authenticated";
    pub const SESSION_REVOKED: &str = "session_revoked";
    pub const SLOW_CONSUMER: &str = "slow_consumer";
    pub const UNAVAILABLE: &str = "unavailable";
    pub const INTERNAL: &str = "internal";
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// For the log only. Never contains client input or secrets.
    pub log_detail: Option<String>,
    /// Sent as `Retry-After` (seconds) with `429`.
    pub retry_after_secs: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: String,
    /// Human-readable text, safe to show.
    pub message: String,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            log_detail: None,
            retry_after_secs: None,
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "not found")
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            code::NOT_AUTHENTICATED,
            "sign in or send a valid API key",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "your role or key scope does not allow this",
        )
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: code::INTERNAL,
            message: "internal error".into(),
            log_detail: Some(detail.to_string()),
            retry_after_secs: None,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(what) => ApiError::new(StatusCode::CONFLICT, code::CONFLICT, what),
            StoreError::ConversationClosed => ApiError::new(
                StatusCode::CONFLICT,
                code::CONVERSATION_CLOSED,
                "the conversation is closed",
            ),
            StoreError::NoCapacity => ApiError::new(
                StatusCode::CONFLICT,
                code::NO_CAPACITY,
                "the agent has no free capacity",
            ),
            StoreError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "the service is shutting down",
            ),
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.log_detail {
            tracing::error!(code = self.code, detail = %detail, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message.into_owned(),
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
