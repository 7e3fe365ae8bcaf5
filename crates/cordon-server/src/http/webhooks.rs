//! The tenant's webhooks (issue 16): endpoints (the signing secret shown once), deliveries with the dead-letter
//! view, and redelivery. Tenant admins only; docs/WEBHOOKS.md has the events, the signature and the retries.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::webhooks::{self, DeliveryState, WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    query, BadRequest, Forbidden, ForbiddenOrCsrf, JsonBody, NotFound, RateLimited, Unauthenticated,
};
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(list_deliveries))
        .routes(routes!(redeliver))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    pub id: String,
    pub url: String,
    /// The events it receives.
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: String,
    pub created_by: String,
    /// Unix ms.
    pub created_at: i64,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(e: WebhookEndpoint) -> Self {
        WebhookView {
            id: e.id,
            url: e.url,
            events: e.events,
            enabled: e.enabled,
            description: e.description,
            created_by: e.created_by,
            created_at: e.created_at,
        }
    }
}

/// The tenant's webhook endpoints (admin).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<WebhookView>>> {
    let list = webhooks::list_endpoints(&state.service, &principal).await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct WebhookCreate {
    /// `https://…` (plain `http://` and non-public addresses only where the operator allows them).
    pub url: String,
    /// Any of `conversation.created`, `conversation.assigned`, `conversation.transferred`,
    /// `conversation.closed`, `message.created`; empty or absent: all of them.
    #[serde(default)]
    pub events: Vec<String>,
    /// At most 200 characters.
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookCreated {
    /// The signing secret (`whsec_` + base64), shown this once; it is stored only wrapped by the master key.
    pub secret: String,
    pub webhook: WebhookView,
}

/// Add a webhook endpoint (admin). Its URL must resolve only to public addresses: one that leads to a loopback,
/// private or link-local address is refused with `forbidden`.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookCreate,
    security(("session" = []), ("api_key" = [])),
    responses((status = 201, body = WebhookCreated), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 409, body = ErrorBody, description = "`conflict`: the tenant has 20 endpoints already"),
        (status = 429, response = RateLimited)))]
pub(super) async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<WebhookCreate>,
) -> ApiResult<(StatusCode, Json<WebhookCreated>)> {
    let created = webhooks::create_endpoint(
        &state.service,
        &principal,
        &req.url,
        &req.events,
        &req.description,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(WebhookCreated {
            secret: created.secret,
            webhook: created.endpoint.into(),
        }),
    ))
}

/// Delete a webhook endpoint and its undelivered events (admin).
#[utoipa::path(delete, path = "/api/v1/webhooks/{webhook_id}", tag = "webhooks",
    security(("session" = []), ("api_key" = [])),
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses((status = 204, description = "Deleted."), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound),
        (status = 429, response = RateLimited)))]
pub(super) async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(webhook_id): Path<String>,
) -> ApiResult<StatusCode> {
    webhooks::delete_endpoint(&state.service, &principal, &webhook_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// `pending`, `delivered` or `dead` (the dead letters); absent: all.
    pub state: Option<String>,
    /// 1-500, default 100.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    /// The `webhook-id` header, the same on every attempt.
    pub id: String,
    pub webhook_id: String,
    /// The event type.
    pub event: String,
    pub conversation_id: Option<String>,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i64,
    /// Unix ms of the event, of the next attempt (pending), of delivery, of giving up.
    pub created_at: i64,
    pub next_attempt_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub dead_at: Option<i64>,
    /// The receiver's last HTTP status, and why the last attempt failed.
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        let state = match d.state {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Dead => "dead",
        };
        DeliveryView {
            id: d.id,
            webhook_id: d.endpoint_id,
            event: d.event,
            conversation_id: d.conversation_id,
            state: state.into(),
            attempts: d.attempts,
            created_at: d.created_at,
            next_attempt_at: (d.delivered_at.is_none() && d.dead_at.is_none())
                .then_some(d.next_attempt_at),
            delivered_at: d.delivered_at,
            dead_at: d.dead_at,
            last_status: d.last_status,
            last_error: d.last_error,
        }
    }
}

/// The tenant's webhook deliveries, newest first (admin); `state=dead` is the dead-letter view.
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks", params(DeliveryQuery),
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<DeliveryView>), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
pub(super) async fn list_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<DeliveryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<DeliveryView>>> {
    let q = query(q)?;
    let list = webhooks::list_deliveries(
        &state.service,
        &principal,
        q.state.as_deref(),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

/// Send a dead (or delivered) delivery again now, with a fresh retry budget (admin).
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    security(("session" = []), ("api_key" = [])),
    params(("delivery_id" = String, Path, description = "The delivery's id (its webhook-id).")),
    responses((status = 202, description = "Queued for delivery."), (status = 401, response = Unauthenticated),
        (status = 403, response = ForbiddenOrCsrf), (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`conflict`: the delivery is still pending"),
        (status = 429, response = RateLimited)))]
pub(super) async fn redeliver(
    State(state): State<AppState>,
    principal: Principal,
    Path(delivery_id): Path<String>,
) -> ApiResult<StatusCode> {
    webhooks::redeliver(&state.service, &principal, &delivery_id).await?;
    Ok(StatusCode::ACCEPTED)
}
