//! The tenant's agents.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::{Principal, Scope};
use cordon_service::management::{self, Actor, AgentChange, AgentRequest};
use cordon_service::model::AgentRole;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AgentView, BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited,
    Unauthenticated,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

fn parse_role(role: &str) -> ApiResult<AgentRole> {
    AgentRole::parse(role)
        .ok_or_else(|| ApiError::bad_request("role must be admin, agent or auditor"))
}

/// The tenant's agents (any signed-in agent may list them, e.g. to transfer a chat).
#[utoipa::path(get, path = "/api/v1/agents", tag = "agents", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<AgentView>), (status = 401, response = Unauthenticated), (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_agents(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<AgentView>>> {
    if !(principal.has(Scope::Admin) || principal.has(Scope::Chat)) {
        return Err(ApiError::forbidden());
    }
    let agents =
        management::list_agents(&state.service, principal.tenant_id(), &principal.actor()).await?;
    Ok(Json(agents.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AgentCreate {
    pub username: String,
    pub display_name: String,
    /// `admin`, `agent` or `auditor`.
    pub role: String,
    pub capacity: Option<i64>,
    /// At least 10 characters.
    pub password: String,
}

/// Create an agent (admin).
#[utoipa::path(post, path = "/api/v1/agents", tag = "agents", request_body = AgentCreate, security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = AgentView), (status = 400, response = BadRequest), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 409, body = ErrorBody, description = "`conflict`: the username is taken."), (status = 429, response = RateLimited)))]
pub(super) async fn create_agent(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<AgentCreate>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    principal.require(Scope::Admin)?;
    let request = AgentRequest {
        username: &req.username,
        display_name: &req.display_name,
        role: parse_role(&req.role)?,
        capacity: req.capacity.unwrap_or(3),
        password: &req.password,
    };
    let agent = management::create_agent(
        &state.service,
        principal.tenant_id(),
        request,
        Actor::Caller(&principal),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(agent.into())))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct AgentUpdate {
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
pub(super) async fn update_agent(
    State(state): State<AppState>,
    principal: Principal,
    Path(agent_id): Path<String>,
    JsonBody(req): JsonBody<AgentUpdate>,
) -> ApiResult<Json<AgentView>> {
    principal.require(Scope::Admin)?;
    let change = AgentChange {
        display_name: req.display_name.as_deref(),
        role: req.role.as_deref().map(parse_role).transpose()?,
        capacity: req.capacity,
        disabled: req.disabled,
        password: req.password.as_deref(),
    };
    let agent = management::update_agent(
        &state.service,
        principal.tenant_id(),
        &agent_id,
        change,
        Actor::Caller(&principal),
    )
    .await?;
    Ok(Json(agent.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RevokedResponse {
    pub revoked: u64,
}

/// Sign an agent out everywhere (admin). Open sockets close within a second.
#[utoipa::path(post, path = "/api/v1/agents/{agent_id}/revoke-sessions", tag = "agents", security(("session" = []), ("api_key" = [])),
    params(("agent_id" = String, Path, description = "The agent's id.")),
    responses((status = 200, body = RevokedResponse), (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn revoke_agent_sessions(
    State(state): State<AppState>,
    principal: Principal,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<RevokedResponse>> {
    let revoked = management::revoke_agent_sessions(&state.service, &principal, &agent_id).await?;
    Ok(Json(RevokedResponse { revoked }))
}
