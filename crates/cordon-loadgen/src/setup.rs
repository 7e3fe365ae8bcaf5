//! Tenants and agents for a run.
//!
//! Against Cordon they are made with the `cordon` CLI on the server's data dir (as an operator would), and agents
//! sign in through `POST /api/v1/auth/login` for a session cookie. Against the relay they are names only.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{anyhow, bail, Context as _};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt as _;

use crate::client::{self, Target};

/// Which server the run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ServerKind {
    Cordon,
    Relay,
}

impl ServerKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ServerKind::Cordon => "cordon",
            ServerKind::Relay => "relay",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AgentFixture {
    pub(crate) username: String,
    /// `Cookie` header value for /ws/agent (Cordon); empty on the relay.
    pub(crate) cookie: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TenantFixture {
    pub(crate) slug: String,
    pub(crate) widget_key: String,
    pub(crate) agents: Vec<AgentFixture>,
}

/// How to reach the `cordon` CLI and the server's data.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    pub(crate) bin: PathBuf,
    pub(crate) data: Option<PathBuf>,
    pub(crate) database: Option<String>,
}

impl Admin {
    fn command(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.bin);
        if let Some(d) = &self.data {
            c.arg("--data").arg(d);
        }
        if let Some(u) = &self.database {
            c.arg("--database").arg(u);
        }
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let mut cmd = self.command();
        cmd.args(args);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("could not run {}", self.bin.display()))?;
        if let Some(mut si) = child.stdin.take() {
            if let Some(text) = stdin {
                si.write_all(text.as_bytes()).await?;
                si.write_all(b"\n").await?;
            }
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!(
                "cordon {} failed: {}",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_slice(&out.stdout).context("cordon printed no JSON")
    }
}

/// A short random tag so that runs on one data dir never collide.
pub(crate) fn run_tag() -> String {
    let mut rng = rand::thread_rng();
    (0..6)
        .map(|_| (b'a' + rng.gen_range(0..26u8)) as char)
        .collect()
}

/// Make `tenants` tenants with `agents` agents each (capacity `capacity`) and sign every agent in.
pub(crate) async fn fixtures(
    kind: ServerKind,
    target: &Target,
    admin: &Admin,
    prefix: &str,
    tenants: usize,
    agents: usize,
    capacity: u32,
) -> anyhow::Result<Vec<TenantFixture>> {
    if kind == ServerKind::Relay {
        return Ok((0..tenants)
            .map(|t| TenantFixture {
                slug: format!("{prefix}-{t}"),
                widget_key: format!("relay-{prefix}-{t}"),
                agents: (0..agents)
                    .map(|a| AgentFixture {
                        username: format!("a{a}"),
                        cookie: String::new(),
                    })
                    .collect(),
            })
            .collect());
    }
    let password = format!("lg-{}-{}", run_tag(), run_tag());
    let mut out = Vec::new();
    for t in 0..tenants {
        let slug = format!("{prefix}-{t}");
        let v = admin
            .run(
                &[
                    "tenant",
                    "create",
                    "--slug",
                    &slug,
                    "--name",
                    &format!("Load test {slug}"),
                    "--json",
                ],
                None,
            )
            .await?;
        let widget_key = v["widget_key"]
            .as_str()
            .ok_or_else(|| anyhow!("tenant create printed no widget_key"))?
            .to_string();
        out.push(TenantFixture {
            slug,
            widget_key,
            agents: vec![],
        });
    }
    // Agent creation hashes a password (argon2id) per agent: run a few CLI processes at once.
    let mut jobs = Vec::new();
    for t in &out {
        for a in 0..agents {
            jobs.push((t.slug.clone(), format!("a{a}")));
        }
    }
    let mut created: Vec<(String, String)> = Vec::new();
    for chunk in jobs.chunks(4) {
        let mut handles = Vec::new();
        for (slug, user) in chunk {
            let admin = admin.clone();
            let (slug, user, pw) = (slug.clone(), user.clone(), password.clone());
            let cap = capacity.to_string();
            handles.push(tokio::spawn(async move {
                admin
                    .run(
                        &[
                            "agent",
                            "create",
                            "--tenant",
                            &slug,
                            "--username",
                            &user,
                            "--name",
                            &format!("Agent {user}"),
                            "--role",
                            "agent",
                            "--capacity",
                            &cap,
                            "--password-stdin",
                            "--json",
                        ],
                        Some(&pw),
                    )
                    .await
                    .map(|_| (slug, user))
            }));
        }
        for h in handles {
            created.push(h.await??);
        }
    }
    for (slug, user) in created {
        let cookie = login(target, &slug, &user, &password).await?;
        if let Some(t) = out.iter_mut().find(|t| t.slug == slug) {
            t.agents.push(AgentFixture {
                username: user,
                cookie,
            });
        }
    }
    Ok(out)
}

/// Sign an agent in; returns the `Cookie` header value.
pub(crate) async fn login(
    target: &Target,
    tenant: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = serde_json::json!({"tenant": tenant, "username": username, "password": password})
        .to_string();
    let (status, headers, _) = client::post_json(
        target,
        "/api/v1/auth/login",
        &body,
        &[("Origin", &target.base)],
    )
    .await?;
    if status != 200 {
        bail!("login of {tenant}/{username} answered HTTP {status}");
    }
    let cookies: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .filter_map(|(_, v)| v.split(';').next().map(|c| c.trim().to_string()))
        .collect();
    if cookies.is_empty() {
        bail!("login of {tenant}/{username} set no cookie");
    }
    Ok(cookies.join("; "))
}
