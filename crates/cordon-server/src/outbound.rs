//! A connection's outbound frame queue: one producer (the connection task), one consumer (its writer task).
//!
//! Bounded like a channel, but it allocates only while frames wait. tokio's mpsc channel allocates a block of 32
//! slots when it is made (about 2 KiB here), which every idle socket would carry for nothing; a `VecDeque` starts
//! empty and keeps only the few slots a burst needed.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the receiver: a frame was queued, or the sender is gone.
    readable: Notify,
    /// Wakes the sender: room was made, or the receiver is gone.
    writable: Notify,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// The sending half. Dropping it lets the receiver drain what is queued and then see the end.
#[derive(Debug)]
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half. Dropping it makes every later `send` fail.
#[derive(Debug)]
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver is gone; the value comes back.
#[derive(Debug)]
pub(crate) struct Closed<T>(pub(crate) T);

pub(crate) fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        readable: Notify::new(),
        writable: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the queue inconsistent (every critical section is a single
        // push, pop or flag store), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> Sender<T> {
    /// Queue `value`, waiting while the queue is full. Fails once the receiver is gone.
    pub(crate) async fn send(&self, value: T) -> Result<(), Closed<T>> {
        loop {
            {
                let mut state = self.shared.lock();
                if state.receiver_gone {
                    return Err(Closed(value));
                }
                if state.queue.len() < self.shared.capacity {
                    state.queue.push_back(value);
                    drop(state);
                    // One waiter at most (the writer); with none, the permit is kept for its next wait.
                    self.shared.readable.notify_one();
                    return Ok(());
                }
            }
            self.shared.writable.notified().await;
        }
    }
}

impl<T> Receiver<T> {
    /// The next frame; `None` once the sender is gone and the queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if self.shared.lock().sender_gone {
                // The sender may have queued a last frame just before leaving.
                return self.try_recv();
            }
            self.shared.readable.notified().await;
        }
    }

    /// A frame that is already queued, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let mut state = self.shared.lock();
        let v = state.queue.pop_front();
        if v.is_some() {
            // Give a burst's slots back once it has drained, so a quiet socket holds no queue memory.
            if state.queue.is_empty() && state.queue.capacity() > 8 {
                state.queue = VecDeque::new();
            }
            drop(state);
            self.shared.writable.notify_one();
        }
        v
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.readable.notify_one();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.queue.clear();
        drop(state);
        self.shared.writable.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn delivers_in_order_then_ends_when_the_sender_goes() {
        let (tx, mut rx) = queue::<u32>(4);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        drop(tx);
        assert_eq!(rx.recv().await, Some(0));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_makes_the_sender_wait_until_room_is_made() {
        let (tx, mut rx) = queue::<u32>(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(50), tx.send(3)).await;
        assert!(blocked.is_err(), "a third frame must wait");
        let sender = tokio::spawn(async move {
            tx.send(3).await.unwrap();
            tx.send(4).await.unwrap();
        });
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        sender.await.unwrap();
        assert_eq!(got, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn sending_fails_once_the_receiver_is_gone() {
        let (tx, rx) = queue::<u32>(1);
        tx.send(1).await.unwrap();
        let waiting = tokio::spawn(async move { tx.send(2).await.map_err(|Closed(v)| v) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(2));
    }

    #[tokio::test]
    async fn the_receiver_wakes_for_frames_sent_while_it_waits() {
        let (tx, mut rx) = queue::<u32>(8);
        let reader = tokio::spawn(async move {
            let mut n = 0;
            while rx.recv().await.is_some() {
                n += 1;
            }
            n
        });
        for i in 0..1000 {
            tx.send(i).await.unwrap();
            if i % 7 == 0 {
                tokio::task::yield_now().await;
            }
        }
        drop(tx);
        assert_eq!(reader.await.unwrap(), 1000);
    }

    #[test]
    fn a_drained_burst_gives_its_memory_back() {
        let (tx, mut rx) = queue::<u64>(256);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        });
        while rx.try_recv().is_some() {}
        assert_eq!(rx.shared.lock().queue.capacity(), 0);
    }
}
