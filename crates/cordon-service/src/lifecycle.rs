//! Visitor requests (issue 16): a tenant admin exports, or deletes, everything Cordon holds of one visitor, named
//! by Cordon's visitor id or by the verified `user_id` the tenant's site sent (every visitor with it). Each request
//! is audited (`visitor.export`, `visitor.delete`, target the visitor ids: ids, never the user id) and announced
//! to the tenant's webhooks as `visitor_request.completed`. Crypto-shredding a whole tenant is
//! `management::shred_tenant`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use cordon_store::{Purged, Retention};
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
            // The texts, opened one conversation at a time in pages (not a query per message).
            let convs: BTreeSet<String> = rows
                .iter()
                .filter_map(|r| r["conversation_id"].as_str().map(str::to_string))
                .collect();
            let mut texts: HashMap<(String, i64), String> = HashMap::new();
            for conv in convs {
                let mut after = 0;
                loop {
                    let page = svc
                        .store
                        .messages_after(tenant_id, &conv, after, 1000)
                        .await?;
                    let Some(last) = page.last().map(|m| m.seq) else {
                        break;
                    };
                    for m in &page {
                        let view =
                            crate::messages::message_view(svc, &mut names, tenant_id, m).await?;
                        texts.insert((conv.clone(), m.seq), view.text);
                    }
                    after = last;
                }
            }
            for row in &mut rows {
                let key = (
                    row["conversation_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    row["seq"].as_i64().unwrap_or_default(),
                );
                if let Some(text) = texts.remove(&key) {
                    row["text"] = json!(text);
                }
            }
        }
        // Issue 20: what is sealed in a visitor's profile and in the notes on their conversations, opened
        // (card numbers were masked before it was stored).
        if table == "visitor_profiles" {
            for row in &mut rows {
                let vid = row["visitor_id"].as_str().unwrap_or_default().to_string();
                if let Some(v) =
                    crate::visitor_profile::opened_for_export(svc, tenant_id, &vid).await?
                {
                    row["opened"] = v;
                }
            }
        }
        if table == "conversation_notes" {
            let convs: BTreeSet<String> = rows
                .iter()
                .filter_map(|r| r["conversation_id"].as_str().map(str::to_string))
                .collect();
            let mut texts: HashMap<String, String> = HashMap::new();
            for conv in convs {
                texts.extend(crate::notes::opened_for_export(svc, tenant_id, &conv).await?);
            }
            for row in &mut rows {
                if let Some(text) = row["id"].as_str().and_then(|id| texts.remove(id)) {
                    row["text"] = json!(text);
                }
            }
        }
        // Issue 20: the contact a visitor gave in a form, opened.
        if table == "visitor_contacts" {
            for row in &mut rows {
                let vid = row["visitor_id"].as_str().unwrap_or_default().to_string();
                if let Some(c) = crate::contact::contact(svc, tenant_id, &vid).await? {
                    row["contact"] = json!(c);
                }
            }
        }
        // Issue 20: a rating's comment (sealed as `sealed_comment`, card-masked), opened.
        if table == "conversation_ratings" {
            for row in &mut rows {
                let conv = row["conversation_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if let Some(c) = crate::ratings::opened_for_export(svc, tenant_id, &conv).await? {
                    row["comment"] = json!(c);
                }
            }
        }
        // Issue 20: a file's name opened; its bytes stay out of the export (the agents' console and the widget
        // fetch each file by id), as the export is one JSON document.
        if table == "conversation_files" {
            for row in &mut rows {
                let (Some(conv), Some(id)) = (row["conversation_id"].as_str(), row["id"].as_str())
                else {
                    continue;
                };
                if let Some(name) = crate::files::name_for_export(svc, tenant_id, conv, id).await? {
                    row["name"] = json!(name);
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

// ---- retention ------------------------------------------------------------------------------------------------

/// Longest retention period that can be set, in days (ten years).
pub const MAX_RETENTION_DAYS: i64 = 3650;
/// Rows one purge transaction removes at most, so a purge never holds the writer for long.
const PURGE_BATCH: i64 = 200;
/// Purge transactions per tenant per round; the next round goes on where this one stopped.
const PURGE_STEPS: usize = 50;
/// How often each node purges.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// The tenant's retention periods (admin). Audited as a read of the tenant (`tenant.read`, `tenant#retention`).
pub async fn retention(svc: &Service, principal: &Principal) -> Result<Retention> {
    principal.require(Scope::Admin)?;
    let r = svc.store.retention(principal.tenant_id()).await?;
    svc.store
        .append_audit_batch(&[audit::by(principal, Action::TenantRead, "tenant#retention")])
        .await?;
    Ok(r)
}

/// Set the periods (admin), in days; `None` keeps records until deleted on request. Audited
/// `tenant.retention.update` with the new periods.
pub async fn set_retention(
    svc: &Service,
    principal: &Principal,
    transcript_days: Option<i64>,
    exposure_days: Option<i64>,
) -> Result<Retention> {
    principal.require(Scope::Admin)?;
    for d in [transcript_days, exposure_days].into_iter().flatten() {
        if !(1..=MAX_RETENTION_DAYS).contains(&d) {
            return Err(Refusal::invalid(
                "a retention period is 1 to 3650 days, or null to keep",
            ));
        }
    }
    let show = |d: Option<i64>| d.map(|d| d.to_string()).unwrap_or_else(|| "keep".into());
    let target = format!(
        "tenant#transcript_days={},exposure_days={}",
        show(transcript_days),
        show(exposure_days)
    );
    let entry = audit::by(principal, Action::RetentionUpdate, &target);
    svc.store
        .set_retention(
            principal.tenant_id(),
            transcript_days,
            exposure_days,
            &principal.actor(),
            &[entry],
        )
        .await?;
    Ok(svc.store.retention(principal.tenant_id()).await?)
}

/// What the transparency report says of a tenant's retention.
pub fn describe(r: &Retention) -> String {
    match (r.transcript_days, r.exposure_days) {
        (None, None) => {
            "no retention period is set: records are kept until deleted on request (visitor \
                         requests) or the tenant is shredded"
                .into()
        }
        (t, e) => {
            let part = |d: Option<i64>, what: &str, from: &str| match d {
                Some(d) => format!("{what} are deleted {d} days after they {from}"),
                None => format!("{what} are kept until deleted on request"),
            };
            format!(
                "{}; {} (a background purge, each run audited with counts)",
                part(t, "closed conversations with their messages", "close"),
                part(e, "exposure records", "end")
            )
        }
    }
}

/// One purge round at `now`: for each tenant with a period, bounded transactions until nothing more is due (or
/// the round's budget is spent); each transaction that removed something writes `retention.purge` with its
/// counts (never content) in the tenant's log. Answers what was removed, per tenant.
pub async fn purge_expired(svc: &Service, now: i64) -> Result<Vec<(String, Purged)>> {
    let mut out = Vec::new();
    for (tenant_id, retention) in svc.store.tenants_with_retention().await? {
        let mut total = Purged::default();
        for _ in 0..PURGE_STEPS {
            let step = svc
                .store
                .purge_step(&tenant_id, &retention, now, PURGE_BATCH, |p| {
                    vec![audit::entry(
                        &tenant_id,
                        audit::SYSTEM_ACTOR,
                        Action::RetentionPurge,
                        &format!(
                            "retention#conversations={},messages={},exposure_records={}",
                            p.conversations, p.messages, p.exposure_records
                        ),
                    )]
                })
                .await?;
            let done = step.conversations < PURGE_BATCH as u64
                && step.exposure_records < PURGE_BATCH as u64;
            total.conversations += step.conversations;
            total.messages += step.messages;
            total.exposure_records += step.exposure_records;
            if done {
                break;
            }
        }
        if total != Purged::default() {
            out.push((tenant_id, total));
        }
    }
    Ok(out)
}

/// The purge of one process: a round a minute (the first a few seconds after start).
pub fn spawn_purger(svc: Service) {
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        loop {
            match purge_expired(&svc, cordon_store::now_ms()).await {
                Ok(done) => {
                    for (tenant, p) in done {
                        tracing::info!(tenant = %tenant, conversations = p.conversations, messages = p.messages,
                            exposure_records = p.exposure_records, "retention purge");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention purge failed"),
            }
            tokio::time::sleep(PURGE_EVERY).await;
        }
    });
}
