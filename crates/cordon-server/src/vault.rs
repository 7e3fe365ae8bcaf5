//! The card vault's listener (issue 15, docs/PAYMENTS.md): the only place a card number enters Cordon.
//!
//! Its own origin (`--vault-url`) on its own socket (`--vault-listen`), with its own router: the form page
//! (`/v/form/{request_id}`), its script and style (content-addressed, SRI), and `POST /v/cards`. Nothing
//! else is served here: no API, no sockets, no widget or console, so nothing else shares the origin.
//!
//! - The page may be framed only by the widget frame (`frame-ancestors`: the widget origin and the tenant's
//!   sites, since CSP checks every ancestor; the script checks that the direct parent is the widget origin).
//! - `POST /v/cards` takes JSON only from the vault's own origin (`Origin` must match), reads the body itself
//!   (so no decoder error can quote the card), and answers with brand, last four and the token id.
//! - The request log records method, path and status; the path holds the request id, the capability is in
//!   the URL fragment (never sent), the card is in the body (never logged).

use std::sync::LazyLock;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cordon_service::{code, payments};
use serde::Deserialize;

use crate::error::ApiError;
use crate::web::{digest, html_escape};
use crate::AppState;

const VAULT_HTML: &str = include_str!("../../../web/vault.html");
const VAULT_JS: &str = include_str!("../../../web/vault.js");
const VAULT_CSS: &str = include_str!("../../../web/vault.css");

/// Most bytes a card submission may have (a card, a name, a code and two ids fit in well under 1 KiB).
const MAX_BODY: usize = 4096;

/// One of the vault page's files: its path (`/v/vault-<sha384 prefix>.js`), SRI value and bytes.
#[derive(Debug)]
struct File {
    path: String,
    integrity: String,
    content_type: &'static str,
    bytes: &'static [u8],
}

fn file(name: &str, content_type: &'static str, text: &'static str) -> File {
    let (integrity, hex) = digest(text.as_bytes());
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "bin"));
    File {
        path: format!("/v/{stem}-{}.{ext}", &hex[..20]),
        integrity,
        content_type,
        bytes: text.as_bytes(),
    }
}

static FILES: LazyLock<[File; 2]> = LazyLock::new(|| {
    [
        file("vault.js", "text/javascript; charset=utf-8", VAULT_JS),
        file("vault.css", "text/css; charset=utf-8", VAULT_CSS),
    ]
});

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/v/form/{request_id}", get(form_page))
        .route("/v/cards", post(save_card))
        .route("/v/{file}", get(vault_file))
        .fallback(|| async { ApiError::not_found().into_response() })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            vault_headers,
        ))
        .with_state(state)
}

fn vault_origin(state: &AppState) -> Option<&str> {
    state.config.payments.vault_origin.as_deref()
}

/// `http://host:port` → `host:port` (lowercase; default ports dropped), as requests name it in `Host`.
fn authority(origin: &str) -> Option<String> {
    let (scheme, rest) = origin.split_once("://")?;
    let a = rest.split('/').next()?.to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    Some(a.strip_suffix(default).map(str::to_string).unwrap_or(a))
}

/// Every response of the vault: only for the vault's own host (a rebinding name gets nothing), and the
/// headers a page holding card data needs.
async fn vault_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let scheme = if state.config.https { "https" } else { "http" };
    let want = vault_origin(&state).and_then(authority);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| authority(&format!("{scheme}://{h}")));
    let host_ok = want.is_some() && host == want;
    let mut res = if host_ok {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "the card vault is served only on its own origin",
        )
        .into_response()
    };
    let h = res.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        );
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static(crate::web::PERMISSIONS),
    );
    if state.config.https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}

/// Only characters an origin may have, before it goes into a header.
fn header_safe(o: &str) -> bool {
    !o.is_empty()
        && o.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'.' | b'-' | b'[' | b']')
        })
}

fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// The card form for one payment request. Knowing the request id shows amount and description only; the
/// capability that lets the form save a card is in the URL's fragment, which the page's script reads.
async fn form_page(State(state): State<AppState>, Path(request_id): Path<String>) -> Response {
    if vault_origin(&state).is_none() {
        return ApiError::from(cordon_service::Refusal::new(
            code::PAYMENTS_UNAVAILABLE,
            "payments are not enabled on this server",
        ))
        .into_response();
    }
    let page = match payments::form_page(&state.service, &request_id).await {
        Ok(p) => p,
        Err(r) => return ApiError::from(r).into_response(),
    };
    let widget = state.config.widget_origin.as_str();
    let mut ancestors: Vec<&str> = vec![widget];
    ancestors.extend(
        page.allowed_origins
            .iter()
            .map(String::as_str)
            .filter(|o| header_safe(o)),
    );
    let ancestors: Vec<&str> = ancestors.into_iter().filter(|o| header_safe(o)).collect();
    let csp = cordon_vault::form::page_csp(&ancestors);
    let [js, css] = &*FILES;
    // The IIN table is JSON inside a data block; `<` cannot occur in it, escaped anyway so it never could
    // close the element.
    let iin = cordon_vault::form::iin_json().replace('<', "\\u003c");
    let state_text = if page.request.state == "open" {
        "open"
    } else {
        "closed"
    };
    let body = render(
        VAULT_HTML,
        &[
            ("url:vault.js", &js.path),
            ("sri:vault.js", &js.integrity),
            ("url:vault.css", &css.path),
            ("sri:vault.css", &css.integrity),
            ("tenant_name", &html_escape(&page.tenant_name)),
            ("amount", &html_escape(&page.request.amount)),
            ("description", &html_escape(&page.request.description)),
            ("request_id", &html_escape(&page.request.id)),
            ("widget_origin", &html_escape(widget)),
            ("state", state_text),
            ("iin", &iin),
        ],
    );
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

async fn vault_file(Path(file): Path<String>) -> Response {
    let path = format!("/v/{file}");
    let Some(f) = FILES.iter().find(|f| f.path == path) else {
        return ApiError::not_found().into_response();
    };
    let mut res = Response::new(Body::from(f.bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(f.content_type),
    );
    res
}

/// What the form posts.
#[derive(Deserialize)]
struct CardPost {
    request_id: String,
    form_token: String,
    card: cordon_vault::CardInput,
}

fn refused(code: &'static str, message: &'static str, status: StatusCode) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// `POST /v/cards`: the card, straight from the vault form.
async fn save_card(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(origin) = vault_origin(&state) else {
        return refused(
            code::PAYMENTS_UNAVAILABLE,
            "payments are not enabled on this server",
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    // Only the vault's own page posts cards: a page elsewhere cannot make a browser submit one here.
    if headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) != Some(origin) {
        return refused(
            code::CSRF,
            "cards are accepted only from the vault's own form",
            StatusCode::FORBIDDEN,
        );
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return refused(
            code::BAD_REQUEST,
            "send the card as application/json",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        );
    }
    if body.len() > MAX_BODY {
        return refused(
            code::BAD_REQUEST,
            "the request is too large",
            StatusCode::PAYLOAD_TOO_LARGE,
        );
    }
    // Decoded here, with a fixed message on failure: serde's own would quote the input, the card with it.
    let post: CardPost = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(_) => {
            return refused(
                code::BAD_REQUEST,
                "the request is not a card submission",
                StatusCode::BAD_REQUEST,
            )
        }
    };
    drop(body);
    match payments::save_card(
        &state.service,
        &post.request_id,
        &post.form_token,
        &post.card,
    )
    .await
    {
        Ok(saved) => (StatusCode::CREATED, Json(saved)).into_response(),
        Err(r) => ApiError::from(r).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_content_addressed_and_the_page_has_every_placeholder() {
        for f in FILES.iter() {
            assert!(f.path.starts_with("/v/vault-"));
            assert!(f.integrity.starts_with("sha384-"));
        }
        for hole in [
            "url:vault.js",
            "sri:vault.js",
            "url:vault.css",
            "sri:vault.css",
            "amount",
            "description",
            "widget_origin",
            "iin",
        ] {
            assert!(VAULT_HTML.contains(&format!("{{{{{hole}}}}}")), "{hole}");
        }
        assert_eq!(
            authority("http://127.0.0.4:8080").as_deref(),
            Some("127.0.0.4:8080")
        );
        assert_eq!(
            authority("https://Vault.Example:443").as_deref(),
            Some("vault.example")
        );
    }
}
