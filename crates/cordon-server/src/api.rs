//! The HTTP API under `/api/v1/`. One registration (utoipa-axum's `OpenApiRouter`) builds both the router and
//! the OpenAPI document, so the document cannot drift from the routes.

// utoipa's `params(...)` expansion qualifies paths we import; the lint fires on generated code.
#![allow(unused_qualifications)]

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cordon_store::{AgentRole, ConversationFilter, ConversationState};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, entry};
use crate::auth::{self, Principal, Scope};
use crate::error::{code, ApiError, ApiResult, ErrorBody};
use crate::ops;
use crate::pipeline::{self, Names};
use crate::protocol::{ConversationView, MessageView};
use crate::throttle;
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cordon API",
        description = "Multi-tenant live chat. Authenticate with `Authorization: Bearer <api key>` or the console's session cookie.",
        version = "1"
    ),
    components(
        schemas(ErrorBody, crate::protocol::ClientFrame, crate::protocol::ServerFrame),
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
pub struct BadRequest(ErrorBody);

/// `not_authenticated`: no session cookie or API key, or one that is not live (expired, revoked, unknown).
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub struct Unauthenticated(ErrorBody);

/// `forbidden`: the caller's role or key scope does not allow this.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub struct Forbidden(ErrorBody);

/// `forbidden`: the caller's role or key scope does not allow this; or `csrf_rejected`: a call with the session
/// cookie whose `Origin` is not the console origin.
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub struct ForbiddenOrCsrf(ErrorBody);

/// `not_found`: no such id in the caller's tenant (an id of another tenant is answered the same way).
#[derive(Debug, utoipa::ToResponse)]
#[allow(dead_code)]
pub struct NotFound(ErrorBody);

/// `rate_limited`: too many failed attempts to authenticate (wrong passwords, unknown API keys) for this
/// account or from this address. Wait `Retry-After` seconds before trying again.
#[derive(Debug, utoipa::ToResponse)]
#[response(headers(("Retry-After" = u64, description = "Seconds to wait before the next attempt.")))]
#[allow(dead_code)]
pub struct RateLimited(ErrorBody);

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
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(get_tenant, update_tenant))
        .routes(routes!(rotate_identity_secret))
        .routes(routes!(list_agents, create_agent))
        .routes(routes!(update_agent))
        .routes(routes!(revoke_agent_sessions))
        .routes(routes!(list_conversations))
        .routes(routes!(get_conversation))
        .routes(routes!(list_messages))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
        .routes(routes!(audit::get_checkpoint))
        .routes(routes!(audit::get_key))
        .routes(routes!(audit::get_entries))
        .routes(routes!(audit::get_inclusion))
        .routes(routes!(audit::get_consistency))
        .merge(crate::exposure::router())
}

/// Record a read by `principal` in its tenant's log, durably, before the data is returned.
async fn record_read(
    state: &AppState,
    principal: &Principal,
    action: &str,
    target: &str,
) -> ApiResult<()> {
    audit::record(
        state,
        vec![entry(
            principal.tenant_id(),
            &principal.actor(),
            action,
            target,
        )],
    )
    .await
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.store.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "database unreachable",
        )
        .into_response()
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found()
}

/// Reject malformed JSON bodies with our own error shape (axum's default text can quote the input).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

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

fn query<T: serde::de::DeserializeOwned>(
    q: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|_| ApiError::bad_request("query parameters do not match the documented schema"))
}

// ---- views -----------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
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

