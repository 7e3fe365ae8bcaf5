//! The browser side: security headers for every response, the widget (loader and chat frame) on the widget
//! origin, and the agent console and admin pages on the console origin. Every file is embedded in the binary.
//!
//! Three sites take part: the tenant's page (runs only the SRI-pinned loader), the widget origin (the chat
//! frame) and the console origin (console, admin and API). Requests are routed by their `Host`: widget pages
//! are served only on the widget origin and console pages only on the console origin, so script running in
//! the visitor-facing frame can never share an origin (or a cookie) with an agent's session.
//!
//! Static files are content-addressed (`/w/frame-<sha384 hex prefix>.js`) and immutable; pages reference
//! them with SRI. The hashes of the widget's files go into every visitor session record (the exposure
//! record), so it can later be told which code each session ran.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use sha2::{Digest, Sha384};

use cordon_service::code;

use crate::error::ApiError;
use crate::AppState;

mod frame_state;
mod sites;

use frame_state::*;
pub use sites::security_headers;
use sites::*;

/// The default policy for API and JSON responses: nothing may load, nothing may frame them. HTML pages set
/// their own policy before this runs, and it is kept.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

// ---- embedded files --------------------------------------------------------------------------------------

const LOADER_JS: &str = include_str!("../../../../web/loader.js");
/// Every loader ever shipped, served at its original URL forever: embedded snippets pin it by hash
/// (web/loader-archive/README.md).
const LOADER_ARCHIVE: &[&str] = &[include_str!(
    "../../../../web/loader-archive/loader-73c777ff295cc46390af.js"
)];
const FRAME_HTML: &str = include_str!("../../../../web/frame.html");
const FRAME_JS: &str = include_str!("../../../../web/frame.js");
const FRAME_CSS: &str = include_str!("../../../../web/frame.css");
const CONSOLE_HTML: &str = include_str!("../../../../web/console.html");
const ADMIN_HTML: &str = include_str!("../../../../web/admin.html");
const COMMON_JS: &str = include_str!("../../../../web/common.js");
const CONSOLE_JS: &str = include_str!("../../../../web/console.js");
const ADMIN_JS: &str = include_str!("../../../../web/admin.js");
const CONSOLE_CSS: &str = include_str!("../../../../web/console.css");
const ICON_SVG: &str = include_str!("../../../../web/icon.svg");

/// Which origin serves a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    Widget,
    Console,
}

/// One embedded, content-addressed file.
#[derive(Debug)]
pub struct Asset {
    /// Its source name under `web/`, e.g. `loader.js`.
    pub name: &'static str,
    /// Its path on its origin, e.g. `/w/loader-0123456789abcdef0123.js`.
    pub path: String,
    /// The SRI value: `sha384-<base64>`.
    pub integrity: String,
    /// Lowercase hex of the SHA-384 of the bytes (the form kept in session records).
    pub sha384: String,
    pub content_type: &'static str,
    pub site: Site,
    pub bytes: &'static [u8],
}

/// Digest in both forms: SRI (`sha384-<base64>`) and lowercase hex.
pub fn digest(bytes: &[u8]) -> (String, String) {
    let d = Sha384::digest(bytes);
    (
        format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(d)
        ),
        hex::encode(d),
    )
}

fn asset(name: &'static str, site: Site, content_type: &'static str, text: &'static str) -> Asset {
    let bytes = text.as_bytes();
    let (integrity, sha384) = digest(bytes);
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "bin"));
    let prefix = match site {
        Site::Widget => "/w/",
        Site::Console => "/c/",
    };
    Asset {
        name,
        path: format!("{prefix}{stem}-{}.{ext}", &sha384[..20]),
        integrity,
        sha384,
        content_type,
        site,
        bytes,
    }
}

