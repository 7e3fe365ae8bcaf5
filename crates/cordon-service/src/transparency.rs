//! A tenant's transparency report (issue 11): what data Cordon holds of the tenant, who and what can reach it,
//! which widget code ran on its pages, and the latest audit checkpoint. For the tenant's admins and auditors.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{role_scopes, Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{Refusal, Result};
use crate::Service;

/// How far back the widget-file table goes.
pub const ASSET_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;

/// What is said of one category's retention under the tenant's periods.
fn category_retention(category: &str, r: &cordon_store::Retention) -> String {
    let days = match category {
        "conversations" | "messages" | "card_mentions" => r.transcript_days.map(|d| (d, "closes")),
        "visitor_sessions" => r.exposure_days.map(|d| (d, "ends")),
        "audit_entries" => {
            return "kept whole: the log is verifiable and holds ids and actions, no personal data"
                .into()
        }
        _ => None,
    };
    match days {
        Some((d, from)) => format!("deleted {d} days after the conversation or session {from}"),
        None => "kept until deleted on request (visitor requests) or the tenant is shredded".into(),
    }
}

/// A widget file the operator ships (the transport knows which files it serves).
#[derive(Debug, Clone)]
pub struct KnownFile {
    /// e.g. `loader.js`, `loader.js (archived)`, `frame.html`.
    pub name: String,
    /// Lowercase hex SHA-384.
    pub sha384: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Transparency {
    pub tenant: TenantSummary,
    /// Unix ms.
    pub generated_at: i64,
    /// Every category of data held, with counts.
    pub data: Vec<DataCategory>,
    /// The retention in force (today: none, said plainly).
    pub retention: String,
    /// Every principal able to reach the data.
    pub principals: Principals,
    /// Every system able to reach the data.
    pub systems: Vec<SystemView>,
    /// Widget files served on the tenant's origins, per day (UTC), for the last 90 days.
    pub assets: Vec<AssetDayView>,
    /// Each distinct file of `assets`, and whether it is a known release.
    pub files: Vec<FileView>,
    /// The latest signed checkpoint of the tenant's audit log.
    pub checkpoint: Option<CheckpointView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TenantSummary {
    pub id: String,
    pub slug: String,
    pub display_name: String,
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DataCategory {
    /// Machine name, e.g. `messages`.
    pub category: String,
    pub description: String,
    pub count: i64,
    /// The oldest record's time, unix ms.
    pub oldest_at: Option<i64>,
    pub retention: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Principals {
    pub agents: Vec<AgentAccess>,
    pub api_keys: Vec<KeyAccess>,
    /// Every operator grant of the tenant (requested, active, expired, revoked; break-glass ones included).
    pub operator_grants: Vec<GrantAccess>,
    /// The operator's standing access: its command line, with database access (see `operator_grants` for reads
    /// over the API, which need a grant).
    pub operator: String,
    /// What `last_used_at` means.
    pub last_use: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentAccess {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub scopes: Vec<String>,
    pub disabled: bool,
    pub created_at: i64,
    /// The agent's last audited action, unix ms.
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyAccess {
    pub id: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The key's last audited use, unix ms.
    pub last_used_at: Option<i64>,
}

/// An operator's grant to read the tenant's data (issue 12). The reason is not repeated here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantAccess {
    pub id: String,
    pub operator_id: String,
    pub operator_name: String,
    /// `pending`, `active`, `expired` or `revoked`.
    pub state: String,
    pub break_glass: bool,
    pub requested_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The operator's last audited action in the tenant's log (e.g. `grant.use`), unix ms.
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SystemView {
    pub name: String,
    /// `database`, `broker`, `webhooks`.
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssetDayView {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub sha384: String,
    pub embed_origin: Option<String>,
    pub sessions: i64,
    pub known: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileView {
    pub sha384: String,
    /// The SRI form, `sha384-<base64>`.
    pub integrity: String,
    /// The release file it is (`loader.js`, …), or null for an unknown file.
    pub release: Option<String>,
    pub known: bool,
    pub sessions: i64,
    pub first_day: String,
    pub last_day: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointView {
    pub log: String,
    pub size: i64,
    /// Standard base64 of the root hash.
    pub root_hash: String,
    pub created_at: i64,
    /// The signed checkpoint note, verbatim (C2SP).
    pub note: String,
    /// The verifier key of the log, in note format.
    pub verifier_key: String,
}

/// The result of checking the latest checkpoint on the server: the signature, and the root recomputed from
/// the log's stored tree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckpointCheck {
    /// False while the log has no checkpoint yet (one is signed within seconds of the first entry).
    pub present: bool,
    pub size: i64,
    pub signature_valid: bool,
    pub root_matches_entries: bool,
    pub ok: bool,
}

fn describe(category: &str) -> &'static str {
    match category {
        "visitors" => "visitor records: an id, and the verified user id when the site sends one",
        "visitor_sessions" => "exposure records: each chat session's times, node, embedding origin and widget file hashes",
        "conversations" => "conversations: state, assigned agent, times",
        "messages" => "messages, sealed (XChaCha20-Poly1305 under the tenant's key); card numbers masked before storage",
        "card_mentions" => "card mentions: brand and last four digits of each masked card, never more",
        "agents" => "agent accounts: username, display name, role, password hash",
        "agent_sessions" => "console sign-in sessions",
        "api_keys" => "API keys: a hash of each key, its scopes and times",
        "audit_entries" => "audit log entries: actor, action, target id, time (ids only, no content)",
        _ => "records",
    }
}

/// `YYYY-MM-DD` of a day number (days since the epoch).
fn day_text(day: i64) -> String {
    let s = cordon_impact::time::format_millis(day.saturating_mul(DAY_MS));
    s.get(..10).unwrap_or(&s).to_string()
}

/// The transparency report of the caller's tenant (admin or auditor), recorded as a read.
pub async fn report(
    svc: &Service,
    principal: &Principal,
    known: &[KnownFile],
) -> Result<Transparency> {
    if !(principal.has(Scope::Admin) || principal.has(Scope::AuditRead)) {
        return Err(Refusal::forbidden());
    }
    let tenant_id = principal.tenant_id();
    audit::record_read(svc, principal, Action::TransparencyRead, "transparency").await?;
    let tenant = svc.store.tenant(tenant_id).await?;
    let retention = svc.store.retention(tenant_id).await?;
    let now = cordon_store::now_ms();

    let data = svc
        .store
        .held_categories(tenant_id)
        .await?
        .into_iter()
        .map(|(name, count, oldest)| DataCategory {
            category: name.to_string(),
            description: describe(name).to_string(),
            count,
            oldest_at: oldest,
            retention: category_retention(name, &retention),
        })
        .collect();

    let last_use: HashMap<String, i64> = svc
        .store
        .last_audited_use(tenant_id)
        .await?
        .into_iter()
        .collect();
    let agents = svc
        .store
        .list_agents(tenant_id)
        .await?
        .into_iter()
        .map(|a| AgentAccess {
            last_used_at: last_use.get(&format!("agent:{}", a.id)).copied(),
            scopes: role_scopes(a.role)
                .iter()
                .map(|s| s.as_str().to_string())
                .collect(),
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            role: a.role.as_str().to_string(),
            disabled: a.disabled,
            created_at: a.created_at,
        })
        .collect();
    let api_keys = svc
        .store
        .list_api_keys(tenant_id)
        .await?
        .into_iter()
        .map(|k| KeyAccess {
            last_used_at: last_use.get(&format!("apikey:{}", k.id)).copied(),
            id: k.id,
            prefix: k.prefix,
            scopes: k.scopes,
            created_by: k.created_by,
            created_at: k.created_at,
            expires_at: k.expires_at,
            revoked_at: k.revoked_at,
        })
        .collect();
    let operator_grants = svc
        .store
        .tenant_grants(tenant_id)
        .await?
        .into_iter()
        .map(|g| GrantAccess {
            state: crate::grants::GrantState::of(&g, now).as_str().to_string(),
            last_used_at: last_use
                .get(&format!("operator:{}", g.operator_id))
                .copied(),
            id: g.id,
            operator_id: g.operator_id,
            operator_name: g.operator_name,
            break_glass: g.break_glass,
            requested_at: g.requested_at,
            approved_by: g.approved_by,
            approved_at: g.approved_at,
            expires_at: g.expires_at,
            revoked_at: g.revoked_at,
        })
        .collect();
    let principals = Principals {
        agents,
        api_keys,
        operator_grants,
        operator: "the operator's command line, with database access (every CLI action is in this log as \
                   operator:cli); operators read over the API only through a grant you approve (below)"
            .to_string(),
        last_use: "the principal's last audited action: every API route and sign-in is audited, so no separate \
                   tracking is written per request"
            .to_string(),
    };

    let backend = match svc.store.backend() {
        cordon_store::Backend::Sqlite => "SQLite",
        cordon_store::Backend::Postgres => "PostgreSQL",
    };
    let broker = if svc.hub.clustered() {
        SystemView {
            name: "NATS".into(),
            kind: "broker".into(),
            detail: "fans live events out between Cordon's nodes: the redacted frames your clients receive, on \
                     subjects named by tenant and conversation; it stores nothing"
                .into(),
        }
    } else {
        SystemView {
            name: "none configured".into(),
            kind: "broker".into(),
            detail: "no message broker: each node delivers live to its own clients".into(),
        }
    };
    let mut systems = vec![
        SystemView {
            name: backend.to_string(),
            kind: "database".into(),
            detail: "holds every record above; message bodies sealed under the tenant's key, which the master key wraps"
                .into(),
        },
        broker,
    ];
    // Your webhook endpoints receive what their events carry (docs/WEBHOOKS.md): ids, states and, for
    // message.created, the redacted text.
    let endpoints = svc.store.webhook_endpoints(tenant_id).await?;
    if endpoints.is_empty() {
        systems.push(SystemView {
            name: "none configured".into(),
            kind: "webhooks".into(),
            detail: "no webhook endpoints exist".into(),
        });
    }
    for e in endpoints {
        let carries_text = e.events.iter().any(|ev| ev == "message.created");
        systems.push(SystemView {
            name: e.url,
            kind: "webhooks".into(),
            detail: format!(
                "{} endpoint added by {}; receives {}{}",
                if e.enabled {
                    "an enabled"
                } else {
                    "a disabled"
                },
                e.created_by,
                e.events.join(", "),
                if carries_text {
                    " (message events carry the redacted message text)"
                } else {
                    " (ids and states, no message text)"
                }
            ),
        });
    }

    let known_by_hash: HashMap<&str, &str> = known
        .iter()
        .map(|k| (k.sha384.as_str(), k.name.as_str()))
        .collect();
    let days = svc
        .store
        .asset_days(tenant_id, now - ASSET_DAYS * DAY_MS)
        .await?;
    let mut files: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    let assets = days
        .into_iter()
        .map(|(day, sha384, embed_origin, sessions)| {
            let f = files.entry(sha384.clone()).or_insert((0, day, day));
            f.0 += sessions;
            f.1 = f.1.min(day);
            f.2 = f.2.max(day);
            AssetDayView {
                day: day_text(day),
                known: known_by_hash.contains_key(sha384.as_str()),
                sha384,
                embed_origin,
                sessions,
            }
        })
        .collect();
    let files = files
        .into_iter()
        .map(|(sha384, (sessions, first, last))| {
            let release = known_by_hash.get(sha384.as_str()).map(|n| n.to_string());
            let integrity = hex::decode(&sha384)
                .map(|b| {
                    format!(
                        "sha384-{}",
                        base64::engine::general_purpose::STANDARD.encode(b)
                    )
                })
                .unwrap_or_default();
            FileView {
                known: release.is_some(),
                release,
                integrity,
                sha384,
                sessions,
                first_day: day_text(first),
                last_day: day_text(last),
            }
        })
        .collect();

    let checkpoint = match svc.store.latest_checkpoint(tenant_id).await? {
        Some(cp) => Some(CheckpointView {
            root_hash: base64::engine::general_purpose::STANDARD.encode(&cp.root),
            verifier_key: audit::signer(svc.keys.audit_seed(), tenant_id)
                .map(|s| s.verifier().to_string())
                .unwrap_or_default(),
            log: cp.log_id,
            size: cp.size,
            created_at: cp.created_at,
            note: cp.note,
        }),
        None => None,
    };

    Ok(Transparency {
        tenant: TenantSummary {
            id: tenant.id,
            slug: tenant.slug,
            display_name: tenant.display_name,
            allowed_origins: tenant.allowed_origins,
        },
        generated_at: now,
        data,
        retention: crate::lifecycle::describe(&retention),
        principals,
        systems,
        assets,
        files,
        checkpoint,
    })
}

/// Check the tenant's latest checkpoint on the server (admin or auditor): its signature with the log's key, and
/// its root against the root of the log's stored tree. Recorded as a transparency read.
pub async fn check_checkpoint(svc: &Service, principal: &Principal) -> Result<CheckpointCheck> {
    if !(principal.has(Scope::Admin) || principal.has(Scope::AuditRead)) {
        return Err(Refusal::forbidden());
    }
    let log = principal.tenant_id();
    audit::record_read(svc, principal, Action::TransparencyRead, "checkpoint").await?;
    let Some(cp) = svc.store.latest_checkpoint(log).await? else {
        return Ok(CheckpointCheck {
            present: false,
            size: 0,
            signature_valid: false,
            root_matches_entries: false,
            ok: false,
        });
    };
    let signer =
        audit::signer(svc.keys.audit_seed(), log).ok_or_else(|| Refusal::internal("signer"))?;
    let opened = cordon_ledger::Checkpoint::open(
        cp.note.as_bytes(),
        &audit::origin(log),
        &signer.verifier(),
    );
    let signature_valid = opened.as_ref().is_ok_and(|c| {
        i64::try_from(c.size()).ok() == Some(cp.size) && c.root()[..] == cp.root[..]
    });
    let size = u64::try_from(cp.size).unwrap_or(0);
    // The root from the stored tree (the log's hashed nodes), not from the note: a rewritten log or a forged
    // note shows as a mismatch. `cordon audit verify` goes further and rehashes every entry.
    let root_matches_entries = svc
        .store
        .audit_root(log, size)
        .await
        .is_ok_and(|root| root[..] == cp.root[..]);
    Ok(CheckpointCheck {
        present: true,
        size: cp.size,
        signature_valid,
        root_matches_entries,
        ok: signature_valid && root_matches_entries,
    })
}
