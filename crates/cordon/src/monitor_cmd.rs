//! `cordon monitor --url URL`: the tamper monitor (issue 12; PCI DSS 11.6.1), run by a tenant from outside.
//!
//! It fetches what a deployment serves, as a browser on the tenant's page would receive it (the frame page,
//! its script and style, the loader, with the tenant's origin as `Origin` and `Referer`), and compares every
//! byte and the security headers with the public release log, whose signatures it checks with the release
//! key the tenant pinned. So a compromised server cannot sign new bytes unnoticed: it does not hold a key the
//! tenant trusts, or it must add one, which the pinned key does not cover. Any difference is an alert: the
//! command prints every one and exits with status 2 (1 for an error of its own, such as no network).

use anyhow::{bail, Context as _};
use clap::Args;
use cordon_ledger::NoteVerifier;
use cordon_release::{Manifest, ReleaseError};
use reqwest::header::{
    HeaderMap, ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
};

use crate::audit_cmd::Alert;
use crate::release_cmd::DEFAULT_PUBLIC_KEY_FILE;
use crate::GlobalArgs;

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The tenant's chat frame: WIDGET_ORIGIN/w/frame/WIDGET_KEY (the widget key is in the embed snippet).
    #[arg(long)]
    url: String,
    /// The tenant's site that embeds the widget (sent as Origin and Referer; it must be allowed to frame it).
    #[arg(long)]
    origin: Option<String>,
    /// The release public key to trust (`cordon/release+<id>+<base64>`), or a file of them, one a line.
    /// Default: DATA/release.pub, which `cordon release keygen` and `cordon demo` write.
    #[arg(long, env = "CORDON_RELEASE_KEY")]
    release_key: Option<String>,
}

/// What was found: every check passed, or the alerts.
#[derive(Debug, Default)]
struct Findings {
    ok: Vec<String>,
    alerts: Vec<String>,
}

impl Findings {
    fn pass(&mut self, what: impl Into<String>) {
        self.ok.push(what.into());
    }
    fn alert(&mut self, what: impl Into<String>) {
        self.alerts.push(what.into());
    }
}

fn trusted_keys(global: &GlobalArgs, given: Option<&str>) -> anyhow::Result<Vec<NoteVerifier>> {
    let text = match given {
        Some(k) if k.trim_start().starts_with(cordon_release::KEY_NAME) => k.to_string(),
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("could not read the release key file {path}"))?,
        None => {
            let path = global.data.join(DEFAULT_PUBLIC_KEY_FILE);
            std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no release key to trust: pass --release-key (the operator publishes it), or have {}",
                    path.display()
                )
            })?
        }
    };
    let keys: Vec<NoteVerifier> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            cordon_release::verifier(l)
                .map_err(|_| anyhow::anyhow!("not a release public key: {l}"))
        })
        .collect::<anyhow::Result<_>>()?;
    if keys.is_empty() {
        bail!("no release key to trust");
    }
    Ok(keys)
}

/// `https://w.example/w/frame/KEY` → (`https://w.example`, `KEY`).
fn split_frame_url(url: &str) -> anyhow::Result<(String, String)> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| *s == "http" || *s == "https")
        .ok_or_else(|| {
            anyhow::anyhow!("--url must be http(s)://WIDGET_ORIGIN/w/frame/WIDGET_KEY")
        })?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let key = path
        .strip_prefix("w/frame/")
        .filter(|k| !k.is_empty() && !k.contains(['/', '?', '#']))
        .ok_or_else(|| {
            anyhow::anyhow!("--url must be http(s)://WIDGET_ORIGIN/w/frame/WIDGET_KEY")
        })?;
    Ok((format!("{scheme}://{authority}"), key.to_string()))
}

