//! Breach impact (issue 11, docs/IMPACT.md): gather the rows a compromised component reached from the store,
//! tenant by tenant at each tenant's latest checkpoint, compute the report (`cordon_impact`, pure), sign it
//! with the audit key, and record the run in each affected tenant's log. Also the check of a report handed
//! back: its signature, then every citation against the database.
//!
//! Two callers: the operator (the CLI, with database access: every tenant, or one by `--tenant`) and a tenant
//! admin over HTTP, for their own tenant only (operator accounts, issue 12, reach a tenant only through a grant
//! it approves, so the cross-tenant report stays at the command line).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cordon_impact::compute::{
    AuditRow, CardMentionRow, CheckpointRow, ConversationRow, ExposureRow,
    Principal as Compromised, TenantRow, VisitorRow,
};
use cordon_impact::{citations, ImpactError, ImpactInput, Report, VerifyError};
use cordon_store::{ExposureHit, ImpactWindow, Tenant};
use serde_json::Value;

pub use cordon_impact::time::parse_rfc3339;
pub use cordon_impact::{Component, ImpactError as InputError, Window};

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{Refusal, Result};
use crate::Service;

/// Who asks for a report.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The operator at the command line: any tenant.
    Operator,
    /// A signed-in tenant admin (or an admin API key): their own tenant only.
    TenantAdmin(&'a Principal),
}

/// What to compute.
#[derive(Debug, Clone)]
pub struct Query {
    pub component: Component,
    pub window: Window,
    /// Only this tenant (by slug). A tenant admin may name only their own.
    pub tenant_slug: Option<String>,
    /// What the file of an asset-hash component is (`loader`, `frame script`, …), when the caller knows.
    pub asset_label: Option<String>,
}

/// A computed, signed report.
#[derive(Debug, Clone)]
pub struct ImpactRun {
    pub report: Report,
    /// The signed JSON (the report with its `signature` member): the document to hand out and verify.
    pub signed: Value,
    /// Standard base64 of the SHA-256 of the report's canonical JSON (the note's third line).
    pub digest: String,
}

/// Progress of a long run, for a terminal's progress bar: `(stage, done, total)`.
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Send + Sync);

fn refusal(e: ImpactError) -> Refusal {
    match e {
        ImpactError::InvalidCardMention
        | ImpactError::CorruptAuditEntry { .. }
        | ImpactError::Signing => Refusal::internal(e),
        other => Refusal::invalid(other.to_string()),
    }
}

fn checkpoint_row(cp: cordon_store::StoredCheckpoint) -> Option<CheckpointRow> {
    Some(CheckpointRow {
        log_id: cp.log_id,
        size: u64::try_from(cp.size).ok()?,
        root: cp.root.try_into().ok()?,
    })
}

/// The conversation an audit target names (`conversation:<id>`, with or without a `#…` suffix).
fn conversation_of(entry: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(entry).ok()?;
    let id = v.get("target")?.as_str()?.strip_prefix("conversation:")?;
    Some(id.split('#').next().unwrap_or(id).to_string())
}

/// The rows of one tenant, gathered for the computation.
#[derive(Default)]
struct Rows {
    exposures: Vec<ExposureRow>,
    visitors: Vec<VisitorRow>,
    conversations: Vec<ConversationRow>,
    card_mentions: Vec<CardMentionRow>,
    audit: Vec<AuditRow>,
    checkpoints: Vec<CheckpointRow>,
}

/// The tenant a caller is held to, if any.
async fn scope(svc: &Service, caller: Caller<'_>, slug: Option<&str>) -> Result<Option<Tenant>> {
    match caller {
        Caller::Operator => match slug {
            Some(s) => Ok(Some(
                svc.store
                    .tenant_by_slug(s)
                    .await?
                    .ok_or_else(Refusal::not_found)?,
            )),
            None => Ok(None),
        },
        Caller::TenantAdmin(p) => {
            p.require(Scope::Admin)?;
            let own = svc.store.tenant(p.tenant_id()).await?;
            if slug.is_some_and(|s| s != own.slug) {
                return Err(Refusal::forbidden());
            }
            Ok(Some(own))
        }
    }
}

