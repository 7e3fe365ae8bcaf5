//! `cordon demo`: the service plus two fictional tenants, each with one admin and one agent. Passwords are
//! random per data dir, kept in a mode-0600 file there, and printed at every start. Re-running reuses it all.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{anyhow, Context as _};
use base64::Engine as _;
use cordon_server::AppState;
use cordon_service::management::{self, Actor, AgentChange, AgentRequest, TenantChange};
use cordon_service::model::AgentRole;
use cordon_service::Service;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

use crate::manage::refused;
use crate::release_cmd;
use crate::runtime::{self, open, write_private_file};
use crate::{demo_processor, demo_store};
use crate::{DemoArgs, GlobalArgs};

const CREDENTIALS_FILE: &str = "demo-credentials.json";
/// The demo's setup is an operator action like the CLI's.
const DEMO_ACTOR: &str = "operator:demo";

struct DemoTenant {
    slug: &'static str,
    name: &'static str,
    /// The store's host name in its origin, and the loopback address it listens on. Each store is a site of
    /// its own, so each tenant's `frame-ancestors` lets in its own store only.
    store_host: &'static str,
    store_ip: [u8; 4],
    admin: (&'static str, &'static str),
    agent: (&'static str, &'static str),
    /// Reads history, reports and the audit log; changes nothing.
    auditor: (&'static str, &'static str),
}

const TENANTS: &[DemoTenant] = &[
    DemoTenant {
        slug: "skyway",
        name: "Skyway Airlines",
        store_host: "localhost",
        store_ip: [127, 0, 0, 1],
        admin: ("ada", "Ada (Skyway admin)"),
        agent: ("sam", "Sam"),
        auditor: ("aude", "Aude (auditor)"),
    },
    DemoTenant {
        slug: "voltmart",
        name: "Voltmart Electronics",
        store_host: "127.0.0.3",
        store_ip: [127, 0, 0, 3],
        admin: ("vera", "Vera (Voltmart admin)"),
        agent: ("max", "Max"),
        auditor: ("otto", "Otto (auditor)"),
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
    /// The demo's operator (issue 12): its password and TOTP secret, kept like the agents' passwords.
    #[serde(default)]
    operators: Vec<OperatorCredential>,
}

#[derive(Debug, Serialize, Deserialize)]
struct OperatorCredential {
    name: String,
    password: String,
    totp_secret: String,
    otpauth_uri: String,
}

const DEMO_OPERATOR: &str = "demo-operator";
/// The second demo operator, who approves the demo's first release (a release needs two people).
const DEMO_APPROVER: &str = "demo-approver";

/// One demo operator, made once. A data dir whose credentials predate operators gains one; an operator that
/// exists without its credentials (the file was lost) is left alone, since its TOTP secret cannot be shown again.
async fn ensure_operator(
    store: &Service,
    path: &Path,
    creds: &mut Credentials,
    name: &str,
) -> anyhow::Result<()> {
    if creds.operators.iter().any(|o| o.name == name) {
        return Ok(());
    }
    let existing = cordon_service::operators::list(store, DEMO_ACTOR)
        .await
        .map_err(refused)?;
    if existing.iter().any(|o| o.name == name) {
        return Ok(());
    }
    let password = cordon_crypto::new_password();
    let made = cordon_service::operators::create(store, name, &password, DEMO_ACTOR)
        .await
        .map_err(refused)?;
    creds.operators.push(OperatorCredential {
        name: name.to_string(),
        password,
        totp_secret: made.totp_secret_base32,
        otpauth_uri: made.otpauth_uri,
    });
    // The file exists (written above, mode 0600, never replaced in place): write a new one and move it over.
    let fresh = path.with_extension("json.new");
    let _ = std::fs::remove_file(&fresh);
    write_private_file(&fresh, serde_json::to_string_pretty(&creds)?.as_bytes())?;
    std::fs::rename(&fresh, path)
        .with_context(|| format!("could not replace {}", path.display()))?;
    Ok(())
}

/// The port the demo stores use by default. When it is taken they fall back to a free port (and say so);
/// when the service itself runs on a free port (`--listen 127.0.0.1:0`, as tests do) so do the stores.
const STORE_PORT: u16 = 8090;

/// Where the demo stores listen.
#[derive(Debug, Clone, Copy)]
enum StoreListen {
    /// 8090, or a free port when 8090 is taken.
    Default,
    /// Free ports (the last run's when they are free again, so the tenants' allowed origins stay as they are).
    Free,
    /// `--store-listen`: exactly this (Skyway's address; Voltmart's store on 127.0.0.3 at the same port).
    Given(SocketAddr),
}

/// The address and origin host of tenant `t`'s store.
fn store_addr(t: &DemoTenant, mode: StoreListen, port: u16) -> (SocketAddr, String) {
    match mode {
        // Only the first store moves to the given address; the others keep their own hosts, on its port.
        StoreListen::Given(addr) if t.slug == TENANTS[0].slug => {
            let host = match addr.ip() {
                ip if ip == std::net::Ipv4Addr::LOCALHOST || ip.is_unspecified() => {
                    t.store_host.to_string()
                }
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            (addr, host)
        }
        _ => (
            SocketAddr::from((t.store_ip, port)),
            t.store_host.to_string(),
        ),
    }
}

/// Bind a free port on `ip`, the last run's `previous` port if it is free again.
async fn bind_free(ip: std::net::IpAddr, previous: Option<u16>) -> std::io::Result<TcpListener> {
    if let Some(p) = previous {
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, p)).await {
            return Ok(l);
        }
    }
    TcpListener::bind(SocketAddr::new(ip, 0)).await
}

