//! `cordon demo`: the service plus two fictional tenants, each with one admin and one agent. Passwords are
//! random per data dir, kept in a mode-0600 file there, and printed at every start. Re-running reuses it all.

use std::path::Path;

use anyhow::{anyhow, Context as _};
use cordon_server::keys::Keys;
use cordon_server::ops;
use cordon_store::{AgentRole, Store};
use serde::{Deserialize, Serialize};

use crate::runtime::{open, serve, write_private_file};
use crate::{GlobalArgs, ServeArgs};

const CREDENTIALS_FILE: &str = "demo-credentials.json";
/// The demo's setup is an operator action like the CLI's.
const DEMO_ACTOR: &str = "operator:demo";

struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    store_origin: &'static str,
    admin: (&'static str, &'static str),
    agent: (&'static str, &'static str),
}

const TENANTS: &[DemoTenant] = &[
    DemoTenant {
        slug: "skyway",
        name: "Skyway Airlines",
        store_origin: "http://localhost:8090",
        admin: ("ada", "Ada (Skyway admin)"),
        agent: ("sam", "Sam"),
    },
    DemoTenant {
        slug: "voltmart",
        name: "Voltmart Electronics",
        store_origin: "http://127.0.0.3:8090",
        admin: ("vera", "Vera (Voltmart admin)"),
        agent: ("max", "Max"),
    },
];

#[derive(Debug, Serialize, Deserialize)]
struct Credential {
    tenant: String,
    username: String,
    role: String,
    password: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Credentials {
    accounts: Vec<Credential>,
    widget_keys: Vec<(String, String)>,
}

async fn ensure_tenants(store: &Store, keys: &Keys, path: &Path) -> anyhow::Result<Credentials> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let creds: Credentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is malformed", path.display()))?;
        return Ok(creds);
    }
    let mut creds = Credentials {
        accounts: Vec::new(),
        widget_keys: Vec::new(),
    };
    for t in TENANTS {
        let tenant = match store.tenant_by_slug(t.slug).await? {
            Some(existing) => existing,
            None => {
                ops::create_tenant(
                    store,
                    keys,
                    t.slug,
                    t.name,
                    &[t.store_origin.to_string()],
                    DEMO_ACTOR,
                )
                .await
                .map_err(|e| anyhow!("{e}"))?
                .0
            }
        };
        creds
            .widget_keys
            .push((t.slug.to_string(), tenant.widget_key.clone()));
        for ((username, display), role) in
            [(t.admin, AgentRole::Admin), (t.agent, AgentRole::Agent)]
        {
            let password = cordon_crypto::new_password();
            match store.agent_credentials(&tenant.id, username).await? {
                // The credentials file was lost but the agent exists: reset its password so the demo works.
                Some((agent, _)) => {
                    let patch = ops::agent_patch(None, None, None, Some(false), Some(&password))
                        .map_err(|e| anyhow!("{e}"))?;
                    let audit = [cordon_server::audit::entry(
                        &tenant.id,
                        DEMO_ACTOR,
                        "agent.update",
                        &format!("agent:{}#{}", agent.id, ops::patch_fields(&patch)),
                    )];
                    store
                        .update_agent(&tenant.id, &agent.id, &patch, &audit)
                        .await?;
                }
                None => {
                    ops::create_agent(
                        store, &tenant.id, username, display, role, 3, &password, DEMO_ACTOR,
                    )
                    .await
                    .map_err(|e| anyhow!("{e}"))?;
                }
            }
            creds.accounts.push(Credential {
                tenant: t.slug.to_string(),
                username: username.to_string(),
                role: role.as_str().to_string(),
                password,
            });
        }
    }
    write_private_file(path, serde_json::to_string_pretty(&creds)?.as_bytes())?;
    Ok(creds)
}

pub(crate) async fn run(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let (store, keys) = open(global).await?;
    let path = global.data.join(CREDENTIALS_FILE);
    let creds = ensure_tenants(&store, &keys, &path).await?;
    // The URLs are known only once the socket is bound (`--listen 127.0.0.1:0` picks a port).
    let banner: crate::runtime::Banner = Box::new(move |console: &str| {
        let mut banner = String::new();
        banner.push_str("\nCordon demo is running.\n");
        banner.push_str(&format!("  console:  {console}/console\n"));
        banner.push_str(&format!("  API doc:  {console}/api/openapi.json\n"));
        banner.push_str(&format!("  accounts (from {}):\n", path.display()));
        for c in &creds.accounts {
            banner.push_str(&format!(
                "    tenant {:<9} {:<6} {:<6} password {}\n",
                c.tenant, c.role, c.username, c.password
            ));
        }
        for (slug, key) in &creds.widget_keys {
            banner.push_str(&format!("  widget key of {slug}: {key}\n"));
        }
        banner
    });
    serve(global, args, Some((store, keys, banner))).await
}
