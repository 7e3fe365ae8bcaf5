//! The `chat` and `reconnect` scenarios.
//!
//! Each visitor socket owns one conversation; agents hold several each. Visitors send on an open-loop schedule:
//! message n of a step is due at `start + offset + n × period` whatever the server does, and its latency is
//! measured from that intended time (no coordinated omission). The intended time travels in the
//! `client_msg_id`, so the agent that receives it can measure visitor → agent latency in any process.
//!
//! With `--card-fragment-share`, some visitor turns type a test card in 2 to 4 pieces on consecutive slots of the
//! same schedule (docs/CARD-REDACTION.md, "Split across messages"). The server holds such pieces until the
//! visitor's next message or its fragment window, so their latency is kept apart from the ordinary messages':
//! the class travels in the `client_msg_id` too. Agents check that no delivered set of pieces reads as a card.
//!
//! Every receiver checks each conversation's `seq`: a jump is a loss, a repeat is a duplicate. In the reconnect
//! scenario clients are dropped on purpose and resume with `hello` (visitor token) or the session cookie,
//! then `sync` from their last seq and resend what was not acknowledged, under the same `client_msg_id`.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use futures_util::StreamExt as _;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target, Ws};
use crate::frames::{self, Class, In};
use crate::setup::{AgentFixture, ServerKind};
use crate::stats::{Hist, Tally};
use crate::worker::{ChatJob, Clock, Command, Report, WorkerSpec};

const SETUP_TIMEOUT: Duration = Duration::from_secs(60);
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

/// What the sockets are told to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Plan {
    Idle,
    Run {
        step: u32,
        start_us: u64,
        end_us: u64,
        /// Microseconds between two messages of one visitor.
        period_us: f64,
    },
    Stop,
}

/// Counters for the current step (reset at each step) and latency histograms.
#[derive(Debug, Default)]
struct Shared {
    step: AtomicU32,
    sent: AtomicU64,
    acked: AtomicU64,
    dup_acks: AtomicU64,
    delivered: AtomicU64,
    echoed: AtomicU64,
    late: AtomicU64,
    failed: AtomicU64,
    gaps: AtomicU64,
    dup_deliveries: AtomicU64,
    stored_dups: AtomicU64,
    disconnects: AtomicU64,
    dropped: AtomicU64,
    reconnects: AtomicU64,
    reconnect_failed: AtomicU64,
    last_delivery_us: AtomicU64,
    visitors_ready: AtomicU64,
    visitors_unassigned: AtomicU64,
    visitors_failed: AtomicU64,
    agents_ready: AtomicU64,
    agents_failed: AtomicU64,
    alive: AtomicU64,
    /// Split-card pieces (held candidates): a subset of `sent`, `acked`, `failed` and `delivered`.
    held_sent: AtomicU64,
    held_acked: AtomicU64,
    held_failed: AtomicU64,
    held_delivered: AtomicU64,
    /// Pieces delivered to an agent with no mask in them (not joined into a card by the server).
    held_unmasked: AtomicU64,
    /// `card_redacted` notices the visitors received.
    redacted_notices: AtomicU64,
    /// Ordinary messages only (as before split cards existed); pieces go to `*_held`, and the message after a
    /// card also to `*_after_card`.
    ack: Mutex<Hist>,
    delivery: Mutex<Hist>,
    ack_held: Mutex<Hist>,
    delivery_held: Mutex<Hist>,
    ack_after_card: Mutex<Hist>,
    delivery_after_card: Mutex<Hist>,
    /// Ordinary messages whose visitor and agent are on different nodes of a cluster (a subset of `delivery`).
    delivery_cross: Mutex<Hist>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Histogram names in the tally, per class: (send → ack, visitor → agent).
const HISTS: [(&str, &str); 3] = [
    ("ack", "delivery"),
    ("ack_held", "delivery_held"),
    ("ack_after_card", "delivery_after_card"),
];
/// The cross-node histogram's name in the tally.
const CROSS: &str = "delivery_cross";

impl Shared {
    fn error(&self, code: &str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(code.to_string()).or_insert(0) += 1;
        }
    }

