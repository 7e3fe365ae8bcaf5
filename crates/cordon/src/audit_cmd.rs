//! `cordon audit verify` (offline, on the database) and `cordon audit watch` (a monitor that remembers what it
//! has seen, so that even a rewrite signed with the real key is caught).
//!
//! Neither command writes to the audit log: a polling monitor must not grow what it watches.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use base64::Engine as _;
use clap::Subcommand;
use cordon_ledger::{Checkpoint, MemoryTree, NoteVerifier};
use cordon_service::{audit, management, Service};
use serde::{Deserialize, Serialize};

use crate::runtime::open;
use crate::GlobalArgs;

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Recompute every log from its stored entries and check every stored checkpoint, its signature and the
    /// consistency between consecutive checkpoints. Exits non-zero and names the first bad index on tampering.
    Verify {
        /// Only this tenant's log (by slug); default: every log, including the platform log.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Poll a server's checkpoints with an audit:read key, check each new one against the last one seen, and
    /// alert (exit 2) on a fork, rollback or rewrite. What it has seen is kept in --state.
    Watch {
        /// The server's base URL, e.g. https://chat.example.
        #[arg(long)]
        url: String,
        /// An API key with the audit:read scope.
        #[arg(long, env = "CORDON_AUDIT_KEY")]
        key: String,
        /// Where to keep the last verified checkpoint.
        #[arg(long, default_value = "cordon-watch.json")]
        state: PathBuf,
        /// Seconds between polls.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Check once and exit (0 = consistent).
        #[arg(long)]
        once: bool,
    },
}

pub(crate) async fn run(global: &GlobalArgs, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { tenant } => verify(global, tenant).await,
        AuditCommand::Watch {
            url,
            key,
            state,
            interval,
            once,
        } => {
            watch(
                &url,
                &key,
                &state,
                Duration::from_secs(interval.max(1)),
                once,
            )
            .await
        }
    }
}

/// A problem found by verify: the log and the first index that cannot be trusted.
#[derive(Debug)]
struct Tampered {
    log: String,
    first_bad_index: i64,
    what: String,
}

async fn verify(global: &GlobalArgs, tenant: Option<String>) -> anyhow::Result<()> {
    let store = open(global).await?;
    let logs: Vec<(String, i64)> = match tenant {
        Some(slug) => {
            let t = management::tenant_by_slug(&store, &slug)
                .await?
                .ok_or_else(|| anyhow!("no tenant with slug {slug:?}"))?;
            audit::operator_logs(&store, Some(&t.id)).await?
        }
        None => audit::operator_logs(&store, None).await?,
    };
    let mut problems = Vec::new();
    let mut total = 0;
    for (log, size) in &logs {
        eprintln!("verifying {log}: {size} entries");
        match verify_log(&store, log, *size).await? {
            Ok(checkpoints) => {
                total += size;
                println!("ok  {log}: {size} entries, {checkpoints} checkpoints verified");
            }
            Err(t) => problems.push(t),
        }
    }
    store.close().await;
    if let Some(first) = problems.first() {
        for p in &problems {
            eprintln!(
                "TAMPERED {}: first bad index {}: {}",
                p.log, p.first_bad_index, p.what
            );
        }
        bail!(
            "audit log {} failed verification at index {}",
            first.log,
            first.first_bad_index
        );
    }
    println!("all {} logs verified ({total} entries)", logs.len());
    Ok(())
}

const PAGE: i64 = 20_000;

async fn verify_log(
    store: &Service,
    log: &str,
    size: i64,
) -> anyhow::Result<Result<usize, Tampered>> {
    let bad = |i: i64, what: String| {
        Ok(Err(Tampered {
            log: log.to_string(),
            first_bad_index: i,
            what,
        }))
    };
    let mut tree = MemoryTree::with_capacity(size.max(0) as usize);
    let mut expected: i64 = 0;
    loop {
        let entries = audit::operator_entries(store, log, expected, expected + PAGE).await?;
        let leaves = audit::operator_leaf_hashes(store, log, expected, expected + PAGE).await?;
        if entries.is_empty() {
            break;
        }
        let mut leaf_iter = leaves.into_iter().peekable();
        for (idx, bytes) in entries {
            if idx != expected {
                return bad(expected, format!("entry {expected} is missing"));
            }
            let hash = cordon_ledger::leaf_hash(&bytes);
            match leaf_iter.next() {
                Some((i, stored)) if i == idx && stored.as_slice() == hash.as_slice() => {}
                _ => {
                    return bad(
                        idx,
                        format!("entry {idx} does not match its stored leaf hash"),
                    )
                }
            }
            tree.push_leaf_hash(hash);
            expected += 1;
        }
    }
    if expected != size {
        return bad(
            expected.min(size),
            format!("the log claims {size} entries but {expected} are stored"),
        );
    }
    let signer = audit::operator_signer(store, log).ok_or_else(|| anyhow!("bad signer"))?;
    let verifier = signer.verifier();
    let origin = audit::origin(log);
    let checkpoints = audit::operator_checkpoints(store, log).await?;
    let mut previous: Option<(u64, [u8; 32])> = None;
    let mut good_up_to: i64 = 0;
    for cp in &checkpoints {
        let cp_size = cp.size as u64;
        if cp.size > expected {
            return bad(
                expected,
                format!(
                    "a checkpoint covers {} entries but only {expected} remain (truncated)",
                    cp.size
                ),
            );
        }
        let opened = match Checkpoint::open(cp.note.as_bytes(), &origin, &verifier) {
            Ok(c) => c,
            Err(_) => {
                return bad(
                    good_up_to,
                    format!(
                        "the checkpoint at size {} has an invalid signature",
                        cp.size
                    ),
                )
            }
        };
        let root = tree
            .root_at(cp_size)
            .map_err(|e| anyhow!("recomputing root: {e}"))?;
        if opened.size() != cp_size
            || opened.root() != &root
            || cp.root.as_slice() != root.as_slice()
        {
            return bad(
                good_up_to,
                format!(
                    "entries in [{good_up_to}, {}) differ from what the signed checkpoint at size {} committed to",
                    cp.size, cp.size
                ),
            );
        }
        if let Some((prev_size, prev_root)) = previous {
            if prev_size > 0 && prev_size < cp_size {
                let proof = tree
                    .consistency_proof(prev_size, cp_size)
                    .map_err(|e| anyhow!("consistency proof: {e}"))?;
                if cordon_ledger::verify_consistency(prev_size, cp_size, &prev_root, &root, &proof)
                    .is_err()
                {
                    return bad(
                        prev_size as i64,
                        format!("checkpoints at {prev_size} and {cp_size} are inconsistent"),
                    );
                }
            }
        }
        previous = Some((cp_size, root));
        good_up_to = cp.size;
    }
    Ok(Ok(checkpoints.len()))
}

