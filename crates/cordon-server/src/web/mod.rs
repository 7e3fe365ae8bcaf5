//! The browser side: security headers for every response, the widget (loader and chat frame) on the widget
//! origin, and the agent console and admin pages on the console origin.
//!
//! The widget runs on tenants' pages, so it is served only from signed, approved releases on disk, checked on
//! every read (release.rs). The console and admin pages never run on a tenant's page and stay embedded in the
//! binary, as do the widget files this build carries: `cordon demo` releases them, and a session record names
//! them when no release is live.
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

use crate::error::ApiError;
use crate::AppState;

mod frame_state;
mod release;
mod sites;

pub use release::Releases;

use frame_state::*;
pub use sites::security_headers;
use sites::*;

/// The default policy for API and JSON responses: nothing may load, nothing may frame them. HTML pages set
/// their own policy before this runs, and it is kept.
const API_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

// ---- embedded files --------------------------------------------------------------------------------------

const LOADER_JS: &str = include_str!("../../../../web/loader.js");
/// Every loader ever shipped. Embedded snippets pin a loader by hash, so each stays served at its original URL
/// for as long as a live release holds it (web/loader-archive/README.md); the transparency report names them.
const LOADER_ARCHIVE: &[&str] = &[
    include_str!("../../../../web/loader-archive/loader-73c777ff295cc46390af.js"),
    // Issue 20: data-position and data-offset place the launcher.
    include_str!("../../../../web/loader-archive/loader-ddbe34824c62e2089018.js"),
    // Issue 20: the page's path and title, and every data-* attribute, to the frame.
    include_str!("../../../../web/loader-archive/loader-4f59a0d8ef8b5d60c8a8.js"),
    // Issue 20: the frame may offer a file for download (sandbox allow-downloads).
    include_str!("../../../../web/loader-archive/loader-cff54a8c89d56855ad1e.js"),
];
const FRAME_HTML: &str = include_str!("../../../../web/frame.html");
const FRAME_JS: &str = include_str!("../../../../web/frame.js");
const FRAME_CSS: &str = include_str!("../../../../web/frame.css");
const CONSOLE_HTML: &str = include_str!("../../../../web/console.html");
const ADMIN_HTML: &str = include_str!("../../../../web/admin.html");
const COMMON_JS: &str = include_str!("../../../../web/common.js");
const CONSOLE_JS: &str = include_str!("../../../../web/console.js");
const CONSOLE_VISITOR_JS: &str = include_str!("../../../../web/console-visitor.js");
const CONSOLE_CANNED_JS: &str = include_str!("../../../../web/console-canned.js");
const CONSOLE_NOTIFY_JS: &str = include_str!("../../../../web/console-notify.js");
const CONSOLE_FILES_JS: &str = include_str!("../../../../web/console-files.js");
const ADMIN_CANNED_JS: &str = include_str!("../../../../web/admin-canned.js");
const ADMIN_AUDIT_JS: &str = include_str!("../../../../web/admin-audit.js");
const ADMIN_JS: &str = include_str!("../../../../web/admin.js");
/// The admin pages' payments section (issue 15, docs/PAYMENTS.md).
const ADMIN_PAYMENTS_JS: &str = include_str!("../../../../web/admin-payments.js");
const ADMIN_REPORTS_JS: &str = include_str!("../../../../web/admin-reports.js");
const ADMIN_FORMS_JS: &str = include_str!("../../../../web/admin-forms.js");
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
    /// The console page for a browser that sends no session cookie: it says so (`data-session="none"`), so the
    /// console shows the sign-in form without asking `/api/v1/me` and logging a 401 on every load (issue 20).
    console_page_anon: String,
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
        asset("console-visitor.js", Site::Console, JS, CONSOLE_VISITOR_JS),
        asset("console-canned.js", Site::Console, JS, CONSOLE_CANNED_JS),
        asset("console-notify.js", Site::Console, JS, CONSOLE_NOTIFY_JS),
        asset("console-files.js", Site::Console, JS, CONSOLE_FILES_JS),
        asset("admin-canned.js", Site::Console, JS, ADMIN_CANNED_JS),
        asset("admin-audit.js", Site::Console, JS, ADMIN_AUDIT_JS),
        asset("admin.js", Site::Console, JS, ADMIN_JS),
        asset("admin-payments.js", Site::Console, JS, ADMIN_PAYMENTS_JS),
        asset("admin-reports.js", Site::Console, JS, ADMIN_REPORTS_JS),
        asset("admin-forms.js", Site::Console, JS, ADMIN_FORMS_JS),
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
        console_page_anon: String::new(),
    };
    assets.console_page = assets.render(CONSOLE_HTML);
    assets.console_page_anon =
        assets
            .console_page
            .replacen("<body>", "<body data-session=\"none\">", 1);
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

