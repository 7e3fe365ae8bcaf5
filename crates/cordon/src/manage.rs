//! Management commands: migrate, tenant, agent and apikey. They work beside running servers on the same
//! database, because every decision lives in the database.

use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use cordon_service::audit::CLI_ACTOR;
use cordon_service::management::{self, Actor, AgentChange, AgentRequest};
use cordon_service::model::{now_ms, AgentRole, Tenant};
use cordon_service::{code, Refusal, Service};
use serde_json::json;

use crate::runtime::{database_url, open};
use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant. Prints its widget key and, once, its identity-verification secret.
    Create {
        /// Short name used in logins and commands (a-z, 0-9, '-').
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// An origin allowed to embed the chat (repeatable), e.g. https://shop.example.
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List tenants.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Crypto-shred a tenant: destroy its data keys, so every message it ever stored becomes unreadable at once,
    /// on every node. Cannot be undone. Asks for the slug again on a terminal; elsewhere pass --confirm SLUG.
    Shred {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        /// The slug again, to confirm without a prompt.
        #[arg(long)]
        confirm: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Create an agent. Without --password-stdin a random password is generated and printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        name: String,
        /// admin, agent or auditor.
        #[arg(long, default_value = "agent")]
        role: String,
        /// Most chats at once.
        #[arg(long, default_value_t = 3)]
        capacity: i64,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's agents.
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable an agent: signs it out everywhere at once.
    Disable {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApikeyCommand {
    /// Create an API key. The key is printed once; only its hash is stored.
    Create {
        #[arg(long)]
        tenant: String,
        /// admin, conversations:read or audit:read (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime, e.g. 30d or 1y (default 90d, at most 1y).
        #[arg(long)]
        expires_in: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's keys (without secrets).
    List {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once, everywhere.
    Revoke {
        #[arg(long)]
        tenant: String,
        /// The key's id (from `apikey list`).
        #[arg(long)]
        id: String,
    },
}

pub(crate) async fn migrate(global: &GlobalArgs) -> anyhow::Result<()> {
    eprintln!("migrating {}", redact_url(&database_url(global)));
    let svc = open(global).await?;
    let result = management::record_migration(&svc, CLI_ACTOR).await;
    svc.close().await;
    println!("schema is at version {}", result.map_err(refused)?);
    Ok(())
}

/// Hide a password in a database URL before printing it.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A refusal as the operator's one line: a request the service does not accept reads as its message alone;
/// anything else keeps its code.
pub(crate) fn refused(r: Refusal) -> anyhow::Error {
    if r.code == code::BAD_REQUEST {
        anyhow!("{}", r.message)
    } else {
        anyhow!("{r}")
    }
}

async fn tenant_by_slug(svc: &Service, slug: &str) -> anyhow::Result<Tenant> {
    management::tenant_by_slug(svc, slug)
        .await
        .map_err(refused)?
        .ok_or_else(|| anyhow!("no tenant with slug {slug:?}"))
}

/// `cordon tenant shred`: the slug typed twice (flag or prompt), then the keys destroyed.
async fn shred(svc: &Service, slug: &str, confirm: Option<String>) -> anyhow::Result<()> {
    use std::io::{BufRead as _, IsTerminal as _, Write as _};
    let t = tenant_by_slug(svc, slug).await?;
    let typed = match confirm {
        Some(c) => c,
        None if std::io::stdin().is_terminal() => {
            eprint!(
                "This destroys the data keys of {} ({}): every message it stored becomes unreadable, for good.\n\
                 Type the tenant's slug to confirm: ",
                t.display_name, t.slug
            );
            std::io::stderr().flush()?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim().to_string()
        }
        None => bail!("pass --confirm {slug} to shred without a terminal"),
    };
    if typed != t.slug {
        bail!("the confirmation does not match the slug {slug:?}; nothing was shredded");
    }
    let n = management::shred_tenant(svc, &t.id, CLI_ACTOR)
        .await
        .map_err(refused)?;
    if n == 0 {
        println!("tenant {slug} was shredded already: it has no data keys");
    } else {
        println!(
            "shredded tenant {slug}: {n} data key(s) destroyed; its messages are unreadable on every node within {} s",
            cordon_service::keys::KEY_RECHECK.as_secs()
        );
    }
    Ok(())
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(crate) async fn tenant(global: &GlobalArgs, cmd: TenantCommand) -> anyhow::Result<()> {
    let store = open(global).await?;
    let result = match cmd {
        TenantCommand::Create {
            slug,
            name,
            origins,
            json,
        } => {
            let (t, secret) = management::create_tenant(&store, &slug, &name, &origins, CLI_ACTOR)
                .await
                .map_err(refused)?;
            let secret = secret.dangerous_export_hex();
            if json {
                print_json(&json!({
                    "id": t.id, "slug": t.slug, "display_name": t.display_name, "widget_key": t.widget_key,
                    "allowed_origins": t.allowed_origins, "identity_secret": secret,
                }));
            } else {
                println!("created tenant {} ({})", t.slug, t.id);
                println!("widget key:      {}", t.widget_key);
                println!(
                    "identity secret: {secret}  (shown once; used to sign verified visitor ids)"
                );
            }
            Ok(())
        }
        TenantCommand::Shred { tenant, confirm } => shred(&store, &tenant, confirm).await,
        TenantCommand::List { json } => {
            let tenants = management::list_tenants(&store, CLI_ACTOR)
                .await
                .map_err(refused)?;
            if json {
                print_json(&serde_json::to_value(&tenants)?);
            } else {
                for t in tenants {
                    println!(
                        "{:<20} {:<30} {}",
                        t.slug,
                        t.display_name,
                        t.allowed_origins.join(",")
                    );
                }
            }
            Ok(())
        }
    };
    store.close().await;
    result
}

pub(crate) async fn agent(global: &GlobalArgs, cmd: AgentCommand) -> anyhow::Result<()> {
    let store = open(global).await?;
    let result = async {
        match cmd {
            AgentCommand::Create {
                tenant,
                username,
                name,
                role,
                capacity,
                password_stdin,
                json,
            } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                let role = AgentRole::parse(&role).ok_or_else(|| anyhow!("role must be admin, agent or auditor"))?;
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).context("could not read the password")?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (cordon_crypto::new_password(), true)
                };
                let request = AgentRequest {
                    username: &username,
                    display_name: &name,
                    role,
                    capacity,
                    password: &password,
                };
                let a = management::create_agent(&store, &t.id, request, Actor::Operator(CLI_ACTOR))
                    .await
                    .map_err(refused)?;
                if json {
                    let mut v = json!({"id": a.id, "tenant": t.slug, "username": a.username, "display_name": a.display_name, "role": a.role.as_str(), "capacity": a.capacity});
                    if generated {
                        v["password"] = json!(password);
                    }
                    print_json(&v);
                } else {
                    println!("created agent {} in {} ({})", a.username, t.slug, a.id);
                    if generated {
                        println!("password: {password}  (shown once)");
                    }
                }
                Ok(())
            }
            AgentCommand::List { tenant, json } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                let agents = management::list_agents(&store, &t.id, CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                if json {
                    print_json(&serde_json::to_value(&agents)?);
                } else {
                    for a in agents {
                        println!(
                            "{:<20} {:<8} cap {:<3} {:<8}{}",
                            a.username,
                            a.role.as_str(),
                            a.capacity,
                            a.status.as_str(),
                            if a.disabled { " disabled" } else { "" }
                        );
                    }
                }
                Ok(())
            }
            AgentCommand::Disable { tenant, username } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                let a = management::agent_by_username(&store, &t.id, &username)
                    .await
                    .map_err(refused)?
                    .ok_or_else(|| anyhow!("no agent {username:?} in {tenant}"))?;
                let change = AgentChange {
                    disabled: Some(true),
                    ..Default::default()
                };
                management::update_agent(&store, &t.id, &a.id, change, Actor::Operator(CLI_ACTOR))
                    .await
                    .map_err(refused)?;
                println!("disabled {username}; its sessions are revoked");
                Ok(())
            }
        }
    }
    .await;
    store.close().await;
    result
}

pub(crate) async fn apikey(global: &GlobalArgs, cmd: ApikeyCommand) -> anyhow::Result<()> {
    let store = open(global).await?;
    let result = async {
        match cmd {
            ApikeyCommand::Create {
                tenant,
                scopes,
                expires_in,
                json,
            } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                let days = expires_in
                    .as_deref()
                    .map(management::parse_days)
                    .transpose()
                    .map_err(refused)?;
                let (k, token) = management::create_api_key(
                    &store,
                    &t.id,
                    &scopes,
                    days,
                    Actor::Operator(CLI_ACTOR),
                )
                .await
                .map_err(refused)?;
                if json {
                    print_json(&json!({"id": k.id, "key": token, "tenant": t.slug, "scopes": k.scopes, "expires_at": k.expires_at}));
                } else {
                    println!("created key {} for {} with scopes {}", k.id, t.slug, k.scopes.join(" "));
                    println!("key: {token}  (shown once; send as Authorization: Bearer <key>)");
                }
                Ok(())
            }
            ApikeyCommand::List { tenant, json } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                let keys = management::list_api_keys(&store, &t.id, CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                if json {
                    print_json(&serde_json::to_value(&keys)?);
                } else {
                    for k in keys {
                        let state = if k.revoked_at.is_some() {
                            "revoked"
                        } else if k.expires_at <= now_ms() {
                            "expired"
                        } else {
                            "active"
                        };
                        println!("{:<26} {:<10} {:<8} {}", k.id, k.prefix, state, k.scopes.join(" "));
                    }
                }
                Ok(())
            }
            ApikeyCommand::Revoke { tenant, id } => {
                let t = tenant_by_slug(&store, &tenant).await?;
                management::revoke_api_key(&store, &t.id, &id, CLI_ACTOR)
                    .await
                    .map_err(|_| anyhow!("no active key {id:?} in {tenant}"))?;
                println!("revoked {id}");
                Ok(())
            }
        }
    }
    .await;
    store.close().await;
    result
}
