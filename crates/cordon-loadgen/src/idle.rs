//! The `idle` scenario: open N visitor sockets, each past `hello`, and hold them.
//!
//! Step 0 opens them (bounded concurrency) and reports how long that took; step 1 holds them for its duration
//! (answering the server's pings) and reports how many are still open. The coordinator reads the server's
//! memory between the steps.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target};
use crate::frames;
use crate::stats::{Hist, Tally};
use crate::worker::{Clock, Command, IdleJob, Report, WorkerSpec};

#[derive(Debug, Default)]
struct Shared {
    opened: AtomicU64,
    failed: AtomicU64,
    alive: AtomicU64,
    disconnects: AtomicU64,
    last_open_us: AtomicU64,
}

impl Shared {
    fn tally(&self) -> Tally {
        let mut t = Tally::default();
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        t.add("opened", l(&self.opened));
        t.add("failed", l(&self.failed));
        t.add("alive", l(&self.alive));
        t.add("disconnects", l(&self.disconnects));
        t.add("last_open_us", l(&self.last_open_us));
        t
    }
}

pub(crate) async fn run(
    spec: &WorkerSpec,
    job: IdleJob,
    mut commands: mpsc::Receiver<Command>,
    reports: mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    let target = Arc::new(Target::parse(&spec.target)?);
    let clock = Clock::new(spec.epoch_unix_us);
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let _ = reports
        .send(Report::Ready {
            tally: Tally::default(),
        })
        .await;
    let progress = {
        let (shared, reports) = (shared.clone(), reports.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                if reports
                    .send(Report::Progress {
                        tally: shared.tally(),
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let mut tasks = Vec::new();
    while let Some(cmd) = commands.recv().await {
        let Command::Step {
            index,
            start_us,
            duration_ms,
            ..
        } = cmd
        else {
            break;
        };
        tokio::time::sleep_until(clock.instant(start_us)).await;
        if index == 0 {
            let gate = Arc::new(Semaphore::new(job.concurrency.max(1)));
            let mut open_hist = Hist::new();
            let (done_tx, mut done_rx) = mpsc::channel::<Option<u64>>(1024);
            for i in 0..job.connections {
                let key = job.widget_keys[i % job.widget_keys.len().max(1)].clone();
                let source: Option<IpAddr> = if spec.sources.is_empty() {
                    None
                } else {
                    Some(spec.sources[i % spec.sources.len()])
                };
                let (shared, target, gate, done) = (
                    shared.clone(),
                    target.clone(),
                    gate.clone(),
                    done_tx.clone(),
                );
                let stop = stop_rx.clone();
                tasks.push(tokio::spawn(async move {
                    let permit = gate.acquire().await;
                    let t0 = clock.now_us();
                    let r = open(&target, &key, source).await;
                    drop(permit);
                    match r {
                        Ok(ws) => {
                            let now = clock.now_us();
                            shared.opened.fetch_add(1, Ordering::SeqCst);
                            shared.alive.fetch_add(1, Ordering::SeqCst);
                            shared.last_open_us.fetch_max(now, Ordering::SeqCst);
                            let _ = done.send(Some(now.saturating_sub(t0))).await;
                            drop(done);
                            hold(ws, stop, &shared).await;
                        }
                        Err(e) => {
                            if shared.failed.fetch_add(1, Ordering::SeqCst) < 5 {
                                eprintln!("idle: open failed: {e:#}");
                            }
                            let _ = done.send(None).await;
                        }
                    }
                }));
            }
            drop(done_tx);
            while let Some(d) = done_rx.recv().await {
                if let Some(us) = d {
                    open_hist.record_us(us);
                }
            }
            let mut t = shared.tally();
            t.set_hist("open", &open_hist);
            let _ = reports.send(Report::Step { index, tally: t }).await;
        } else {
            tokio::time::sleep(Duration::from_millis(duration_ms)).await;
            let _ = reports
                .send(Report::Step {
                    index,
                    tally: shared.tally(),
                })
                .await;
        }
    }
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    progress.abort();
    let _ = reports
        .send(Report::Done {
            tally: shared.tally(),
        })
        .await;
    Ok(())
}

async fn open(target: &Target, key: &str, source: Option<IpAddr>) -> anyhow::Result<client::Ws> {
    let mut ws = client::connect(target, "/ws/visitor", &[], source).await?;
    client::send_text(&mut ws, frames::hello(Some(key), None)).await?;
    client::wait_for(&mut ws, Duration::from_secs(60), |f| {
        (f.kind == "welcome").then_some(())
    })
    .await
    .context("hello")?;
    Ok(ws)
}

/// Keep reading (tungstenite answers pings while we read) until told to stop or the server closes.
async fn hold(mut ws: client::Ws, mut stop: watch::Receiver<bool>, shared: &Shared) {
    loop {
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                    break;
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    shared.disconnects.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                _ => {}
            }
        }
    }
    shared.alive.fetch_sub(1, Ordering::SeqCst);
}
