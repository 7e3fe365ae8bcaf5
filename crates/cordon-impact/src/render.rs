//! The three renderings of a report. JSON is the signed, authoritative one; CSV (one row per affected
//! visitor, for a mail merge) and HTML (for people) are views of the same report and say where to verify it.

use std::fmt::Write as _;

use crate::model::{Citation, Report, VisitorImpact};

/// The signed report as pretty JSON (the bytes `verify` accepts; any whitespace is).
pub fn json(signed: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(signed).unwrap_or_else(|_| signed.to_string());
    s.push('\n');
    s
}

/// The CSV header, in column order.
pub const CSV_COLUMNS: &[&str] = &[
    "tenant_slug",
    "tenant_name",
    "visitor_id",
    "user_id",
    "name",
    "email",
    "sessions",
    "first_session_at",
    "last_session_at",
    "sites",
    "conversations",
    "card_mentions",
    "reason",
    "citations",
    "report_id",
];

/// A cell a spreadsheet cannot run: a leading `=`, `+`, `-`, `@`, tab or carriage return (OWASP's list for
/// CSV injection) gets a `'` in front, and every cell is quoted with inner quotes doubled (RFC 4180).
fn csv_cell(value: &str, out: &mut String) {
    out.push('"');
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn citation_text(c: &Citation) -> String {
    match c {
        Citation::ExposureRecord(id) => format!("exposure_record:{id}"),
        Citation::Audit(a) => format!("audit:{}#{}", a.log, a.index),
        Citation::RedactionEvent(id) => format!("redaction_event:{id}"),
    }
}

fn cards_text(v: &VisitorImpact) -> String {
    v.conversations
        .iter()
        .flat_map(|c| &c.card_mentions)
        .map(|m| format!("{} {}", m.brand, m.last4))
        .collect::<Vec<_>>()
        .join("; ")
}

fn sites_text(v: &VisitorImpact) -> String {
    let mut sites: Vec<&str> = v
        .sessions
        .iter()
        .filter_map(|s| s.embed_origin.as_deref())
        .collect();
    sites.sort_unstable();
    sites.dedup();
    sites.join(" ")
}

/// One row per affected visitor, with a header row; CRLF line ends (RFC 4180).
pub fn csv(report: &Report) -> String {
    let mut out = String::new();
    let header: Vec<String> = CSV_COLUMNS.iter().map(|c| c.to_string()).collect();
    write_row(&header, &mut out);
    for t in &report.tenants {
        for v in &t.visitors {
            let row = vec![
                t.slug.clone(),
                t.name.clone(),
                v.visitor_id.clone(),
                v.contact.user_id.clone().unwrap_or_default(),
                v.contact.name.clone().unwrap_or_default(),
                v.contact.email.clone().unwrap_or_default(),
                v.sessions.len().to_string(),
                v.sessions
                    .first()
                    .map(|s| s.started_at.clone())
                    .unwrap_or_default(),
                v.sessions
                    .last()
                    .map(|s| s.started_at.clone())
                    .unwrap_or_default(),
                sites_text(v),
                v.conversations.len().to_string(),
                cards_text(v),
                v.reason.clone(),
                v.citations
                    .iter()
                    .map(citation_text)
                    .collect::<Vec<_>>()
                    .join(" "),
                report.report_id.clone(),
            ];
            write_row(&row, &mut out);
        }
    }
    out
}

fn write_row(cells: &[String], out: &mut String) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_cell(cell, out);
    }
    out.push_str("\r\n");
}