    fn reset_step(&self, step: u32) {
        self.step.store(step, Ordering::SeqCst);
        for c in [
            &self.sent,
            &self.acked,
            &self.dup_acks,
            &self.delivered,
            &self.echoed,
            &self.late,
            &self.failed,
            &self.gaps,
            &self.dup_deliveries,
            &self.stored_dups,
            &self.disconnects,
            &self.dropped,
            &self.reconnects,
            &self.reconnect_failed,
            &self.last_delivery_us,
            &self.held_sent,
            &self.held_acked,
            &self.held_failed,
            &self.held_delivered,
            &self.held_unmasked,
            &self.redacted_notices,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        for h in self.hists().into_iter().chain([&self.delivery_cross]) {
            if let Ok(mut h) = h.lock() {
                h.reset();
            }
        }
        if let Ok(mut e) = self.errors.lock() {
            e.clear();
        }
    }

    fn tally(&self) -> Tally {
        let mut t = Tally::default();
        let l = |a: &AtomicU64| a.load(Ordering::SeqCst);
        for (name, v) in [
            ("sent", l(&self.sent)),
            ("acked", l(&self.acked)),
            ("dup_acks", l(&self.dup_acks)),
            ("delivered", l(&self.delivered)),
            ("echoed", l(&self.echoed)),
            ("late", l(&self.late)),
            ("failed", l(&self.failed)),
            ("gaps", l(&self.gaps)),
            ("dup_deliveries", l(&self.dup_deliveries)),
            ("stored_dups", l(&self.stored_dups)),
            ("disconnects", l(&self.disconnects)),
            ("dropped", l(&self.dropped)),
            ("reconnects", l(&self.reconnects)),
            ("reconnect_failed", l(&self.reconnect_failed)),
            ("visitors", l(&self.visitors_ready)),
            ("visitors_unassigned", l(&self.visitors_unassigned)),
            ("visitors_failed", l(&self.visitors_failed)),
            ("agents", l(&self.agents_ready)),
            ("agents_failed", l(&self.agents_failed)),
            ("alive", l(&self.alive)),
            ("held.sent", l(&self.held_sent)),
            ("held.acked", l(&self.held_acked)),
            ("held.failed", l(&self.held_failed)),
            ("held.delivered", l(&self.held_delivered)),
            ("held.unmasked", l(&self.held_unmasked)),
            ("held.redacted_notices", l(&self.redacted_notices)),
        ] {
            t.add(name, v);
        }
        // Max, not a sum, when merged: carried as its own counter and read per worker by the coordinator.
        t.add("last_delivery_us", l(&self.last_delivery_us));
        if let Ok(e) = self.errors.lock() {
            for (code, n) in e.iter() {
                t.add(&format!("err.{code}"), *n);
            }
        }
        let names = HISTS.iter().flat_map(|(a, d)| [*a, *d]);
        let names = names.chain([CROSS]);
        let hists = self.hists().into_iter().chain([&self.delivery_cross]);
        for (name, h) in names.zip(hists) {
            if let Ok(h) = h.lock() {
                t.set_hist(name, &h);
            }
        }
        t
    }

    /// The histograms, in the order of [`HISTS`] (ack, delivery for each class).
    fn hists(&self) -> [&Mutex<Hist>; 6] {
        [
            &self.ack,
            &self.delivery,
            &self.ack_held,
            &self.delivery_held,
            &self.ack_after_card,
            &self.delivery_after_card,
        ]
    }

    fn record(&self, class: Class, ack: bool, us: u64) {
        let rec = |h: &Mutex<Hist>| {
            if let Ok(mut h) = h.lock() {
                h.record_us(us);
            }
        };
        match (class, ack) {
            (Class::Piece { .. }, true) => rec(&self.ack_held),
            (Class::Piece { .. }, false) => rec(&self.delivery_held),
            (c, true) => {
                rec(&self.ack);
                if c == Class::AfterCard {
                    rec(&self.ack_after_card);
                }
            }
            (c, false) => {
                rec(&self.delivery);
                if c == Class::AfterCard {
                    rec(&self.delivery_after_card);
                }
            }
        }
    }
}

/// Per-conversation view of one receiver, for the loss/duplicate check.
#[derive(Debug, Default, Clone)]
struct Seen {
    last: i64,
    /// client_msg_id → seq (reconnect check only).
    ids: HashMap<String, i64>,
}

/// Observe `seq` in a conversation: returns false for a duplicate delivery.
fn observe(shared: &Shared, seen: &mut Seen, seq: i64) -> bool {
    if seq <= seen.last {
        shared.dup_deliveries.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    if seq > seen.last + 1 {
        shared
            .gaps
            .fetch_add((seq - seen.last - 1) as u64, Ordering::Relaxed);
    }
    seen.last = seq;
    true
}

#[derive(Debug, Default)]
struct VisitorReport {
    conversation: Option<String>,
    last_seq: i64,
    max_ack_seq: i64,
    acked: HashSet<String>,
    unacked: u64,
}

#[derive(Debug, Default)]
struct AgentReport {
    convs: HashMap<String, Seen>,
    /// conversation → the delivered texts of the split card under way (leak check).
    pieces: HashMap<String, Vec<String>>,
}

struct Ctx {
    shared: Arc<Shared>,
    clock: Clock,
    /// The nodes of the target (one unless a cluster is under test). Visitor i is on node i mod n, agent j on
    /// node (j + 1) mod n.
    nodes: Vec<Target>,
    kind: ServerKind,
    check: bool,
    text: Arc<str>,
    /// Share of visitor turns that type a card in pieces.
    card_share: f64,
    /// Check delivered pieces for card numbers (Cordon only: the relay does not redact).
    leak_check: bool,
    /// Seeds each visitor's generator (worker index in the high bits), so runs repeat.
    seed: u64,
}

pub(crate) async fn run(
    spec: &WorkerSpec,
    job: ChatJob,
    mut commands: mpsc::Receiver<Command>,
    reports: mpsc::Sender<Report>,
) -> anyhow::Result<()> {
    let mut nodes = spec
        .nodes
        .iter()
        .map(|n| Target::parse(n))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if nodes.is_empty() {
        nodes.push(Target::parse(&spec.target)?);
    }
    let clock = Clock::new(spec.epoch_unix_us);
    let shared = Arc::new(Shared::default());
    let ctx = Arc::new(Ctx {
        shared: shared.clone(),
        clock,
        nodes,
        kind: spec.kind,
        check: job.drops.is_some(),
        text: Arc::from(frames::filler(job.message_size)),
        card_share: job.card_fragment_share.clamp(0.0, 1.0),
        leak_check: spec.kind == ServerKind::Cordon,
        seed: u64::from(spec.index) << 32,
    });
    let (plan_tx, plan_rx) = watch::channel(Plan::Idle);
    let source = |i: usize| -> Option<IpAddr> {
        if spec.sources.is_empty() {
            None
        } else {
            Some(spec.sources[i % spec.sources.len()])
        }
    };

    // Agents first, online, so that conversations are assigned as they open.
    let mut agents = Vec::new();
    let mut agent_drops = Vec::new();
    let mut n = 0;
    for t in &job.tenants {
        for a in &t.agents {
            let (dtx, drx) = mpsc::channel(1);
            agent_drops.push(dtx);
            agents.push(tokio::spawn(agent_task(
                ctx.clone(),
                (n + 1) % ctx.nodes.len(),
                a.clone(),
                t.widget_key.clone(),
                source(n),
                plan_rx.clone(),
                drx,
            )));
            n += 1;
        }
    }
    let n_agents = n as u64;
    wait_until(SETUP_TIMEOUT, || {
        shared.agents_ready.load(Ordering::SeqCst) + shared.agents_failed.load(Ordering::SeqCst)
            >= n_agents
    })
    .await;

    let mut visitors = Vec::new();
    let mut visitor_drops = Vec::new();
    let setup_gate = Arc::new(Semaphore::new(64));
    let mut idx = 0u32;
    for (t, count) in job.tenants.iter().zip(&job.conversations) {
        for _ in 0..*count {
            let (dtx, drx) = mpsc::channel(1);
            visitor_drops.push(dtx);
            visitors.push(tokio::spawn(visitor_task(
                ctx.clone(),
                idx,
                t.widget_key.clone(),
                source(idx as usize),
                plan_rx.clone(),
                drx,
                setup_gate.clone(),
            )));
            idx += 1;
        }
    }
    let n_visitors = idx as u64;
    wait_until(SETUP_TIMEOUT, || {
        shared.visitors_ready.load(Ordering::SeqCst) + shared.visitors_failed.load(Ordering::SeqCst)
            >= n_visitors
    })
    .await;
    let _ = reports
        .send(Report::Ready {
            tally: shared.tally(),
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
                        tally: counters_only(shared.tally()),
                    })
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };

    let ready_visitors = shared.visitors_ready.load(Ordering::SeqCst).max(1);
    while let Some(cmd) = commands.recv().await {
        match cmd {
            Command::Stop => break,
            Command::Step {
                index,
                rate,
                start_us,
                duration_ms,
                drain_ms,
            } => {
                shared.reset_step(index);
                let end_us = start_us + duration_ms * 1000;
                let period_us = if rate > 0.0 {
                    ready_visitors as f64 * 1e6 / rate
                } else {
                    f64::INFINITY
                };
                let _ = plan_tx.send(Plan::Run {
                    step: index,
                    start_us,
                    end_us,
                    period_us,
                });
                let chaos = job.drops.map(|d| {
                    let vd = visitor_drops.clone();
                    let ad = agent_drops.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep_until(clock.instant(start_us)).await;
                        let mut tick =
                            tokio::time::interval(Duration::from_millis(d.every_ms.max(50)));
                        tick.tick().await;
                        loop {
                            tick.tick().await;
                            if clock.now_us() + d.every_ms * 1000 / 2 >= end_us {
                                break;
                            }
                            drop_some(&vd, d.share);
                            if d.agents {
                                drop_some(&ad, d.share);
                            }
                        }
                    })
                });
                tokio::time::sleep_until(clock.instant(end_us)).await;
                let _ = plan_tx.send(Plan::Idle);
                if let Some(c) = chaos {
                    c.abort();
                }
                // Drain: wait until every message of the step is acked, delivered and echoed, or time is up.
                let drain_end = end_us + drain_ms * 1000;
                let check = ctx.check;
                wait_until(Duration::from_millis(drain_ms), || {
                    let sent = shared.sent.load(Ordering::SeqCst);
                    let done =
                        shared.acked.load(Ordering::SeqCst) + shared.failed.load(Ordering::SeqCst);
                    done >= sent
                        && shared.delivered.load(Ordering::SeqCst)
                            >= shared.acked.load(Ordering::SeqCst)
                        && (!check
                            || shared.echoed.load(Ordering::SeqCst)
                                >= shared.acked.load(Ordering::SeqCst))
                })
                .await;
                let mut tally = shared.tally();
                let sent = tally.get("sent");
                let unacked = sent.saturating_sub(tally.get("acked") + tally.get("failed"));
                let undelivered = tally.get("acked").saturating_sub(tally.get("delivered"));
                let held_unacked = tally
                    .get("held.sent")
                    .saturating_sub(tally.get("held.acked") + tally.get("held.failed"));
                let held_undelivered = tally
                    .get("held.acked")
                    .saturating_sub(tally.get("held.delivered"));
                tally.add("unacked", unacked);
                tally.add("undelivered", undelivered);
                tally.add("held.unacked", held_unacked);
                tally.add("held.undelivered", held_undelivered);
                // Messages still outstanding count in the histograms at the drain's end (a lower bound), each in
                // its class's histogram.
                let floor_us = clock.now_us().min(drain_end).saturating_sub(end_us);
                for (name, n) in [
                    ("ack", unacked.saturating_sub(held_unacked)),
                    ("delivery", undelivered.saturating_sub(held_undelivered)),
                    ("ack_held", held_unacked),
                    ("delivery_held", held_undelivered),
                ] {
                    let mut h = tally.hist(name);
                    for _ in 0..n.min(1_000_000) {
                        h.record_us(floor_us);
                    }
                    tally.set_hist(name, &h);
                }
                let _ = reports.send(Report::Step { index, tally }).await;
            }
        }
    }
    progress.abort();
    let _ = plan_tx.send(Plan::Stop);

    let mut vreports = Vec::new();
    for v in visitors {
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(15), v).await {
            vreports.push(r);
        }
    }
    let mut areports = Vec::new();
    for a in agents {
        if let Ok(Ok(r)) = tokio::time::timeout(Duration::from_secs(15), a).await {
            areports.push(r);
        }
    }
    let mut done = Tally::default();
    if ctx.check {
        final_check(&mut done, &vreports, &areports);
    }
    let _ = reports.send(Report::Done { tally: done }).await;
    Ok(())
}

