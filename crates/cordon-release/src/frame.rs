//! The frame page: a template in the release (`frame.html`), rendered per tenant by the server and matched
//! against a served page by the monitor.
//!
//! Placeholders are `{{name}}`. Fixed ones come from the release: `{{url:frame.js}}`, `{{sri:frame.js}}` (and
//! the same for `frame.css` and `loader.js`), `{{release}}` (the release id). Two are the tenant's, HTML-escaped
//! by the server: `{{tenant_name}}` and `{{allowed_origins}}`. A served page matches its template when every
//! literal and every fixed placeholder is exactly there, and the tenant's values hold no `<`, `>`, `"` or `'`
//! (so they cannot open a tag or leave an attribute) and are the same wherever they repeat.

use crate::{Manifest, ReleaseError};

/// The placeholders the server fills from the tenant (already HTML-escaped).
const FREE: &[&str] = &["tenant_name", "allowed_origins"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Literal(&'a str),
    Hole(&'a str),
}

fn segments(template: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        if start > 0 {
            out.push(Segment::Literal(&rest[..start]));
        }
        out.push(Segment::Hole(&rest[start + 2..start + 2 + len]));
        rest = &rest[start + 2 + len + 2..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest));
    }
    out
}

/// The value of a fixed placeholder for this release, or `None` for an unknown one.
fn fixed(manifest: &Manifest, hole: &str) -> Option<String> {
    if hole == "release" {
        return Some(manifest.id().to_string());
    }
    let (kind, name) = hole.split_once(':')?;
    let file = manifest.file(name)?;
    match kind {
        "url" => Some(file.path()),
        "sri" => Some(file.integrity()),
        _ => None,
    }
}

/// The page for one tenant: the template with the release's paths and SRI values and the tenant's values
/// (which the caller has HTML-escaped). In one pass, so nothing in a tenant's value is expanded.
pub fn render_frame(
    template: &str,
    manifest: &Manifest,
    tenant_name: &str,
    allowed_origins: &str,
) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    for seg in segments(template) {
        match seg {
            Segment::Literal(s) => out.push_str(s),
            Segment::Hole("tenant_name") => out.push_str(tenant_name),
            Segment::Hole("allowed_origins") => out.push_str(allowed_origins),
            Segment::Hole(h) => match fixed(manifest, h) {
                Some(v) => out.push_str(&v),
                // Unknown placeholders stay as written (and a monitor then refuses the template).
                None => {
                    out.push_str("{{");
                    out.push_str(h);
                    out.push_str("}}");
                }
            },
        }
    }
    out
}

/// What a served frame page filled in for its tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameValues {
    pub tenant_name: String,
    /// The tenant's allowed origins, space-separated (the page's `frame-ancestors`).
    pub allowed_origins: String,
}

fn safe_free_value(v: &str) -> bool {
    !v.contains(['<', '>', '"', '\'', '\n'])
}

/// Check that `page` is `template` rendered for `manifest` with safe tenant values, and answer those values.
pub fn match_frame(
    template: &str,
    manifest: &Manifest,
    page: &str,
) -> Result<FrameValues, ReleaseError> {
    let segs = segments(template);
    let mut values = FrameValues::default();
    let mut seen = [None::<String>, None::<String>];
    let mut pos = 0usize;
    for (i, seg) in segs.iter().enumerate() {
        let rest = &page[pos..];
        match *seg {
            Segment::Literal(lit) => {
                if !rest.starts_with(lit) {
                    return Err(ReleaseError::FrameMismatch("the markup differs"));
                }
                pos += lit.len();
            }
            Segment::Hole(h) if FREE.contains(&h) => {
                let Some(Segment::Literal(next)) = segs.get(i + 1) else {
                    return Err(ReleaseError::FrameMismatch(
                        "the template has a tenant value that no markup follows",
                    ));
                };
                let len = rest
                    .find(next)
                    .ok_or(ReleaseError::FrameMismatch("the markup differs"))?;
                let value = &rest[..len];
                if !safe_free_value(value) {
                    return Err(ReleaseError::FrameMismatch("a tenant value holds markup"));
                }
                let slot = usize::from(h == "allowed_origins");
                match &seen[slot] {
                    Some(before) if before != value => {
                        return Err(ReleaseError::FrameMismatch(
                            "a tenant value differs where it repeats",
                        ))
                    }
                    _ => seen[slot] = Some(value.to_string()),
                }
                pos += len;
            }
            Segment::Hole(h) => {
                let v = fixed(manifest, h).ok_or(ReleaseError::FrameMismatch(
                    "the template has an unknown placeholder",
                ))?;
                if !rest.starts_with(&v) {
                    return Err(ReleaseError::FrameMismatch(
                        "a file's path, its integrity or the release id differs",
                    ));
                }
                pos += v.len();
            }
        }
    }
    if pos != page.len() {
        return Err(ReleaseError::FrameMismatch(
            "the page has more than its template",
        ));
    }
    let [name, origins] = seen;
    values.tenant_name = name.unwrap_or_default();
    values.allowed_origins = origins.unwrap_or_default();
    Ok(values)
}

