//! The coordinator: sets up tenants and agents, starts the workers, steps the load, merges what they measure,
//! shows progress, and writes the result.

use std::io::Write as _;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

use crate::client::{self, Target};
use crate::setup::{self, Admin, ServerKind, TenantFixture};
use crate::stats::{Summary, Tally};
use crate::worker::{
    self, ChatJob, Command, DropSpec, IdleJob, Job, Link, Report, StormJob, WorkerSpec,
};

/// Settings every scenario shares.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub(crate) target: Target,
    /// Every node of the target (the first is `target`); one unless a cluster is under test.
    pub(crate) nodes: Vec<Target>,
    pub(crate) kind: ServerKind,
    pub(crate) admin: Admin,
    pub(crate) processes: usize,
    pub(crate) threads: usize,
    pub(crate) sources: usize,
    pub(crate) server_pids: Vec<u32>,
    pub(crate) label: String,
    pub(crate) quiet: bool,
}

impl Common {
    /// The (first) server's process id, for its memory.
    pub(crate) fn server_pid(&self) -> Option<u32> {
        self.server_pids.first().copied()
    }
}

/// CPU seconds used by all the server processes together (a cluster's nodes); none if any cannot be read.
fn servers_cpu_seconds(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_seconds(*p)).sum()
}

/// Bytes the servers caused to be written to storage so far (`write_bytes` of /proc/PID/io: what reaches the
/// disk, WAL and checkpoints included), summed.
fn servers_write_bytes(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| write_bytes(*p)).sum()
}

pub(crate) fn write_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Running workers.
struct Workers {
    links: Vec<Link>,
    epoch_unix_us: u64,
    started: Instant,
    quiet: bool,
    progress_keys: &'static [&'static str],
    title: String,
    server_pids: Vec<u32>,
}

