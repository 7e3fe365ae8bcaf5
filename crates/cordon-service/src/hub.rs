//! Live fan-out inside one process.
//!
//! Topics are conversations, a tenant's agent room, and single agents. Publishing never blocks: each subscriber
//! has a bounded queue, and when it is full the event is not queued but the subscriber is marked *lagged* and
//! woken. A lagged connection catches up from storage, which already holds every message it missed (messages
//! are published only after commit). So delivery is lossless without unbounded buffers.
//!
//! This is the one fan-out interface for one node or many. Alone, a node delivers to its own subscribers. In a
//! cluster (`--broker nats://…`), [`crate::cluster`] attaches an [`Uplink`]: every event published here is also
//! forwarded to the other nodes, and what they publish is [`Hub::deliver`]ed here, to local subscribers only.
//! Topics carry the tenant, so an event from the broker reaches only subscriptions of the tenant its subject
//! names. The broker is at most once; what it loses is repaired like a full mailbox: by the lag flag
//! ([`Hub::lag_all`]) and the gap-free seq, from storage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use tokio::sync::{mpsc, Notify};

/// What subscribers receive. Frames are serialised once per event, not once per subscriber.
#[derive(Debug, Clone)]
pub enum Event {
    /// A committed message: its conversation, seq, and the ready `message` frame.
    Message {
        conversation_id: Arc<str>,
        seq: i64,
        frame: Arc<str>,
    },
    /// A conversation changed state or owner (the frame is `conversation.updated`).
    Conversation {
        conversation_id: Arc<str>,
        agent_id: Option<Arc<str>>,
        frame: Arc<str>,
    },
    /// Ephemeral frames (typing, read receipts, presence): delivered best-effort, never stored.
    Ephemeral {
        from_connection: u64,
        frame: Arc<str>,
    },
}

/// What a subscription follows. Every topic names its tenant first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    /// (tenant, conversation)
    Conversation(String, String),
    /// (tenant): every agent socket of the tenant.
    TenantAgents(String),
    /// (tenant, agent)
    Agent(String, String),
}

impl Topic {
    pub fn tenant(&self) -> &str {
        match self {
            Topic::Conversation(t, _) | Topic::TenantAgents(t) | Topic::Agent(t, _) => t,
        }
    }
}

/// Where a hub forwards what this node publishes, for the other nodes (the NATS bridge). Forwarding never
/// blocks: an uplink that cannot keep up drops, and makes the other nodes repair from storage.
pub trait Uplink: Send + Sync + std::fmt::Debug {
    /// Forward an event published locally on `topics` (all of one tenant).
    fn forward(&self, topics: &[Topic], event: &Event);
    /// Is the node connected to the rest of the cluster? (New sockets are refused while it is not.)
    fn ready(&self) -> bool;
    /// Does another node hold a socket of this agent? (Asked when its last one here closes.)
    fn agent_elsewhere<'a>(
        &'a self,
        tenant_id: &'a str,
        agent_id: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
    /// The uplink's own lines for `/metrics`.
    fn render_metrics(&self, out: &mut String);
}

/// A connection's mailbox, shared with the hub.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub id: u64,
    tx: mpsc::Sender<Event>,
    lagged: Arc<AtomicBool>,
    wake: Arc<Notify>,
}

/// The receiving end, owned by the connection task.
#[derive(Debug)]
pub struct Inbox {
    pub rx: mpsc::Receiver<Event>,
    pub lagged: Arc<AtomicBool>,
    pub wake: Arc<Notify>,
}

impl Inbox {
    /// Did the hub drop events for us since the last call? (Then catch up from storage.)
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::AcqRel)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn mailbox(capacity: usize) -> (Mailbox, Inbox) {
    mailbox_with_id(next_mailbox_id(), capacity)
}

/// A fresh mailbox id. A connection takes one when it opens and makes its mailbox (a bounded channel, whose
/// first block is allocated at once) only when it first subscribes, with [`mailbox_with_id`].
pub fn next_mailbox_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

pub fn mailbox_with_id(id: u64, capacity: usize) -> (Mailbox, Inbox) {
    let (tx, rx) = mpsc::channel(capacity);
    let lagged = Arc::new(AtomicBool::new(false));
    let wake = Arc::new(Notify::new());
    (
        Mailbox {
            id,
            tx,
            lagged: lagged.clone(),
            wake: wake.clone(),
        },
        Inbox { rx, lagged, wake },
    )
}

#[derive(Debug, Default)]
pub struct Hub {
    topics: RwLock<HashMap<Topic, Vec<Mailbox>>>,
    /// Open agent sockets per agent in this process.
    agent_sockets: std::sync::Mutex<HashMap<String, usize>>,
    /// The other nodes, when this one is part of a cluster.
    uplink: OnceLock<Arc<dyn Uplink>>,
}

impl Hub {
    /// Join a cluster: from now on every publish is forwarded too. Only the first uplink is kept.
    pub fn attach(&self, uplink: Arc<dyn Uplink>) -> bool {
        self.uplink.set(uplink).is_ok()
    }

    /// Is this node in a cluster?
    pub fn clustered(&self) -> bool {
        self.uplink.get().is_some()
    }