#[derive(Debug)]
struct Assets {
    by_path: HashMap<String, usize>,
    list: Vec<Asset>,
    /// The frame page template's digest (the page itself is rendered per tenant).
    frame_page: (String, String),
    console_page: String,
    admin_page: String,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: LazyLock<Assets> = LazyLock::new(|| {
    let list = [
        asset("loader.js", Site::Widget, JS, LOADER_JS),
        asset("frame.js", Site::Widget, JS, FRAME_JS),
        asset("frame.css", Site::Widget, CSS, FRAME_CSS),
        asset("common.js", Site::Console, JS, COMMON_JS),
        asset("console.js", Site::Console, JS, CONSOLE_JS),
        asset("admin.js", Site::Console, JS, ADMIN_JS),
        asset("console.css", Site::Console, CSS, CONSOLE_CSS),
        asset("icon.svg", Site::Console, "image/svg+xml", ICON_SVG),
    ]
    .into_iter()
    // Archived loaders come after the current one, which `get("loader.js")` finds first.
    .chain(
        LOADER_ARCHIVE
            .iter()
            .map(|text| asset("loader.js", Site::Widget, JS, text)),
    )
    .collect::<Vec<_>>();
    let by_path = list
        .iter()
        .enumerate()
        .map(|(i, a)| (a.path.clone(), i))
        .collect();
    let mut assets = Assets {
        by_path,
        list,
        frame_page: digest(FRAME_HTML.as_bytes()),
        console_page: String::new(),
        admin_page: String::new(),
    };
    assets.console_page = assets.render(CONSOLE_HTML);
    assets.admin_page = assets.render(ADMIN_HTML);
    assets
});

impl Assets {
    fn get(&self, name: &str) -> Option<&Asset> {
        self.list.iter().find(|a| a.name == name)
    }

    /// Replace `{{url:NAME}}` and `{{sri:NAME}}` with an asset's path and integrity.
    fn render(&self, template: &str) -> String {
        let mut out = template.to_string();
        for a in &self.list {
            out = out
                .replace(&format!("{{{{url:{}}}}}", a.name), &a.path)
                .replace(&format!("{{{{sri:{}}}}}", a.name), &a.integrity);
        }
        out
    }
}

/// Every embedded static file (not the pages).
pub fn assets() -> &'static [Asset] {
    &ASSETS.list
}

/// The loader's path on the widget origin and its SRI value.
pub fn loader() -> (&'static str, &'static str) {
    match ASSETS.get("loader.js") {
        Some(a) => (&a.path, &a.integrity),
        None => ("", ""),
    }
}

/// The one-line embed snippet for a tenant.
pub fn snippet(widget_origin: &str, widget_key: &str) -> String {
    let (path, integrity) = loader();
    format!(
        "<script src=\"{widget_origin}{path}\" integrity=\"{integrity}\" crossorigin=\"anonymous\" \
         data-widget-key=\"{}\" async></script>",
        html_escape(widget_key)
    )
}

/// What the exposure record keeps for each visitor session: the SHA-384 (hex) of every widget file this
/// node serves — the loader, the frame page template, the frame's script and style. The frame page pins its
/// script and style by SRI and is never cached, so a session that ran here ran exactly these bytes.
pub fn session_asset_hashes() -> &'static [String] {
    static HASHES: LazyLock<Vec<String>> = LazyLock::new(|| {
        // The current files only: archived loaders are served for old snippets, not by this release's pages.
        let mut seen = std::collections::HashSet::new();
        let mut v: Vec<String> = ASSETS
            .list
            .iter()
            .filter(|a| a.site == Site::Widget && seen.insert(a.name))
            .map(|a| a.sha384.clone())
            .collect();
        v.insert(1, ASSETS.frame_page.1.clone());
        v
    });
    &HASHES
}

/// The widget's files with their digests, for the API (`name`, `path`, `integrity`, `sha384`).
pub fn widget_files() -> Vec<(&'static str, String, String, String)> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<_> = ASSETS
        .list
        .iter()
        .filter(|a| a.site == Site::Widget && seen.insert(a.name))
        .map(|a| {
            (
                a.name,
                a.path.clone(),
                a.integrity.clone(),
                a.sha384.clone(),
            )
        })
        .collect();
    out.insert(
        1,
        (
            "frame.html",
            "/w/frame/{widget_key}".to_string(),
            ASSETS.frame_page.0.clone(),
            ASSETS.frame_page.1.clone(),
        ),
    );
    out
}