impl Workers {
    async fn start(
        common: &Common,
        jobs: Vec<Job>,
        progress_keys: &'static [&'static str],
    ) -> anyhow::Result<Workers> {
        let epoch_unix_us = worker::unix_us();
        let sources = client::sources(common.sources, &common.target);
        let n = jobs.len();
        let mut links = Vec::new();
        for (i, job) in jobs.into_iter().enumerate() {
            // Each worker gets its own slice of source addresses.
            let mine: Vec<_> = sources
                .iter()
                .enumerate()
                .filter(|(j, _)| j % n == i || sources.len() < n)
                .map(|(_, ip)| *ip)
                .collect();
            let spec = WorkerSpec {
                index: i as u32,
                target: common.target.base.clone(),
                nodes: common.nodes.iter().map(|n| n.base.clone()).collect(),
                kind: common.kind,
                epoch_unix_us,
                sources: mine,
                threads: common.threads,
                job,
            };
            links.push(if n == 1 {
                Link::in_process(spec)
            } else {
                Link::process(&spec).await?
            });
        }
        Ok(Workers {
            links,
            epoch_unix_us,
            started: Instant::now(),
            quiet: common.quiet,
            progress_keys,
            title: String::new(),
            server_pids: common.server_pids.clone(),
        })
    }

    fn now_us(&self) -> u64 {
        worker::unix_us().saturating_sub(self.epoch_unix_us)
    }

    /// Collect one report of kind `want` from every worker, printing progress meanwhile.
    async fn collect(
        &mut self,
        limit: Duration,
        want: fn(&Report) -> Option<Tally>,
    ) -> anyhow::Result<(Tally, Vec<Tally>)> {
        let n = self.links.len();
        let mut got: Vec<Option<Tally>> = vec![None; n];
        let mut progress: Vec<Tally> = vec![Tally::default(); n];
        let deadline = tokio::time::Instant::now() + limit;
        let mut last_print = Instant::now();
        while got.iter().any(Option::is_none) {
            for (i, link) in self.links.iter_mut().enumerate() {
                if got[i].is_some() {
                    continue;
                }
                loop {
                    match link.reports.try_recv() {
                        Ok(r) => {
                            if let Report::Failed { error } = &r {
                                bail!("{error}");
                            }
                            if let Report::Progress { tally } = &r {
                                progress[i] = tally.clone();
                            }
                            if let Some(t) = want(&r) {
                                got[i] = Some(t);
                                break;
                            }
                        }
                        Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                        Err(_) => bail!("worker {i} went away"),
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                bail!("workers did not report within {limit:?}");
            }
            if !self.quiet && last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                let mut total = Tally::default();
                for p in &progress {
                    total.merge(p);
                }
                let mut line = format!(
                    "  [{:>5.0}s] {}",
                    self.started.elapsed().as_secs_f64(),
                    self.title
                );
                for k in self.progress_keys {
                    line.push_str(&format!(" {k}={}", total.get(k)));
                }
                let errs = total.sum_prefix("err.");
                if errs > 0 {
                    line.push_str(&format!(" errors={errs}"));
                }
                eprintln!("{line}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let parts: Vec<Tally> = got.into_iter().flatten().collect();
        let mut total = Tally::default();
        for p in &parts {
            total.merge(p);
        }
        Ok((total, parts))
    }

    async fn ready(&mut self, limit: Duration) -> anyhow::Result<Tally> {
        self.title = "setting up".into();
        Ok(self
            .collect(limit, |r| match r {
                Report::Ready { tally } => Some(tally.clone()),
                _ => None,
            })
            .await?
            .0)
    }

    /// CPU seconds used so far by the load generator: this process and its worker processes.
    fn own_cpu(&self) -> f64 {
        let mut total = cpu_seconds(std::process::id()).unwrap_or(0.0);
        for l in &self.links {
            if let Some(pid) = l.pid() {
                total += cpu_seconds(pid).unwrap_or(0.0);
            }
        }
        total
    }

    /// Run one step on every worker; `shares[i]` is worker i's part of the rate. The tally gains
    /// `cpu.server_ms` and `cpu.loadgen_ms`: CPU time used during the step (drain included).
    async fn step(
        &mut self,
        index: u32,
        shares: &[f64],
        duration: Duration,
        drain: Duration,
        title: String,
    ) -> anyhow::Result<(Tally, u64)> {
        let server_cpu0 = servers_cpu_seconds(&self.server_pids);
        let server_io0 = servers_write_bytes(&self.server_pids);
        let own_cpu0 = self.own_cpu();
        let start_us = self.now_us() + 500_000;
        for (link, rate) in self.links.iter().zip(shares) {
            link.commands
                .send(Command::Step {
                    index,
                    rate: *rate,
                    start_us,
                    duration_ms: duration.as_millis() as u64,
                    drain_ms: drain.as_millis() as u64,
                })
                .await
                .map_err(|_| anyhow!("a worker went away"))?;
        }
        self.title = title;
        let limit = duration + drain + Duration::from_secs(120);
        let (mut t, _) = self
            .collect(limit, |r| match r {
                Report::Step { tally, .. } => Some(tally.clone()),
                _ => None,
            })
            .await?;
        if let (Some(a), Some(b)) = (server_cpu0, servers_cpu_seconds(&self.server_pids)) {
            t.add("cpu.server_ms", ((b - a) * 1000.0).round() as u64);
        }
        if let (Some(a), Some(b)) = (server_io0, servers_write_bytes(&self.server_pids)) {
            t.add("io.server_write_bytes", b.saturating_sub(a));
        }
        t.add(
            "cpu.loadgen_ms",
            ((self.own_cpu() - own_cpu0) * 1000.0).round() as u64,
        );
        Ok((t, start_us))
    }

    async fn stop(mut self) -> anyhow::Result<Tally> {
        for link in &self.links {
            let _ = link.commands.send(Command::Stop).await;
        }
        self.title = "stopping".into();
        let r = self
            .collect(Duration::from_secs(60), |r| match r {
                Report::Done { tally } => Some(tally.clone()),
                _ => None,
            })
            .await;
        for link in self.links {
            link.finish(Duration::from_secs(10)).await;
        }
        Ok(r?.0)
    }
}

/// Check that the target answers, and is the kind of server the flags say.
pub(crate) async fn preflight(common: &Common) -> anyhow::Result<()> {
    for node in &common.nodes {
        let (status, body) = client::get(node, "/healthz")
            .await
            .map_err(|e| anyhow!("{} is not answering: {e:#}", node.base))?;
        if status != 200 {
            bail!("{}/healthz answered HTTP {status}", node.base);
        }
        let is_relay = body.trim() == "relay";
        match (common.kind, is_relay) {
            (ServerKind::Cordon, true) => bail!("{} is the relay: pass --server relay", node.base),
            (ServerKind::Relay, false) => {
                bail!("{} is not the relay: pass --server cordon", node.base)
            }
            _ => {}
        }
    }
    if common.kind == ServerKind::Relay && common.nodes.len() > 1 {
        bail!("the relay is one process: pass one --target");
    }
    Ok(())
}

/// Split `total` into `parts` near-equal shares.
fn split(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| total / parts + usize::from(i < total % parts))
        .collect()
}

fn summary_json(s: &Summary) -> Value {
    json!({"count": s.count, "p50_ms": s.p50_ms, "p90_ms": s.p90_ms, "p99_ms": s.p99_ms,
           "p999_ms": s.p999_ms, "max_ms": s.max_ms, "mean_ms": s.mean_ms})
}

/// Machine facts for the result file.
pub(crate) fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    let mem_kib = read_kib("/proc/meminfo", "MemTotal:");
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "memory_gib": mem_kib.map(|k| (k as f64 / 1048576.0 * 10.0).round() / 10.0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "loadavg": loadavg(),
    })
}

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn read_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) a process has used, in seconds (Linux clock ticks are 1/100 s).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// VmRSS and VmHWM of a process, in KiB.
pub(crate) fn rss(pid: u32) -> Option<(u64, u64)> {
    let path = format!("/proc/{pid}/status");
    Some((read_kib(&path, "VmRSS:")?, read_kib(&path, "VmHWM:")?))
}