struct Fetched {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

struct Client {
    http: reqwest::Client,
    origin: Option<String>,
}

impl Client {
    async fn get(&self, url: &str, dest: &str) -> anyhow::Result<Fetched> {
        let mut req = self.http.get(url).header("sec-fetch-dest", dest);
        if let Some(o) = &self.origin {
            req = req.header("origin", o).header("referer", format!("{o}/"));
        }
        let res = req
            .send()
            .await
            .with_context(|| format!("could not reach {url}"))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await?.to_vec();
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

fn header<'a>(h: &'a HeaderMap, name: impl reqwest::header::AsHeaderName) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The stable error code in a refusal's body, for the alert.
fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["code"]
                .as_str()
                .or(v["code"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "no error code".to_string())
}

/// Every release in the public log that verifies with a pinned key and was approved by a second operator.
fn verified_releases(
    log: &serde_json::Value,
    keys: &[NoteVerifier],
    f: &mut Findings,
) -> Vec<Manifest> {
    let mut out = Vec::new();
    for r in log["releases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let id = r["id"].as_str().unwrap_or("?");
        let note = r["note"].as_str().unwrap_or("");
        match Manifest::open(note, keys) {
            Ok((m, _)) if m.id() == id => {
                let two = r["approved_by"].as_str().is_some_and(|a| Some(a) != r["proposed_by"].as_str());
                if two {
                    out.push(m);
                } else {
                    f.alert(format!("release {id} is served without a second operator's approval"));
                }
            }
            Ok(_) => f.alert(format!("release {id}: its signed manifest names another release")),
            Err(ReleaseError::UnknownKey) => f.alert(format!(
                "release {id} is signed by an unknown key (not one you pinned): a new or rogue release key"
            )),
            Err(ReleaseError::BadSignature) => f.alert(format!("release {id}: bad signature")),
            Err(e) => f.alert(format!("release {id}: {e}")),
        }
    }
    out
}

fn check_file(f: &mut Findings, what: &str, got: &Fetched, m: &Manifest, name: &'static str) {
    if got.status != 200 {
        f.alert(format!(
            "{what}: answered {} ({})",
            got.status,
            error_code(&got.body)
        ));
        return;
    }
    match m.check(name, &got.body) {
        Ok(()) => f.pass(format!("{what}: bytes match release {}", m.id())),
        Err(_) => f.alert(format!(
            "{what}: CHANGED BYTES, not those of signed release {}",
            m.id()
        )),
    }
    if header(&got.headers, "x-content-type-options") != "nosniff" {
        f.alert(format!("{what}: missing X-Content-Type-Options: nosniff"));
    }
}

async fn check(args: &MonitorArgs, keys: &[NoteVerifier]) -> anyhow::Result<Findings> {
    let (widget, widget_key) = split_frame_url(&args.url)?;
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        origin: args.origin.clone(),
    };
    let mut f = Findings::default();
    let log = client.get(&format!("{widget}/w/releases"), "empty").await?;
    if log.status != 200 {
        f.alert(format!(
            "the release log answered {} ({})",
            log.status,
            error_code(&log.body)
        ));
        return Ok(f);
    }
    let log: serde_json::Value =
        serde_json::from_slice(&log.body).context("the release log is not JSON")?;
    let releases = verified_releases(&log, keys, &mut f);
    f.pass(format!(
        "release log: {} release(s) signed by a pinned key",
        releases.len()
    ));

