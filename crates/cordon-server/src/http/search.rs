//! Search of history by words in messages (issue 20): the tenant's recent conversations opened and matched in
//! memory, nothing indexed (cordon_service::search, docs/PERFORMANCE.md).

use axum::extract::{Query, State};
use axum::Json;
use cordon_service::access::Principal;
use cordon_service::search::{self, SearchResults};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{query, BadRequest, Forbidden, RateLimited, Unauthenticated};
use crate::error::ApiResult;
use crate::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_messages))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// The words, 1-8 of them (each must begin a word of the message; case does not matter). A card number is
    /// refused.
    pub q: String,
    /// At most this many hits, 1-50 (default 20).
    #[param(nullable = false, default = 20, minimum = 1, maximum = 50)]
    pub limit: Option<usize>,
}

/// Messages holding every word, in the tenant's 500 most recent conversations (at most 20,000 messages opened;
/// `truncated` says when the budget or the limit was reached). conversations:read; audited `messages.search`.
#[utoipa::path(get, path = "/api/v1/search/messages", tag = "conversations", security(("session" = []), ("api_key" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults), (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated), (status = 403, response = Forbidden),
        (status = 429, response = RateLimited)))]
pub(super) async fn search_messages(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SearchResults>> {
    let q = query(q)?;
    Ok(Json(
        search::search(&state.service, &principal, &q.q, q.limit.unwrap_or(20)).await?,
    ))
}