fn envelope(common: &Common, scenario: &str, params: Value) -> Value {
    json!({
        "tool": "cordon-loadgen",
        "scenario": scenario,
        "server": common.kind.name(),
        "target": common.target.base,
        "nodes": common.nodes.len(),
        "label": common.label,
        "unix_time": worker::unix_us() / 1_000_000,
        "machine": machine(),
        "params": params,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
    })
}

fn errors_json(t: &Tally) -> Value {
    json!(t.with_prefix("err."))
}

// ---- idle -----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct IdleParams {
    pub(crate) connections: usize,
    pub(crate) hold: Duration,
    pub(crate) concurrency: usize,
    pub(crate) tenants: usize,
}

pub(crate) async fn idle(common: &Common, p: &IdleParams) -> anyhow::Result<Value> {
    preflight(common).await?;
    let prefix = format!("lg{}-idle", setup::run_tag());
    let fixtures = setup::fixtures(
        common.kind,
        &common.target,
        &common.admin,
        &prefix,
        p.tenants.max(1),
        0,
        1,
    )
    .await?;
    let keys: Vec<String> = fixtures.iter().map(|t| t.widget_key.clone()).collect();
    let procs = if common.processes > 0 {
        common.processes
    } else {
        p.connections.div_ceil(9000).max(1)
    };
    let jobs: Vec<Job> = split(p.connections, procs)
        .into_iter()
        .map(|n| {
            Job::Idle(IdleJob {
                widget_keys: keys.clone(),
                connections: n,
                concurrency: (p.concurrency / procs).max(1),
            })
        })
        .collect();
    let mut w = Workers::start(common, jobs, &["opened", "alive", "failed", "disconnects"]).await?;
    w.ready(Duration::from_secs(60)).await?;
    // Let the server settle, then read its memory before any connection.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = common.server_pid().and_then(rss);
    let t0 = w.now_us();
    let (opened, start_us) = w
        .step(
            0,
            &vec![0.0; procs],
            Duration::ZERO,
            Duration::from_secs(600),
            format!("idle: opening {}", p.connections),
        )
        .await?;
    let open_s = opened.get("last_open_us").saturating_sub(start_us.max(t0)) as f64 / 1e6;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_open = common.server_pid().and_then(rss);
    let (held, _) = w
        .step(
            1,
            &vec![0.0; procs],
            p.hold,
            Duration::ZERO,
            format!("idle: holding for {}s", p.hold.as_secs()),
        )
        .await?;
    let after_hold = common.server_pid().and_then(rss);
    w.stop().await?;
    let n = opened.get("opened");
    let per_conn = |a: Option<(u64, u64)>| -> Option<f64> {
        let (b, a) = (before?, a?);
        (n > 0).then(|| (a.0 as f64 - b.0 as f64) / n as f64)
    };
    let open_hist = opened.hist("open").summary();
    let result = json!({
        "connections": p.connections,
        "opened": n,
        "failed": opened.get("failed"),
        "alive_after_hold": held.get("alive"),
        "disconnects": held.get("disconnects"),
        "open_seconds": open_s,
        "open_rate_per_s": if open_s > 0.0 { n as f64 / open_s } else { 0.0 },
        "open_latency": summary_json(&open_hist),
        "server_rss_kib": {
            "before": before.map(|x| x.0), "after_open": after_open.map(|x| x.0),
            "after_hold": after_hold.map(|x| x.0), "hwm_after_hold": after_hold.map(|x| x.1),
        },
        "rss_per_connection_kib": per_conn(after_hold),
        "rss_per_connection_kib_after_open": per_conn(after_open),
        "hwm_per_connection_kib": match (before, after_hold) {
            (Some(b), Some(a)) if n > 0 => Some((a.1 as f64 - b.0 as f64) / n as f64),
            _ => None,
        },
    });
    let mut out = envelope(
        common,
        "idle",
        json!({"connections": p.connections, "hold_s": p.hold.as_secs(), "processes": procs,
               "concurrency": p.concurrency, "tenants": p.tenants}),
    );
    out["result"] = result;
    Ok(out)
}

