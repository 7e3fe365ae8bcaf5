//! The `storm` scenario: new visitor sessions per second.
//!
//! A session is: connect, `hello` (a new visitor), `conversation.open`, one `message.send`, its `message.ack`,
//! then a WebSocket close. Sessions start on an open-loop schedule; each one's time is measured from its intended
//! start. A session still running after the timeout, or shed because too many are in flight, is an error.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc;

use crate::client::{self, Target};
use crate::frames;
use crate::stats::{Hist, Tally};
use crate::worker::{Clock, Command, Report, StormJob, WorkerSpec};

#[derive(Debug, Default)]
struct Shared {
    started: AtomicU64,
    ok: AtomicU64,
    inflight: AtomicU64,
    shed: AtomicU64,
    timeouts: AtomicU64,
    last_done_us: AtomicU64,
    session: Mutex<Hist>,
    connect: Mutex<Hist>,
    errors: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Shared {
    fn error(&self, what: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(what).or_insert(0) += 1;
        }
    }

    fn tally(&self) -> Tally {
        let mut t = Tally::default();
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        t.add("started", l(&self.started));
        t.add("ok", l(&self.ok));
        t.add("inflight", l(&self.inflight));
        t.add("shed", l(&self.shed));
        t.add("timeouts", l(&self.timeouts));
        t.add("last_done_us", l(&self.last_done_us));
        if let Ok(e) = self.errors.lock() {
            for (k, v) in e.iter() {
                t.add(&format!("err.{k}"), *v);
            }
        }
        if let Ok(h) = self.session.lock() {
            t.set_hist("session", &h);
        }
        if let Ok(h) = self.connect.lock() {
            t.set_hist("connect", &h);
        }
        t
    }
}

pub(crate) async fn run(
    spec: &WorkerSpec,
    job: StormJob,
    mut commands: mpsc::Receiver<Command>,
    reports: mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    let target = Arc::new(Target::parse(&spec.target)?);
    let clock = Clock::new(spec.epoch_unix_us);
    let text: Arc<str> = Arc::from(frames::filler(40));
    let _ = reports
        .send(Report::Ready {
            tally: Tally::default(),
        })
        .await;
    let mut counter: u64 = 0;
    while let Some(cmd) = commands.recv().await {
        let Command::Step {
            index,
            rate,
            start_us,
            duration_ms,
            drain_ms,
        } = cmd
        else {
            break;
        };
        let shared = Arc::new(Shared::default());
        let progress = {
            let (shared, reports) = (shared.clone(), reports.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let mut t = shared.tally();
                    t.hists.clear();
                    if reports.send(Report::Progress { tally: t }).await.is_err() {
                        break;
                    }
                }
            })
        };
        let end_us = start_us + duration_ms * 1000;
        let period = if rate > 0.0 {
            1e6 / rate
        } else {
            f64::INFINITY
        };
        let mut n: u64 = 0;
        let mut tasks = Vec::new();
        loop {
            let due = start_us + (n as f64 * period) as u64;
            if !period.is_finite() || due >= end_us {
                break;
            }
            tokio::time::sleep_until(clock.instant(due)).await;
            n += 1;
            counter += 1;
            shared.started.fetch_add(1, Ordering::Relaxed);
            if shared.inflight.load(Ordering::Relaxed) >= job.max_inflight as u64 {
                shared.shed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            shared.inflight.fetch_add(1, Ordering::Relaxed);
            let key = job.widget_keys[(counter as usize) % job.widget_keys.len().max(1)].clone();
            let source: Option<IpAddr> = if spec.sources.is_empty() {
                None
            } else {
                Some(spec.sources[(counter as usize) % spec.sources.len()])
            };
            let (shared, target, text) = (shared.clone(), target.clone(), text.clone());
            let timeout = Duration::from_millis(job.timeout_ms);
            tasks.push(tokio::spawn(async move {
                let r = tokio::time::timeout(
                    timeout,
                    session(&target, &key, source, &text, clock, due, &shared, counter),
                )
                .await;
                match r {
                    Ok(Ok(())) => {
                        shared.ok.fetch_add(1, Ordering::Relaxed);
                        let now = clock.now_us();
                        shared.last_done_us.fetch_max(now, Ordering::Relaxed);
                        if let Ok(mut h) = shared.session.lock() {
                            h.record_us(now.saturating_sub(due));
                        }
                    }
                    Ok(Err(e)) => shared.error(stage_of(&e)),
                    Err(_) => {
                        shared.timeouts.fetch_add(1, Ordering::Relaxed);
                    }
                }
                shared.inflight.fetch_sub(1, Ordering::Relaxed);
            }));
            // Bound the handle list: finished tasks are dropped as we go.
            if tasks.len() > 4096 {
                tasks.retain(|t| !t.is_finished());
            }
        }
        let deadline = clock.instant(end_us + drain_ms.max(job.timeout_ms) * 1000);
        for t in tasks {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
        progress.abort();
        let mut tally = shared.tally();
        tally.add("offered", n);
        let _ = reports.send(Report::Step { index, tally }).await;
    }
    let _ = reports
        .send(Report::Done {
            tally: Tally::default(),
        })
        .await;
    Ok(())
}

/// "connect", "hello: <code>", ... from a session error, for the error table.
fn stage_of(e: &anyhow::Error) -> String {
    let mut chain = e.chain().map(|c| c.to_string());
    let stage = chain.next().unwrap_or_default();
    let cause = chain.next().unwrap_or_default();
    let cause = cause
        .strip_prefix("error frame: ")
        .unwrap_or(cause.as_str())
        .split(':')
        .next()
        .unwrap_or("")
        .to_string();
    if cause.is_empty() {
        stage
    } else {
        format!("{stage}: {cause}")
    }
}

#[allow(clippy::too_many_arguments)]
async fn session(
    target: &Target,
    widget_key: &str,
    source: Option<IpAddr>,
    text: &str,
    clock: Clock,
    due: u64,
    shared: &Shared,
    n: u64,
) -> anyhow::Result<()> {
    let mut ws = client::connect(target, "/ws/visitor", &[], source)
        .await
        .context("connect")?;
    if let Ok(mut h) = shared.connect.lock() {
        h.record_us(clock.now_us().saturating_sub(due));
    }
    client::send_text(&mut ws, frames::hello(Some(widget_key), None))
        .await
        .context("hello")?;
    client::wait_for(&mut ws, Duration::from_secs(60), |f| {
        (f.kind == "welcome").then_some(())
    })
    .await
    .context("hello")?;
    client::send_text(&mut ws, frames::open())
        .await
        .context("open")?;
    let conv = client::wait_for(&mut ws, Duration::from_secs(60), |f| {
        if f.kind == "conversation" {
            f.conversation.as_ref().map(|c| c.id.to_string())
        } else {
            None
        }
    })
    .await
    .context("open")?;
    let id = frames::msg_id(0, 0, n, due, frames::Class::Ordinary);
    client::send_text(&mut ws, frames::send(&conv, &id, text))
        .await
        .context("send")?;
    client::wait_for(&mut ws, Duration::from_secs(60), |f| {
        (f.kind == "message.ack" && f.client_msg_id.as_deref() == Some(id.as_str())).then_some(())
    })
    .await
    .context("ack")?;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(())
}
