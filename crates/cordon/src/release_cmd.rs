//! `cordon release`: signed widget releases (issue 12). Every command that changes something acts as the
//! operator whose session token it is given (from POST /api/v1/operator/sessions, which asks for the second
//! factor), like `cordon operator grant`: a release is proposed by one named person and approved by another.
//!
//! The release files are copied into `DATA/releases/<id>/`, where the server reads (and checks) them on every
//! request. The release key is a file holding a note signer key (`PRIVATE+KEY+cordon/release+…`, mode 0600);
//! it is read to sign and never printed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Subcommand;
use cordon_service::releases;
use serde_json::json;

use crate::manage::refused;
use crate::operator_cmd::{signed_in, OperatorToken};
use crate::runtime::open;
use crate::GlobalArgs;

/// The release key's file in the data dir when `--key` is not given.
pub(crate) const DEFAULT_KEY_FILE: &str = "release.key";
/// Its public half, written beside it (what a tenant pins for `cordon monitor`).
pub(crate) const DEFAULT_PUBLIC_KEY_FILE: &str = "release.pub";
/// The releases' directory in the data dir.
pub(crate) const RELEASES_DIR: &str = "releases";

#[derive(Debug, Subcommand)]
pub(crate) enum ReleaseCommand {
    /// Make a new release key (written to --out, mode 0600, never overwritten; its public key beside it as
    /// .pub) and trust it. Prints the public key: give it to tenants to pin in `cordon monitor`.
    Keygen {
        #[command(flatten)]
        who: OperatorToken,
        /// Default: DATA/release.key.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Trust a release key made elsewhere (its public key, `cordon/release+<id>+<base64>`).
    TrustKey {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        public_key: String,
    },
    /// Propose the widget files in --dir (loader.js, frame.html, frame.js, frame.css) as a release signed with
    /// the release key. It goes live only when a second operator approves it.
    Propose {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        dir: PathBuf,
        /// The release's id (default: a new one).
        #[arg(long)]
        id: Option<String>,
        /// The release key file (default: DATA/release.key).
        #[arg(long)]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Approve another operator's release (never your own): from now on it is served.
    Approve {
        #[command(flatten)]
        who: OperatorToken,
        #[arg(long)]
        id: String,
    },
    /// Every release, with its state and signature check, and the trusted keys.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Pin a tenant's snippet and frame to one approved release, or with --latest follow the latest.
    Pin {
        /// The tenant's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long, conflicts_with = "latest", required_unless_present = "latest")]
        id: Option<String>,
        #[arg(long)]
        latest: bool,
    },
}

/// Write `bytes` to a new file readable by its owner only (never replacing one).
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| {
        format!(
            "could not create {} (it must not exist yet)",
            path.display()
        )
    })?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Make a release key file and its public key beside it; answers the public key.
pub(crate) fn make_key_file(path: &Path) -> anyhow::Result<String> {
    // 256 random bits from the OS, hashed: a fresh seed (kept only in the key file).
    let seed = cordon_crypto::new_token("release-key").1;
    let skey = cordon_release::signer_key_string(&seed).map_err(|e| anyhow::anyhow!("{e}"))?;
    let vkey = cordon_release::signer_from_seed(&seed)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .verifier()
        .to_string();
    write_new_private(path, format!("{skey}\n").as_bytes())?;
    std::fs::write(path.with_extension("pub"), format!("{vkey}\n"))
        .with_context(|| format!("could not write {}", path.with_extension("pub").display()))?;
    Ok(vkey)
}

pub(crate) fn read_signer(path: &Path) -> anyhow::Result<cordon_ledger::NoteSigner> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the release key {}", path.display()))?;
    cordon_release::signer_from_key_string(&text)
        .map_err(|_| anyhow::anyhow!("{} is not a release key", path.display()))
}

/// The widget files of a release directory, each at most 1 MiB.
pub(crate) fn read_release_dir(dir: &Path) -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut out = Vec::new();
    for f in cordon_release::WIDGET_FILES {
        let path = dir.join(f.name);
        let meta = std::fs::metadata(&path)
            .with_context(|| format!("the release needs {}", path.display()))?;
        if meta.len() > cordon_release::manifest::MAX_FILE_BYTES as u64 {
            bail!("{} is larger than 1 MiB", path.display());
        }
        out.push((f.name, std::fs::read(&path)?));
    }
    Ok(out)
}