/// Every widget file a release of this server ever served, as (name, lowercase hex SHA-384): the current
/// loader, frame page template, frame script and style, and every archived loader (named `… (archived)`). The
/// transparency report calls a hash outside this list unknown.
pub fn known_widget_files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = widget_files()
        .into_iter()
        .map(|(name, _, _, sha384)| (name.to_string(), sha384))
        .collect();
    for a in ASSETS.list.iter().filter(|a| a.site == Site::Widget) {
        if !out.iter().any(|(_, h)| h == &a.sha384) {
            out.push((format!("{} (archived)", a.name), a.sha384.clone()));
        }
    }
    out
}

pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

// ---- routes ----------------------------------------------------------------------------------------------

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/console", get(console_page))
        .route("/console/", get(console_page))
        .route("/console/admin", get(admin_page))
        .route("/w/frame/{widget_key}", get(frame_page))
        .route("/w/state", get(frame_state_get).post(frame_state_put))
        .route("/w/{file}", get(widget_file))
        .route("/c/{file}", get(console_file))
}

async fn index() -> Response {
    Redirect::to("/console").into_response()
}

/// The socket origin matching an http(s) origin: `http://h:p` → `ws://h:p`.
fn ws_origin(origin: &str) -> String {
    if let Some(rest) = origin.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        origin.to_string()
    }
}

/// A strict policy for our own pages: only our own files (which also carry SRI), no inline script or style,
/// no eval, and DOM sinks that parse HTML refuse strings (Trusted Types, with no policy allowed).
fn page_csp(self_origin: &str, frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' {ws}; font-src 'none'; media-src 'none'; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}; \
         require-trusted-types-for 'script'; trusted-types 'none'",
        ws = ws_origin(self_origin)
    )
}

fn html_response(body: String, csp: &str, extra: &[(&'static str, &'static str)]) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (k, v) in extra {
        h.insert(*k, HeaderValue::from_static(v));
    }
    res
}

const PERMISSIONS: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
     serial=(), hid=(), display-capture=(), clipboard-read=()";

async fn console_page(State(state): State<AppState>) -> Response {
    html_response(
        ASSETS.console_page.clone(),
        &page_csp(&state.config.console_origin, "'none'"),
        &[
            ("x-frame-options", "DENY"),
            ("permissions-policy", PERMISSIONS),
        ],
    )
}

async fn admin_page(State(state): State<AppState>) -> Response {
    html_response(
        ASSETS.admin_page.clone(),
        &page_csp(&state.config.console_origin, "'none'"),
        &[
            ("x-frame-options", "DENY"),
            ("permissions-policy", PERMISSIONS),
        ],
    )
}

/// Is the widget on a site of its own? Serving the frame on the console's origin would put visitor-facing
/// script next to agent sessions, so the frame is refused until the two differ.
fn widget_origin_is_separate(state: &AppState) -> bool {
    authority_of_origin(&state.config.widget_origin)
        != authority_of_origin(&state.config.console_origin)
}

/// Only characters an origin may have (validated on input, checked again before it enters a header).
fn header_safe_origin(o: &str) -> bool {
    !o.is_empty()
        && o.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'.' | b'-' | b'[' | b']')
        })
}

/// The chat frame for one tenant. The widget key is public; the page may be framed only by the tenant's
/// allowed origins (`frame-ancestors`), and it never receives a token in its URL.
async fn frame_page(State(state): State<AppState>, Path(widget_key): Path<String>) -> Response {
    if !widget_origin_is_separate(&state) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "the widget needs an origin of its own: set --widget-url (or --widget-listen)",
        )
        .into_response();
    }
    if !cordon_service::protocol::valid_client_id(&widget_key) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            code::UNKNOWN_TENANT,
            "unknown widget key",
        )
        .into_response();
    }
    let tenant =
        match cordon_service::visitors::tenant_by_widget_key(&state.service, &widget_key).await {
            Ok(Some(t)) => t,
            Ok(None) => {
                return ApiError::new(
                    StatusCode::NOT_FOUND,
                    code::UNKNOWN_TENANT,
                    "unknown widget key",
                )
                .into_response()
            }
            Err(e) => return ApiError::from(e).into_response(),
        };
    let origins: Vec<&str> = tenant
        .allowed_origins
        .iter()
        .map(String::as_str)
        .filter(|o| header_safe_origin(o))
        .collect();
    let ancestors = if origins.is_empty() {
        "'none'".to_string()
    } else {
        origins.join(" ")
    };
    let body = ASSETS
        .render(FRAME_HTML)
        .replace("{{tenant_name}}", &html_escape(&tenant.display_name))
        .replace("{{allowed_origins}}", &html_escape(&origins.join(" ")));
    html_response(
        body,
        &page_csp(&state.config.widget_origin, &ancestors),
        &[("permissions-policy", PERMISSIONS)],
    )
}

