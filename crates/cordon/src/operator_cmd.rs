//! `cordon operator`: the platform's named operator accounts (issue 12). Whoever onboards staff runs these with
//! database access; the operators themselves sign in over the API with a second factor.

use anyhow::Context as _;
use clap::Subcommand;
use cordon_service::audit::CLI_ACTOR;
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
    /// Revoke an operator session at once.
    RevokeSession {
        /// The session's id (from `operator sessions`).
        #[arg(long)]
        id: String,
    },
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
