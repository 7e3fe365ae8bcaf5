//! The vault page's policy and the data its live check reads.
//!
//! The vault form is its own document on its own origin, framed by the widget frame only: CSP
//! `frame-ancestors` checks every ancestor, so it names the widget origin and the tenant's sites (the page
//! that frames the widget); the page's script also checks that its direct parent is the widget origin. It
//! loads nothing but its own script and style, talks only to its own origin, and takes no form submission or
//! navigation elsewhere.

/// The vault page's Content-Security-Policy. `ancestors` are the widget origin and the tenant's allowed
/// origins, already checked to hold only origin characters.
pub fn page_csp(ancestors: &[&str]) -> String {
    let ancestors = if ancestors.is_empty() {
        "'none'".to_string()
    } else {
        ancestors.join(" ")
    };
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; \
         font-src 'none'; media-src 'none'; object-src 'none'; frame-src 'none'; worker-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors {ancestors}; \
         require-trusted-types-for 'script'; trusted-types 'none'"
    )
}

/// The IIN table as JSON, `[[brand, digits, lo, hi, lengths], …]` in the table's order: the vault page's
/// script names the brand and checks the length and Luhn as the card is typed, with the very table the server
/// checks against.
pub fn iin_json() -> String {
    let rows: Vec<serde_json::Value> = cordon_card::iin_rows()
        .map(|r| serde_json::json!([r.brand.name(), r.digits, r.lo, r.hi, r.lengths]))
        .collect();
    serde_json::Value::Array(rows).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_frames_only_where_told() {
        let csp = page_csp(&["http://127.0.0.2:8080", "http://localhost:8090"]);
        assert!(csp.contains("frame-ancestors http://127.0.0.2:8080 http://localhost:8090;"));
        assert!(csp.contains("connect-src 'self'"));
        assert!(csp.contains("form-action 'none'"));
        assert!(page_csp(&[]).contains("frame-ancestors 'none'"));
    }

    #[test]
    fn the_table_is_all_there() {
        let v: serde_json::Value = serde_json::from_str(&iin_json()).unwrap();
        let rows = v.as_array().unwrap();
        assert_eq!(rows.len(), cordon_card::iin_rows().count());
        assert!(rows.iter().any(|r| r[0] == "Visa"));
    }
}