    /// Can this node serve live traffic? Always alone; in a cluster, while the broker is connected.
    pub fn ready(&self) -> bool {
        self.uplink.get().is_none_or(|u| u.ready())
    }

    /// Does another node of the cluster hold a socket of this agent? (Never, alone.)
    pub async fn agent_elsewhere(&self, tenant_id: &str, agent_id: &str) -> bool {
        match self.uplink.get() {
            Some(u) => u.agent_elsewhere(tenant_id, agent_id).await,
            None => false,
        }
    }

    /// The uplink's lines for `/metrics` (none alone).
    pub fn render_metrics(&self, out: &mut String) {
        if let Some(u) = self.uplink.get() {
            u.render_metrics(out);
        }
    }

    /// Open agent sockets of this agent in this process.
    pub fn agent_sockets(&self, agent_id: &str) -> usize {
        self.agent_sockets
            .lock()
            .map(|m| m.get(agent_id).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn agent_connected(&self, agent_id: &str) {
        if let Ok(mut m) = self.agent_sockets.lock() {
            *m.entry(agent_id.to_string()).or_default() += 1;
        }
    }

    /// Returns how many sockets of this agent remain open in this process.
    pub fn agent_disconnected(&self, agent_id: &str) -> usize {
        let Ok(mut m) = self.agent_sockets.lock() else {
            return 0;
        };
        let left = match m.get_mut(agent_id) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            m.remove(agent_id);
        }
        left
    }

    pub fn subscribe(&self, topic: Topic, mailbox: &Mailbox) {
        if let Ok(mut t) = self.topics.write() {
            let subs = t.entry(topic).or_default();
            if !subs.iter().any(|m| m.id == mailbox.id) {
                subs.push(mailbox.clone());
            }
        }
    }

    pub fn unsubscribe(&self, topic: &Topic, mailbox_id: u64) {
        if let Ok(mut t) = self.topics.write() {
            if let Some(subs) = t.get_mut(topic) {
                subs.retain(|m| m.id != mailbox_id);
                if subs.is_empty() {
                    t.remove(topic);
                }
            }
        }
    }

    /// Publish an event committed (or sent) on this node: to every local subscriber of `topic` without
    /// blocking, and to the other nodes.
    pub fn publish(&self, topic: &Topic, event: Event) {
        self.publish_all(std::slice::from_ref(topic), event);
    }

    /// Publish one event on several topics of one tenant: one copy per subscriber here (a socket on two of them
    /// sees the same `Arc` twice and forwards it once), one message to the other nodes.
    pub fn publish_all(&self, topics: &[Topic], event: Event) {
        if let Some(u) = self.uplink.get() {
            u.forward(topics, &event);
        }
        self.deliver(topics, event);
    }

    /// Deliver to local subscribers only (what the broker brought from another node).
    pub fn deliver(&self, topics: &[Topic], event: Event) {
        for topic in topics {
            self.deliver_one(topic, &event);
        }
    }

    fn deliver_one(&self, topic: &Topic, event: &Event) {
        let Ok(t) = self.topics.read() else { return };
        let Some(subs) = t.get(topic) else { return };
        for m in subs {
            if let Event::Ephemeral {
                from_connection, ..
            } = event
            {
                if *from_connection == m.id {
                    continue;
                }
            }
            match m.tx.try_send(event.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    m.lagged.store(true, Ordering::Release);
                    m.wake.notify_one();
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Events may have been lost on their way here (the broker was away, or dropped some): mark every
    /// subscriber lagged, so each catches up from storage and refreshes its conversations.
    pub fn lag_all(&self) {
        let Ok(t) = self.topics.read() else { return };
        for m in t.values().flatten() {
            m.lagged.store(true, Ordering::Release);
            m.wake.notify_one();
        }
    }

    /// Number of live subscriptions (for metrics).
    pub fn subscription_count(&self) -> usize {
        self.topics
            .read()
            .map(|t| t.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn full_mailbox_marks_lag_instead_of_blocking_or_growing() {
        let hub = Hub::default();
        let (mb, mut inbox) = mailbox(2);
        let topic = Topic::Conversation("t".into(), "c".into());
        hub.subscribe(topic.clone(), &mb);
        for seq in 1..=5 {
            hub.publish(
                &topic,
                Event::Message {
                    conversation_id: "c".into(),
                    seq,
                    frame: "{}".into(),
                },
            );
        }
        assert!(inbox.take_lagged());
        assert!(!inbox.take_lagged());
        let mut got = 0;
        while inbox.rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 2, "queue stays bounded");
        hub.unsubscribe(&topic, mb.id);
        assert_eq!(hub.subscription_count(), 0);
    }

    #[tokio::test]
    async fn ephemeral_events_skip_their_sender() {
        let hub = Hub::default();
        let (a, mut ia) = mailbox(4);
        let (b, mut ib) = mailbox(4);
        let topic = Topic::Conversation("t".into(), "c".into());
        hub.subscribe(topic.clone(), &a);
        hub.subscribe(topic.clone(), &b);
        hub.publish(
            &topic,
            Event::Ephemeral {
                from_connection: a.id,
                frame: "t".into(),
            },
        );
        assert!(ia.rx.try_recv().is_err());
        assert!(ib.rx.try_recv().is_ok());
    }
}
