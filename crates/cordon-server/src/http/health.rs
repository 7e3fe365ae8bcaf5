//! Health and metrics: `/healthz` (the process answers), `/readyz` (the database answers, and in a cluster the
//! broker is connected) and Prometheus `/metrics`.

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

/// Ready when the database answers and, in a cluster, the broker is connected.
async fn readyz(State(state): State<AppState>) -> Response {
    let reason = if !state.service.ready().await {
        "database unreachable"
    } else if !state.service.broker_ready() {
        "broker unreachable"
    } else {
        return (StatusCode::OK, "ready").into_response();
    };
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code::UNAVAILABLE, reason).into_response()
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = cordon_service::metrics::render_all(&state.service);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}
