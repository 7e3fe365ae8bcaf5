//! Live fan-out inside one process.
//!
//! Topics are conversations, a tenant's agent room, and single agents. Publishing never blocks: each subscriber
//! has a bounded queue, and when it is full the event is not queued but the subscriber is marked *lagged* and
//! woken. A lagged connection catches up from storage, which already holds every message it missed (messages
//! are published only after commit). So delivery is lossless without unbounded buffers.
//!
//! This is the seam for multi-node fan-out: a broker bridge (NATS) publishes here what other nodes committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Topic {
    Conversation(String),
    TenantAgents(String),
    Agent(String),
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
}

impl Hub {
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

    /// Deliver to every subscriber of `topic` without blocking.
    pub fn publish(&self, topic: &Topic, event: Event) {
        let Ok(t) = self.topics.read() else { return };
        let Some(subs) = t.get(topic) else { return };
        for m in subs {
            if let Event::Ephemeral {
                from_connection, ..
            } = &event
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
        let topic = Topic::Conversation("c".into());
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
        let topic = Topic::Conversation("c".into());
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
