//! Errors as clients see them: an HTTP status, a stable machine-readable code and a message that is safe to
//! show. What goes to the log is kept apart (`log_detail`) and is never sent to the client.

use std::borrow::Cow;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cordon_service::{code, Refusal};
use serde::Serialize;

/// Public because it is the rejection of the request extractor `Principal` (auth.rs).
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
pub(crate) struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail {
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
}

/// The HTTP status of each refusal code: the one place a use case's answer becomes HTTP.
fn status_of(code: &str) -> StatusCode {
    match code {
        code::BAD_REQUEST
        | code::BAD_FRAME
        | code::INVALID_ID
        | code::TEXT_EMPTY
        | code::TEXT_TOO_LONG
        | code::CARD_INVALID
        | code::FILE_MALFORMED => StatusCode::BAD_REQUEST,
        code::FILE_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        code::FILE_TYPE_NOT_ALLOWED | code::FILE_TYPE_MISMATCH => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        code::NOT_AUTHENTICATED | code::BAD_CREDENTIALS | code::SECOND_FACTOR_REQUIRED => {
            StatusCode::UNAUTHORIZED
        }
        code::FORBIDDEN
        | code::CSRF
        | code::SCOPE_NOT_HELD
        | code::SESSION_REQUIRED
        | code::GRANT_REQUIRED
        | code::SELF_APPROVAL
        | code::DETOKENIZE_DISABLED => StatusCode::FORBIDDEN,
        code::NOT_FOUND | code::UNKNOWN_TENANT => StatusCode::NOT_FOUND,
        code::CONFLICT
        | code::CONVERSATION_CLOSED
        | code::NO_CAPACITY
        | code::PAYMENT_NOT_OPEN
        | code::PAYMENTS_NOT_CONFIGURED => StatusCode::CONFLICT,
        code::RATE_LIMITED | code::TOO_MANY_CONNECTIONS => StatusCode::TOO_MANY_REQUESTS,
        code::UNKNOWN_RELEASE_KEY | code::BAD_SIGNATURE => StatusCode::UNPROCESSABLE_ENTITY,
        code::UNAVAILABLE | code::NO_RELEASE | code::PAYMENTS_UNAVAILABLE => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        code::PROCESSOR_FAILED => StatusCode::BAD_GATEWAY,
        code::DATA_SHREDDED => StatusCode::GONE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError {
            status: status_of(r.code),
            code: r.code,
            message: r.message,
            // The service logged what went wrong inside already; nothing more to log here.
            log_detail: None,
            retry_after_secs: r.retry_after_secs,
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

pub(crate) type ApiResult<T> = Result<T, ApiError>;