/// Copy a release's files into DATA/releases/<id>/ (which must not exist), read-only.
pub(crate) fn install_files(
    data: &Path,
    id: &str,
    files: &[(&'static str, Vec<u8>)],
) -> anyhow::Result<PathBuf> {
    if !cordon_release::valid_id(id) {
        bail!("a release id is 1-64 of a-z A-Z 0-9 . _ -");
    }
    let root = data.join(RELEASES_DIR);
    std::fs::create_dir_all(&root)
        .with_context(|| format!("could not create {}", root.display()))?;
    let dir = root.join(id);
    std::fs::create_dir(&dir).with_context(|| {
        format!(
            "could not create {} (does the release exist?)",
            dir.display()
        )
    })?;
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(dir)
}

/// Propose `files` as release `id` (files first, then the record; the files go again if it is refused).
pub(crate) async fn propose_files(
    svc: &cordon_service::Service,
    data: &Path,
    who: &cordon_service::operators::OperatorPrincipal,
    id: &str,
    files: &[(&'static str, Vec<u8>)],
    signer: &cordon_ledger::NoteSigner,
) -> anyhow::Result<cordon_service::model::Release> {
    let dir = install_files(data, id, files)?;
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    match releases::propose(svc, who, Some(id), &refs, signer).await {
        Ok(r) => Ok(r),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            Err(refused(e))
        }
    }
}

fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn list(svc: &cordon_service::Service, as_json: bool) -> anyhow::Result<()> {
    let all = releases::list(svc).await.map_err(refused)?;
    let keys = releases::trusted_keys(svc).await.map_err(refused)?;
    let state = |l: &releases::Listed| match (&l.problem, l.record.approved_at) {
        (Some(_), _) => "refused",
        (None, Some(_)) => "live",
        (None, None) => "pending approval",
    };
    if as_json {
        let rows: Vec<_> = all
            .iter()
            .map(|l| {
                json!({
                    "id": l.record.id, "state": state(l), "problem": l.problem.as_ref().map(|p| p.to_string()),
                    "proposed_by": l.record.proposed_by, "proposed_at": l.record.proposed_at,
                    "approved_by": l.record.approved_by, "approved_at": l.record.approved_at,
                    "key_id": l.record.key_id,
                    "files": l.manifest.as_ref().map(|m| m.files().iter().map(|f| json!({
                        "name": f.name, "sha384": f.sha384, "size": f.size, "integrity": f.integrity(),
                    })).collect::<Vec<_>>()),
                })
            })
            .collect();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        print_json(&json!({"releases": rows, "trusted_keys": keys}));
        return Ok(());
    }
    for k in &keys {
        println!("trusted key {k}");
    }
    for l in &all {
        println!(
            "{:<32} {:<17} proposed by {} approved by {}",
            l.record.id,
            state(l),
            l.record.proposed_by,
            l.record.approved_by.as_deref().unwrap_or("-")
        );
        if let Some(p) = &l.problem {
            println!("  refused: {p}");
        }
    }
    Ok(())
}

pub(crate) async fn run(global: &GlobalArgs, cmd: ReleaseCommand) -> anyhow::Result<()> {
    let svc = open(global).await?;
    let result = async {
        match cmd {
            ReleaseCommand::Keygen { who, out } => {
                let op = signed_in(&svc, &who).await?;
                let path = out.unwrap_or_else(|| global.data.join(DEFAULT_KEY_FILE));
                let vkey = make_key_file(&path)?;
                let (key_id, _) = releases::trust_key(&svc, &op, &vkey)
                    .await
                    .map_err(refused)?;
                println!(
                    "release key {key_id} written to {} (keep it secret; it is never shown)",
                    path.display()
                );
                println!("public key (tenants pin it in cordon monitor): {vkey}");
            }
            ReleaseCommand::TrustKey { who, public_key } => {
                let op = signed_in(&svc, &who).await?;
                let (key_id, added) = releases::trust_key(&svc, &op, &public_key)
                    .await
                    .map_err(refused)?;
                println!(
                    "release key {key_id} {}",
                    if added {
                        "trusted"
                    } else {
                        "was trusted already"
                    }
                );
            }
            ReleaseCommand::Propose {
                who,
                dir,
                id,
                key,
                json,
            } => {
                let op = signed_in(&svc, &who).await?;
                let signer =
                    read_signer(&key.unwrap_or_else(|| global.data.join(DEFAULT_KEY_FILE)))?;
                let files = read_release_dir(&dir)?;
                let id = id.unwrap_or_else(|| cordon_crypto::new_id("rel"));
                let r = propose_files(&svc, &global.data, &op, &id, &files, &signer).await?;
                if json {
                    print_json(&json!({"id": r.id, "note": r.note, "proposed_by": r.proposed_by}));
                } else {
                    println!(
                        "proposed release {} (signed by release key {})",
                        r.id, r.key_id
                    );
                    println!(
                        "a second operator approves it: cordon release approve --id {}",
                        r.id
                    );
                }
            }
            ReleaseCommand::Approve { who, id } => {
                let op = signed_in(&svc, &who).await?;
                let r = releases::approve(&svc, &op, &id).await.map_err(refused)?;
                println!("approved release {}: it is live", r.id());
            }
            ReleaseCommand::List { json } => list(&svc, json).await?,
            ReleaseCommand::Pin { tenant, id, latest } => {
                let t = cordon_service::management::tenant_by_slug(&svc, &tenant)
                    .await
                    .map_err(refused)?
                    .ok_or_else(|| anyhow::anyhow!("no tenant {tenant}"))?;
                let id = if latest { None } else { id };
                releases::pin_tenant(&svc, &t.id, cordon_service::audit::CLI_ACTOR, id.as_deref())
                    .await
                    .map_err(refused)?;
                match id {
                    Some(id) => println!("{tenant} is pinned to release {id}"),
                    None => println!("{tenant} follows the latest approved release"),
                }
            }
        }
        Ok(())
    }
    .await;
    svc.close().await;
    result
}
