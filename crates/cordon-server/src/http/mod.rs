//! The HTTP API under `/api/v1`: one module per resource, each handler reading the request, calling one use case
//! of the service and writing its answer. Also the OpenAPI document, built by the same registration.

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use axum::extract::Query;
use axum::Json;
use cordon_service::access::Scope;
use cordon_service::model::{Agent, ApiKey, Tenant};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

mod agents;
mod apikeys;
mod audit;
mod auth;
mod canned;
mod chat_forms;
mod conversations;
mod exposure;
mod files;
mod grants;
pub(crate) mod health;
mod impact;
mod lifecycle;
mod mfa;
mod notes;
pub(crate) mod openapi;
mod operators;
mod payments;
mod releases;
mod reports;
mod search;
mod tenant;
mod webhooks;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cordon API",
        description = "Multi-tenant live chat. Authenticate with `Authorization: Bearer <api key>` or the console's session cookie.",
        version = "1"
    ),
    components(
        schemas(ErrorBody, cordon_service::protocol::ClientFrame, cordon_service::protocol::ServerFrame),
        responses(BadRequest, Unauthenticated, Forbidden, ForbiddenOrCsrf, NotFound, RateLimited)
    ),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

// The error responses operations share, as response components. They exist only for the document (handlers
// answer with `ApiError`), so they are never built. Each description names its stable code (error::code).

/// `bad_request`: the body or a query parameter does not match the documented schema.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub(crate) struct BadRequest(ErrorBody);

/// `not_authenticated`: no session cookie or API key, or one that is not live (expired, revoked, unknown).
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub(crate) struct Unauthenticated(ErrorBody);

/// `forbidden`: the caller's role or key scope does not allow this.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub(crate) struct Forbidden(ErrorBody);

/// `forbidden`: the caller's role or key scope does not allow this; or `csrf_rejected`: a call with the session
/// cookie whose `Origin` is not the console origin.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub(crate) struct ForbiddenOrCsrf(ErrorBody);

/// `not_found`: no such id in the caller's tenant (an id of another tenant is answered the same way).
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub(crate) struct NotFound(ErrorBody);

/// `rate_limited`: too many failed attempts to authenticate (wrong passwords, unknown API keys) for this
/// account or from this address. Wait `Retry-After` seconds before trying again.
#[derive(Debug, utoipa::ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before the next attempt.")))]
#[allow(dead_code)]
pub(crate) struct RateLimited(ErrorBody);

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Operators' own routes (issue 12): `Authorization: Bearer co_…`, an operator session, not a tenant key.
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // Visitors' file routes on the widget origin (issue 20): the ticket the visitor socket's `file.ticket`
        // gives.
        components.add_security_scheme(
            "visitor_ticket",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Cordon-File-Ticket"))),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(tenant::get_tenant, tenant::update_tenant))
        .routes(routes!(tenant::rotate_identity_secret))
        .routes(routes!(agents::list_agents, agents::create_agent))
        .routes(routes!(agents::update_agent))
        .routes(routes!(agents::revoke_agent_sessions))
        .routes(routes!(conversations::list_conversations))
        .routes(routes!(conversations::get_conversation))
        .routes(routes!(conversations::list_messages))
        .routes(routes!(conversations::get_visitor_profile))
        .routes(routes!(apikeys::list_api_keys, apikeys::create_api_key))
        .routes(routes!(apikeys::revoke_api_key))
        .routes(routes!(audit::get_checkpoint))
        .routes(routes!(audit::get_key))
        .routes(routes!(audit::get_entries))
        .routes(routes!(audit::get_inclusion))
        .routes(routes!(audit::get_consistency))
        .merge(exposure::router())
        .merge(impact::router())
        .merge(operators::router())
        .merge(grants::router())
        .merge(mfa::router())
        .merge(releases::router())
        .merge(webhooks::router())
        .merge(canned::router())
        .merge(notes::router())
        .merge(reports::router())
        .merge(chat_forms::router())
        .merge(files::router())
        .merge(search::router())
        .merge(lifecycle::router())
        .merge(payments::router())
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Reject malformed JSON bodies with our own error shape (axum's default text can quote the input).
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(JsonBody(v)),
            Err(_) => Err(ApiError::bad_request(
                "body must be JSON matching the documented schema",
            )),
        }
    }
}

pub(crate) fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|_| ApiError::bad_request("query parameters do not match the documented schema"))
}

// ---- views -----------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AgentView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `admin`, `agent` or `auditor`.
    pub role: String,
    pub capacity: i64,
    /// `online`, `away` or `offline`.
    pub status: String,
    pub disabled: bool,
    pub created_at: i64,
}

impl From<Agent> for AgentView {
    fn from(a: Agent) -> Self {
        AgentView {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            role: a.role.as_str().to_string(),
            capacity: a.capacity,
            status: a.status.as_str().to_string(),
            disabled: a.disabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantView {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    /// Public: the embed snippet carries it.
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub verify_identity: bool,
    pub created_at: i64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            slug: t.slug,
            display_name: t.display_name,
            widget_key: t.widget_key,
            allowed_origins: t.allowed_origins,
            verify_identity: t.verify_identity,
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKeyView {
    pub id: String,
    /// The key's first characters, to recognise it. Not enough to use it.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Who created the key, as the audit log names actors (`agent:a_…`, `apikey:k_…`, `operator:cli`); empty for
    /// keys created before this was recorded.
    pub created_by: String,
    /// The key's scopes that reach transcripts or the audit log (`conversations:read`, `audit:read`).
    pub sensitive_scopes: Vec<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        let sensitive_scopes = k
            .scopes
            .iter()
            .filter(|s| Scope::parse_key_scope(s).is_some_and(Scope::is_sensitive))
            .cloned()
            .collect();
        ApiKeyView {
            id: k.id,
            prefix: k.prefix,
            scopes: k.scopes,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
            created_by: k.created_by,
            sensitive_scopes,
        }
    }
}
