//! The OpenAPI document (`GET /api/openapi.json`, built by `cordon_server::openapi()`) tells a client author the
//! truth: it passes a real OpenAPI validator, every parameter is declared where the route reads it, and every
//! operation says how to authenticate and which errors it can answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

fn doc() -> Value {
    serde_json::to_value(cordon_server::openapi()).expect("the document serialises")
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if ["get", "put", "post", "delete", "patch", "head", "options"]
                .contains(&method.as_str())
            {
                out.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    assert!(
        out.len() >= 20,
        "the document lists the routes: {}",
        out.len()
    );
    out
}

/// `{name}` segments of a path template.
fn template_names(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_string()))
        .collect()
}

/// The query parameters each route reads (its `Query<…>` struct), and whether each is required.
fn expected_query() -> BTreeMap<&'static str, Vec<(&'static str, bool)>> {
    BTreeMap::from([
        (
            "/api/v1/conversations",
            vec![
                ("state", false),
                ("agent_id", false),
                ("visitor_id", false),
                ("cursor", false),
                ("limit", false),
            ],
        ),
        (
            "/api/v1/conversations/{conversation_id}/messages",
            vec![("after_seq", false), ("limit", false)],
        ),
        (
            "/api/v1/visitor-sessions",
            vec![
                ("from", false),
                ("to", false),
                ("asset_hash", false),
                ("cursor", false),
                ("limit", false),
            ],
        ),
        (
            "/api/v1/audit/entries",
            vec![("start", true), ("end", true)],
        ),
        (
            "/api/v1/webhooks/deliveries",
            vec![("state", false), ("limit", false)],
        ),
        ("/api/v1/payments/tokens", vec![("conversation_id", false)]),
        (
            "/api/v1/conversations/{conversation_id}/files",
            vec![("name", true)],
        ),
        (
            "/api/v1/search/messages",
            vec![("q", true), ("limit", false)],
        ),
        ("/w/files", vec![("conversation_id", true), ("name", true)]),
        (
            "/api/v1/conversation-tags",
            vec![("tag", false), ("priority", false), ("limit", false)],
        ),
        (
            "/api/v1/reports",
            vec![
                ("from", false),
                ("to", false),
                ("utc_offset_minutes", false),
            ],
        ),
        (
            "/api/v1/operator/tenants/{tenant}/conversations",
            vec![("limit", false)],
        ),
        (
            "/api/v1/operator/tenants/{tenant}/conversations/{conversation_id}/messages",
            vec![("after_seq", false), ("limit", false)],
        ),
        (
            "/api/v1/audit/proof/inclusion",
            vec![("index", true), ("size", true)],
        ),
        (
            "/api/v1/audit/proof/consistency",
            vec![("first", true), ("second", true)],
        ),
    ])
}

#[test]
fn every_parameter_is_declared_where_the_route_reads_it() {
    let doc = doc();
    let expected = expected_query();
    let mut seen_query: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for (path, method, op) in operations(&doc) {
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let in_template = template_names(&path);
        let mut declared_path = BTreeSet::new();
        for p in &params {
            let name = p["name"].as_str().expect("parameter name").to_string();
            let required = p["required"].as_bool().unwrap_or(false);
            match p["in"].as_str() {
                Some("path") => {
                    assert!(
                        in_template.contains(&name),
                        "{method} {path}: `{name}` is declared in: path but is not in the path template"
                    );
                    assert!(
                        required,
                        "{method} {path}: path parameter `{name}` must be required"
                    );
                    declared_path.insert(name);
                }
                Some("query") => {
                    assert!(
                        p["description"].as_str().is_some_and(|d| !d.is_empty()),
                        "{method} {path}: query parameter `{name}` has no description"
                    );
                    seen_query
                        .entry(path.clone())
                        .or_default()
                        .push((name, required));
                }
                other => panic!("{method} {path}: `{name}` is declared in {other:?}"),
            }
        }
        assert_eq!(
            declared_path, in_template,
            "{method} {path}: every template segment is declared as a path parameter"
        );
    }
    for (path, params) in &expected {
        let got = seen_query.get(*path).cloned().unwrap_or_default();
        for (name, required) in params {
            assert!(
                got.iter().any(|(n, r)| n == name && r == required),
                "{path}: `{name}` must be declared in: query, required: {required}; got {got:?}"
            );
        }
        assert_eq!(got.len(), params.len(), "{path}: query parameters {got:?}");
    }
    assert_eq!(
        seen_query
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        expected.keys().copied().collect::<BTreeSet<_>>(),
        "only the routes that read a query declare query parameters"
    );
}

#[test]
fn query_parameters_carry_their_defaults() {
    let doc = doc();
    let param = |path: &str, name: &str| -> Value {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{path} has no `{name}`"))
    };
    for (path, name, default) in [
        ("/api/v1/conversations", "limit", 50),
        (
            "/api/v1/conversations/{conversation_id}/messages",
            "limit",
            100,
        ),
        (
            "/api/v1/conversations/{conversation_id}/messages",
            "after_seq",
            0,
        ),
        ("/api/v1/visitor-sessions", "limit", 200),
    ] {
        let p = param(path, name);
        assert_eq!(
            p["schema"]["default"], default,
            "{path} `{name}` default: {p}"
        );
    }
}

