//! The front door: every TCP connection passes a per-address gate before any byte of it is read, and HTTP is
//! served with a deadline for the request head.
//!
//! Why here and not in a middleware: a client that trickles one header line every few seconds never produces a
//! request, so nothing above hyper ever sees it, and one address could hold thousands of such sockets toward the
//! process's file limit. The gate counts each address's open connections (a permit travels inside the socket,
//! so an upgraded WebSocket keeps counting until it closes) and its new connections per second (a token
//! bucket). A refused connection gets a short `429` with a stable code and is closed at once.
//!
//! The limits apply to the TCP peer. Behind a load balancer every client shares its address: set the limits
//! there and turn these off (0), as docs/PROTOCOL.md §12 says.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

use crate::Limits;
use cordon_service::code;
use cordon_service::metrics::Metrics;

/// Above this many tracked addresses, addresses with nothing open and a full bucket are forgotten.
const PRUNE_ABOVE: usize = 4096;

/// Why the gate refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The address already holds `max_connections_per_ip` open connections.
    TooManyOpen,
    /// The address opened connections faster than `new_connections_per_ip_per_sec` (after the burst).
    TooFast,
}

#[derive(Debug)]
struct PerIp {
    open: u32,
    tokens: f64,
    at: Instant,
}

/// Per-address connection limits, shared by every accept loop of a process.
#[derive(Debug)]
pub(crate) struct Gate {
    max_open: u32,
    rate: f64,
    burst: f64,
    by_ip: Mutex<HashMap<IpAddr, PerIp>>,
    prune_at: std::sync::atomic::AtomicUsize,
}

impl Gate {
    pub(crate) fn new(limits: &Limits) -> Arc<Gate> {
        Arc::new(Gate {
            max_open: limits.max_connections_per_ip,
            rate: limits.new_connections_per_ip_per_sec,
            burst: limits
                .new_connections_per_ip_burst
                .max(limits.new_connections_per_ip_per_sec),
            by_ip: Mutex::new(HashMap::new()),
            prune_at: std::sync::atomic::AtomicUsize::new(PRUNE_ABOVE),
        })
    }

    fn unlimited(&self) -> bool {
        self.max_open == 0 && self.rate <= 0.0
    }

    /// Admit one new connection from `ip`, or say why not. The permit releases its place when dropped.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        if self.unlimited() {
            return Ok(Permit { gate: None, ip });
        }
        let now = Instant::now();
        // A poisoned lock only means another accept panicked mid-update; the counts are still usable.
        let mut map = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > self.prune_at.load(std::sync::atomic::Ordering::Relaxed) {
            self.prune(&mut map, now);
        }
        let entry = map.entry(ip).or_insert(PerIp {
            open: 0,
            tokens: self.burst,
            at: now,
        });
        if self.max_open > 0 && entry.open >= self.max_open {
            return Err(Refusal::TooManyOpen);
        }
        if self.rate > 0.0 {
            let refill = now.duration_since(entry.at).as_secs_f64() * self.rate;
            entry.tokens = (entry.tokens + refill).min(self.burst);
            entry.at = now;
            if entry.tokens < 1.0 {
                return Err(Refusal::TooFast);
            }
            entry.tokens -= 1.0;
        }
        entry.open += 1;
        Ok(Permit {
            gate: Some(self.clone()),
            ip,
        })
    }

    /// Forget addresses that hold nothing and whose bucket has refilled: remembering them changes nothing.
    fn prune(&self, map: &mut HashMap<IpAddr, PerIp>, now: Instant) {
        let full_after = if self.rate > 0.0 {
            Duration::from_secs_f64(self.burst / self.rate)
        } else {
            Duration::ZERO
        };
        map.retain(|_, e| e.open > 0 || now.duration_since(e.at) < full_after);
        // Sweep again only once the map has doubled, so a flood of distinct addresses costs amortised O(1).
        self.prune_at.store(
            (map.len() * 2).max(PRUNE_ABOVE),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    fn release(&self, ip: IpAddr) {
        let mut map = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = map.get_mut(&ip) {
            e.open = e.open.saturating_sub(1);
        }
    }

    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> u32 {
        let map = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&ip).map_or(0, |e| e.open)
    }
}

/// One admitted connection's place in its address's count.
#[derive(Debug)]
pub(crate) struct Permit {
    gate: Option<Arc<Gate>>,
    ip: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(gate) = &self.gate {
            gate.release(self.ip);
        }
    }
}

/// A socket that carries its permit: the place is held until the socket itself is dropped, including after a
/// WebSocket upgrade has taken it over from hyper.
#[derive(Debug)]
struct Admitted {
    tcp: TcpStream,
    _permit: Permit,
}

impl AsyncRead for Admitted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
}