/// The one-line embed snippet for a tenant, with the loader this build carries (the demo's first release).
pub fn snippet(widget_origin: &str, widget_key: &str) -> String {
    let (path, integrity) = loader();
    snippet_for(widget_origin, path, integrity, widget_key)
}

/// The one-line embed snippet for a tenant and one release's loader (its path and SRI value).
pub fn snippet_for(widget_origin: &str, path: &str, integrity: &str, widget_key: &str) -> String {
    format!(
        "<script src=\"{widget_origin}{path}\" integrity=\"{integrity}\" crossorigin=\"anonymous\" \
         data-widget-key=\"{}\" async></script>",
        html_escape(widget_key)
    )
}

/// The widget files this build carries, as a release directory holds them (name, bytes): what `cordon demo`
/// proposes as its first release.
pub fn embedded_release_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("loader.js", LOADER_JS.as_bytes()),
        ("frame.html", FRAME_HTML.as_bytes()),
        ("frame.js", FRAME_JS.as_bytes()),
        ("frame.css", FRAME_CSS.as_bytes()),
    ]
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
        .route("/w/frame/{widget_key}", get(release::frame_page))
        .route("/w/state", get(frame_state_get).post(frame_state_put))
        .route("/w/releases", get(release::release_log))
        .route("/w/releases/{id}/{file}", get(release::release_file))
        .route("/w/{file}", get(release::widget_file))
        .route("/c/{file}", get(console_file))
}

async fn index() -> Response {
    Redirect::to("/console").into_response()
}

fn page_csp(self_origin: &str, frame_ancestors: &str) -> String {
    cordon_release::page_csp(self_origin, frame_ancestors)
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

pub(crate) const PERMISSIONS: &str =
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
     serial=(), hid=(), display-capture=(), clipboard-read=()";

async fn console_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Only whether the cookie is there, never its value: a stale cookie still gets the page that asks `/me`.
    let page = if crate::auth::cookie_value(&headers, crate::auth::SESSION_COOKIE)
        .is_some_and(|v| !v.is_empty())
    {
        &ASSETS.console_page
    } else {
        &ASSETS.console_page_anon
    };
    html_response(
        page.clone(),
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
pub(crate) fn widget_origin_is_separate(state: &AppState) -> bool {
    authority_of_origin(&state.config.widget_origin)
        != authority_of_origin(&state.config.console_origin)
}

/// Only characters an origin may have (validated on input, checked again before it enters a header).
pub(crate) fn header_safe_origin(o: &str) -> bool {
    !o.is_empty()
        && o.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b':' | b'/' | b'.' | b'-' | b'[' | b']')
        })
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

async fn console_file(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve_file(Site::Console, &file, &headers)
}
#[cfg(test)]
mod tests {

    #[test]
    fn every_shipped_loader_is_known_and_the_current_one_is_archived() {
        let current = ASSETS.get("loader.js").unwrap();
        assert!(
            LOADER_ARCHIVE.iter().any(|a| a.as_bytes() == current.bytes),
            "web/loader.js changed: archive it (web/loader-archive/README.md) so embedded snippets keep working"
        );
        for text in LOADER_ARCHIVE {
            let (_, hex) = digest(text.as_bytes());
            let path = format!("/w/loader-{}.js", &hex[..20]);
            assert!(ASSETS.by_path.contains_key(&path), "{path} is not known");
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
        assert!(ASSETS
            .console_page_anon
            .contains("<body data-session=\"none\">"));
        assert!(!ASSETS.console_page.contains("data-session"));
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