impl From<cordon_store::Agent> for AgentView {
    fn from(a: cordon_store::Agent) -> Self {
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
pub struct TenantView {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    /// Public: the embed snippet carries it.
    pub widget_key: String,
    pub allowed_origins: Vec<String>,
    pub verify_identity: bool,
    pub created_at: i64,
}

impl From<cordon_store::Tenant> for TenantView {
    fn from(t: cordon_store::Tenant) -> Self {
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
pub struct ApiKeyView {
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

impl From<cordon_store::ApiKey> for ApiKeyView {
    fn from(k: cordon_store::ApiKey) -> Self {
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

// ---- auth ------------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The tenant's slug.
    pub tenant: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    pub agent: AgentView,
    pub tenant: String,
    pub expires_at: i64,
}

/// Sign in an agent. Sets the host-only, HttpOnly, SameSite=Strict session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, security(()),
    responses((status = 200, body = LoginResponse), (status = 400, response = BadRequest),
        (status = 401, body = ErrorBody, description = "`bad_credentials`: wrong tenant, username or password, or a disabled agent."),
        (status = 403, body = ErrorBody, description = "`csrf_rejected`: an `Origin` other than the console origin."),
        (status = 429, response = RateLimited)))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<LoginRequest>,
) -> ApiResult<Response> {
    // Login sets a cookie, so a browser may only do it from the console's own page.
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        if origin != state.config.console_origin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                code::CSRF,
                "sign in from the console",
            ));
        }
    }
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            code::BAD_CREDENTIALS,
            "wrong tenant, username or password",
        )
    };
    // Two limits, kept apart (throttle.rs): the client's address, checked before anything is looked up, and
    // the account, checked before the password is. A refused attempt tests nothing and lengthens nothing.
    let throttles = &state.throttle;
    let address = throttle::address_key(peer.ip());
    let by_address = throttles
        .login_address
        .begin(address)
        .map_err(|wait| throttles.refuse(&state, throttle::Kind::LoginAddress, wait))?;
    let tenant = if ops::validate_slug(&req.tenant).is_ok() {
        state.store.tenant_by_slug(&req.tenant).await?
    } else {
        None
    };
    let found = match (&tenant, ops::validate_username(&req.username)) {
        (Some(t), Ok(())) => state.store.agent_credentials(&t.id, &req.username).await?,
        _ => None,
    };
    // The account is the agent if there is one, else the tenant and name typed, as a keyed hash: the name typed
    // is often a password. The same label is the actor of a failed login's audit entry.
    let account = match (&tenant, &found) {
        (_, Some((agent, _))) => format!("agent:{}", agent.id),
        (Some(t), None) => format!("name:{}", state.keys.login_name_hash(&t.id, &req.username)),
        (None, _) => format!(
            "name:{}",
            state.keys.login_name_hash(&req.tenant, &req.username)
        ),
    };
    let by_account = throttles
        .login_account
        .begin(account.clone())
        .map_err(|wait| throttles.refuse(&state, throttle::Kind::LoginAccount, wait))?;
    let password = req.password.clone();
    let (agent, ok) = match found {
        Some((agent, hash)) => {
            let ok = tokio::task::spawn_blocking(move || {
                cordon_crypto::verify_password(&password, &hash)
            })
            .await
            .unwrap_or(false);
            (Some(agent), ok)
        }
        None => {
            // Spend the same time as a real check, so timing does not reveal which usernames exist.
            let _ = tokio::task::spawn_blocking(move || {
                cordon_crypto::verify_password(&password, cordon_crypto::dummy_password_hash())
            })
            .await;
            (None, false)
        }
    };
    let Some(agent) = agent.filter(|a| ok && !a.disabled) else {
        state.metrics.error(code::BAD_CREDENTIALS);
        // The tenant's log when there is a tenant, else the platform's.
        let log_id = tenant
            .as_ref()
            .map_or(cordon_store::PLATFORM_LOG, |t| t.id.as_str());
        let mut entries = vec![entry(log_id, &account, "login.failure", "session")];
        // A back-off is audited once, when it begins; the attempts it refuses are not (they would flood the log).
        if let Some(backoff) = by_account.failed() {
            entries.push(throttles.began_entry(
                throttle::Kind::LoginAccount,
                log_id,
                &account,
                backoff,
            ));
        }
        if let Some(backoff) = by_address.failed() {
            let subject = format!("addr:{}", state.keys.address_hash(address));
            entries.push(throttles.began_entry(
                throttle::Kind::LoginAddress,
                log_id,
                &subject,
                backoff,
            ));
        }
        audit::record(&state, entries).await?;
        return Err(refused());
    };
    by_account.succeeded_and_forgive();
    by_address.succeeded();
    let limits = &state.config.limits;
    let (token, hash) = cordon_crypto::new_token("cs");
    let expires_at = cordon_store::now_ms() + limits.session_absolute.as_millis() as i64;
    let session_id = cordon_crypto::new_id("s");
    let audit = [entry(
        &agent.tenant_id,
        &format!("agent:{}", agent.id),
        "login.success",
        &format!("session:{session_id}"),
    )];
    state
        .store
        .create_session(
            &session_id,
            &agent.tenant_id,
            &agent.id,
            &hash,
            expires_at,
            &audit,
        )
        .await?;
    let cookie = auth::session_cookie(
        &token,
        limits.session_absolute.as_secs(),
        state.config.https,
    );
    let body = LoginResponse {
        tenant: req.tenant,
        agent: agent.into(),
        expires_at,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// End the caller's session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("session" = []), ("api_key" = [])),
    responses((status = 204, description = "Signed out; the cookie is cleared."), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    if let Principal::Agent { session_id, agent } = &principal {
        let audit = [entry(
            &agent.tenant_id,
            &principal.actor(),
            "session.revoke",
            &format!("session:{session_id}"),
        )];
        state
            .store
            .revoke_session(&agent.tenant_id, session_id, &audit)
            .await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            auth::clear_session_cookie(state.config.https),
        )],
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// `agent` or `api_key`.
    pub kind: String,
    pub tenant: TenantView,
    pub agent: Option<AgentView>,
    pub scopes: Vec<String>,
}