// ---- chat and reconnect ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct ChatParams {
    pub(crate) conversations: usize,
    pub(crate) tenants: usize,
    pub(crate) agents: usize,
    pub(crate) capacity: u32,
    pub(crate) rates: Vec<f64>,
    pub(crate) duration: Duration,
    pub(crate) drain: Duration,
    pub(crate) message_size: usize,
    pub(crate) p99_limit_ms: f64,
    /// An unreported step at the first rate before the measured ones (connections and caches warm up).
    pub(crate) warmup: Duration,
    /// Stop stepping at the first rate that misses the limit (sweep).
    pub(crate) stop_on_fail: bool,
    pub(crate) drops: Option<DropSpec>,
    /// Share of visitor turns that type a test card in pieces (0: none).
    pub(crate) card_fragment_share: f64,
    /// The server's fragment window, as its operator set it (`welcome` does not announce it): pieces of one card
    /// must arrive within it to be joined.
    pub(crate) fragment_window: Duration,
}

/// Warnings about the split-card load at these rates: the server joins pieces only if each arrives within its
/// fragment window of the previous one, and one visitor's pieces are one schedule period apart.
fn fragment_warnings(p: &ChatParams, kind: ServerKind, visitors: u64) -> Vec<String> {
    let mut out = Vec::new();
    if p.card_fragment_share <= 0.0 {
        return out;
    }
    if kind == ServerKind::Relay {
        out.push(
            "the relay redacts nothing: card pieces are ordinary messages there, measured apart but not checked \
             for leaks"
                .into(),
        );
        return out;
    }
    let window_ms = p.fragment_window.as_secs_f64() * 1000.0;
    for rate in &p.rates {
        let period_ms = visitors as f64 * 1000.0 / rate;
        if period_ms >= 0.9 * window_ms {
            out.push(format!(
                "at {rate:.0} msg/s each visitor sends every {period_ms:.0} ms, at or past the server's fragment \
                 window ({window_ms:.0} ms, --fragment-window-ms): the server may release pieces unjoined, which \
                 the agents count as card_leak"
            ));
        }
    }
    out
}

