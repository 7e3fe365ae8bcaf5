//! Workers: the processes (or in-process tasks) that hold the client sockets.
//!
//! The coordinator sends each worker a [`WorkerSpec`], then [`Command`]s; the worker answers with [`Report`]s.
//! Between processes these travel as JSON lines on the child's stdin and stdout, so connections spread over as
//! many processes as the file-descriptor limit requires, and results merge exactly (counters add, HDR
//! histograms add).

use std::net::IpAddr;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::sync::mpsc;

use crate::setup::{ServerKind, TenantFixture};
use crate::stats::Tally;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WorkerSpec {
    pub(crate) index: u32,
    pub(crate) target: String,
    /// Every node of the target (chat spreads its sockets over them); empty means `target` alone.
    #[serde(default)]
    pub(crate) nodes: Vec<String>,
    pub(crate) kind: ServerKind,
    /// The run's time origin (µs since the Unix epoch); every process measures against it.
    pub(crate) epoch_unix_us: u64,
    pub(crate) sources: Vec<IpAddr>,
    pub(crate) threads: usize,
    pub(crate) job: Job,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "scenario", rename_all = "lowercase")]
pub(crate) enum Job {
    Idle(IdleJob),
    Chat(ChatJob),
    Storm(StormJob),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdleJob {
    pub(crate) widget_keys: Vec<String>,
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChatJob {
    pub(crate) tenants: Vec<TenantFixture>,
    /// Conversations (visitor sockets) per tenant, in the order of `tenants`.
    pub(crate) conversations: Vec<usize>,
    pub(crate) message_size: usize,
    /// Share of visitor turns that type a test card in pieces (held candidates); 0 for none.
    #[serde(default)]
    pub(crate) card_fragment_share: f64,
    /// Reconnect scenario: drop and reconnect clients during steps, and check every sequence number.
    pub(crate) drops: Option<DropSpec>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct DropSpec {
    /// Share of the visitors (and agents, with `agents`) dropped each round.
    pub(crate) share: f64,
    pub(crate) every_ms: u64,
    pub(crate) agents: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StormJob {
    pub(crate) widget_keys: Vec<String>,
    pub(crate) max_inflight: usize,
    pub(crate) timeout_ms: u64,
}

/// Coordinator → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "lowercase")]
pub(crate) enum Command {
    /// Run one step: `rate` is this worker's share (per second), times are run µs (since the epoch).
    Step {
        index: u32,
        rate: f64,
        start_us: u64,
        duration_ms: u64,
        drain_ms: u64,
    },
    Stop,
}

/// Worker → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "report", rename_all = "lowercase")]
pub(crate) enum Report {
    Ready { tally: Tally },
    Progress { tally: Tally },
    Step { index: u32, tally: Tally },
    Done { tally: Tally },
    Failed { error: String },
}

/// Microseconds since the Unix epoch.
pub(crate) fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Converts between run time (µs since the run's epoch, shared by all processes) and tokio instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: tokio::time::Instant,
    base_run_us: u64,
}

impl Clock {
    pub(crate) fn new(epoch_unix_us: u64) -> Clock {
        let base = tokio::time::Instant::now();
        Clock {
            base,
            base_run_us: unix_us().saturating_sub(epoch_unix_us),
        }
    }

    /// Now, in run µs (monotonic within the process).
    pub(crate) fn now_us(&self) -> u64 {
        self.base_run_us + self.base.elapsed().as_micros() as u64
    }

    pub(crate) fn instant(&self, run_us: u64) -> tokio::time::Instant {
        if run_us >= self.base_run_us {
            self.base + Duration::from_micros(run_us - self.base_run_us)
        } else {
            self.base
                .checked_sub(Duration::from_micros(self.base_run_us - run_us))
                .unwrap_or(self.base)
        }
    }
}

/// Run one worker to completion.
pub(crate) async fn run(
    spec: WorkerSpec,
    commands: mpsc::Receiver<Command>,
    reports: mpsc::Sender<Report>,
) {
    let result = match spec.job.clone() {
        Job::Idle(job) => crate::idle::run(&spec, job, commands, reports.clone()).await,
        Job::Chat(job) => crate::chat::run(&spec, job, commands, reports.clone()).await,
        Job::Storm(job) => crate::storm::run(&spec, job, commands, reports.clone()).await,
    };
    if let Err(e) = result {
        let _ = reports
            .send(Report::Failed {
                error: format!("worker {}: {e:#}", spec.index),
            })
            .await;
    }
}

/// The coordinator's end of one worker.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) reports: mpsc::Receiver<Report>,
    child: Option<tokio::process::Child>,
}

impl Link {
    /// Start a worker in this process.
    pub(crate) fn in_process(spec: WorkerSpec) -> Link {
        let (ctx, crx) = mpsc::channel(16);
        let (rtx, rrx) = mpsc::channel(64);
        tokio::spawn(run(spec, crx, rtx));
        Link {
            commands: ctx,
            reports: rrx,
            child: None,
        }
    }

    /// Start a worker as a child process (`cordon-loadgen worker`), talking JSON lines.
    pub(crate) async fn process(spec: &WorkerSpec) -> anyhow::Result<Link> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut child = tokio::process::Command::new(exe)
            .arg("worker")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("could not start a worker process")?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| anyhow!("no worker stdin"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("no worker stdout"))?;
        let mut first = serde_json::to_string(spec)?;
        first.push('\n');
        stdin.write_all(first.as_bytes()).await?;
        let (ctx, mut crx) = mpsc::channel::<Command>(16);
        let (rtx, rrx) = mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(c) = crx.recv().await {
                let Ok(mut line) = serde_json::to_string(&c) else {
                    break;
                };
                line.push('\n');
                if stdin.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
        });
        let index = spec.index;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                match lines.next_line().await {
                    Ok(Some(l)) => match serde_json::from_str::<Report>(&l) {
                        Ok(r) => {
                            if rtx.send(r).await.is_err() {
                                break;
                            }
                        }
                        Err(_) => eprintln!("worker {index}: {l}"),
                    },
                    _ => {
                        let _ = rtx
                            .send(Report::Failed {
                                error: format!("worker {index} exited"),
                            })
                            .await;
                        break;
                    }
                }
            }
        });
        Ok(Link {
            commands: ctx,
            reports: rrx,
            child: Some(child),
        })
    }

    /// The worker's process id, when it runs as a child process.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// Wait for the child process (if any) to exit, killing it after `grace`.
    pub(crate) async fn finish(mut self, grace: Duration) {
        if let Some(mut c) = self.child.take() {
            if tokio::time::timeout(grace, c.wait()).await.is_err() {
                let _ = c.kill().await;
            }
        }
    }
}