#[test]
fn every_operation_declares_security_and_its_error_responses() {
    let doc = doc();
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["api_key"]["type"], "http");
    assert_eq!(schemes["api_key"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "cordon_session");
    let responses_of = |op: &Value| -> BTreeSet<String> {
        op["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect()
    };
    // A `$ref` to a response component, or the response itself.
    let response = |op: &Value, status: &str| -> Value {
        let r = &op["responses"][status];
        match r["$ref"].as_str() {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/responses/")
                    .expect("a response component");
                doc["components"]["responses"][name].clone()
            }
            None => r.clone(),
        }
    };
    for (path, method, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no security entry"));
        let names: BTreeSet<&str> = security
            .iter()
            .flat_map(|req| req.as_object().expect("requirement").keys())
            .map(String::as_str)
            .collect();
        let statuses = responses_of(&op);
        let has = |s: &str| statuses.contains(s);
        // Operators' routes (issue 12): signing in needs nothing, the rest an operator's bearer token, never a
        // cookie (so no CSRF refusal either).
        let operator_route = path.starts_with("/api/v1/operator/");
        if path == "/api/v1/auth/login"
            || (operator_route && path == "/api/v1/operator/sessions" && method == "post")
        {
            assert!(
                names.is_empty() && security.iter().any(|r| r == &serde_json::json!({})),
                "{what}: sign-in needs no credentials: {security:?}"
            );
        } else if path.starts_with("/w/") {
            // Visitors' file routes on the widget origin (issue 20): the ticket from the visitor socket.
            assert_eq!(
                names,
                BTreeSet::from(["visitor_ticket"]),
                "{what}: a visitor's file ticket"
            );
            assert!(has("401"), "{what}: no 401");
        } else if operator_route {
            assert_eq!(
                names,
                BTreeSet::from(["operator"]),
                "{what}: an operator's token"
            );
            assert!(has("401"), "{what}: no 401");
        } else {
            assert_eq!(
                names,
                BTreeSet::from(["api_key", "session"]),
                "{what}: either credential"
            );
            assert!(has("401"), "{what}: no 401");
        }
        assert!(has("429"), "{what}: no 429");
        let limited = response(&op, "429");
        assert!(
            limited["description"]
                .as_str()
                .is_some_and(|d| d.contains("rate_limited")),
            "{what}: the 429 names its code: {limited}"
        );
        assert!(
            limited["headers"].get("Retry-After").is_some(),
            "{what}: the 429 has Retry-After: {limited}"
        );
        let state_changing = method != "get" && !operator_route;
        if state_changing {
            assert!(has("403"), "{what}: no 403");
            let denied = response(&op, "403");
            assert!(
                denied["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("csrf_rejected")),
                "{what}: a cookie-authenticated call can be refused as csrf_rejected: {denied}"
            );
        }
        let takes_input = op.get("requestBody").is_some()
            || op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if takes_input {
            assert!(has("400"), "{what}: takes a body or query but has no 400");
            let bad = response(&op, "400");
            assert!(
                bad["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("bad_request")),
                "{what}: the 400 names its code: {bad}"
            );
        }
        for status in op["responses"].as_object().expect("responses").keys() {
            if status.starts_with('4') {
                let r = response(&op, status);
                assert!(
                    r["content"]["application/json"]["schema"].is_object(),
                    "{what}: {status} has the error body: {r}"
                );
            }
        }
    }
}

/// Skip with a message outside CI; under `CI=true` a missing tool is a failure.
fn unavailable(why: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true: {why}");
    }
    eprintln!("SKIPPED: {why}");
}

/// Run `openapi-spec-validator` (PyPI; .ci/run installs it) on a document: the OpenAPI 3.x JSON Schema plus
/// the rules a schema cannot say (every path parameter is in its template, no duplicate parameters, every
/// `$ref` resolves). `None` when the validator is not installed.
fn validate(doc: &Value) -> Option<(bool, String)> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output();
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            unavailable(&format!(
                "the OpenAPI validator is not installed (`{python} -m pip install openapi-spec-validator`): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Err(e) => {
            unavailable(&format!(
                "cannot run {python} for the OpenAPI validator: {e}"
            ));
            return None;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).expect("json")).expect("write");
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("run the validator");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), text))
}

#[test]
fn the_document_passes_an_openapi_validator() {
    let Some((ok, text)) = validate(&doc()) else {
        return;
    };
    assert!(ok, "the validator refused the document:\n{text}");
    assert!(text.contains("OK"), "{text}");
}

/// The validator itself works: it refuses what the document used to say (query parameters declared
/// `in: path`, absent from the template).
#[test]
fn the_validator_refuses_a_broken_document() {
    let mut broken = doc();
    let params = broken["paths"]["/api/v1/audit/entries"]["get"]["parameters"]
        .as_array_mut()
        .expect("parameters");
    for p in params.iter_mut() {
        p["in"] = "path".into();
        p["required"] = true.into();
    }
    let Some((ok, text)) = validate(&broken) else {
        return;
    };
    assert!(
        !ok,
        "the validator must refuse a path parameter missing from the template:\n{text}"
    );
    assert!(text.contains("was not resolved"), "{text}");
}