fn file_response(a: &Asset, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", &a.sha384[..32]);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str())
    {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut res = Response::new(Body::from(a.bytes));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    if a.name == "loader.js" {
        // The loader runs on tenants' pages: SRI on a cross-origin script needs CORS.
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("cross-origin"),
        );
    } else {
        h.insert(
            "cross-origin-resource-policy",
            HeaderValue::from_static("same-origin"),
        );
    }
    res
}

fn serve_file(site: Site, file: &str, headers: &HeaderMap) -> Response {
    let prefix = match site {
        Site::Widget => "/w/",
        Site::Console => "/c/",
    };
    match ASSETS.by_path.get(&format!("{prefix}{file}")) {
        Some(&i) if ASSETS.list[i].site == site => file_response(&ASSETS.list[i], headers),
        _ => ApiError::not_found().into_response(),
    }
}

async fn widget_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve_file(Site::Widget, &file, &headers)
}

async fn console_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve_file(Site::Console, &file, &headers)
}
#[cfg(test)]
mod tests {

    #[test]
    fn every_shipped_loader_stays_served_and_the_current_one_is_archived() {
        let current = ASSETS.get("loader.js").unwrap();
        assert!(
            LOADER_ARCHIVE.iter().any(|a| a.as_bytes() == current.bytes),
            "web/loader.js changed: archive it (web/loader-archive/README.md) so embedded snippets keep working"
        );
        for text in LOADER_ARCHIVE {
            let (_, hex) = digest(text.as_bytes());
            let path = format!("/w/loader-{}.js", &hex[..20]);
            assert!(ASSETS.by_path.contains_key(&path), "{path} is not served");
        }
    }

    use super::*;

    #[test]
    fn assets_are_content_addressed() {
        let (path, integrity) = loader();
        assert!(path.starts_with("/w/loader-") && path.ends_with(".js"));
        assert!(integrity.starts_with("sha384-"));
        let a = ASSETS.get("loader.js").unwrap();
        assert_eq!(digest(a.bytes).0, integrity);
        assert!(path.contains(&a.sha384[..20]));
        assert_eq!(session_asset_hashes().len(), 4);
    }

    #[test]
    fn pages_reference_every_file_they_need_by_hash() {
        for page in [&ASSETS.console_page, &ASSETS.admin_page] {
            assert!(!page.contains("{{"), "unrendered placeholder");
            assert!(page.contains("integrity=\"sha384-"));
        }
        let frame = ASSETS.render(FRAME_HTML);
        assert!(frame.contains(&ASSETS.get("frame.js").unwrap().path));
    }

    #[test]
    fn origins_and_hosts() {
        assert_eq!(
            authority_of_origin("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            authority_of_origin("https://Chat.Example:443/").as_deref(),
            Some("chat.example")
        );
        assert_eq!(
            normalise_authority("http", "chat.example:80"),
            "chat.example"
        );
        assert_eq!(path_kind("/w/frame/k"), PathKind::WidgetPage);
        assert_eq!(path_kind("/console/admin"), PathKind::ConsolePage);
        assert_eq!(path_kind("/api/v1/me"), PathKind::ConsoleApi);
        assert_eq!(path_kind("/ws/visitor"), PathKind::Neutral);
        assert!(!header_safe_origin("https://a.example; script-src *"));
    }

    #[test]
    fn snippet_escapes_and_pins() {
        let s = snippet("http://127.0.0.2:8080", "wk_\"x");
        assert!(s.contains("integrity=\"sha384-"));
        assert!(s.contains("crossorigin=\"anonymous\""));
        assert!(s.contains("wk_&quot;x"));
    }
}