/// Text for HTML content and attribute values: the five characters that can end either are escaped.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24}\
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:2px solid #d0d7de;padding-bottom:.2rem}\
.meta{color:#57606a}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}\
dd{margin:0;overflow-wrap:anywhere}table{border-collapse:collapse;width:100%;margin:.6rem 0}\
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f6f8fa}\
td.n{text-align:right}code{font:13px ui-monospace,monospace;overflow-wrap:anywhere}.none{color:#57606a;font-style:italic}";

/// A self-contained HTML page: inline style, no script, no external resource, and a policy that forbids
/// both, so that even a failure of escaping could not run anything. Every value from the report is escaped.
pub fn html(report: &Report, digest: &str) -> String {
    let e = html_escape;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>Impact report {}</title><style>{STYLE}</style></head><body>\
         <h1>Impact report</h1><p class=\"meta\">Report <code>{}</code>, generated {}</p><dl>\
         <dt>Compromised component</dt><dd>{} <code>{}</code></dd><dt>Window</dt><dd>{} to {}</dd>\
         <dt>Affected</dt><dd>{} tenants, {} visitors ({} with a verified user id), {} sessions, {} conversations, {} card mentions</dd>\
         <dt>Signed digest</dt><dd><code>{}</code> (verify the JSON report: docs/IMPACT.md)</dd></dl>",
        e(&report.report_id),
        e(&report.report_id),
        e(&report.generated_at),
        e(report.component.kind),
        e(&report.component.value),
        e(&report.window.from),
        e(&report.window.to),
        report.totals.tenants,
        report.totals.counts.visitors,
        report.totals.counts.verified_visitors,
        report.totals.counts.sessions,
        report.totals.counts.conversations,
        report.totals.counts.card_mentions,
        e(digest),
    );
    if report.tenants.is_empty() {
        o.push_str("<p class=\"none\">No tenant was affected.</p>");
    }
    for t in &report.tenants {
        let _ = write!(
            o,
            "<h2>{} <span class=\"meta\">({})</span></h2><p class=\"meta\">{} visitors, {} sessions, {} conversations, \
             {} card mentions, {} audit entries",
            e(&t.name),
            e(&t.slug),
            t.counts.visitors,
            t.counts.sessions,
            t.counts.conversations,
            t.counts.card_mentions,
            t.counts.audit_entries,
        );
        if let Some(cp) = &t.checkpoint {
            let _ = write!(
                o,
                "; computed at checkpoint <code>{}</code> size {} root <code>{}</code>",
                e(&cp.log),
                cp.size,
                e(&cp.root_hash)
            );
        }
        o.push_str("</p>");
        if !t.visitors.is_empty() {
            o.push_str(
                "<table><thead><tr><th>Visitor</th><th>Contact</th><th>Why</th><th>Sessions</th>\
                 <th>Conversations</th><th>Cards</th><th>Cited records</th></tr></thead><tbody>",
            );
            for v in &t.visitors {
                let contact: Vec<String> = [&v.contact.user_id, &v.contact.name, &v.contact.email]
                    .into_iter()
                    .flatten()
                    .map(|s| e(s))
                    .collect();
                let contact = if contact.is_empty() {
                    "<span class=\"none\">none held</span>".to_string()
                } else {
                    contact.join("<br>")
                };
                let cards = cards_text(v);
                let _ = write!(
                    o,
                    "<tr><td><code>{}</code></td><td>{contact}</td><td>{}</td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    e(&v.visitor_id),
                    e(&v.reason),
                    v.sessions.len(),
                    v.conversations.len(),
                    if cards.is_empty() { "—".to_string() } else { e(&cards) },
                    e(&v.citations.iter().map(citation_text).collect::<Vec<_>>().join(" ")),
                );
            }
            o.push_str("</tbody></table>");
        }
        if !t.principal_actions.is_empty() {
            o.push_str("<table><thead><tr><th>When</th><th>Action</th><th>Target</th><th>Audit entry</th></tr></thead><tbody>");
            for a in &t.principal_actions {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                    e(&a.at),
                    e(&a.action),
                    e(&a.target),
                    e(&citation_text(&a.cite)),
                );
            }
            o.push_str("</tbody></table>");
        }
    }
    o.push_str("</body></html>\n");
    o
}