// ---- watch ----------------------------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct WatchState {
    url: String,
    verifier_key: String,
    size: u64,
    root: String,
    checkpoint: String,
}

fn b64d(s: &str) -> anyhow::Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .context("server sent invalid base64")
}

/// A loud, specific alarm; the caller exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("ALERT: {0}")]
pub(crate) struct Alert(pub(crate) String);

async fn get_text(client: &reqwest::Client, url: &str, key: &str) -> anyhow::Result<String> {
    let res = client
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .with_context(|| format!("could not reach {url}"))?;
    let status = res.status();
    let text = res.text().await?;
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(text)
}

async fn watch(
    url: &str,
    key: &str,
    state_path: &PathBuf,
    interval: Duration,
    once: bool,
) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()?;
    loop {
        check_once(&client, base, key, state_path).await?;
        if once {
            return Ok(());
        }
        tokio::time::sleep(interval).await;
    }
}

async fn check_once(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    state_path: &PathBuf,
) -> anyhow::Result<()> {
    let previous: Option<WatchState> = match std::fs::read_to_string(state_path) {
        Ok(text) => Some(serde_json::from_str(&text).context("watch state file is malformed")?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).context("could not read the watch state"),
    };
    let vkey = get_text(client, &format!("{base}/api/v1/audit/key"), key).await?;
    let vkey = vkey.trim().to_string();
    if let Some(p) = &previous {
        if p.verifier_key != vkey {
            return Err(Alert(format!(
                "the log's signing key changed (pinned {}, now {vkey})",
                p.verifier_key
            ))
            .into());
        }
    }
    let verifier =
        NoteVerifier::parse(&vkey).map_err(|e| anyhow!("server sent a bad verifier key: {e}"))?;
    let note = get_text(client, &format!("{base}/api/v1/audit/checkpoint"), key).await?;
    let cp = Checkpoint::open(note.as_bytes(), verifier.name(), &verifier)
        .map_err(|e| Alert(format!("the checkpoint does not verify: {e}")))?;
    let (size, root) = (cp.size(), *cp.root());
    if let Some(p) = &previous {
        let prev_root: [u8; 32] = b64d(&p.root)?
            .try_into()
            .map_err(|_| anyhow!("watch state root is malformed"))?;
        if size < p.size {
            return Err(Alert(format!(
                "the log shrank from {} to {size} entries: history was rolled back",
                p.size
            ))
            .into());
        }
        if size == p.size && root != prev_root {
            return Err(Alert(format!(
                "two different trees of size {size}: the log was forked or rewritten"
            ))
            .into());
        }
        if size > p.size && p.size > 0 {
            let body = get_text(
                client,
                &format!(
                    "{base}/api/v1/audit/proof/consistency?first={}&second={size}",
                    p.size
                ),
                key,
            )
            .await?;
            let v: serde_json::Value = serde_json::from_str(&body).context("bad proof response")?;
            let proof = v["consistency"]
                .as_array()
                .ok_or_else(|| anyhow!("bad proof response"))?
                .iter()
                .map(|h| {
                    let bytes = b64d(h.as_str().unwrap_or_default())?;
                    bytes
                        .try_into()
                        .map_err(|_| anyhow!("proof hash has the wrong length"))
                })
                .collect::<anyhow::Result<Vec<[u8; 32]>>>()?;
            if cordon_ledger::verify_consistency(p.size, size, &prev_root, &root, &proof).is_err() {
                return Err(Alert(format!(
                    "the checkpoint at size {size} is not an extension of the one at size {} seen before: \
                     history was rewritten",
                    p.size
                ))
                .into());
            }
        }
    }
    let state = WatchState {
        url: base.to_string(),
        verifier_key: vkey,
        size,
        root: base64::engine::general_purpose::STANDARD.encode(root),
        checkpoint: note,
    };
    let tmp = state_path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
    std::fs::rename(&tmp, state_path)?;
    println!("ok  {base}: consistent at size {size}");
    Ok(())
}
