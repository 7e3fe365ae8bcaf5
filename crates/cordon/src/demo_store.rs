//! The demo's fictional checkout pages, one per demo tenant, each on a host of its own. Each embeds the chat
//! exactly as a customer would: the one-line snippet with its SRI hash. Each sends the headers that
//! docs/EMBEDDING.md recommends to tenants: a CSP that allows scripts only from itself and the widget origin,
//! Trusted Types, and `Integrity-Policy`, so every script on the page must carry an integrity hash.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const STORE_HTML: &str = include_str!("../../../web/demo/store.html");
const STORE_JS: &str = include_str!("../../../web/demo/store.js");
const STORE_CSS: &str = include_str!("../../../web/demo/store.css");

/// What one demo store sells, and whose chat it embeds.
#[derive(Debug, Clone)]
pub(crate) struct Shop {
    pub(crate) name: &'static str,
    pub(crate) theme: &'static str,
    pub(crate) mark: &'static str,
    pub(crate) product: &'static str,
    pub(crate) detail: &'static str,
    pub(crate) price: &'static str,
    /// Where the chat launcher sits (the loader's `data-position`, issue 20): `right` or `left`. The store's
    /// phone layout keeps that corner free, so the launcher covers none of the page.
    pub(crate) launcher: &'static str,
    pub(crate) widget_key: String,
    pub(crate) widget_origin: String,
}

struct File {
    path: String,
    integrity: String,
    content_type: &'static str,
    text: &'static str,
}

fn file(name: &str, ext: &str, content_type: &'static str, text: &'static str) -> File {
    let (integrity, hex) = cordon_server::web::digest(text.as_bytes());
    File {
        path: format!("/{name}-{}.{ext}", &hex[..20]),
        integrity,
        content_type,
        text,
    }
}

/// The CSP a tenant's checkout should send (docs/EMBEDDING.md): scripts only from itself and the widget,
/// frames only from the widget, no inline script, Trusted Types.
pub(crate) fn store_csp(widget_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' {widget_origin}; frame-src {widget_origin}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

pub(crate) fn router(shop: &Shop) -> Router {
    let files = [
        file("store", "js", "text/javascript; charset=utf-8", STORE_JS),
        file("store", "css", "text/css; charset=utf-8", STORE_CSS),
    ];
    let esc = cordon_server::web::html_escape;
    let mut page = STORE_HTML
        .replace("{{shop_name}}", &esc(shop.name))
        .replace("{{theme}}", &esc(shop.theme))
        .replace("{{mark}}", &esc(shop.mark))
        .replace("{{product}}", &esc(shop.product))
        .replace("{{detail}}", &esc(shop.detail))
        .replace("{{price}}", &esc(shop.price))
        .replace("{{launcher}}", shop.launcher)
        .replace("{{snippet}}", &{
            let snippet = cordon_server::web::snippet(&shop.widget_origin, &shop.widget_key);
            if shop.launcher == "left" {
                snippet.replacen(" async>", " data-position=\"left\" async>", 1)
            } else {
                snippet
            }
        });
    for (f, name) in files.iter().zip(["store.js", "store.css"]) {
        page = page
            .replace(&format!("{{{{url:{name}}}}}"), &f.path)
            .replace(&format!("{{{{sri:{name}}}}}"), &f.integrity);
    }
    let csp = store_csp(&shop.widget_origin);
    let page_route = move || {
        let (page, csp) = (page.clone(), csp.clone());
        async move {
            let mut res = (StatusCode::OK, page).into_response();
            let h = res.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Ok(v) = HeaderValue::from_str(&csp) {
                h.insert(header::CONTENT_SECURITY_POLICY, v);
            }
            h.insert(
                "integrity-policy",
                HeaderValue::from_static("blocked-destinations=(script)"),
            );
            h.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("strict-origin-when-cross-origin"),
            );
            res
        }
    };
    let files = std::sync::Arc::new(files);
    Router::new().route("/", get(page_route)).route(
        "/{file}",
        get(move |Path(name): Path<String>| {
            let files = files.clone();
            async move {
                match files.iter().find(|f| f.path[1..] == name) {
                    Some(f) => (
                        [
                            (header::CONTENT_TYPE, f.content_type),
                            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                        ],
                        f.text,
                    )
                        .into_response(),
                    None => (StatusCode::NOT_FOUND, "not found").into_response(),
                }
            }
        }),
    )
}

/// The two demo stores' wares.
pub(crate) fn shop_for(slug: &str, widget_key: String, widget_origin: String) -> Shop {
    match slug {
        "skyway" => Shop {
            name: "Skyway Airlines",
            theme: "skyway",
            mark: "S",
            product: "Flight SK 204 · London → Lisbon",
            detail: "Fri 14 Mar · 1 adult · Economy Flex · seat 17C",
            price: "£189.00",
            launcher: "right",
            widget_key,
            widget_origin,
        },
        _ => Shop {
            name: "Voltmart Electronics",
            theme: "voltmart",
            mark: "V",
            product: "Aurora ANC-700 headphones",
            detail: "Midnight black · 2-year warranty · free delivery",
            price: "€249.00",
            launcher: "left",
            widget_key,
            widget_origin,
        },
    }
}
