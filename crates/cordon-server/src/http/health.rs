//! Health and metrics: `/healthz` (the process answers), `/readyz` (the database answers) and Prometheus
//! `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use cordon_service::code;

use crate::error::ApiError;
use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route("/readyz", axum::routing::get(readyz))
        .route("/metrics", axum::routing::get(metrics))
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.service.ready().await {
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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = cordon_service::metrics::render_all(&state.service);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
