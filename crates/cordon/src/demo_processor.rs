//! The demo's payment processor (issue 15): what a tenant's processor would be, on the demo store's own
//! site (`/processor/charge`). It checks the vault's signature with the secret the demo set, and prints one
//! line per charge with the brand and last four only: a processor receives the whole card, the demo's
//! terminal never shows it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// Each demo tenant's processor secret (raw bytes), by tenant id.
pub(crate) type Secrets = Arc<Mutex<HashMap<String, Vec<u8>>>>;

pub(crate) fn router(secrets: Secrets) -> Router {
    Router::new()
        .route("/processor/charge", post(charge))
        .with_state(secrets)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn charge(State(secrets): State<Secrets>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "declined", "reason": "not JSON"})),
        )
            .into_response();
    };
    let tenant = v["tenant_id"].as_str().unwrap_or_default();
    let secret = secrets
        .lock()
        .ok()
        .and_then(|m| m.get(tenant).cloned())
        .unwrap_or_default();
    let id = header(&headers, "webhook-id");
    let ts: i64 = header(&headers, "webhook-timestamp").parse().unwrap_or(0);
    let want = cordon_crypto::webhook_signature(&secret, id, ts, &body);
    if secret.is_empty() || header(&headers, "webhook-signature") != want {
        println!("demo processor: refused a request with a bad signature");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "declined", "reason": "bad signature"})),
        )
            .into_response();
    }
    let number = v["card"]["number"].as_str().unwrap_or_default();
    let complete = number.len() >= 12 && number.bytes().all(|b| b.is_ascii_digit());
    let amount = &v["payment"]["amount_minor"];
    let currency = v["payment"]["currency"].as_str().unwrap_or("");
    println!(
        "demo processor: charged {} •••• {} {} minor units of {currency} (token {}, security code {}, full number {}, signature verified)",
        v["brand"].as_str().unwrap_or("?"),
        v["last4"].as_str().unwrap_or("????"),
        amount,
        v["token_id"].as_str().unwrap_or("?"),
        if v["card"]["cvv"].is_string() { "included" } else { "not included" },
        if complete { "received" } else { "MISSING" },
    );
    let charge_id = cordon_crypto::new_id("ch");
    Json(json!({"status": "approved", "charge_id": charge_id})).into_response()
}