fn counters_only(mut t: Tally) -> Tally {
    t.hists.clear();
    t
}

fn drop_some(targets: &[mpsc::Sender<()>], share: f64) {
    let k = ((targets.len() as f64) * share).ceil() as usize;
    let mut rng = rand::thread_rng();
    for t in targets.choose_multiple(&mut rng, k.min(targets.len())) {
        let _ = t.try_send(());
    }
}

/// After the last step: every acknowledged message must have reached its agent and its visitor exactly once.
fn final_check(out: &mut Tally, visitors: &[VisitorReport], agents: &[AgentReport]) {
    let mut agent_view: HashMap<&str, &Seen> = HashMap::new();
    for a in agents {
        for (c, s) in &a.convs {
            agent_view.insert(c.as_str(), s);
        }
    }
    let (mut tail, mut missing, mut checked_msgs, mut convs) = (0u64, 0u64, 0u64, 0u64);
    for v in visitors {
        let Some(conv) = &v.conversation else {
            continue;
        };
        convs += 1;
        let empty = Seen::default();
        let a = agent_view.get(conv.as_str()).copied().unwrap_or(&empty);
        let expected = v.last_seq.max(v.max_ack_seq).max(a.last);
        // Tail losses: a receiver that stopped short of the conversation's last seq.
        tail += (expected - v.last_seq).max(0) as u64;
        tail += (expected - a.last).max(0) as u64;
        // Acknowledged messages the agent never received.
        for id in &v.acked {
            checked_msgs += 1;
            if !a.ids.contains_key(id) {
                missing += 1;
            }
        }
        out.add("check.unacked_at_end", v.unacked);
    }
    out.add("check.conversations", convs);
    out.add("check.acked_messages", checked_msgs);
    out.add("check.tail_lost", tail);
    out.add("check.acked_missing", missing);
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- visitors ------------------------------------------------------------------------------------------------

struct VisitorConn {
    /// The node it connects to (and reconnects to: a test of a lost node kills the process instead).
    node: usize,
    widget_key: String,
    source: Option<IpAddr>,
    conversation: String,
    token: Option<String>,
    seen: Seen,
    /// n → the message, in send order.
    pending: BTreeMap<u64, Pending>,
    by_id: HashMap<String, u64>,
    report: VisitorReport,
}

/// A sent message not acknowledged yet.
#[derive(Debug, Clone)]
struct Pending {
    id: String,
    step: u32,
    /// Intended send time (run µs).
    due: u64,
    class: Class,
    /// The text when it is not the filler (a card piece), for resends.
    text: Option<Arc<str>>,
}

/// The rest of a visitor's turn: (class, text unless filler), one per schedule slot.
type Script = VecDeque<(Class, Option<Arc<str>>)>;

/// Start a visitor's next turn: with probability `card_share` a test card typed in pieces, one per slot, then an
/// ordinary message; otherwise one ordinary message. `fits(k)` says whether the slot k after this one is still in
/// the step: a card starts only if its pieces and the message after them all fit, so no piece waits for the
/// window at a step's end. Returns this slot's message and queues the rest in `script`.
fn next_turn(
    card_share: f64,
    rng: &mut rand::rngs::StdRng,
    script: &mut Script,
    fits: impl Fn(usize) -> bool,
) -> (Class, Option<Arc<str>>) {
    if card_share > 0.0 && rng.gen_bool(card_share.min(1.0)) {
        let pieces = crate::cards::card_in_pieces(rng);
        if fits(pieces.len()) {
            // At most MAX_PIECES (4) pieces, so the casts cannot truncate.
            let of = pieces.len() as u8;
            for (i, p) in pieces.into_iter().enumerate() {
                script.push_back((
                    Class::Piece {
                        index: i as u8 + 1,
                        of,
                    },
                    Some(Arc::from(p)),
                ));
            }
            // The visitor writes on after the card: that message releases any piece still held (a 16-digit Visa
            // waits for it), and keeps the next card from being read as a continuation of this one.
            script.push_back((Class::AfterCard, None));
            if let Some(first) = script.pop_front() {
                return first;
            }
        }
    }
    (Class::Ordinary, None)
}

async fn visitor_setup(ctx: &Ctx, v: &mut VisitorConn) -> anyhow::Result<(Ws, bool)> {
    let mut ws = client::connect(&ctx.nodes[v.node], "/ws/visitor", &[], v.source).await?;
    client::send_text(&mut ws, frames::hello(Some(&v.widget_key), None)).await?;
    let token = client::wait_for(&mut ws, FRAME_TIMEOUT, |f| {
        (f.kind == "welcome").then(|| f.visitor_token.as_deref().map(str::to_string))
    })
    .await
    .context("hello")?;
    v.token = token;
    client::send_text(&mut ws, frames::open()).await?;
    let (id, assigned) = client::wait_for(&mut ws, FRAME_TIMEOUT, |f| {
        if f.kind != "conversation" {
            return None;
        }
        let c = f.conversation.as_ref()?;
        Some((c.id.to_string(), c.state.as_deref() == Some("assigned")))
    })
    .await
    .context("conversation.open")?;
    v.conversation = id;
    v.report.conversation = Some(v.conversation.clone());
    Ok((ws, assigned))
}

/// Wait (bounded) for the conversation to be assigned to an agent, consuming frames meanwhile.
async fn wait_assigned(ctx: &Ctx, ws: &mut Ws, v: &mut VisitorConn) -> bool {
    let conv = v.conversation.clone();
    let r = client::wait_for(ws, SETUP_TIMEOUT, |f| {
        if f.kind == "message" && f.conversation_id.as_deref() == Some(conv.as_str()) {
            if let Some(seq) = f.seq {
                observe(&ctx.shared, &mut v.seen, seq);
            }
        }
        let assigned = (f.kind == "conversation.updated" || f.kind == "conversation")
            && f.conversation
                .as_ref()
                .is_some_and(|c| c.id == conv && c.agent.is_some());
        assigned.then_some(())
    })
    .await;
    r.is_ok()
}

async fn visitor_task(
    ctx: Arc<Ctx>,
    idx: u32,
    widget_key: String,
    source: Option<IpAddr>,
    mut plan_rx: watch::Receiver<Plan>,
    mut drop_rx: mpsc::Receiver<()>,
    gate: Arc<Semaphore>,
) -> VisitorReport {
    let shared = ctx.shared.clone();
    let mut v = VisitorConn {
        node: idx as usize % ctx.nodes.len(),
        widget_key,
        source,
        conversation: String::new(),
        token: None,
        seen: Seen::default(),
        pending: BTreeMap::new(),
        by_id: HashMap::new(),
        report: VisitorReport::default(),
    };
    let permit = gate.acquire().await;
    let mut ws = match visitor_setup(&ctx, &mut v).await {
        Ok((mut ws, assigned)) => {
            if !assigned && !wait_assigned(&ctx, &mut ws, &mut v).await {
                shared.visitors_unassigned.fetch_add(1, Ordering::SeqCst);
            }
            ws
        }
        Err(e) => {
            eprintln!("visitor {idx}: setup failed: {e:#}");
            shared.visitors_failed.fetch_add(1, Ordering::SeqCst);
            return v.report;
        }
    };
    drop(permit);
    shared.visitors_ready.fetch_add(1, Ordering::SeqCst);
    shared.alive.fetch_add(1, Ordering::SeqCst);

    // Spread visitors' send times over the period (golden-ratio offsets).
    let phase = (idx as f64 * 0.618_033_988_75).fract();
    let mut rng = rand::rngs::StdRng::seed_from_u64(ctx.seed | u64::from(idx));
    let mut script = Script::new();
    let mut plan = *plan_rx.borrow();
    let mut n_in_step: u64 = 0;
    let mut next_due: Option<u64> = None;
    let mut counter: u64 = 0;
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    loop {
        let wake = next_due.map(|d| ctx.clock.instant(d)).unwrap_or(far);
        let mut lost_connection = false;
        tokio::select! {
            changed = plan_rx.changed() => {
                if changed.is_err() { break; }
                plan = *plan_rx.borrow();
                match plan {
                    Plan::Run { start_us, period_us, end_us, .. } => {
                        n_in_step = 0;
                        script.clear();
                        let first = start_us + (phase * period_us) as u64;
                        next_due = (period_us.is_finite() && first < end_us).then_some(first);
                    }
                    Plan::Idle => next_due = None,
                    Plan::Stop => break,
                }
            }
            _ = tokio::time::sleep_until(wake), if next_due.is_some() => {
                if let Plan::Run { step, start_us, end_us, period_us } = plan {
                    // Send everything that is due (a late wake-up sends the backlog at once: open loop).
                    let slot_due = |k: u64| start_us + (phase * period_us) as u64 + (k as f64 * period_us) as u64;
                    while let Some(due) = next_due {
                        if due > ctx.clock.now_us() { break; }
                        let (class, text) = match script.pop_front() {
                            Some(next) => next,
                            None => next_turn(ctx.card_share, &mut rng, &mut script, |k| {
                                slot_due(n_in_step + k as u64) < end_us
                            }),
                        };
                        counter += 1;
                        let id = frames::msg_id(step, idx, counter, due, class);
                        let frame = frames::send(&v.conversation, &id, text.as_deref().unwrap_or(&ctx.text));
                        v.pending.insert(counter, Pending { id: id.clone(), step, due, class, text });
                        v.by_id.insert(id, counter);
                        shared.sent.fetch_add(1, Ordering::Relaxed);
                        if class.is_piece() {
                            shared.held_sent.fetch_add(1, Ordering::Relaxed);
                        }
                        n_in_step += 1;
                        let next = slot_due(n_in_step);
                        next_due = (next < end_us).then_some(next);
                        if client::send_text(&mut ws, frame).await.is_err() {
                            lost_connection = true;
                            break;
                        }
                    }
                }
            }
            msg = ws.next() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(f) = frames::parse(t.as_str()) {
                            on_visitor_frame(&ctx, &mut v, &f);
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        shared.disconnects.fetch_add(1, Ordering::Relaxed);
                        lost_connection = true;
                    }
                    Some(Ok(_)) => {}
                }
            }
            Some(()) = drop_rx.recv() => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                lost_connection = true;
            }
        }
        if lost_connection {
            shared.alive.fetch_sub(1, Ordering::SeqCst);
            match visitor_reconnect(&ctx, &mut v).await {
                Ok(new_ws) => {
                    ws = new_ws;
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    shared.alive.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => {
                    eprintln!("visitor {idx}: reconnect failed: {e:#}");
                    shared.reconnect_failed.fetch_add(1, Ordering::Relaxed);
                    v.report.unacked = v.pending.len() as u64;
                    v.report.last_seq = v.seen.last;
                    return v.report;
                }
            }
        }
    }
    let _ = ws.close(None).await;
    shared.alive.fetch_sub(1, Ordering::SeqCst);
    v.report.unacked = v.pending.len() as u64;
    v.report.last_seq = v.seen.last;
    v.report
}