/// The socket origin matching an http(s) origin: `http://h:p` → `ws://h:p`.
pub fn ws_origin(origin: &str) -> String {
    if let Some(rest) = origin.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = origin.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        origin.to_string()
    }
}

/// The policy of Cordon's own pages (the frame, the console): only their own files (which also carry SRI), no
/// inline script or style, no eval, and DOM sinks that parse HTML refuse strings (Trusted Types, no policy).
/// The monitor expects exactly this on the frame page.
pub fn page_csp(self_origin: &str, frame_ancestors: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         connect-src 'self' {ws}; font-src 'none'; media-src 'none'; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors {frame_ancestors}; \
         require-trusted-types-for 'script'; trusted-types 'none'",
        ws = ws_origin(self_origin)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "<title>{{tenant_name}}</title><meta content=\"{{allowed_origins}}\">\
        <meta name=\"r\" content=\"{{release}}\"><script src=\"{{url:frame.js}}\" integrity=\"{{sri:frame.js}}\">\
        </script><h1>{{tenant_name}}</h1>";

    fn manifest() -> Manifest {
        Manifest::build(
            "rel-1",
            &[
                ("loader.js", b"l"),
                ("frame.html", TEMPLATE.as_bytes()),
                ("frame.js", b"j"),
                ("frame.css", b"c"),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_rendered_page_matches_its_template() {
        let m = manifest();
        let page = render_frame(
            TEMPLATE,
            &m,
            "Skyway &amp; Co",
            "https://a.example https://b.example",
        );
        assert!(page.contains(&m.file("frame.js").unwrap().path()));
        assert!(page.contains("content=\"rel-1\""));
        let v = match_frame(TEMPLATE, &m, &page).unwrap();
        assert_eq!(v.tenant_name, "Skyway &amp; Co");
        assert_eq!(v.allowed_origins, "https://a.example https://b.example");
        // A tenant's value is not expanded.
        let page = render_frame(TEMPLATE, &m, "{{release}}", "");
        assert!(page.contains("<title>{{release}}</title>"));
        assert!(match_frame(TEMPLATE, &m, &page).is_ok());
    }

    #[test]
    fn any_change_is_refused() {
        let m = manifest();
        let page = render_frame(TEMPLATE, &m, "Skyway", "https://a.example");
        let injected = page.replace("<h1>Skyway", "<h1>Skyway<script src=//evil></script>");
        let other = Manifest::build(
            "rel-2",
            &[
                ("loader.js", b"l"),
                ("frame.html", TEMPLATE.as_bytes()),
                ("frame.js", b"J"),
                ("frame.css", b"c"),
            ],
        )
        .unwrap();
        let cases = [
            injected,
            page.replace("<title>Skyway", "<title>Other"),
            format!("{page}<script></script>"),
            page.replace("script src", "script  src"),
            render_frame(TEMPLATE, &other, "Skyway", "https://a.example"),
            page.replace("https://a.example", "\"><script>x</script><x a=\""),
        ];
        for bad in cases {
            assert!(
                matches!(
                    match_frame(TEMPLATE, &m, &bad),
                    Err(ReleaseError::FrameMismatch(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_policy_pins_self_and_the_ancestors() {
        let p = page_csp("https://w.example", "https://shop.example");
        assert!(p.contains("connect-src 'self' wss://w.example;"));
        assert!(p.contains("frame-ancestors https://shop.example;"));
        assert!(p.starts_with("default-src 'none'; script-src 'self';"));
    }
}