/// The compromised principal of an agent or key component, within the caller's scope (another tenant's is
/// answered as not found).
async fn compromised(
    svc: &Service,
    component: &Component,
    scope: Option<&Tenant>,
) -> Result<Option<Compromised>> {
    match component {
        Component::Agent {
            tenant_slug,
            username,
        } => {
            let tenant = svc
                .store
                .tenant_by_slug(tenant_slug)
                .await?
                .filter(|t| scope.is_none_or(|s| s.id == t.id))
                .ok_or_else(Refusal::not_found)?;
            let agent = svc
                .store
                .list_agents(&tenant.id)
                .await?
                .into_iter()
                .find(|a| &a.username == username)
                .ok_or_else(Refusal::not_found)?;
            Ok(Some(Compromised {
                tenant_id: tenant.id,
                actor: format!("agent:{}", agent.id),
                label: format!("agent {tenant_slug}/{username}"),
            }))
        }
        Component::ApiKey { id } => {
            let tenants = match scope {
                Some(t) => vec![t.clone()],
                None => svc.store.list_tenants().await?,
            };
            for t in tenants {
                if svc
                    .store
                    .list_api_keys(&t.id)
                    .await?
                    .iter()
                    .any(|k| &k.id == id)
                {
                    return Ok(Some(Compromised {
                        tenant_id: t.id,
                        actor: format!("apikey:{id}"),
                        label: format!("API key {id}"),
                    }));
                }
            }
            Err(Refusal::not_found())
        }
        _ => Ok(None),
    }
}

/// Each hit as an exposure row, with its set's hash list (read once per set).
async fn exposure_rows(svc: &Service, hits: Vec<ExposureHit>) -> Result<Vec<ExposureRow>> {
    let mut sets: HashMap<i64, Vec<String>> = HashMap::new();
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let asset_hashes = match h.asset_set_id {
            Some(set) => match sets.get(&set) {
                Some(v) => v.clone(),
                None => {
                    let v = svc.store.asset_set_hashes(&h.tenant_id, set).await?;
                    sets.insert(set, v.clone());
                    v
                }
            },
            None => Vec::new(),
        };
        out.push(ExposureRow {
            session_id: h.session_id,
            tenant_id: h.tenant_id,
            visitor_id: h.visitor_id,
            node: h.node,
            started_at: h.started_at,
            ended_at: h.ended_at,
            embed_origin: h.embed_origin,
            asset_hashes,
        });
    }
    Ok(out)
}

/// Visitors, conversations and card mentions of one tenant, for the visitors and conversations named.
async fn related(
    svc: &Service,
    tenant_id: &str,
    visitor_ids: BTreeSet<String>,
    conversation_ids: Option<Vec<String>>,
    rows: &mut Rows,
) -> Result<()> {
    let conversations = match conversation_ids {
        Some(ids) => svc.store.conversations_by_id(tenant_id, &ids).await?,
        None => {
            let ids: Vec<String> = visitor_ids.iter().cloned().collect();
            svc.store.conversations_of_visitors(tenant_id, &ids).await?
        }
    };
    let mut visitor_ids = visitor_ids;
    visitor_ids.extend(conversations.iter().map(|c| c.visitor_id.clone()));
    let ids: Vec<String> = visitor_ids.into_iter().collect();
    for v in svc.store.visitors_by_id(tenant_id, &ids).await? {
        rows.visitors.push(VisitorRow {
            tenant_id: v.tenant_id,
            visitor_id: v.id,
            user_id: v.user_id,
            // Name and email are not stored for visitors today (docs/IMPACT.md, "Known limits").
            name: None,
            email: None,
        });
    }
    let conv_ids: Vec<String> = conversations.iter().map(|c| c.id.clone()).collect();
    for m in svc
        .store
        .card_mentions_of_conversations(tenant_id, &conv_ids)
        .await?
    {
        rows.card_mentions.push(CardMentionRow {
            id: m.id.to_string(),
            tenant_id: m.tenant_id,
            conversation_id: m.conversation_id,
            brand: m.brand,
            last4: m.last4,
            at: m.created_at,
        });
    }
    rows.conversations
        .extend(conversations.into_iter().map(|c| ConversationRow {
            tenant_id: c.tenant_id,
            conversation_id: c.id,
            visitor_id: c.visitor_id,
            agent_id: c.agent_id,
            created_at: c.created_at,
            closed_at: c.closed_at,
        }));
    if let Some(cp) = svc.store.latest_checkpoint(tenant_id).await? {
        rows.checkpoints.extend(checkpoint_row(cp));
    }
    Ok(())
}

