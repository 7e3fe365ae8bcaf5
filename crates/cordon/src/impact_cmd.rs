//! `cordon impact` (compute, sign and write a breach-impact report: the operator's path, every tenant) and
//! `cordon impact verify REPORT` (the signature, then every citation against the database). docs/IMPACT.md.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context as _};
use clap::{ArgGroup, Args, Subcommand};
use cordon_service::impact::{self, Caller, Component, Query, Window};

use crate::runtime::open;
use crate::GlobalArgs;

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(ArgGroup::new("component").required(true).args(["asset_hash", "agent", "api_key", "node", "platform"])),
    group(ArgGroup::new("format").args(["json", "csv", "html"]))
)]
pub(crate) struct ImpactArgs {
    #[command(subcommand)]
    command: Option<ImpactCommand>,
    /// A widget file: its SHA-384 as 96 hex digits or as an SRI value sha384-<base64>.
    #[arg(long, value_name = "H")]
    asset_hash: Option<String>,
    /// An agent account, as TENANT/USERNAME: what it read or wrote in the window, from the audit log.
    #[arg(long, value_name = "TENANT/USERNAME")]
    agent: Option<String>,
    /// An API key, by its id: what it read or wrote in the window.
    #[arg(long, value_name = "ID")]
    api_key: Option<String>,
    /// A node, by the id its session records carry.
    #[arg(long, value_name = "ID")]
    node: Option<String>,
    /// Everything: every session in the window, on every tenant.
    #[arg(long)]
    platform: bool,
    /// Start of the window, RFC 3339 (e.g. 2017-09-26T00:00:00Z).
    #[arg(long, value_name = "RFC3339", required = true)]
    from: Option<String>,
    /// End of the window (exclusive), RFC 3339.
    #[arg(long, value_name = "RFC3339", required = true)]
    to: Option<String>,
    /// Only this tenant (by slug).
    #[arg(long, value_name = "T")]
    tenant: Option<String>,
    /// The signed JSON report (the default; the one to verify).
    #[arg(long)]
    json: bool,
    /// One row per affected visitor, for a mail merge (not signed; carries the JSON's report id and digest).
    #[arg(long)]
    csv: bool,
    /// A readable, self-contained page (not signed; carries the JSON's report id and digest).
    #[arg(long)]
    html: bool,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum ImpactCommand {
    /// Check a JSON report: its signature with this deployment's audit key, then every citation against the
    /// database. Exits non-zero, naming the first failure, when anything does not match.
    Verify {
        /// The report file (the signed JSON `cordon impact --json` writes).
        report: PathBuf,
    },
}

pub(crate) async fn run(global: &GlobalArgs, args: ImpactArgs) -> anyhow::Result<()> {
    if let Some(ImpactCommand::Verify { report }) = &args.command {
        return verify(global, report).await;
    }
    let component = component(&args)?;
    let parse = |s: &Option<String>, what: &str| -> anyhow::Result<i64> {
        let s = s
            .as_deref()
            .ok_or_else(|| anyhow!("--{what} is required"))?;
        cordon_impact::time::parse_rfc3339(s).map_err(|e| anyhow!("--{what}: {e}"))
    };
    let window = Window::new(parse(&args.from, "from")?, parse(&args.to, "to")?)?;
    let asset_label = match &component {
        Component::AssetHash { sha384_hex } => Some(asset_label(sha384_hex)),
        _ => None,
    };
    let query = Query {
        component,
        window,
        tenant_slug: args.tenant.clone(),
        asset_label,
    };
    let svc = open(global).await?;
    // A progress bar only on a terminal: piped or redirected, stderr stays clean.
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(1);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg:28} [{bar:30}] {pos}/{len}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Some(bar)
    } else {
        None
    };
    let progress = |stage: &str, done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_message(stage.to_string());
            bar.set_length(total.max(1));
            bar.set_position(done);
        }
    };
    let result = impact::run(&svc, Caller::Operator, &query, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    svc.close().await;
    let run = result.map_err(|r| anyhow!("{}", r.message))?;
    let text = if args.csv {
        cordon_impact::render::csv(&run.report)
    } else if args.html {
        cordon_impact::render::html(&run.report, &run.digest)
    } else {
        cordon_impact::render::json(&run.signed)
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .with_context(|| format!("could not write {}", path.display()))?;
            eprintln!(
                "impact report {} written to {}: {} tenants, {} visitors, {} sessions",
                run.report.report_id,
                path.display(),
                run.report.totals.tenants,
                run.report.totals.counts.visitors,
                run.report.totals.counts.sessions
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

fn component(args: &ImpactArgs) -> anyhow::Result<Component> {
    Ok(if let Some(h) = &args.asset_hash {
        Component::asset_hash(h)?
    } else if let Some(a) = &args.agent {
        Component::agent(a)?
    } else if let Some(k) = &args.api_key {
        Component::api_key(k)?
    } else if let Some(n) = &args.node {
        Component::node(n)?
    } else if args.platform {
        Component::Platform
    } else {
        bail!("name a component: --asset-hash, --agent, --api-key, --node or --platform")
    })
}

/// What a widget file is, for the reason line ("ran loader sha384-…").
fn asset_label(sha384_hex: &str) -> String {
    let name = cordon_server::web::known_widget_files()
        .into_iter()
        .find(|(_, h)| h == sha384_hex)
        .map(|(n, _)| n);
    match name.as_deref() {
        Some(n) if n.starts_with("loader.js") => "loader",
        Some("frame.html") => "frame page",
        Some("frame.js") => "frame script",
        Some("frame.css") => "frame style",
        _ => "widget file",
    }
    .to_string()
}

async fn verify(global: &GlobalArgs, report: &PathBuf) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(report).with_context(|| format!("could not read {}", report.display()))?;
    let svc = open(global).await?;
    let result = impact::verify(&svc, &bytes).await;
    svc.close().await;
    match result.map_err(|r| anyhow!("{}", r.message))? {
        Ok(v) => {
            println!(
                "report {} verified: signature valid, {} citations match the database (digest {})",
                v.report_id, v.citations, v.digest
            );
            Ok(())
        }
        Err(e) => bail!("report {} does not verify: {e}", report.display()),
    }
}