/// `cordon-loadgen worker`: the child-process side of [`Link::process`].
pub(crate) fn main_process() -> anyhow::Result<()> {
    let mut first = String::new();
    std::io::stdin()
        .read_line(&mut first)
        .context("no worker spec on stdin")?;
    let spec: WorkerSpec = serde_json::from_str(&first).context("bad worker spec")?;
    let _ = rlimit_raise();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let (ctx, crx) = mpsc::channel(16);
        let (rtx, mut rrx) = mpsc::channel::<Report>(64);
        tokio::spawn(async move {
            let mut lines = BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(c) = serde_json::from_str::<Command>(&l) {
                    if ctx.send(c).await.is_err() {
                        break;
                    }
                }
            }
            // The coordinator went away: stop.
            let _ = ctx.send(Command::Stop).await;
        });
        let worker = tokio::spawn(run(spec, crx, rtx));
        let mut out = tokio::io::stdout();
        while let Some(r) = rrx.recv().await {
            let done = matches!(r, Report::Done { .. } | Report::Failed { .. });
            let mut line = serde_json::to_string(&r)?;
            line.push('\n');
            out.write_all(line.as_bytes()).await?;
            out.flush().await?;
            if done {
                break;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), worker).await;
        Ok::<(), anyhow::Error>(())
    })?;
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Raise this process's open-file soft limit to the hard limit (each client socket is a file).
pub(crate) fn rlimit_raise() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}