/// Who the caller is, in which tenant, with which scopes.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = MeResponse), (status = 401, response = Unauthenticated), (status = 429, response = RateLimited)))]
async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<MeResponse>> {
    let tenant = state.store.tenant(principal.tenant_id()).await?;
    record_read(&state, &principal, "me.read", "principal").await?;
    let scopes = [
        Scope::Admin,
        Scope::ConversationsRead,
        Scope::AuditRead,
        Scope::Chat,
    ]
    .into_iter()
    .filter(|s| principal.has(*s))
    .map(|s| s.as_str().to_string())
    .collect();
    Ok(Json(match principal {
        Principal::Agent { agent, .. } => MeResponse {
            kind: "agent".into(),
            tenant: tenant.into(),
            agent: Some(agent.into()),
            scopes,
        },
        Principal::ApiKey(_) => MeResponse {
            kind: "api_key".into(),
            tenant: tenant.into(),
            agent: None,
            scopes,
        },
    }))
}

// ---- tenant ----------------------------------------------------------------------------------------------

/// The caller's tenant settings.
#[utoipa::path(get, path = "/api/v1/tenant", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<TenantView>> {
    principal.require(Scope::Admin)?;
    let t = state.store.tenant(principal.tenant_id()).await?;
    record_read(
        &state,
        &principal,
        "tenant.read",
        &format!("tenant:{}", t.id),
    )
    .await?;
    Ok(Json(t.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TenantUpdate {
    pub display_name: Option<String>,
    /// Origins allowed to embed the chat frame, e.g. `https://shop.example`.
    pub allowed_origins: Option<Vec<String>>,
    /// Require HMAC-verified visitor identity on every frame.
    pub verify_identity: Option<bool>,
}

/// Change tenant settings (admin).
#[utoipa::path(patch, path = "/api/v1/tenant", tag = "tenant", request_body = TenantUpdate, security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = TenantView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<TenantUpdate>,
) -> ApiResult<Json<TenantView>> {
    principal.require(Scope::Admin)?;
    if let Some(origins) = &req.allowed_origins {
        if origins.len() > 20 {
            return Err(ApiError::bad_request("at most 20 allowed origins"));
        }
        for o in origins {
            ops::validate_origin(o)?;
        }
    }
    let display_name = req
        .display_name
        .as_deref()
        .map(|d| ops::clean_text(d, 80))
        .transpose()?;
    let mut fields = Vec::new();
    if display_name.is_some() {
        fields.push("display_name");
    }
    if req.allowed_origins.is_some() {
        fields.push("allowed_origins");
    }
    match req.verify_identity {
        Some(true) => fields.push("verify_identity=true"),
        Some(false) => fields.push("verify_identity=false"),
        None => {}
    }
    let tenant_id = principal.tenant_id();
    let audit = [entry(
        tenant_id,
        &principal.actor(),
        "tenant.update",
        &format!("tenant:{tenant_id}#{}", fields.join(",")),
    )];
    let t = state
        .store
        .update_tenant(
            tenant_id,
            &cordon_store::TenantPatch {
                display_name,
                allowed_origins: req.allowed_origins,
                verify_identity: req.verify_identity,
            },
            &audit,
        )
        .await?;
    Ok(Json(t.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentitySecretResponse {
    /// Shown once. Your site signs `user_id + ":" + expires` with HMAC-SHA256 under this text.
    pub identity_secret: String,
}

/// Replace the identity-verification secret and show the new one once (admin).
#[utoipa::path(post, path = "/api/v1/tenant/identity-secret", tag = "tenant", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = IdentitySecretResponse), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
async fn rotate_identity_secret(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<IdentitySecretResponse>> {
    principal.require(Scope::Admin)?;
    let secret = cordon_crypto::SecretKey::generate();
    let wrapped = state.keys.master().wrap(
        &crate::keys::identity_secret_context(principal.tenant_id()),
        &secret,
    );
    let audit = [entry(
        principal.tenant_id(),
        &principal.actor(),
        "key.rotate",
        "identity_secret",
    )];
    state
        .store
        .set_identity_secret(principal.tenant_id(), &wrapped, &audit)
        .await?;
    Ok(Json(IdentitySecretResponse {
        identity_secret: secret.dangerous_export_hex(),
    }))
}

// ---- agents ----------------------------------------------------------------------------------------------

/// The tenant's agents (any signed-in agent may list them, e.g. to transfer a chat).
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<AgentView>>> {
    if !(principal.has(Scope::Admin) || principal.has(Scope::Chat)) {
        return Err(ApiError::forbidden());
    }
    let agents = state.store.list_agents(principal.tenant_id()).await?;
    record_read(&state, &principal, "agents.list", "agents").await?;
    Ok(Json(agents.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentCreate {
    pub username: String,
    pub display_name: String,
    /// `admin`, `agent` or `auditor`.
    pub role: String,
    pub capacity: Option<i64>,
    /// At least 10 characters.
    pub password: String,
}

fn parse_role(role: &str) -> ApiResult<AgentRole> {
    AgentRole::parse(role)
        .ok_or_else(|| ApiError::bad_request("role must be admin, agent or auditor"))
}

/// Create an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentCreate, security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = AgentView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 409, body = ErrorBody, description = "`conflict`: the username is taken."), (status = 429, response = RateLimited)))]
async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<AgentCreate>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    principal.require(Scope::Admin)?;
    let role = parse_role(&req.role)?;
    auth::authorize_grant(&principal, auth::role_scopes(role))?;
    let agent = ops::create_agent(
        &state.store,
        principal.tenant_id(),
        &req.username,
        &req.display_name,
        role,
        req.capacity.unwrap_or(3),
        &req.password,
        &principal.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentUpdate {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub capacity: Option<i64>,
    /// Disabling signs the agent out everywhere at once.
    pub disabled: Option<bool>,
    pub password: Option<String>,
}

/// Change an agent (admin).
#[utoipa::path(patch, path = "/api/v1/agents/{agent_id}", tag = "agents", request_body = AgentUpdate, security(("session" = []), ("api_key" = [])),
    params(("agent_id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = AgentView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
async fn update_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(agent_id): Path<String>,
    JsonBody(req): JsonBody<AgentUpdate>,
) -> ApiResult<Json<AgentView>> {
    principal.require(Scope::Admin)?;
    let role = req.role.as_deref().map(parse_role).transpose()?;
    let patch = ops::agent_patch(
        req.display_name.as_deref(),
        role,
        req.capacity,
        req.disabled,
        req.password.as_deref(),
    )?;
    let current = state.store.agent(principal.tenant_id(), &agent_id).await?;
    // A new role hands out its scopes; a new password hands out the agent's role to whoever knows it.
    let mut granted: Vec<Scope> = role.map(auth::role_scopes).unwrap_or_default().to_vec();
    if req.password.is_some() {
        granted.extend_from_slice(auth::role_scopes(role.unwrap_or(current.role)));
    }
    if !granted.is_empty() {
        auth::authorize_grant(&principal, &granted)?;
    }
    let audit = [entry(
        principal.tenant_id(),
        &principal.actor(),
        "agent.update",
        &format!("agent:{agent_id}#{}", ops::patch_fields(&patch)),
    )];
    let agent = state
        .store
        .update_agent(principal.tenant_id(), &agent_id, &patch, &audit)
        .await?;
    Ok(Json(agent.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedResponse {
    pub revoked: u64,
}

/// Sign an agent out everywhere (admin). Open sockets close within a second.
#[utoipa::path(post, path = "/api/v1/agents/{agent_id}/revoke-sessions", tag = "agents", security(("session" = []), ("api_key" = [])),
    params(("agent_id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = RevokedResponse), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
async fn revoke_agent_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<RevokedResponse>> {
    principal.require(Scope::Admin)?;
    state.store.agent(principal.tenant_id(), &agent_id).await?;
    let audit = [entry(
        principal.tenant_id(),
        &principal.actor(),
        "session.revoke_all",
        &format!("agent:{agent_id}"),
    )];
    let revoked = state
        .store
        .revoke_agent_sessions(principal.tenant_id(), &agent_id, &audit)
        .await?;
    Ok(Json(RevokedResponse { revoked }))
}

// ---- conversations ---------------------------------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationQuery {
    /// Only conversations in this state: `queued`, `assigned` or `closed` (default: any).
    #[param(nullable = false, pattern = "^(queued|assigned|closed)?$")]
    pub state: Option<String>,
    /// Only conversations assigned to this agent (an agent id).
    #[param(nullable = false)]
    pub agent_id: Option<String>,
    /// Only conversations of this visitor (a visitor id).
    #[param(nullable = false)]
    pub visitor_id: Option<String>,
    /// `next_cursor` from the previous page, unchanged (opaque); with the same filters.
    #[param(nullable = false)]
    pub cursor: Option<String>,
    /// Page size, 1-200 (default 50; larger values count as 200).
    #[param(nullable = false, default = 50, minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub conversations: Vec<ConversationView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    // Absent, not null, as PROTOCOL §15.3 says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn parse_cursor(c: &str) -> ApiResult<(i64, String)> {
    let (ts, id) = c
        .split_once('.')
        .ok_or_else(|| ApiError::bad_request("invalid cursor"))?;
    let ts = ts
        .parse()
        .map_err(|_| ApiError::bad_request("invalid cursor"))?;
    if !crate::protocol::valid_client_id(id) {
        return Err(ApiError::bad_request("invalid cursor"));
    }
    Ok((ts, id.to_string()))
}

/// Conversation history, newest first (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ConversationQuery), security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = ConversationPage), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
async fn list_conversations(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ConversationQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<ConversationPage>> {
    principal.require(Scope::ConversationsRead)?;
    let q = query(q)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let state_filter = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(
            ConversationState::parse(s)
                .ok_or_else(|| ApiError::bad_request("state must be queued, assigned or closed"))?,
        ),
    };
    let filter = ConversationFilter {
        state: state_filter,
        agent_id: q.agent_id,
        visitor_id: q.visitor_id,
        before: q.cursor.as_deref().map(parse_cursor).transpose()?,
        limit,
    };
    let convs = state
        .store
        .list_conversations(principal.tenant_id(), &filter)
        .await?;
    let next_cursor = if convs.len() as i64 == limit {
        convs.last().map(|c| format!("{}.{}", c.created_at, c.id))
    } else {
        None
    };
    record_read(&state, &principal, "conversations.list", "conversations").await?;
    let mut names = Names::default();
    let mut views = Vec::with_capacity(convs.len());
    for c in &convs {
        views.push(pipeline::conversation_view(&state, &mut names, c).await);
    }
    Ok(Json(ConversationPage {
        conversations: views,
        next_cursor,
    }))
}

/// One conversation (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 200, body = ConversationView), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
async fn get_conversation(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<ConversationView>> {
    principal.require(Scope::ConversationsRead)?;
    let c = state
        .store
        .conversation(principal.tenant_id(), &conversation_id)
        .await?;
    record_read(
        &state,
        &principal,
        "conversation.read",
        &format!("conversation:{}", c.id),
    )
    .await?;
    Ok(Json(
        pipeline::conversation_view(&state, &mut Names::default(), &c).await,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Messages with `seq` greater than this (default 0): `next_after_seq` of the previous page.
    #[param(nullable = false, default = 0, minimum = 0)]
    pub after_seq: Option<i64>,
    /// Page size, 1-500 (default 100; larger values count as 500).
    #[param(nullable = false, default = 100, minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    // Absent, not null, as PROTOCOL §15.3 says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<i64>,
}

/// A conversation's messages, oldest first, already redacted (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/messages", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id."), MessageQuery),
    responses((status = 200, body = MessagePage), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
async fn list_messages(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
    q: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<MessagePage>> {
    principal.require(Scope::ConversationsRead)?;
    let q = query(q)?;
    let tenant_id = principal.tenant_id().to_string();
    state
        .store
        .conversation(&tenant_id, &conversation_id)
        .await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let stored = state
        .store
        .messages_after(
            &tenant_id,
            &conversation_id,
            q.after_seq.unwrap_or(0).max(0),
            limit,
        )
        .await?;
    let mut names = Names::default();
    let mut messages = Vec::with_capacity(stored.len());
    for m in &stored {
        messages.push(
            pipeline::message_view(&state, &mut names, &tenant_id, m)
                .await
                .map_err(|r| ApiError::internal(r.message))?,
        );
    }
    let next_after_seq = if stored.len() as i64 == limit {
        stored.last().map(|m| m.seq)
    } else {
        None
    };
    record_read(
        &state,
        &principal,
        "transcript.read",
        &format!("conversation:{conversation_id}"),
    )
    .await?;
    Ok(Json(MessagePage {
        messages,
        next_after_seq,
    }))
}

// ---- API keys --------------------------------------------------------------------------------------------

/// The tenant's API keys, without their secrets (admin).
#[utoipa::path(get, path = "/api/v1/apikeys", tag = "apikeys", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<ApiKeyView>>> {
    principal.require(Scope::Admin)?;
    let keys = state.store.list_api_keys(principal.tenant_id()).await?;
    record_read(&state, &principal, "apikeys.list", "apikeys").await?;
    Ok(Json(keys.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ApiKeyCreate {
    /// Any of `admin`, `conversations:read`, `audit:read`.
    pub scopes: Vec<String>,
    /// 1-365, default 90.
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    /// The key itself, shown this once. Only its hash is stored.
    pub key: String,
    pub api_key: ApiKeyView,
}

/// Create an API key (admin).
#[utoipa::path(post, path = "/api/v1/apikeys", tag = "apikeys", request_body = ApiKeyCreate, security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = ApiKeyCreated), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 429, response = RateLimited)))]
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    principal.require(Scope::Admin)?;
    // Unknown scope names are refused (400) by ops::create_api_key; the known ones must pass the grant rule.
    let granted: Vec<Scope> = req
        .scopes
        .iter()
        .filter_map(|s| Scope::parse_key_scope(s))
        .collect();
    auth::authorize_grant(&principal, &granted)?;
    let (key, token) = ops::create_api_key(
        &state.store,
        principal.tenant_id(),
        &req.scopes,
        req.expires_in_days,
        &principal.actor(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            key: token,
            api_key: key.into(),
        }),
    ))
}

/// Revoke an API key at once (admin).
#[utoipa::path(delete, path = "/api/v1/apikeys/{key_id}", tag = "apikeys", security(("session" = []), ("api_key" = [])),
    params(("key_id" = String, Path, description = "The key's id (not the key).")),
    responses((status = 204, description = "Revoked."), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Scope::Admin)?;
    let audit = [entry(
        principal.tenant_id(),
        &principal.actor(),
        "apikey.revoke",
        &format!("apikey:{key_id}"),
    )];
    state
        .store
        .revoke_api_key(principal.tenant_id(), &key_id, &audit)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