/// Compute, sign and record an impact report.
pub async fn run(
    svc: &Service,
    caller: Caller<'_>,
    query: &Query,
    progress: Progress<'_>,
) -> Result<ImpactRun> {
    let scope = scope(svc, caller, query.tenant_slug.as_deref()).await?;
    let principal = compromised(svc, &query.component, scope.as_ref()).await?;
    let window = ImpactWindow {
        tenant_id: scope.as_ref().map(|t| t.id.as_str()),
        from: query.window.from_ms(),
        to: query.window.to_ms(),
    };
    progress("reading exposure records", 0, 1);
    let hits = match &query.component {
        Component::AssetHash { sha384_hex } => {
            svc.store.sessions_by_asset(sha384_hex, window).await?
        }
        Component::Node { id } => svc.store.sessions_by_node(id, window).await?,
        Component::Platform => svc.store.sessions_in_window(window).await?,
        Component::Agent { .. } | Component::ApiKey { .. } => Vec::new(),
    };
    let mut by_tenant: BTreeMap<String, Vec<ExposureRow>> = BTreeMap::new();
    for row in exposure_rows(svc, hits).await? {
        by_tenant
            .entry(row.tenant_id.clone())
            .or_default()
            .push(row);
    }
    progress("reading exposure records", 1, 1);

    let mut rows = Rows::default();
    let total = by_tenant.len() as u64 + u64::from(principal.is_some());
    let mut done = 0;
    for (tenant_id, exposures) in by_tenant {
        let visitors: BTreeSet<String> = exposures.iter().map(|e| e.visitor_id.clone()).collect();
        related(svc, &tenant_id, visitors, None, &mut rows).await?;
        rows.exposures.extend(exposures);
        done += 1;
        progress("gathering tenants", done, total);
    }
    if let Some(p) = &principal {
        // Only what the checkpoint covers, so every audit citation is provable against it.
        let cp = svc
            .store
            .latest_checkpoint(&p.tenant_id)
            .await?
            .and_then(checkpoint_row);
        let size = cp.as_ref().map_or(0, |c| c.size);
        let entries = svc
            .store
            .audit_entries_by_actor(
                &p.tenant_id,
                &p.actor,
                window.from,
                window.to,
                i64::try_from(size).unwrap_or(i64::MAX),
            )
            .await?;
        let conversations: BTreeSet<String> = entries
            .iter()
            .filter_map(|(_, e)| conversation_of(e))
            .collect();
        related(
            svc,
            &p.tenant_id,
            BTreeSet::new(),
            Some(conversations.into_iter().collect()),
            &mut rows,
        )
        .await?;
        rows.audit
            .extend(entries.into_iter().filter_map(|(index, entry)| {
                Some(AuditRow {
                    log_id: p.tenant_id.clone(),
                    index: u64::try_from(index).ok()?,
                    entry,
                })
            }));
        done += 1;
        progress("gathering tenants", done, total);
    }

    let tenants = svc
        .store
        .list_tenants()
        .await?
        .into_iter()
        .map(|t| TenantRow {
            id: t.id,
            slug: t.slug,
            name: t.display_name,
        })
        .collect();
    let input = ImpactInput {
        report_id: cordon_crypto::new_id("imp"),
        generated_at_ms: cordon_store::now_ms(),
        component: query.component.clone(),
        window: query.window,
        asset_label: query.asset_label.clone(),
        principal,
        tenants,
        checkpoints: rows.checkpoints,
        exposures: rows.exposures,
        visitors: rows.visitors,
        conversations: rows.conversations,
        card_mentions: rows.card_mentions,
        audit: rows.audit,
    };
    progress("computing", 0, 1);
    let report = cordon_impact::compute(&input).map_err(refusal)?;
    let signer =
        cordon_impact::sign::signer_from_audit_seed(svc.keys.audit_seed()).map_err(refusal)?;
    let signed = cordon_impact::sign::sign(&report, &signer).map_err(refusal)?;
    let digest = cordon_impact::sign::report_digest(&signed);
    progress("computing", 1, 1);

    // The run itself, in each affected tenant's log; with none affected, in the caller's (the platform log for
    // the operator), so that a run that found nothing is on record too.
    let actor = match caller {
        Caller::Operator => audit::CLI_ACTOR.to_string(),
        Caller::TenantAdmin(p) => p.actor(),
    };
    let target = format!("impact:{}", report.report_id);
    let mut entries: Vec<_> = report
        .tenants
        .iter()
        .map(|t| audit::entry(&t.tenant_id, &actor, Action::ImpactRun, &target))
        .collect();
    if entries.is_empty() {
        let log = match caller {
            Caller::Operator => cordon_store::PLATFORM_LOG.to_string(),
            Caller::TenantAdmin(p) => p.tenant_id().to_string(),
        };
        entries.push(audit::entry(&log, &actor, Action::ImpactRun, &target));
    }
    audit::record(svc, entries).await?;
    Ok(ImpactRun {
        report,
        signed,
        digest,
    })
}