/// Bind every demo store's listener, with the store's origin.
async fn bind_stores(
    store: &Service,
    mode: StoreListen,
) -> anyhow::Result<Vec<(TcpListener, String)>> {
    if let StoreListen::Given(addr) = mode {
        // The other stores listen on their own loopback hosts; the given one must not take theirs.
        if let Some(t) = TENANTS[1..]
            .iter()
            .find(|t| addr.ip() == std::net::IpAddr::from(t.store_ip))
        {
            return Err(anyhow!(
                "--store-listen {addr}: {} is the {} demo store's host; give another address",
                addr.ip(),
                t.slug
            ));
        }
    }
    let mut out: Vec<(TcpListener, String)> = Vec::new();
    for t in TENANTS {
        // With --store-listen every store uses its port (when the port is 0, the first store's free port).
        let port = match mode {
            StoreListen::Given(addr) => match out.first() {
                Some((l, _)) if addr.port() == 0 => l.local_addr()?.port(),
                _ => addr.port(),
            },
            StoreListen::Default => STORE_PORT,
            StoreListen::Free => 0,
        };
        let (addr, host) = store_addr(t, mode, port);
        let listener = match mode {
            StoreListen::Given(given) => TcpListener::bind(addr).await.with_context(|| {
                format!(
                    "could not listen on {addr} for the {} demo store (--store-listen {given}); \
                     choose another address, or leave --store-listen out to use a free port",
                    t.slug
                )
            })?,
            StoreListen::Default => match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    let previous = previous_store_port(store, t).await;
                    let l = bind_free(addr.ip(), previous).await.with_context(|| {
                        format!(
                            "could not listen on {} for the {} demo store",
                            addr.ip(),
                            t.slug
                        )
                    })?;
                    // Said on stdout beside the banner: the store's URL is not the one in the README.
                    println!(
                        "demo store of {}: {addr} is not free ({e}); using port {} instead (set --store-listen to choose)",
                        t.slug,
                        l.local_addr()?.port()
                    );
                    l
                }
            },
            StoreListen::Free => {
                let previous = previous_store_port(store, t).await;
                bind_free(addr.ip(), previous).await.with_context(|| {
                    format!(
                        "could not listen on {} for the {} demo store",
                        addr.ip(),
                        t.slug
                    )
                })?
            }
        };
        let bound_port = listener.local_addr()?.port();
        out.push((listener, format!("http://{host}:{bound_port}")));
    }
    Ok(out)
}

