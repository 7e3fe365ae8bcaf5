//! `cordon operator`: the platform's named operator accounts (issue 12). Whoever onboards staff runs these with
//! database access; the operators themselves sign in over the API with a second factor.

use anyhow::Context as _;
use clap::Subcommand;
use cordon_service::audit::CLI_ACTOR;
use cordon_service::grants::{self, GrantState};
use cordon_service::model::now_ms;
use cordon_service::operators;
use serde_json::json;

use crate::manage::refused;
use crate::runtime::open;
use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Create a named operator (one per person, never shared). Prints, once, the password (unless given on
    /// stdin), the TOTP secret as an otpauth:// URI for an authenticator app, and ten recovery codes.
    Create {
        /// The person's own account name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List operators.
    List {
        #[arg(long)]
        json: bool,
    },
    /// List operator sessions (one operator's with --name).
    Sessions {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator (a leaver, a lost second factor): no more sign-ins, every session ended at once.
    Disable {
        #[arg(long)]
        name: String,
    },
    /// Revoke an operator session at once.
    RevokeSession {
        /// The session's id (from `operator sessions`).
        #[arg(long)]
        id: String,
    },
    /// Grants: the only way an operator reaches a tenant's data. These act as the operator whose session token
    /// is given (from POST /api/v1/operator/sessions, which asks for the second factor).
    #[command(subcommand)]
    Grant(GrantCommand),
}

#[derive(Debug, clap::Args)]
pub(crate) struct OperatorToken {
    /// The operator's session token (co_…).
    #[arg(long, env = "CORDON_OPERATOR_TOKEN", hide_env_values = true)]
    token: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Ask a tenant's admins for access, with a reason they will read; it runs for --hours from approval.
    Request {
        #[command(flatten)]
        who: OperatorToken,
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        reason: String,
        /// 1-24.
        #[arg(long, default_value_t = 4)]
        hours: u32,
        /// Break-glass: a second operator approves instead of the tenant, who is told at once.
        #[arg(long)]
        break_glass: bool,
        #[arg(long)]
        json: bool,
    },
    /// The calling operator's grants.
    List {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        json: bool,
    },
    /// Approve another operator's break-glass request (never your own).
    Approve {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        id: String,
    },
    /// Give back your own grant before it ends.
    Revoke {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        id: String,
    },
}

pub(crate) async fn signed_in(
    svc: &cordon_service::Service,
    who: &OperatorToken,
) -> anyhow::Result<operators::OperatorPrincipal> {
    operators::principal_for_session(svc, &who.token, None)
        .await
        .map_err(|_| anyhow::anyhow!("the operator token is not a live session: sign in again"))
}

fn grant_json(g: &cordon_service::model::OperatorGrant) -> serde_json::Value {
    json!({
        "id": g.id, "tenant_id": g.tenant_id, "operator": g.operator_name, "reason": g.reason,
        "break_glass": g.break_glass, "state": GrantState::of(g, now_ms()).as_str(),
        "expires_at": g.expires_at, "approved_by": g.approved_by,
    })
}

async fn grant(svc: &cordon_service::Service, cmd: GrantCommand) -> anyhow::Result<()> {
    match cmd {
        GrantCommand::Request {
            who,
            tenant,
            reason,
            hours,
            break_glass,
            json,
        } => {
            let op = signed_in(svc, &who).await?;
            let g = grants::request(svc, &op, &tenant, &reason, hours, break_glass)
                .await
                .map_err(refused)?;
            if json {
                print_json(&grant_json(&g));
            } else {
                println!("requested grant {} on {tenant} for {hours} h", g.id);
                if break_glass {
                    println!("break-glass: a second operator approves it (cordon operator grant approve --id {})", g.id);
                } else {
                    println!("a tenant admin approves it in the admin pages (Operator access)");
                }
            }
        }
        GrantCommand::List { who, json } => {
            let op = signed_in(svc, &who).await?;
            let list = grants::own(svc, &op).await.map_err(refused)?;
            if json {
                print_json(&serde_json::Value::Array(
                    list.iter().map(grant_json).collect(),
                ));
            } else {
                for g in &list {
                    let state = GrantState::of(g, now_ms()).as_str();
                    println!("{:<28} {:<28} {state}", g.id, g.tenant_id);
                }
            }
        }
        GrantCommand::Approve { who, id } => {
            let op = signed_in(svc, &who).await?;
            let g = grants::approve_break_glass(svc, &op, &id)
                .await
                .map_err(refused)?;
            println!(
                "approved break-glass grant {} until {}",
                g.id,
                g.expires_at.unwrap_or(0)
            );
        }
        GrantCommand::Revoke { who, id } => {
            let op = signed_in(svc, &who).await?;
            grants::give_back(svc, &op, &id).await.map_err(refused)?;
            println!("revoked grant {id}");
        }
    }
    Ok(())
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

pub(crate) async fn run(global: &GlobalArgs, cmd: OperatorCommand) -> anyhow::Result<()> {
    let svc = open(global).await?;
    let result = async {
        match cmd {
            OperatorCommand::Create {
                name,
                password_stdin,
                json,
            } => {
                let (password, generated) = if password_stdin {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("could not read the password")?;
                    (line.trim_end_matches(['\r', '\n']).to_string(), false)
                } else {
                    (cordon_crypto::new_password(), true)
                };
                let e = operators::create(&svc, &name, &password, CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                let shown_password = generated.then_some(password);
                if json {
                    print_json(&json!({
                        "id": e.operator.id, "name": e.operator.name, "password": shown_password,
                        "otpauth_uri": e.otpauth_uri, "totp_secret": e.totp_secret_base32,
                        "recovery_codes": e.recovery_codes,
                    }));
                } else {
                    println!("created operator {} ({})", e.operator.name, e.operator.id);
                    if let Some(p) = shown_password {
                        println!("password:    {p}");
                    }
                    println!("TOTP secret: {}  (add it to an authenticator app)", e.totp_secret_base32);
                    println!("otpauth URI: {}", e.otpauth_uri);
                    println!("recovery codes (each works once; keep them offline):");
                    for c in &e.recovery_codes {
                        println!("  {c}");
                    }
                    println!("All of the above is shown this once: only hashes and a wrapped secret are stored.");
                }
                Ok(())
            }
            OperatorCommand::List { json } => {
                let list = operators::list(&svc, CLI_ACTOR).await.map_err(refused)?;
                if json {
                    print_json(&serde_json::to_value(&list)?);
                } else {
                    for o in list {
                        let state = if o.disabled { "disabled" } else { "active" };
                        println!("{:<24} {:<28} {state}", o.name, o.id);
                    }
                }
                Ok(())
            }
            OperatorCommand::Sessions { name, json } => {
                let list = operators::sessions(&svc, name.as_deref(), CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                let now = now_ms();
                if json {
                    let rows: Vec<_> = list
                        .iter()
                        .map(|s| {
                            json!({
                                "id": s.id, "operator_id": s.operator_id, "created_at": s.created_at,
                                "last_seen_at": s.last_seen_at, "expires_at": s.expires_at,
                                "revoked_at": s.revoked_at, "live": operators::is_live(s, now),
                            })
                        })
                        .collect();
                    print_json(&serde_json::Value::Array(rows));
                } else {
                    for s in list {
                        let state = if operators::is_live(&s, now) { "live" } else { "ended" };
                        println!("{:<28} {:<28} {state}", s.id, s.operator_id);
                    }
                }
                Ok(())
            }
            OperatorCommand::Grant(c) => grant(&svc, c).await,
            OperatorCommand::Disable { name } => {
                let o = operators::disable(&svc, &name, CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                println!("disabled operator {} ({}); its sessions are revoked", o.name, o.id);
                Ok(())
            }
            OperatorCommand::RevokeSession { id } => {
                operators::revoke_session(&svc, &id, CLI_ACTOR)
                    .await
                    .map_err(refused)?;
                println!("revoked operator session {id}");
                Ok(())
            }
        }
    }
    .await;
    svc.close().await;
    result
}
