//! A slow-client flood (slowloris) from one source address, run beside a chat scenario: each socket sends a
//! request line, then one header line every few seconds, never finishing its request head, and comes back one
//! trickle period after the server drops or refuses it. It shows whether such a flood starves real chats, and how much of it the server
//! lets in.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpSocket;

use crate::client::Target;

/// What the flood asks for.
#[derive(Debug, Clone)]
pub(crate) struct SlowSpec {
    /// Sockets the attacker tries to keep open at once.
    pub(crate) sockets: usize,
    /// The one address they all come from (a loopback address no other client uses).
    pub(crate) source: IpAddr,
    /// Seconds between header lines.
    pub(crate) trickle: Duration,
    /// New sockets opened per second while ramping up, and again after each drop.
    pub(crate) open_rate: f64,
}

#[derive(Debug, Default)]
struct Counters {
    attempts: AtomicU64,
    refused_429: AtomicU64,
    connect_failed: AtomicU64,
    dropped_by_server: AtomicU64,
    /// Sockets the server is holding now (accepted and unanswered for a trickle period), and the most at once.
    open_now: AtomicU64,
    open_peak: AtomicU64,
}

/// A running flood; `stop` ends it and returns its figures.
#[derive(Debug)]
pub(crate) struct Flood {
    counters: Arc<Counters>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
    spec: SlowSpec,
}

impl Flood {
    pub(crate) fn start(target: &Target, spec: SlowSpec) -> Flood {
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let gap = Duration::from_secs_f64(1.0 / spec.open_rate.max(1.0));
        for i in 0..spec.sockets {
            let (addr, counters, mut stop_rx) = (target.addr, counters.clone(), stop_rx.clone());
            let (source, trickle) = (spec.source, spec.trickle);
            tasks.spawn(async move {
                // Staggered start, at the open rate.
                let start = gap * u32::try_from(i).unwrap_or(u32::MAX);
                tokio::select! {
                    _ = tokio::time::sleep(start) => {}
                    _ = stop_rx.wait_for(|s| *s) => return,
                }
                loop {
                    tokio::select! {
                        _ = one_socket(addr, source, trickle, &counters) => {}
                        _ = stop_rx.wait_for(|s| *s) => return,
                    }
                    // Dropped or refused: come back at the next round, as slowloris does (it re-creates the
                    // sockets it lost each time it sends its header lines).
                    tokio::select! {
                        _ = tokio::time::sleep(trickle) => {}
                        _ = stop_rx.wait_for(|s| *s) => return,
                    }
                }
            });
        }
        Flood {
            counters,
            stop,
            tasks,
            spec,
        }
    }

    pub(crate) async fn stop(mut self) -> Value {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "sockets_wanted": self.spec.sockets,
            "source": self.spec.source.to_string(),
            "trickle_s": self.spec.trickle.as_secs_f64(),
            "attempts": l(&c.attempts),
            "refused_429": l(&c.refused_429),
            "connect_failed": l(&c.connect_failed),
            "dropped_by_server": l(&c.dropped_by_server),
            "held_at_once_peak": l(&c.open_peak),
        })
    }
}

/// One attacker socket, until the server closes it or refuses it.
async fn one_socket(addr: SocketAddr, source: IpAddr, trickle: Duration, c: &Counters) {
    c.attempts.fetch_add(1, Ordering::Relaxed);
    let socket = match if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    } {
        Ok(s) => s,
        Err(_) => {
            c.connect_failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    if socket.bind(SocketAddr::new(source, 0)).is_err() {
        c.connect_failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let Ok(mut tcp) = socket.connect(addr).await else {
        c.connect_failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // A socket counts as held once it has outlived one trickle period unanswered: the server accepted it and
    // is waiting for the rest of its request head (a refused one gets its 429 at once).
    let mut held = false;
    let mut buf = [0u8; 512];
    let mut line = 0u64;
    let mut next: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: slow\r\n";
    let outcome = loop {
        if tcp.write_all(next).await.is_err() {
            break None;
        }
        // Wait for the next line's time, watching for the server's answer or close meanwhile.
        match tokio::time::timeout(trickle, tcp.read(&mut buf)).await {
            Err(_) if !held => {
                held = true;
                let open = c.open_now.fetch_add(1, Ordering::Relaxed) + 1;
                c.open_peak.fetch_max(open, Ordering::Relaxed);
            }
            Err(_) => {}
            Ok(Ok(0)) | Ok(Err(_)) => break None,
            Ok(Ok(n)) => break Some(buf[..n].starts_with(b"HTTP/1.1 429")),
        }
        line += 1;
        next = if line % 2 == 0 {
            b"x-a: 1\r\n"
        } else {
            b"x-b: 2\r\n"
        };
    };
    if held {
        c.open_now.fetch_sub(1, Ordering::Relaxed);
    }
    match outcome {
        Some(true) => c.refused_429.fetch_add(1, Ordering::Relaxed),
        _ => c.dropped_by_server.fetch_add(1, Ordering::Relaxed),
    };
}