fn on_visitor_frame(ctx: &Ctx, v: &mut VisitorConn, f: &In<'_>) {
    let shared = &ctx.shared;
    match f.kind.as_ref() {
        "message.ack" => {
            let Some(id) = f.client_msg_id.as_deref() else {
                return;
            };
            let Some(n) = v.by_id.remove(id) else {
                // An ack for a resend whose first ack already arrived.
                return;
            };
            let Some(p) = v.pending.remove(&n) else {
                return;
            };
            if f.duplicate == Some(true) {
                shared.dup_acks.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(seq) = f.seq {
                v.report.max_ack_seq = v.report.max_ack_seq.max(seq);
            }
            if ctx.check {
                v.report.acked.insert(p.id);
            }
            if p.step == shared.step.load(Ordering::Relaxed) {
                shared.acked.fetch_add(1, Ordering::Relaxed);
                if p.class.is_piece() {
                    shared.held_acked.fetch_add(1, Ordering::Relaxed);
                }
                let lat = ctx.clock.now_us().saturating_sub(p.due);
                shared.record(p.class, true, lat);
            } else {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
        }
        "message" => {
            if f.conversation_id.as_deref() != Some(v.conversation.as_str()) {
                return;
            }
            let Some(seq) = f.seq else { return };
            let fresh = observe(shared, &mut v.seen, seq);
            if fresh && f.sender.as_ref().is_some_and(|s| s.kind == "visitor") {
                if let Some(m) = f.client_msg_id.as_deref().and_then(frames::parse_msg_id) {
                    if m.step == shared.step.load(Ordering::Relaxed) {
                        shared.echoed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        "notice" if f.code.as_deref() == Some("card_redacted") => {
            shared.redacted_notices.fetch_add(1, Ordering::Relaxed);
        }
        "error" => {
            let code = f.code.as_deref().unwrap_or("unknown");
            shared.error(code);
            if let Some(id) = f.reference.as_deref() {
                if let Some(n) = v.by_id.remove(id) {
                    if let Some(p) = v.pending.remove(&n) {
                        if p.step == shared.step.load(Ordering::Relaxed) {
                            shared.failed.fetch_add(1, Ordering::Relaxed);
                            if p.class.is_piece() {
                                shared.held_failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

/// Resume after a drop: new socket, `hello` with the visitor token, `sync` from the last seq seen, then resend
/// every unacknowledged message under its original id.
async fn visitor_reconnect(ctx: &Ctx, v: &mut VisitorConn) -> anyhow::Result<Ws> {
    let mut last_err = anyhow!("no attempt");
    for attempt in 0..20u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt.min(10)))).await;
        }
        let r = async {
            let mut ws = client::connect(&ctx.nodes[v.node], "/ws/visitor", &[], v.source).await?;
            client::send_text(
                &mut ws,
                frames::hello(Some(&v.widget_key), v.token.as_deref()),
            )
            .await?;
            client::wait_for(&mut ws, FRAME_TIMEOUT, |f| {
                (f.kind == "welcome").then_some(())
            })
            .await
            .context("hello")?;
            client::send_text(&mut ws, frames::sync(&v.conversation, v.seen.last)).await?;
            for p in v.pending.values() {
                let text = p.text.as_deref().unwrap_or(&ctx.text);
                client::send_text(&mut ws, frames::send(&v.conversation, &p.id, text)).await?;
            }
            Ok::<Ws, anyhow::Error>(ws)
        }
        .await;
        match r {
            Ok(ws) => return Ok(ws),
            Err(e) => last_err = e,
        }
    }
    Err(last_err)
}

// ---- agents --------------------------------------------------------------------------------------------------

async fn agent_connect(
    ctx: &Ctx,
    node: usize,
    fixture: &AgentFixture,
    widget_key: &str,
    source: Option<IpAddr>,
) -> anyhow::Result<(Ws, Vec<(String, bool)>)> {
    let target = &ctx.nodes[node];
    let mut headers = vec![("Origin", target.base.clone())];
    if !fixture.cookie.is_empty() {
        headers.push(("Cookie", fixture.cookie.clone()));
    }
    let mut ws = client::connect(target, "/ws/agent", &headers, source).await?;
    // On Cordon the cookie names the agent; the relay reads the tenant from the widget key.
    let key = (ctx.kind == ServerKind::Relay).then_some(widget_key);
    client::send_text(&mut ws, frames::hello(key, None)).await?;
    let convs = client::wait_for(&mut ws, FRAME_TIMEOUT, |f| {
        if f.kind != "welcome" {
            return None;
        }
        let me = f.agent.as_ref().map(|a| a.id.to_string());
        Some(
            f.conversations
                .as_ref()
                .map(|cs| {
                    cs.iter()
                        .map(|c| {
                            let mine = c.agent.as_ref().map(|a| a.id.to_string()) == me;
                            (c.id.to_string(), mine)
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default(),
        )
    })
    .await
    .context("agent hello")?;
    client::send_text(&mut ws, frames::status_online()).await?;
    Ok((ws, convs))
}

async fn agent_task(
    ctx: Arc<Ctx>,
    node: usize,
    fixture: AgentFixture,
    widget_key: String,
    source: Option<IpAddr>,
    mut plan_rx: watch::Receiver<Plan>,
    mut drop_rx: mpsc::Receiver<()>,
) -> AgentReport {
    let shared = ctx.shared.clone();
    let mut report = AgentReport::default();
    let mut ws = match agent_connect(&ctx, node, &fixture, &widget_key, source).await {
        Ok((ws, _)) => ws,
        Err(e) => {
            eprintln!("agent {}: {e:#}", fixture.username);
            shared.agents_failed.fetch_add(1, Ordering::SeqCst);
            return report;
        }
    };
    shared.agents_ready.fetch_add(1, Ordering::SeqCst);
    loop {
        let mut lost_connection = false;
        tokio::select! {
            changed = plan_rx.changed() => {
                if changed.is_err() || *plan_rx.borrow() == Plan::Stop { break; }
            }
            msg = ws.next() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        if let Some(f) = frames::parse(t.as_str()) {
                            on_agent_frame(&ctx, node, &mut report, &f);
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        shared.disconnects.fetch_add(1, Ordering::Relaxed);
                        lost_connection = true;
                    }
                    Some(Ok(_)) => {}
                }
            }
            Some(()) = drop_rx.recv() => {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                lost_connection = true;
            }
        }
        if lost_connection {
            let mut ok = false;
            for attempt in 0..20u64 {
                tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
                if let Ok((mut new_ws, convs)) =
                    agent_connect(&ctx, node, &fixture, &widget_key, source).await
                {
                    let mut sent = true;
                    for (c, mine) in convs {
                        if !mine {
                            continue;
                        }
                        let last = report.convs.get(&c).map(|s| s.last).unwrap_or(0);
                        if client::send_text(&mut new_ws, frames::sync(&c, last))
                            .await
                            .is_err()
                        {
                            sent = false;
                            break;
                        }
                    }
                    if sent {
                        ws = new_ws;
                        ok = true;
                        break;
                    }
                }
            }
            if ok {
                shared.reconnects.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.reconnect_failed.fetch_add(1, Ordering::Relaxed);
                return report;
            }
        }
    }
    let _ = ws.close(None).await;
    report
}

fn on_agent_frame(ctx: &Ctx, node: usize, report: &mut AgentReport, f: &In<'_>) {
    let shared = &ctx.shared;
    match f.kind.as_ref() {
        "message" => {
            let (Some(conv), Some(seq)) = (f.conversation_id.as_deref(), f.seq) else {
                return;
            };
            let seen = report.convs.entry(conv.to_string()).or_default();
            let fresh = observe(shared, seen, seq);
            let Some(id) = f.client_msg_id.as_deref() else {
                return;
            };
            if ctx.check {
                if let Some(prev) = seen.ids.insert(id.to_string(), seq) {
                    if prev != seq {
                        shared.stored_dups.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if !fresh || f.sender.as_ref().is_none_or(|s| s.kind != "visitor") {
                return;
            }
            if let Some(m) = frames::parse_msg_id(id) {
                if m.step == shared.step.load(Ordering::Relaxed) {
                    let now = ctx.clock.now_us();
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
                    if m.class.is_piece() {
                        shared.held_delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    let latency = now.saturating_sub(m.intended_us);
                    shared.record(m.class, false, latency);
                    let visitor_node = m.conn as usize % ctx.nodes.len();
                    if visitor_node != node && !m.class.is_piece() {
                        if let Ok(mut h) = shared.delivery_cross.lock() {
                            h.record_us(latency);
                        }
                    }
                }
                if let Class::Piece { index, of } = m.class {
                    check_piece(
                        ctx,
                        report,
                        conv,
                        index,
                        of,
                        f.text.as_deref().unwrap_or(""),
                    );
                }
            }
        }
        "error" => shared.error(f.code.as_deref().unwrap_or("unknown")),
        _ => {}
    }
}

/// The agent's check on a delivered card piece: the server must have masked it (`••••`, or the mask with the last
/// four digits on the last piece), and once the card's last piece is in, nothing the agent received for it may
/// read as a card: not one piece, not the pieces together as the server would join them, not the pieces run into
/// one line. A card read from them counts as error `card_leak`.
fn check_piece(ctx: &Ctx, report: &mut AgentReport, conv: &str, index: u8, of: u8, text: &str) {
    if !ctx.leak_check {
        // The relay redacts nothing: there the pieces are ordinary messages.
        return;
    }
    let shared = &ctx.shared;
    if !text.contains(cordon_card::MASK_DOTS) {
        shared.held_unmasked.fetch_add(1, Ordering::Relaxed);
    }
    let texts = report.pieces.entry(conv.to_string()).or_default();
    if index == 1 {
        texts.clear();
    }
    texts.push(text.to_string());
    if index < of {
        return;
    }
    let parts: Vec<&str> = texts.iter().map(String::as_str).collect();
    if card_readable(&parts) {
        shared.error("card_leak");
    }
    report.pieces.remove(conv);
}

/// Whether a card number can be read from these delivered pieces: in one of them, across them as the server's
/// own joining rules would read them, or with them run together into one line.
fn card_readable(parts: &[&str]) -> bool {
    parts.iter().any(|p| !cordon_card::find(p).is_empty())
        || cordon_card::redact_fragments(parts)
            .iter()
            .any(|r| !r.findings.is_empty())
        || !cordon_card::find(&parts.join(" ")).is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_pieces_leak_nothing_and_typed_ones_do() {
        assert!(!card_readable(&["••••", "[Visa •••• 1111]"]));
        assert!(!card_readable(&["••••", "••••", "[Amex •••• 0005]"]));
        assert!(card_readable(&["4111 1111", "1111 1111"]));
        assert!(card_readable(&["••••", "4111 1111 1111 1111"]));
        // Released as typed because the window passed: still readable across the pieces.
        assert!(card_readable(&["3782", "822463 10005"]));
        assert!(!card_readable(&["hello", "thanks"]));
    }

    #[test]
    fn a_card_turn_is_its_pieces_then_an_ordinary_message() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut script = Script::new();
        // Share 1: every turn is a card when it fits.
        let (class, text) = next_turn(1.0, &mut rng, &mut script, |_| true);
        let Class::Piece { index: 1, of } = class else {
            panic!("{class:?}");
        };
        assert!((2..=4).contains(&of));
        let mut pieces = vec![text.unwrap().to_string()];
        assert_eq!(script.len(), usize::from(of));
        for i in 2..=of {
            let (c, t) = script.pop_front().unwrap();
            assert_eq!(c, Class::Piece { index: i, of });
            pieces.push(t.unwrap().to_string());
        }
        assert_eq!(script.pop_front(), Some((Class::AfterCard, None)));
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        assert!(card_readable(&refs), "typed pieces are a card: {refs:?}");

        // A card that would not finish (with the message after it) inside the step is not started.
        let (class, text) = next_turn(1.0, &mut rng, &mut script, |_| false);
        assert_eq!((class, text), (Class::Ordinary, None));
        assert!(script.is_empty());
        // Share 0: never a card.
        for _ in 0..100 {
            assert_eq!(
                next_turn(0.0, &mut rng, &mut script, |_| true).0,
                Class::Ordinary
            );
        }
    }

    #[test]
    fn the_share_is_per_turn() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut script = Script::new();
        let (mut turns, mut cards) = (0u32, 0u32);
        while turns < 20_000 {
            let (class, _) = next_turn(0.05, &mut rng, &mut script, |_| true);
            turns += 1;
            if class.is_piece() {
                cards += 1;
                script.clear();
            }
        }
        let share = f64::from(cards) / f64::from(turns);
        assert!((0.04..0.06).contains(&share), "{share}");
    }
}
