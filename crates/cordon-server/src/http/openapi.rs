//! `GET /api/openapi.json`: the document built by the same registration as the routes (http/mod.rs).

use std::sync::Arc;

use axum::Router;

use crate::AppState;

pub(crate) fn router(doc: utoipa::openapi::OpenApi) -> Router<AppState> {
    let doc = Arc::new(doc);
    Router::new().route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { axum::Json(doc.as_ref().clone()) }
        }),
    )
}
