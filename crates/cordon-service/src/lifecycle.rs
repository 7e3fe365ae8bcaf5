//! Visitor requests (issue 16): a tenant admin exports, or deletes, everything Cordon holds of one visitor, named
//! by Cordon's visitor id or by the verified `user_id` the tenant's site sent (every visitor with it). Each request
//! is audited (`visitor.export`, `visitor.delete`, target the visitor ids: ids, never the user id) and announced
//! to the tenant's webhooks as `visitor_request.completed`. Crypto-shredding a whole tenant is
//! `management::shred_tenant`.

use serde_json::{json, Map, Value};

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::conversations::Names;
use crate::error::{code, Refusal, Result};
use crate::Service;

/// Whom a request is about.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Visitor(&'a str),
    UserId(&'a str),
}

/// Most visitors one request may cover (a `user_id` seen on many devices).
const MAX_VISITORS: usize = 500;

async fn visitor_ids(svc: &Service, tenant_id: &str, subject: Subject<'_>) -> Result<Vec<String>> {
    let (v, u) = match subject {
        Subject::Visitor(v) => (Some(v), None),
        Subject::UserId(u) => (None, Some(u)),
    };
    if v.is_some_and(|v| v.is_empty() || v.len() > 64)
        || u.is_some_and(|u| u.is_empty() || u.len() > 256)
    {
        return Err(Refusal::invalid(
            "name one visitor: a visitor_id or a user_id",
        ));
    }
    let ids = svc.store.visitor_ids_for(tenant_id, v, u).await?;
    if ids.is_empty() {
        return Err(Refusal::not_found());
    }
    if ids.len() > MAX_VISITORS {
        return Err(Refusal::new(
            code::CONFLICT,
            "more than 500 visitors have this user_id: ask the operator",
        ));
    }
    Ok(ids)
}

fn targets(ids: &[String]) -> String {
    let mut t = String::from("visitor:");
    t.push_str(&ids.join(","));
    if t.len() > 900 {
        t.truncate(880);
        t.push_str(&format!("…({} visitors)", ids.len()));
    }
    t
}

/// Everything held of the visitor(s), by table: the rows as stored (sealed bytes and token hashes left out), and
/// each message's text opened (it was redacted before it was stored: no card number is in it).
pub async fn export(svc: &Service, principal: &Principal, subject: Subject<'_>) -> Result<Value> {
    principal.require(Scope::Admin)?;
    let tenant_id = principal.tenant_id();
    let ids = visitor_ids(svc, tenant_id, subject).await?;
    let tables = svc.store.visitor_rows(tenant_id, &ids).await?;
    let mut names = Names::default();
    let mut out = Map::new();
    for (table, mut rows) in tables {
        if table == "messages" {
            for row in &mut rows {
                let (Some(conv), Some(seq)) =
                    (row["conversation_id"].as_str(), row["seq"].as_i64())
                else {
                    continue;
                };
                let found = svc
                    .store
                    .messages_after(tenant_id, conv, seq - 1, 1)
                    .await?;
                if let Some(m) = found.into_iter().find(|m| m.seq == seq) {
                    let view =
                        crate::messages::message_view(svc, &mut names, tenant_id, &m).await?;
                    row["text"] = json!(view.text);
                }
            }
        }
        out.insert(table.to_string(), Value::Array(rows));
    }
    let entry = audit::by(principal, Action::VisitorExport, &targets(&ids));
    let event = json!({"kind": "export", "visitor_ids": ids});
    svc.store
        .record_visitor_request(tenant_id, &event, &[entry])
        .await?;
    Ok(json!({
        "tenant_id": tenant_id,
        "visitor_ids": ids,
        "exported_at": cordon_store::now_ms(),
        "tables": out,
    }))
}

/// Delete everything held of the visitor(s) in one transaction: conversations, messages, session records, card
/// mentions (brand and last four), undelivered webhook events about them, and the visitor rows. Answers the rows
/// removed per table. The audit log keeps its entries (ids and actions, no personal data).
pub async fn delete(svc: &Service, principal: &Principal, subject: Subject<'_>) -> Result<Value> {
    principal.require(Scope::Admin)?;
    let tenant_id = principal.tenant_id();
    let ids = visitor_ids(svc, tenant_id, subject).await?;
    let entry = audit::by(principal, Action::VisitorDelete, &targets(&ids));
    let event = json!({"kind": "delete", "visitor_ids": ids});
    let counts = svc
        .store
        .delete_visitors(tenant_id, &ids, &event, &[entry])
        .await?;
    let deleted: Map<String, Value> = counts
        .into_iter()
        .map(|(t, n)| (t.to_string(), json!(n)))
        .collect();
    Ok(json!({"visitor_ids": ids, "deleted": deleted}))
}