async fn ensure_tenants(
    store: &Service,
    path: &Path,
    store_origins: &[String],
) -> anyhow::Result<Credentials> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let creds: Credentials = serde_json::from_str(&text)
            .with_context(|| format!("{} is malformed", path.display()))?;
        return Ok(creds);
    }
    let mut creds = Credentials {
        accounts: Vec::new(),
        widget_keys: Vec::new(),
        operators: Vec::new(),
    };
    for (t, origin) in TENANTS.iter().zip(store_origins) {
        let tenant = match management::tenant_by_slug(store, t.slug).await? {
            Some(existing) => existing,
            None => {
                management::create_tenant(
                    store,
                    t.slug,
                    t.name,
                    std::slice::from_ref(origin),
                    DEMO_ACTOR,
                )
                .await
                .map_err(refused)?
                .0
            }
        };
        creds
            .widget_keys
            .push((t.slug.to_string(), tenant.widget_key.clone()));
        for ((username, display), role) in [
            (t.admin, AgentRole::Admin),
            (t.agent, AgentRole::Agent),
            (t.auditor, AgentRole::Auditor),
        ] {
            let password = cordon_crypto::new_password();
            match management::agent_by_username(store, &tenant.id, username).await? {
                // The credentials file was lost but the agent exists: reset its password so the demo works.
                Some(agent) => {
                    let change = AgentChange {
                        disabled: Some(false),
                        password: Some(&password),
                        ..Default::default()
                    };
                    let by = Actor::Operator(DEMO_ACTOR);
                    management::update_agent(store, &tenant.id, &agent.id, change, by)
                        .await
                        .map_err(refused)?;
                }
                None => {
                    let request = AgentRequest {
                        username,
                        display_name: display,
                        role,
                        capacity: 3,
                        password: &password,
                    };
                    management::create_agent(
                        store,
                        &tenant.id,
                        request,
                        Actor::Operator(DEMO_ACTOR),
                    )
                    .await
                    .map_err(refused)?;
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

/// The port of this store's origin in the tenant's allowed origins, if the tenant exists already.
async fn previous_store_port(store: &Service, t: &DemoTenant) -> Option<u16> {
    let tenant = management::tenant_by_slug(store, t.slug).await.ok()??;
    let prefix = format!("http://{}:", t.store_host);
    tenant
        .allowed_origins
        .iter()
        .find_map(|o| o.strip_prefix(&prefix)?.parse().ok())
}

/// Each demo tenant allows its store's origin (added once; an admin's other origins are kept).
async fn ensure_store_origins(store: &Service, store_origins: &[String]) -> anyhow::Result<()> {
    for (t, origin) in TENANTS.iter().zip(store_origins) {
        let Some(tenant) = management::tenant_by_slug(store, t.slug).await? else {
            continue;
        };
        if !tenant.allowed_origins.contains(origin) {
            // The store's origin from an earlier run on another port is replaced, not kept beside it.
            let host_prefix = format!("http://{}:", t.store_host);
            let mut origins: Vec<String> = tenant
                .allowed_origins
                .iter()
                .filter(|o| !o.starts_with(&host_prefix))
                .cloned()
                .collect();
            origins.push(origin.clone());
            let change = TenantChange {
                allowed_origins: Some(origins),
                ..Default::default()
            };
            management::update_tenant(store, &tenant.id, change, Actor::Operator(DEMO_ACTOR))
                .await
                .map_err(refused)?;
        }
    }
    Ok(())
}

pub(crate) async fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<()> {
    cordon_server::logging::init();
    let store = open(global).await?;
    let mut bound = runtime::bind(&args.serve).await?;
    // The card vault (issue 15): a fourth loopback site, 127.0.0.4 at the console's port, unless told.
    if bound.vault.is_none() {
        let console_port = bound.listeners[0].local_addr()?.port();
        let at = SocketAddr::from(([127, 0, 0, 4], console_port));
        match runtime::bind_vault(&args.serve, &mut bound.config, Some(at)) {
            Ok(v) => bound.vault = v,
            Err(e) => println!("demo card vault: {e:#}; payments are off"),
        }
    }
    // The demo's processors are the demo stores' own /processor/charge, on loopback.
    bound.config.payments.allow_private_processors = true;
    let store = store.with_settings(bound.config.service_settings());
    runtime::join_cluster(global, &args.serve, &store).await?;
    // The stores: one host each, on 8090 (or free ports when that is taken or the service runs on one).
    let mode = match args.store_listen {
        Some(addr) => StoreListen::Given(addr),
        None if args.serve.listen.port() == 0 => StoreListen::Free,
        None => StoreListen::Default,
    };
    let (store_listeners, store_origins): (Vec<TcpListener>, Vec<String>) =
        bind_stores(&store, mode).await?.into_iter().unzip();
    let path = global.data.join(CREDENTIALS_FILE);
    let mut creds = ensure_tenants(&store, &path, &store_origins).await?;
    ensure_operator(&store, &path, &mut creds, DEMO_OPERATOR).await?;
    ensure_operator(&store, &path, &mut creds, DEMO_APPROVER).await?;
    let release = ensure_release(&store, &global.data, &creds).await?;
    ensure_store_origins(&store, &store_origins).await?;

    runtime::announce(&bound, &store)?;
    let console = bound.config.console_origin.clone();
    let widget = bound.config.widget_origin.clone();
    let mut banner = String::new();
    banner.push_str("\nCordon demo is running. Open a store and the console side by side:\n");
    let mut extra = Vec::new();
    let secrets = demo_processors(&store, &store_origins).await;
    for ((t, origin), listener) in TENANTS.iter().zip(&store_origins).zip(store_listeners) {
        let key = creds
            .widget_keys
            .iter()
            .find(|(slug, _)| slug == t.slug)
            .map(|(_, k)| k.clone())
            .unwrap_or_default();
        let shop = demo_store::shop_for(t.slug, key, widget.clone());
        banner.push_str(&format!("  store of {:<9} {origin}/\n", t.slug));
        extra.push((
            listener,
            demo_store::router(&shop).merge(demo_processor::router(secrets.clone())),
        ));
    }
    banner.push_str(&format!("  console:          {console}/console\n"));
    banner.push_str(&format!("  admin pages:      {console}/console/admin\n"));
    banner.push_str(&format!("  API doc:          {console}/api/openapi.json\n"));
    if let Some(v) = &bound.config.payments.vault_origin {
        banner.push_str(&format!(
            "  card vault:       {v} (agents: Request payment; test card 4111 1111 1111 1111)\n"
        ));
        banner.push_str(
            "  card processors:  each store's /processor/charge; a payments key forwards a token there:\n",
        );
        banner.push_str(&format!(
            "                    cordon --data {} apikey create --tenant skyway --scope payments, then\n",
            global.data.display()
        ));
        banner.push_str(&format!(
            "                    curl -X POST -H 'authorization: Bearer KEY' -H 'content-type: application/json' -d '{{}}' {console}/api/v1/payments/tokens/TOKEN/forward\n"
        ));
    }
    if bound.widget_separate {
        banner.push_str(&format!("  widget origin:    {widget}\n"));
    } else {
        banner.push_str("  widget origin:    NONE: the chat frame is off (set --widget-listen or --widget-url)\n");
    }
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
    for o in &creds.operators {
        banner.push_str(&format!(
            "  operator {} password {} TOTP secret {} ({})\n",
            o.name, o.password, o.totp_secret, o.otpauth_uri
        ));
    }
    if let Some((id, vkey)) = &release {
        banner.push_str(&format!(
            "  widget release:   {id} (proposed by {DEMO_OPERATOR}, approved by {DEMO_APPROVER})\n"
        ));
        banner.push_str(&format!("  release key:      {vkey}\n"));
        if let Some((_, key)) = creds.widget_keys.first() {
            banner.push_str(&format!(
                "  tamper monitor:   cordon --data {} monitor --url {widget}/w/frame/{key}\n",
                global.data.display()
            ));
        }
    }
    println!("{banner}");
    let state = AppState::new(store.clone(), bound.config)
        .with_releases_dir(global.data.join(release_cmd::RELEASES_DIR));
    runtime::run(state, bound.listeners, bound.vault, extra).await?;
    store.close().await;
    Ok(())
}

/// Sign a demo operator in with its kept password and a code from its TOTP secret.
async fn demo_sign_in(
    store: &Service,
    creds: &Credentials,
    name: &str,
) -> anyhow::Result<Option<cordon_service::operators::OperatorPrincipal>> {
    let Some(c) = creds.operators.iter().find(|o| o.name == name) else {
        return Ok(None);
    };
    let totp = totp_rs::TOTP::from_url(&c.otpauth_uri)
        .map_err(|_| anyhow::anyhow!("the demo operator's otpauth URI does not parse"))?;
    let code = totp.generate_current()?;
    let peer = std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
    let signed = cordon_service::operators::sign_in(store, name, &c.password, Some(&code), peer)
        .await
        .map_err(refused)?;
    let who = cordon_service::operators::principal_for_session(store, &signed.token, None)
        .await
        .map_err(refused)?;
    Ok(Some(who))
}

/// Point each demo tenant's payments at its own store's demo processor (`/processor/charge`), with a fresh
/// signing secret at every start that the processor checks. Without a vault, nothing.
async fn demo_processors(store: &Service, store_origins: &[String]) -> demo_processor::Secrets {
    let secrets = demo_processor::Secrets::default();
    if store.settings().payments.vault_origin.is_none() {
        return secrets;
    }
    for (t, origin) in TENANTS.iter().zip(store_origins) {
        let Ok(Some(tenant)) = management::tenant_by_slug(store, t.slug).await else {
            continue;
        };
        let url = format!("{origin}/processor/charge");
        match cordon_service::payments::set_processor_as_operator(
            store,
            cordon_service::audit::CLI_ACTOR,
            &tenant.id,
            &url,
        )
        .await
        {
            Ok(view) => {
                let secret = view
                    .processor_secret
                    .as_deref()
                    .and_then(|s| s.strip_prefix("whsec_"))
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok());
                if let (Some(secret), Ok(mut m)) = (secret, secrets.lock()) {
                    m.insert(tenant.id.clone(), secret);
                }
            }
            Err(r) => println!("demo processor of {}: {r}", t.slug),
        }
    }
    secrets
}

/// The demo's widget release, made once per version of the widget files this build carries: written to
/// DATA/releases/<id>/, signed with the demo's release key (DATA/release.key, made and trusted on first use),
/// proposed by demo-operator and approved by demo-approver. Answers the latest live release and the key.
async fn ensure_release(
    store: &Service,
    data: &Path,
    creds: &Credentials,
) -> anyhow::Result<Option<(String, String)>> {
    let key_path = data.join(release_cmd::DEFAULT_KEY_FILE);
    let live = cordon_service::releases::live(store)
        .await
        .map_err(refused)?;
    if let Some(latest) = live.last() {
        // A data dir made by an older build keeps its release until this build's widget files differ from it
        // (a new feature in the frame, such as the card vault's form); then they are released anew.
        let current = cordon_server::web::embedded_release_files()
            .iter()
            .all(|(name, bytes)| latest.manifest.check(name, bytes).is_ok());
        if current {
            let vkey = std::fs::read_to_string(key_path.with_extension("pub")).unwrap_or_default();
            return Ok(Some((latest.id().to_string(), vkey.trim().to_string())));
        }
        println!(
            "demo: this build's widget files differ from release {}: proposing and approving them as a new release",
            latest.id()
        );
    }
    let (Some(proposer), Some(approver)) = (
        demo_sign_in(store, creds, DEMO_OPERATOR).await?,
        demo_sign_in(store, creds, DEMO_APPROVER).await?,
    ) else {
        println!("the demo operators' credentials are missing: no widget release made");
        return Ok(None);
    };
    let vkey = if key_path.exists() {
        release_cmd::read_signer(&key_path)?.verifier().to_string()
    } else {
        release_cmd::make_key_file(&key_path)?
    };
    cordon_service::releases::trust_key(store, &proposer, &vkey)
        .await
        .map_err(refused)?;
    let signer = release_cmd::read_signer(&key_path)?;
    let files: Vec<(&'static str, Vec<u8>)> = cordon_server::web::embedded_release_files()
        .into_iter()
        .map(|(n, b)| (n, b.to_vec()))
        .collect();
    let id = cordon_crypto::new_id("rel");
    release_cmd::propose_files(store, data, &proposer, &id, &files, &signer).await?;
    cordon_service::releases::approve(store, &approver, &id)
        .await
        .map_err(refused)?;
    Ok(Some((id, vkey)))
}