/// The verifier key of impact reports (the audit key under the name `cordon/impact`).
pub fn verifier_key(svc: &Service) -> Result<String> {
    let signer =
        cordon_impact::sign::signer_from_audit_seed(svc.keys.audit_seed()).map_err(refusal)?;
    Ok(signer.verifier().to_string())
}

/// A report that verified: its id, digest and how many citations were checked against the database.
#[derive(Debug, Clone)]
pub struct Verified {
    pub report_id: String,
    pub digest: String,
    pub citations: usize,
}

/// Check a report (its JSON bytes): the signature with this deployment's audit key, then every citation
/// against the database. The outer error is the database's; the inner one says why the report fails.
pub async fn verify(
    svc: &Service,
    report_json: &[u8],
) -> Result<std::result::Result<Verified, VerifyError>> {
    let signer =
        cordon_impact::sign::signer_from_audit_seed(svc.keys.audit_seed()).map_err(refusal)?;
    let verified = match cordon_impact::sign::verify(report_json, &signer.verifier()) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let claims = citations::claims(&verified.value);
    for claim in &claims {
        let evidence = evidence(svc, claim).await?;
        if let Err(e) = citations::check(&verified.value, claim, &evidence) {
            return Ok(Err(e));
        }
    }
    Ok(Ok(Verified {
        report_id: verified.report_id,
        digest: verified.digest,
        citations: claims.len(),
    }))
}

async fn evidence(svc: &Service, claim: &citations::Claim) -> Result<citations::Evidence> {
    use citations::{Claim, Evidence};
    Ok(match claim {
        Claim::Exposure {
            tenant_id,
            session_id,
            ..
        } => {
            let hits = svc
                .store
                .sessions_by_id(tenant_id, std::slice::from_ref(session_id))
                .await?;
            Evidence::Exposure(exposure_rows(svc, hits).await?.into_iter().next())
        }
        Claim::RedactionEvent { tenant_id, id, .. } => match id.parse::<i64>() {
            Ok(n) => {
                Evidence::RedactionEvent(svc.store.card_mention(tenant_id, n).await?.map(|m| {
                    CardMentionRow {
                        id: m.id.to_string(),
                        tenant_id: m.tenant_id,
                        conversation_id: m.conversation_id,
                        brand: m.brand,
                        last4: m.last4,
                        at: m.created_at,
                    }
                }))
            }
            Err(_) => Evidence::RedactionEvent(None),
        },
        Claim::Audit {
            log, index, size, ..
        } => {
            let stored = svc.store.audit_size(log).await?.max(0) as u64;
            let (Ok(i), true) = (i64::try_from(*index), *size <= stored && index < size) else {
                return Ok(Evidence::Audit(None));
            };
            let entry = svc
                .store
                .audit_entries(log, i, i + 1)
                .await?
                .into_iter()
                .next();
            let proof = match cordon_ledger::inclusion_proof_nodes(*index, *size) {
                Ok(nodes) => {
                    let hashes = svc.store.audit_nodes(log, nodes.ids()).await?;
                    nodes.assemble(&hashes).ok()
                }
                Err(_) => None,
            };
            Evidence::Audit(entry.zip(proof).map(|((_, bytes), proof)| (bytes, proof)))
        }
        Claim::Checkpoint { log, size, .. } => {
            let note = svc
                .store
                .checkpoints(log)
                .await?
                .into_iter()
                .find(|c| u64::try_from(c.size).ok() == Some(*size))
                .map(|c| c.note);
            let verifier = audit::signer(svc.keys.audit_seed(), log).map(|s| s.verifier());
            Evidence::Checkpoint(note.zip(verifier))
        }
    })
}