pub(crate) async fn chat(common: &Common, p: &ChatParams) -> anyhow::Result<Value> {
    preflight(common).await?;
    let scenario = if p.drops.is_some() {
        "reconnect"
    } else {
        "chat"
    };
    let tenants = p.tenants.max(1);
    let agents = p.agents.max(1);
    let per_tenant = split(p.conversations, tenants);
    let capacity_needed = per_tenant
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .div_ceil(agents);
    if common.kind == ServerKind::Cordon && capacity_needed > p.capacity as usize {
        bail!(
            "{} conversations over {tenants} tenants × {agents} agents need capacity ≥ {capacity_needed} (have {})",
            p.conversations,
            p.capacity
        );
    }
    let prefix = format!("lg{}-{scenario}", setup::run_tag());
    if !common.quiet {
        eprintln!(
            "{scenario}: creating {tenants} tenants × {agents} agents on {}",
            common.kind.name()
        );
    }
    let fixtures = setup::fixtures(
        common.kind,
        &common.target,
        &common.admin,
        &prefix,
        tenants,
        agents,
        p.capacity,
    )
    .await?;
    let procs = if common.processes > 0 {
        common.processes.min(tenants)
    } else {
        (p.conversations + tenants * agents)
            .div_ceil(9000)
            .max(1)
            .min(tenants)
    };
    // Tenants are split over processes whole, so a conversation's visitor and agent share a process.
    let mut groups: Vec<(Vec<TenantFixture>, Vec<usize>)> = vec![(vec![], vec![]); procs];
    for (i, (t, n)) in fixtures.iter().zip(&per_tenant).enumerate() {
        groups[i % procs].0.push(t.clone());
        groups[i % procs].1.push(*n);
    }
    let visitors: Vec<usize> = groups.iter().map(|g| g.1.iter().sum()).collect();
    let jobs: Vec<Job> = groups
        .into_iter()
        .map(|(tenants, conversations)| {
            Job::Chat(ChatJob {
                tenants,
                conversations,
                message_size: p.message_size,
                card_fragment_share: p.card_fragment_share,
                drops: p.drops,
            })
        })
        .collect();
    let mut w = Workers::start(
        common,
        jobs,
        &[
            "visitors",
            "agents",
            "sent",
            "acked",
            "delivered",
            "dropped",
            "reconnects",
        ],
    )
    .await?;
    let ready = w.ready(Duration::from_secs(300)).await?;
    let ready_visitors = ready.get("visitors");
    if !common.quiet {
        eprintln!(
            "{scenario}: {} agents and {} visitors ready ({} unassigned, {} failed)",
            ready.get("agents"),
            ready_visitors,
            ready.get("visitors_unassigned"),
            ready.get("visitors_failed") + ready.get("agents_failed"),
        );
    }
    if ready_visitors == 0 {
        w.stop().await?;
        bail!("no visitor connected");
    }
    let warnings = fragment_warnings(p, common.kind, ready_visitors);
    for warning in &warnings {
        eprintln!("{scenario}: warning: {warning}");
    }
    let total_visitors: usize = visitors.iter().sum();
    let share_of = |rate: f64| -> Vec<f64> {
        visitors
            .iter()
            .map(|v| rate * *v as f64 / total_visitors.max(1) as f64)
            .collect()
    };
    if !p.warmup.is_zero() {
        let rate = p.rates.first().copied().unwrap_or(100.0);
        w.step(
            0,
            &share_of(rate),
            p.warmup,
            p.drain,
            format!("{scenario} warm-up: {rate:.0} msg/s"),
        )
        .await?;
    }
    let mut steps = Vec::new();
    let mut best_ok: Option<f64> = None;
    for (i, rate) in p.rates.iter().enumerate() {
        let (t, start_us) = w
            .step(
                i as u32 + 1,
                &share_of(*rate),
                p.duration,
                p.drain,
                format!("{scenario} step {}: {rate:.0} msg/s", i + 1),
            )
            .await?;
        let mut row = chat_row(*rate, p, &t, start_us);
        if p.card_fragment_share > 0.0 {
            row["visitor_period_ms"] = json!(ready_visitors as f64 * 1000.0 / rate);
        }
        let ok = row["ok"].as_bool().unwrap_or(false);
        if !common.quiet {
            eprintln!("{}", crate::report::chat_line(&row));
        }
        steps.push(row);
        if ok {
            best_ok = Some(best_ok.map_or(*rate, |b: f64| b.max(*rate)));
        } else if p.stop_on_fail {
            break;
        }
    }
    let done = w.stop().await?;
    let mut out = envelope(
        common,
        scenario,
        json!({"conversations": p.conversations, "tenants": tenants, "agents_per_tenant": agents,
               "capacity": p.capacity, "rates": p.rates, "duration_s": p.duration.as_secs_f64(),
               "drain_s": p.drain.as_secs_f64(), "message_size": p.message_size,
               "p99_limit_ms": p.p99_limit_ms, "processes": procs,
               "warmup_s": p.warmup.as_secs_f64(), "drop_share": p.drops.map(|d| d.share), "drop_every_ms": p.drops.map(|d| d.every_ms),
               "drop_agents": p.drops.map(|d| d.agents),
               "card_fragment_share": p.card_fragment_share,
               "fragment_window_ms": p.fragment_window.as_millis() as u64}),
    );
    let mut result = json!({
        "visitors": ready_visitors,
        "agents": ready.get("agents"),
        "unassigned": ready.get("visitors_unassigned"),
        "steps": steps,
        "max_rate_within_limit": best_ok,
    });
    if !warnings.is_empty() {
        result["warnings"] = json!(warnings);
    }
    if p.drops.is_some() {
        let sum = |k: &str| -> u64 { steps_sum(&result["steps"], k) };
        let lost = sum("gaps") + done.get("check.tail_lost");
        let dup = sum("dup_deliveries") + sum("stored_dups");
        result["check"] = json!({
            "conversations": done.get("check.conversations"),
            "acked_messages_checked": done.get("check.acked_messages"),
            "dropped_connections": sum("dropped"),
            "reconnects": sum("reconnects"),
            "reconnect_failed": sum("reconnect_failed"),
            "duplicate_acks": sum("dup_acks"),
            "lost": lost,
            "acked_missing_at_agent": done.get("check.acked_missing"),
            "duplicated": dup,
            "unacked_at_end": done.get("check.unacked_at_end"),
            "pass": lost == 0 && dup == 0 && done.get("check.acked_missing") == 0,
        });
    }
    out["result"] = result;
    Ok(out)
}