    let frame = client.get(&args.url, "iframe").await?;
    if frame.status != 200 {
        f.alert(format!(
            "frame page: answered {} ({})",
            frame.status,
            error_code(&frame.body)
        ));
        return Ok(f);
    }
    let page = String::from_utf8_lossy(&frame.body).to_string();
    let claimed = page
        .split("<meta name=\"cordon-release\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("");
    let Some(m) = releases.iter().find(|m| m.id() == claimed) else {
        f.alert(format!(
            "frame page: UNKNOWN RELEASE {claimed:?}: not a release in the log signed by a pinned key"
        ));
        return Ok(f);
    };
    let template = client
        .get(
            &format!("{widget}/w/releases/{}/frame.html", m.id()),
            "empty",
        )
        .await?;
    check_file(&mut f, "frame page template", &template, m, "frame.html");
    let template = String::from_utf8_lossy(&template.body).to_string();
    match cordon_release::match_frame(&template, m, &page) {
        Err(e) => f.alert(format!("frame page: CHANGED: {e}")),
        Ok(values) => {
            f.pass(format!(
                "frame page: release {}'s template for widget key {widget_key}",
                m.id()
            ));
            check_frame_headers(
                &mut f,
                &frame.headers,
                &widget,
                &values,
                args.origin.as_deref(),
            );
        }
    }
    for name in ["frame.js", "frame.css", "loader.js"] {
        let Some(entry) = m.file(name) else { continue };
        let dest = if name == "frame.css" {
            "style"
        } else {
            "script"
        };
        let got = client
            .get(&format!("{widget}{}", entry.path()), dest)
            .await?;
        check_file(&mut f, name, &got, m, name);
        let want = if name == "frame.css" {
            "text/css"
        } else {
            "text/javascript"
        };
        if got.status == 200 && !header(&got.headers, CONTENT_TYPE).starts_with(want) {
            f.alert(format!(
                "{name}: served as {:?}, not {want}",
                header(&got.headers, CONTENT_TYPE)
            ));
        }
        if name == "loader.js"
            && got.status == 200
            && header(&got.headers, ACCESS_CONTROL_ALLOW_ORIGIN) != "*"
        {
            f.alert("loader.js: no Access-Control-Allow-Origin: * (SRI on the tenant's page would fail)");
        }
    }
    Ok(f)
}

fn check_frame_headers(
    f: &mut Findings,
    h: &HeaderMap,
    widget: &str,
    values: &cordon_release::FrameValues,
    origin: Option<&str>,
) {
    let ancestors = if values.allowed_origins.is_empty() {
        "'none'".to_string()
    } else {
        values.allowed_origins.clone()
    };
    let want = cordon_release::page_csp(widget, &ancestors);
    // A deployment with a card vault (issue 15) adds `; frame-src <vault origin>`: one origin, nothing more.
    let vault_frame = |csp: &str| {
        csp.strip_prefix(want.as_str())
            .and_then(|rest| rest.strip_prefix("; frame-src "))
            .is_some_and(|o| {
                (o.starts_with("https://") || o.starts_with("http://"))
                    && !o.contains([' ', ';', '*', '\'', ','])
            })
    };
    match h.get(CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()) {
        None => f.alert("frame page: Content-Security-Policy is MISSING"),
        Some(csp) if vault_frame(csp) => f.pass(format!(
            "frame page: Content-Security-Policy as released, framing only the card vault ({})",
            csp.rsplit(' ').next().unwrap_or("")
        )),
        Some(csp) if csp != want => f.alert(format!(
            "frame page: Content-Security-Policy CHANGED: {csp:?}, expected {want:?}"
        )),
        Some(_) => f.pass("frame page: Content-Security-Policy as released"),
    }
    if header(h, "x-content-type-options") != "nosniff" {
        f.alert("frame page: missing X-Content-Type-Options: nosniff");
    }
    if let Some(o) = origin {
        if !values.allowed_origins.split(' ').any(|a| a == o) {
            f.alert(format!(
                "frame page: {o} is not among the origins allowed to frame it"
            ));
        }
    }
}

pub(crate) async fn run(global: &GlobalArgs, args: MonitorArgs) -> anyhow::Result<()> {
    let keys = trusted_keys(global, args.release_key.as_deref())?;
    let f = check(&args, &keys).await?;
    for line in &f.ok {
        println!("ok     {line}");
    }
    for line in &f.alerts {
        println!("ALERT  {line}");
    }
    if f.alerts.is_empty() {
        println!(
            "cordon monitor: {} serves exactly its signed release",
            args.url
        );
        Ok(())
    } else {
        Err(Alert(format!(
            "{} difference(s) between what {} serves and its signed releases",
            f.alerts.len(),
            args.url
        ))
        .into())
    }
}
