//! Payments (issue 15, docs/PAYMENTS.md): the tenant's payment settings (admin) and its card tokens (the
//! `payments` scope): list, read, forward to the tenant's processor, detokenize where the tenant allows it.
//! No route here ever answers with a card number except `detokenize`, which the tenant must have enabled.

use axum::extract::{Path, Query, State};
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::payments::{self, Detokenized, ForwardResult, SettingsView, TokenView};
use serde::Deserialize;
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
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_tokens))
        .routes(routes!(get_token))
        .routes(routes!(forward_token))
        .routes(routes!(detokenize_token))
}

/// The tenant's payment settings (admin): the processor URL, whether detokenization is allowed.
#[utoipa::path(get, path = "/api/v1/payments/settings", tag = "payments",
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = SettingsView), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 429, response = RateLimited)))]
pub(super) async fn get_settings(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(payments::settings(&state.service, &principal).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SettingsUpdate {
    /// Where forwarded cards go: `https://…`, resolving to public addresses only (the webhook rules). Null or
    /// empty removes it.
    pub processor_url: Option<String>,
    /// Allow `payments` keys to detokenize. Turning it on needs an admin signed in at the console.
    #[serde(default)]
    pub detokenize_enabled: bool,
}

/// Change the payment settings (admin). A new processor URL gets a new signing secret, answered this once
/// (`processor_secret`).
#[utoipa::path(put, path = "/api/v1/payments/settings", tag = "payments", request_body = SettingsUpdate,
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = SettingsView), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`forbidden` (not an admin, or the URL leads to a non-public address), `csrf_rejected`, or `session_required` (detokenization turned on with an API key)"),
        (status = 429, response = RateLimited)))]
pub(super) async fn put_settings(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(req): JsonBody<SettingsUpdate>,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(
        payments::set_settings(
            &state.service,
            &principal,
            req.processor_url.as_deref(),
            req.detokenize_enabled,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct TokenQuery {
    /// Only the tokens of this conversation.
    pub conversation_id: Option<String>,
}

/// The tenant's card tokens, newest first (`payments`): brand, last four, expiry; never the number.
#[utoipa::path(get, path = "/api/v1/payments/tokens", tag = "payments", params(TokenQuery),
    security(("session" = []), ("api_key" = [])),
    responses((status = 200, body = Vec<TokenView>), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
pub(super) async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let q = query(q)?;
    Ok(Json(
        payments::list_tokens(&state.service, &principal, q.conversation_id.as_deref()).await?,
    ))
}

/// One card token (`payments`).
#[utoipa::path(get, path = "/api/v1/payments/tokens/{token_id}", tag = "payments",
    security(("session" = []), ("api_key" = [])),
    params(("token_id" = String, Path, description = "The token id (`tok_…`).")),
    responses((status = 200, body = TokenView), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 404, response = NotFound),
        (status = 429, response = RateLimited)))]
pub(super) async fn get_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(token_id): Path<String>,
) -> ApiResult<Json<TokenView>> {
    Ok(Json(
        payments::token(&state.service, &principal, &token_id).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct ForwardRequest {
    /// Passed to the processor as it is (an order number): at most 100 characters, no card number.
    #[serde(default)]
    pub reference: String,
}

/// Forward the token's card to the tenant's processor (`payments`; rate-limited; audited `card.forward`).
/// The processor receives the card, the payment and a Standard Webhooks signature made with the processor
/// secret; this answer has its status and its (redacted) body.
#[utoipa::path(post, path = "/api/v1/payments/tokens/{token_id}/forward", tag = "payments",
    request_body = ForwardRequest, security(("session" = []), ("api_key" = [])),
    params(("token_id" = String, Path, description = "The token id (`tok_…`).")),
    responses((status = 200, body = ForwardResult), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = ForbiddenOrCsrf),
        (status = 404, response = NotFound),
        (status = 409, body = ErrorBody, description = "`payments_not_configured`: no processor URL is set"),
        (status = 429, response = RateLimited),
        (status = 502, body = ErrorBody, description = "`processor_failed`: the processor could not be reached, timed out or redirected")))]
pub(super) async fn forward_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(token_id): Path<String>,
    JsonBody(req): JsonBody<ForwardRequest>,
) -> ApiResult<Json<ForwardResult>> {
    Ok(Json(
        payments::forward(&state.service, &principal, &token_id, &req.reference).await?,
    ))
}

/// Detokenize (`payments`, and only where the tenant enabled it; rate-limited; audited `card.detokenize`).
/// The number, expiry and name, and the security code if the vault still holds it (taken by this call).
#[utoipa::path(post, path = "/api/v1/payments/tokens/{token_id}/detokenize", tag = "payments",
    security(("session" = []), ("api_key" = [])),
    params(("token_id" = String, Path, description = "The token id (`tok_…`).")),
    responses((status = 200, body = Detokenized), (status = 401, response = Unauthenticated),
        (status = 403, body = ErrorBody, description = "`forbidden` (no `payments` scope), `csrf_rejected`, or `detokenize_disabled`"),
        (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn detokenize_token(
    State(state): State<AppState>,
    principal: Principal,
    Path(token_id): Path<String>,
) -> ApiResult<Json<Detokenized>> {
    Ok(Json(
        payments::detokenize(&state.service, &principal, &token_id).await?,
    ))
}