fn steps_sum(steps: &Value, key: &str) -> u64 {
    steps
        .as_array()
        .map(|a| a.iter().map(|s| s[key].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

fn chat_row(rate: f64, p: &ChatParams, t: &Tally, start_us: u64) -> Value {
    let dur = p.duration.as_secs_f64();
    let delivered = t.get("delivered");
    let last = t.get("last_delivery_us");
    let end_us = start_us + p.duration.as_micros() as u64;
    let window = (last.max(end_us).saturating_sub(start_us)) as f64 / 1e6;
    let throughput = if window > 0.0 {
        delivered as f64 / window
    } else {
        0.0
    };
    // Ordinary messages only: split-card pieces wait for the visitor's next message by design and are reported
    // apart ("held"), so the figures and the limit below stay those of the core path.
    let ack = t.hist("ack").summary();
    let del = t.hist("delivery").summary();
    let errors = t.sum_prefix("err.");
    let ok = del.count > 0
        && del.p99_ms < p.p99_limit_ms
        && errors == 0
        && t.get("undelivered") == 0
        && t.get("unacked") == 0
        && throughput >= 0.95 * rate.min(t.get("sent") as f64 / dur.max(1e-9));
    let mut row = json!({
        "offered_rate": rate,
        "duration_s": dur,
        "sent": t.get("sent"),
        "acked": t.get("acked"),
        "delivered": delivered,
        "throughput": throughput,
        "send_to_ack": summary_json(&ack),
        "visitor_to_agent": summary_json(&del),
        "errors": errors,
        "errors_by_code": errors_json(t),
        "failed": t.get("failed"),
        "unacked": t.get("unacked"),
        "undelivered": t.get("undelivered"),
        "disconnects": t.get("disconnects"),
        "dropped": t.get("dropped"),
        "reconnects": t.get("reconnects"),
        "reconnect_failed": t.get("reconnect_failed"),
        "dup_acks": t.get("dup_acks"),
        "gaps": t.get("gaps"),
        "dup_deliveries": t.get("dup_deliveries"),
        "stored_dups": t.get("stored_dups"),
        "late": t.get("late"),
        "server_cpu_s": t.counters.get("cpu.server_ms").map(|v| *v as f64 / 1000.0),
        "server_cpu_us_per_msg": t.counters.get("cpu.server_ms")
            .filter(|_| t.get("acked") > 0)
            .map(|v| *v as f64 * 1000.0 / t.get("acked") as f64),
        "server_write_bytes_per_msg": t.counters.get("io.server_write_bytes")
            .filter(|_| t.get("acked") > 0)
            .map(|v| *v as f64 / t.get("acked") as f64),
        "loadgen_cpu_s": t.get("cpu.loadgen_ms") as f64 / 1000.0,
        "loadgen_cpu_us_per_msg": (t.get("acked") > 0)
            .then(|| t.get("cpu.loadgen_ms") as f64 * 1000.0 / t.get("acked") as f64),
        "ok": ok,
        "loadavg": loadavg(),
    });
    let cross = t.hist("delivery_cross").summary();
    if cross.count > 0 {
        // In a cluster: the messages whose visitor and agent were on different nodes (NATS in the path).
        row["cross_node"] = json!({
            "delivered": cross.count,
            "share": cross.count as f64 / del.count.max(1) as f64,
            "visitor_to_agent": summary_json(&cross),
        });
    }
    if p.card_fragment_share > 0.0 {
        row["held"] = json!({
            "sent": t.get("held.sent"),
            "acked": t.get("held.acked"),
            "delivered": t.get("held.delivered"),
            "failed": t.get("held.failed"),
            "unacked": t.get("held.unacked"),
            "undelivered": t.get("held.undelivered"),
            "send_to_ack": summary_json(&t.hist("ack_held").summary()),
            "visitor_to_agent": summary_json(&t.hist("delivery_held").summary()),
            "card_leaks": t.get("err.card_leak"),
            "unmasked_pieces": t.get("held.unmasked"),
            "redacted_notices": t.get("held.redacted_notices"),
        });
        row["after_card"] = json!({
            "send_to_ack": summary_json(&t.hist("ack_after_card").summary()),
            "visitor_to_agent": summary_json(&t.hist("delivery_after_card").summary()),
        });
    }
    row
}

// ---- storm ----------------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub(crate) struct StormParams {
    pub(crate) rates: Vec<f64>,
    pub(crate) step: Duration,
    pub(crate) tenants: usize,
    pub(crate) max_inflight: usize,
    pub(crate) timeout: Duration,
    pub(crate) p99_limit_ms: f64,
}

pub(crate) async fn storm(common: &Common, p: &StormParams) -> anyhow::Result<Value> {
    preflight(common).await?;
    let prefix = format!("lg{}-storm", setup::run_tag());
    let fixtures = setup::fixtures(
        common.kind,
        &common.target,
        &common.admin,
        &prefix,
        p.tenants.max(1),
        0,
        1,
    )
    .await?;
    let keys: Vec<String> = fixtures.iter().map(|t| t.widget_key.clone()).collect();
    let procs = common.processes.max(1);
    let jobs: Vec<Job> = (0..procs)
        .map(|_| {
            Job::Storm(StormJob {
                widget_keys: keys.clone(),
                max_inflight: (p.max_inflight / procs).max(1),
                timeout_ms: p.timeout.as_millis() as u64,
            })
        })
        .collect();
    let mut w = Workers::start(
        common,
        jobs,
        &["started", "ok", "inflight", "timeouts", "shed"],
    )
    .await?;
    w.ready(Duration::from_secs(60)).await?;
    let mut steps = Vec::new();
    let mut best: Option<f64> = None;
    for (i, rate) in p.rates.iter().enumerate() {
        let shares = vec![rate / procs as f64; procs];
        let (t, start_us) = w
            .step(
                i as u32,
                &shares,
                p.step,
                p.timeout,
                format!("storm step {i}: {rate:.0} sessions/s"),
            )
            .await?;
        let ok_n = t.get("ok");
        let end_us = start_us + p.step.as_micros() as u64;
        let window = t.get("last_done_us").max(end_us).saturating_sub(start_us) as f64 / 1e6;
        let achieved = if window > 0.0 {
            ok_n as f64 / window
        } else {
            0.0
        };
        let session = t.hist("session").summary();
        let errors = t.sum_prefix("err.") + t.get("timeouts") + t.get("shed");
        let ok = errors == 0 && achieved >= 0.95 * rate && session.p99_ms < p.p99_limit_ms;
        let row = json!({
            "offered_rate": rate,
            "offered": t.get("offered"),
            "ok_sessions": ok_n,
            "achieved_rate": achieved,
            "session": summary_json(&session),
            "connect": summary_json(&t.hist("connect").summary()),
            "errors": errors,
            "errors_by_stage": errors_json(&t),
            "timeouts": t.get("timeouts"),
            "shed": t.get("shed"),
            "server_cpu_us_per_session": t.counters.get("cpu.server_ms")
                .filter(|_| ok_n > 0)
                .map(|v| *v as f64 * 1000.0 / ok_n as f64),
            "server_write_bytes_per_session": t.counters.get("io.server_write_bytes")
                .filter(|_| ok_n > 0)
                .map(|v| *v as f64 / ok_n as f64),
            "loadgen_cpu_us_per_session": (ok_n > 0)
                .then(|| t.get("cpu.loadgen_ms") as f64 * 1000.0 / ok_n as f64),
            "ok": ok,
            "loadavg": loadavg(),
        });
        if !common.quiet {
            eprintln!("{}", crate::report::storm_line(&row));
        }
        steps.push(row);
        if ok {
            best = Some(achieved.max(best.unwrap_or(0.0)));
        } else {
            break;
        }
        // Let TIME_WAIT and the server's queues settle between steps.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    w.stop().await?;
    let mut out = envelope(
        common,
        "storm",
        json!({"rates": p.rates, "step_s": p.step.as_secs_f64(), "tenants": p.tenants,
               "max_inflight": p.max_inflight, "timeout_s": p.timeout.as_secs_f64(),
               "p99_limit_ms": p.p99_limit_ms, "processes": procs}),
    );
    out["result"] = json!({"steps": steps, "max_sessions_per_s": best});
    Ok(out)
}

/// Write the result file (pretty JSON), creating its folder.
pub(crate) fn write_result(path: &std::path::Path, v: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(serde_json::to_string_pretty(v)?.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn relay() -> Target {
        let relay = crate::relay::Relay::new(crate::relay::RelayLimits {
            frames_per_sec: 10_000.0,
            frame_burst: 10_000.0,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, crate::relay::router(relay)).await;
        });
        Target::parse(&format!("http://{addr}")).unwrap()
    }

    fn common(target: Target) -> Common {
        Common {
            nodes: vec![target.clone()],
            target,
            kind: ServerKind::Relay,
            admin: Admin {
                bin: "cordon".into(),
                data: None,
                database: None,
            },
            processes: 1,
            threads: 2,
            sources: 2,
            server_pids: vec![std::process::id()],
            label: "test".into(),
            quiet: true,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chat_against_the_relay_delivers_everything_in_order() {
        let c = common(relay().await);
        let p = ChatParams {
            conversations: 20,
            tenants: 2,
            agents: 2,
            capacity: 100,
            rates: vec![200.0, 400.0],
            duration: Duration::from_secs(1),
            drain: Duration::from_secs(2),
            message_size: 50,
            p99_limit_ms: 10_000.0,
            warmup: Duration::ZERO,
            stop_on_fail: false,
            drops: None,
            card_fragment_share: 0.0,
            fragment_window: Duration::from_secs(5),
        };
        let r = chat(&c, &p).await.unwrap();
        let steps = r["result"]["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2);
        for s in steps {
            let sent = s["sent"].as_u64().unwrap();
            assert!(sent > 100, "{s}");
            assert_eq!(s["acked"].as_u64(), Some(sent), "{s}");
            assert_eq!(s["delivered"].as_u64(), Some(sent), "{s}");
            assert_eq!(s["gaps"].as_u64(), Some(0), "{s}");
            assert_eq!(s["errors"].as_u64(), Some(0), "{s}");
            assert!(s["visitor_to_agent"]["p50_ms"].as_f64().unwrap() > 0.0);
        }
        assert!(crate::report::table(&r).contains("rate"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn card_pieces_are_counted_and_measured_apart() {
        let c = common(relay().await);
        let p = ChatParams {
            conversations: 10,
            tenants: 1,
            agents: 2,
            capacity: 100,
            rates: vec![200.0],
            duration: Duration::from_secs(2),
            drain: Duration::from_secs(2),
            message_size: 50,
            p99_limit_ms: 10_000.0,
            warmup: Duration::ZERO,
            stop_on_fail: false,
            drops: None,
            card_fragment_share: 0.3,
            fragment_window: Duration::from_secs(5),
        };
        let r = chat(&c, &p).await.unwrap();
        let s = &r["result"]["steps"][0];
        let held = &s["held"];
        let (sent, held_sent) = (s["sent"].as_u64().unwrap(), held["sent"].as_u64().unwrap());
        assert!(held_sent > 20 && held_sent < sent, "{s}");
        assert_eq!(held["delivered"].as_u64(), Some(held_sent), "{s}");
        assert_eq!(s["delivered"].as_u64(), Some(sent), "{s}");
        // Ordinary and held histograms split the messages between them.
        assert_eq!(
            s["visitor_to_agent"]["count"].as_u64().unwrap()
                + held["visitor_to_agent"]["count"].as_u64().unwrap(),
            sent,
            "{s}"
        );
        assert_eq!(
            held["send_to_ack"]["count"].as_u64(),
            Some(held_sent),
            "{s}"
        );
        assert!(
            s["after_card"]["visitor_to_agent"]["count"]
                .as_u64()
                .unwrap()
                > 0
        );
        // The relay redacts nothing; the leak check is Cordon's only.
        assert_eq!(s["errors"].as_u64(), Some(0), "{s}");
        assert_eq!(r["params"]["card_fragment_share"].as_f64(), Some(0.3));
        assert!(r["result"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("relay"));
        let table = crate::report::table(&r);
        assert!(table.contains("held (card fragments)"), "{table}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storm_and_idle_against_the_relay() {
        let c = common(relay().await);
        let p = StormParams {
            rates: vec![50.0],
            step: Duration::from_secs(1),
            tenants: 1,
            max_inflight: 100,
            timeout: Duration::from_secs(5),
            p99_limit_ms: 10_000.0,
        };
        let r = storm(&c, &p).await.unwrap();
        let step = &r["result"]["steps"][0];
        assert_eq!(
            step["ok_sessions"].as_u64(),
            step["offered"].as_u64(),
            "{step}"
        );
        assert_eq!(step["errors"].as_u64(), Some(0), "{step}");

        let r = idle(
            &c,
            &IdleParams {
                connections: 50,
                hold: Duration::from_millis(200),
                concurrency: 16,
                tenants: 1,
            },
        )
        .await
        .unwrap();
        assert_eq!(r["result"]["opened"].as_u64(), Some(50), "{r}");
        assert_eq!(r["result"]["alive_after_hold"].as_u64(), Some(50), "{r}");
        assert!(r["result"]["rss_per_connection_kib"].is_number());
    }
}