/// The reply to a refused connection: a complete HTTP response a browser or client library can read, with the
/// stable code in the body. Written without waiting (a new socket's send buffer is empty), then closed.
fn refusal_response(refusal: Refusal) -> String {
    let message = match refusal {
        Refusal::TooManyOpen => "too many open connections from this address",
        Refusal::TooFast => "too many new connections from this address; retry shortly",
    };
    let body = format!(
        r#"{{"error":{{"code":"{}","message":"{message}"}}}}"#,
        code::TOO_MANY_CONNECTIONS
    );
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Accept and serve until `shutdown` resolves, then let open requests finish. WebSocket connections already
/// upgraded run on; the process's own shutdown ends them.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy in front terminates. (A protocol sniffing
    // builder would also wait for the first bytes with no deadline at all, which is what a silent client exploits.)
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    // Shutdown: the accept loop stops, each connection finishes the request it is serving (hyper's graceful
    // shutdown), and this returns when the last one has; `in_flight` closes when every task dropped its copy.
    let (stopping, _) = tokio::sync::watch::channel(false);
    let (in_flight, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: back off briefly instead of
                    // spinning, and keep serving (as axum::serve does).
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let permit = match gate.admit(peer.ip()) {
            Ok(p) => p,
            Err(refusal) => {
                tracing::debug!(?refusal, "connection refused");
                count_refusal(&metrics, refusal);
                let _ = tcp.try_write(refusal_response(refusal).as_bytes());
                continue;
            }
        };
        // TCP_NODELAY: the server writes small frames (a `conversation` reply, then a `notice`) as they are
        // produced, and with Nagle's algorithm the second waits for the client's delayed ACK (~40 ms on Linux).
        tracing::trace!("connection accepted");
        let _ = tcp.set_nodelay(true);
        let io = TokioIo::new(Admitted {
            tcp,
            _permit: permit,
        });
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection(io, service).with_upgrades();
        let metrics = metrics.clone();
        let mut stop = stopping.subscribe();
        let in_flight = in_flight.clone();
        tokio::spawn(async move {
            let _in_flight = in_flight;
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                if e.is_timeout() {
                    tracing::debug!("request head not sent in time: connection closed");
                    metrics.header_read_timeouts.inc();
                }
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    drop(in_flight);
    let _ = all_done.recv().await;
    Ok(())
}

/// Where the gate's refusals are counted.
fn count_refusal(metrics: &Metrics, refusal: Refusal) {
    match refusal {
        Refusal::TooManyOpen => metrics.connections_refused_open.inc(),
        Refusal::TooFast => metrics.connections_refused_rate.inc(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn limits(open: u32, rate: f64, burst: f64) -> Limits {
        Limits {
            max_connections_per_ip: open,
            new_connections_per_ip_per_sec: rate,
            new_connections_per_ip_burst: burst,
            ..Limits::default()
        }
    }

    #[test]
    fn open_connections_are_capped_per_address_and_released_on_drop() {
        let gate = Gate::new(&limits(3, 0.0, 0.0));
        let held: Vec<Permit> = (0..3).map(|_| gate.admit(ip(1)).unwrap()).collect();
        assert_eq!(gate.admit(ip(1)).unwrap_err(), Refusal::TooManyOpen);
        // Another address is not affected.
        let other = gate.admit(ip(2)).unwrap();
        drop(held);
        assert_eq!(gate.open(ip(1)), 0);
        assert!(gate.admit(ip(1)).is_ok());
        drop(other);
    }

    #[test]
    fn new_connections_are_rate_limited_per_address_after_the_burst() {
        let gate = Gate::new(&limits(0, 1.0, 5.0));
        for _ in 0..5 {
            drop(gate.admit(ip(1)).unwrap());
        }
        // Closing connections does not give the tokens back: only time does.
        assert_eq!(gate.admit(ip(1)).unwrap_err(), Refusal::TooFast);
        assert!(gate.admit(ip(2)).is_ok());
    }

    #[test]
    fn zero_means_unlimited() {
        let gate = Gate::new(&limits(0, 0.0, 0.0));
        let held: Vec<Permit> = (0..10_000).map(|_| gate.admit(ip(1)).unwrap()).collect();
        assert_eq!(held.len(), 10_000);
    }

    #[test]
    fn idle_addresses_are_forgotten_and_busy_ones_kept() {
        // The burst is at least one second's worth, so a bucket is full again a second after its last use.
        let gate = Gate::new(&limits(10, 1000.0, 1000.0));
        let busy = gate.admit(ip(1)).unwrap();
        // Exactly enough to pass the threshold with the next admission (the check runs before inserting).
        for i in 0..PRUNE_ABOVE as u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            drop(gate.admit(addr).unwrap());
        }
        std::thread::sleep(Duration::from_millis(1050));
        drop(gate.admit(ip(3)).unwrap()); // over the threshold: this sweep forgets the idle ones
        let tracked = gate.by_ip.lock().unwrap().len();
        assert!(tracked < 100, "{tracked} addresses still tracked");
        assert_eq!(
            gate.open(ip(1)),
            1,
            "an address with an open connection is kept"
        );
        drop(busy);
    }

    #[test]
    fn the_refusal_is_a_complete_http_response_with_a_stable_code() {
        let r = refusal_response(Refusal::TooManyOpen);
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 429 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], code::TOO_MANY_CONNECTIONS);
    }
}
