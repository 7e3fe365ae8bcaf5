//! Refusals: what a use case answers when it will not do what it was asked. A stable code and a message that is
//! safe to show, never quoting the input. Each transport turns a refusal into its own answer once (an HTTP status,
//! an `error` frame, a CLI message); storage failures become refusals here, once.

use std::borrow::Cow;

use cordon_store::StoreError;

/// The stable error codes of the HTTP API and the WebSocket protocol. Documented in docs/PROTOCOL.md.
pub mod code {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const BAD_FRAME: &str = "bad_frame";
    pub const UNKNOWN_TYPE: &str = "unknown_type";
    pub const FRAME_TOO_LARGE: &str = "frame_too_large";
    pub const UNSUPPORTED_VERSION: &str = "unsupported_version";
    pub const NOT_AUTHENTICATED: &str = "not_authenticated";
    pub const BAD_CREDENTIALS: &str = "bad_credentials";
    /// An operator (or an account that requires it) signed in without a TOTP or recovery code.
    pub const SECOND_FACTOR_REQUIRED: &str = "second_factor_required";
    /// An operator reached for a tenant's data without an approved, unexpired grant for it.
    pub const GRANT_REQUIRED: &str = "grant_required";
    /// A person approving their own request where a second person must (break-glass, releases).
    pub const SELF_APPROVAL: &str = "self_approval";
    /// A release signed by no key the platform (or the monitor) trusts.
    pub const UNKNOWN_RELEASE_KEY: &str = "unknown_release_key";
    /// A release signature that claims a trusted key and does not verify.
    pub const BAD_SIGNATURE: &str = "bad_signature";
    /// No approved, signed release is live: the widget's files are not served.
    pub const NO_RELEASE: &str = "no_release";
    /// A widget file on disk differs from its approved manifest: it is not served (HTTP 500).
    pub const RELEASE_TAMPERED: &str = "release_tampered";
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
    /// A chat is rated once it has ended (issue 20): `rating.submit` on a conversation still open.
    pub const CONVERSATION_OPEN: &str = "conversation_open";
    pub const NO_CAPACITY: &str = "no_capacity";
    /// A transfer to an agent who is offline (issue 20): nobody would see the chat until they came back.
    pub const AGENT_OFFLINE: &str = "agent_offline";
    pub const CONFLICT: &str = "conflict";
    pub const ALREADY_AUTHENTICATED: &str = "already_authenticated";
    pub const SESSION_REVOKED: &str = "session_revoked";
    pub const SLOW_CONSUMER: &str = "slow_consumer";
    pub const UNAVAILABLE: &str = "unavailable";
    pub const INTERNAL: &str = "internal";
    /// The tenant was crypto-shredded (`cordon tenant shred`): what its keys sealed cannot be read or written.
    pub const DATA_SHREDDED: &str = "data_shredded";
    /// Payments (issue 15): this server runs no card vault (`--vault-url` unset).
    pub const PAYMENTS_UNAVAILABLE: &str = "payments_unavailable";
    /// The payment request was paid, cancelled or has expired.
    pub const PAYMENT_NOT_OPEN: &str = "payment_not_open";
    /// The vault form's card number, expiry, name or security code is not valid (the message says which).
    pub const CARD_INVALID: &str = "card_invalid";
    /// A forward with no processor URL set for the tenant.
    pub const PAYMENTS_NOT_CONFIGURED: &str = "payments_not_configured";
    /// Detokenization asked of a tenant that has not enabled it.
    pub const DETOKENIZE_DISABLED: &str = "detokenize_disabled";
    /// The tenant's payment processor could not be reached, timed out or redirected (HTTP 502).
    pub const PROCESSOR_FAILED: &str = "processor_failed";
    /// Files (issue 20): larger than the server's limit (HTTP 413).
    pub const FILE_TOO_LARGE: &str = "file_too_large";
    /// The declared type is not one of PNG, JPEG, GIF, WebP, PDF or plain text (HTTP 415).
    pub const FILE_TYPE_NOT_ALLOWED: &str = "file_type_not_allowed";
    /// The file's bytes are not what its declared type says (HTTP 415).
    pub const FILE_TYPE_MISMATCH: &str = "file_type_mismatch";
    /// The bytes start like the declared type but do not parse as it (HTTP 400).
    pub const FILE_MALFORMED: &str = "file_malformed";
}

/// A use case's refusal: a stable code (`code::*`), a fixed message safe to show, and for `rate_limited` how
/// long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub message: Cow<'static, str>,
    /// Seconds to wait before retrying (`rate_limited` only).
    pub retry_after_secs: Option<u64>,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Refusal {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The request does not match what the use case accepts (`bad_request`).
    pub fn invalid(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(code::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        Self::new(code::NOT_FOUND, "not found")
    }

    pub fn forbidden() -> Self {
        Self::new(
            code::FORBIDDEN,
            "your role or key scope does not allow this",
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(code::NOT_AUTHENTICATED, "sign in or send a valid API key")
    }

    /// A failure that is ours, not the caller's: the detail goes to the log, the caller sees `internal`.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal failure");
        Self::new(code::INTERNAL, "internal error")
    }

    /// `rate_limited`, with the wait rounded up to whole seconds.
    pub fn rate_limited(message: impl Into<Cow<'static, str>>, retry_after_secs: u64) -> Self {
        Refusal {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(code::RATE_LIMITED, message)
        }
    }
}

/// The one mapping of storage outcomes to refusals.
impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Refusal::not_found(),
            StoreError::ConversationClosed => {
                Refusal::new(code::CONVERSATION_CLOSED, "the conversation is closed")
            }
            StoreError::NoCapacity => {
                Refusal::new(code::NO_CAPACITY, "the agent has no free capacity")
            }
            StoreError::Conflict(what) => Refusal::new(code::CONFLICT, what),
            StoreError::ShuttingDown => {
                Refusal::new(code::UNAVAILABLE, "the service is shutting down")
            }
            other => {
                tracing::error!(error = %other, "storage failure");
                Refusal::new(code::INTERNAL, "internal error")
            }
        }
    }
}

impl From<crate::keys::KeyError> for Refusal {
    fn from(err: crate::keys::KeyError) -> Self {
        if let crate::keys::KeyError::Store(StoreError::NotFound) = err {
            return Refusal::new(
                code::DATA_SHREDDED,
                "this tenant's data was erased: its keys were destroyed",
            );
        }
        tracing::error!(error = %err, "key failure");
        Refusal::new(code::INTERNAL, "internal error")
    }
}

pub type Result<T, E = Refusal> = std::result::Result<T, E>;
