//! Prometheus metrics. Label values are fixed strings (error codes, socket kinds), never tenant data.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::Service;

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug)]
pub struct Histogram {
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        use std::fmt::Write as _;
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub visitor_connections: Gauge,
    pub agent_connections: Gauge,
    pub messages_total: Counter,
    pub cards_redacted: Counter,
    pub slow_consumer_disconnects: Counter,
    /// Connections refused at accept: the address had too many open, or opened them too fast.
    pub connections_refused_open: Counter,
    pub connections_refused_rate: Counter,
    /// Connections closed because the request head did not arrive in time.
    pub header_read_timeouts: Counter,
    /// Webhook attempts (issue 16): answered 2xx, and failed (any other answer, or none).
    pub webhooks_delivered: Counter,
    pub webhooks_failed: Counter,
    pub commit_latency: Histogram,
    errors: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    pub fn observe_commit(&self, d: Duration) {
        self.commit_latency.observe(d);
    }

    /// Count an error by its stable code (a fixed set of strings, so the label cannot carry tenant data).
    pub fn error(&self, code: &'static str) {
        if let Ok(mut m) = self.errors.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP cordon_connections Open WebSocket connections.\n# TYPE cordon_connections gauge");
        let _ = writeln!(
            out,
            "cordon_connections{{kind=\"visitor\"}} {}",
            self.visitor_connections.get()
        );
        let _ = writeln!(
            out,
            "cordon_connections{{kind=\"agent\"}} {}",
            self.agent_connections.get()
        );
        let _ = writeln!(out, "# HELP cordon_messages_total Messages committed.\n# TYPE cordon_messages_total counter\ncordon_messages_total {}", self.messages_total.get());
        let _ = writeln!(out, "# HELP cordon_cards_redacted_total Card numbers masked in messages.\n# TYPE cordon_cards_redacted_total counter\ncordon_cards_redacted_total {}", self.cards_redacted.get());
        let _ = writeln!(out, "# HELP cordon_slow_consumer_disconnects_total Clients disconnected for not reading.\n# TYPE cordon_slow_consumer_disconnects_total counter\ncordon_slow_consumer_disconnects_total {}", self.slow_consumer_disconnects.get());
        let _ = writeln!(out, "# HELP cordon_connections_refused_total Connections refused at accept, by reason.\n# TYPE cordon_connections_refused_total counter");
        let _ = writeln!(
            out,
            "cordon_connections_refused_total{{reason=\"too_many_open\"}} {}",
            self.connections_refused_open.get()
        );
        let _ = writeln!(
            out,
            "cordon_connections_refused_total{{reason=\"too_fast\"}} {}",
            self.connections_refused_rate.get()
        );
        let _ = writeln!(out, "# HELP cordon_header_read_timeouts_total Connections closed for not sending a request head in time.\n# TYPE cordon_header_read_timeouts_total counter\ncordon_header_read_timeouts_total {}", self.header_read_timeouts.get());
        let _ = writeln!(out, "# HELP cordon_webhook_attempts_total Webhook requests sent, by outcome.\n# TYPE cordon_webhook_attempts_total counter");
        let _ = writeln!(
            out,
            "cordon_webhook_attempts_total{{outcome=\"delivered\"}} {}",
            self.webhooks_delivered.get()
        );
        let _ = writeln!(
            out,
            "cordon_webhook_attempts_total{{outcome=\"failed\"}} {}",
            self.webhooks_failed.get()
        );
        self.commit_latency.render(
            "cordon_message_commit_seconds",
            "Time from accepting a message to its durable commit.",
            &mut out,
        );
        let _ = writeln!(out, "# HELP cordon_errors_total Errors returned to clients, by code.\n# TYPE cordon_errors_total counter");
        if let Ok(m) = self.errors.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "cordon_errors_total{{code=\"{code}\"}} {n}");
            }
        }
        out
    }
}

/// The storage writer's counters: how well commits are grouped, and how often the WAL is checkpointed.
fn render_store(stats: &cordon_store::CommitStats, out: &mut String) {
    use std::fmt::Write as _;
    let (batches, messages, redone, failed) = stats.snapshot();
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, value) in [
        (
            "cordon_store_message_batches_total",
            "Message transactions committed by the group-commit writer.",
            batches,
        ),
        (
            "cordon_store_batched_messages_total",
            "Messages written through them (messages per batch = this / batches).",
            messages,
        ),
        (
            "cordon_store_batches_redone_total",
            "Batches redone one message at a time because a client retry was in them.",
            redone,
        ),
        (
            "cordon_store_batches_failed_total",
            "Batches that failed with a database error and were retried one by one.",
            failed,
        ),
        (
            "cordon_store_write_batches_total",
            "Write-transaction batches (sessions, conversation opens) committed.",
            l(&stats.txn_batches),
        ),
        (
            "cordon_store_writes_total",
            "Write transactions in them.",
            l(&stats.txns),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
}

/// The whole Prometheus text: these counters, the storage writer's and the throttles'.
pub fn render_all(svc: &Service) -> String {
    let mut body = svc.metrics.render();
    render_store(svc.store.commit_stats(), &mut body);
    svc.throttle.render(&mut body);
    svc.hub.render_metrics(&mut body);
    if svc.hub.clustered() {
        // In a cluster, every series names its node (node ids are checked to be label-safe at start).
        body = with_label(&body, "node", &svc.settings.node_id);
    }
    body
}

/// Add `name="value"` to every series line of a rendered body.
fn with_label(body: &str, name: &str, value: &str) -> String {
    let value: String = value
        .chars()
        .filter(|c| !matches!(c, '"' | '\\' | '\n'))
        .collect();
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    for line in body.lines() {
        if line.starts_with('#') || line.is_empty() {
            out.push_str(line);
        } else if let Some((series, rest)) = line.split_once('{') {
            out.push_str(&format!("{series}{{{name}=\"{value}\",{rest}"));
        } else if let Some((series, rest)) = line.split_once(' ') {
            out.push_str(&format!("{series}{{{name}=\"{value}\"}} {rest}"));
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}
