//! End of chat (issue 20, item 9): a conversation's rating for the tenant's staff, and the tenant's reports
//! (chats per day, first-response and handle times, ratings) for its admins and auditors.

use axum::extract::{Path, Query, State};
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::ratings::{self, ConversationRating};
use cordon_service::reports::{self, Report};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{query, BadRequest, Forbidden, NotFound, RateLimited, Unauthenticated};
use crate::error::ApiResult;
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_rating))
        .routes(routes!(get_report))
}

/// A conversation's rating by its visitor, `null` while none was given (conversations:read).
#[utoipa::path(get, path = "/api/v1/conversations/{conversation_id}/rating", tag = "reports",
    security(("session" = []), ("api_key" = [])),
    params(("conversation_id" = String, Path, description = "The conversation's id.")),
    responses((status = 200, body = ConversationRating), (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden), (status = 404, response = NotFound), (status = 429, response = RateLimited)))]
pub(super) async fn get_rating(
    State(state): State<AppState>,
    principal: Principal,
    Path(conversation_id): Path<String>,
) -> ApiResult<Json<ConversationRating>> {
    Ok(Json(
        ratings::read(&state.service, &principal, &conversation_id).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ReportQuery {
    /// The first day, `YYYY-MM-DD` (default: six days before `to`).
    #[param(nullable = false)]
    pub from: Option<String>,
    /// The last day, included, `YYYY-MM-DD` (default: today). At most 92 days from `from`.
    #[param(nullable = false)]
    pub to: Option<String>,
    /// Minutes east of UTC that days are counted in, -840 to 840 (default 0).
    #[param(nullable = false, default = 0)]
    pub utc_offset_minutes: Option<i64>,
}

/// The tenant's report over a range of days: chats per day, first-response time and handle time (median, p90,
/// mean), ratings (average and distribution). Admins and auditors (`admin` or `audit:read`).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports", security(("session" = []), ("api_key" = [])),
    params(ReportQuery),
    responses((status = 200, body = Report), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
pub(super) async fn get_report(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Report>> {
    let q = query(q)?;
    Ok(Json(
        reports::report(
            &state.service,
            &principal,
            q.from.as_deref(),
            q.to.as_deref(),
            q.utc_offset_minutes,
        )
        .await?,
    ))
}
