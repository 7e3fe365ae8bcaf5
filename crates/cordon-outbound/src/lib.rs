//! A connection's outbound frame queue: its producers (the connection task, and in the benchmark relay the other
//! connections that route to it) and one consumer (its writer task).
//!
//! Bounded like a channel, but it allocates only while frames wait. tokio's mpsc channel allocates a block of 32
//! slots when it is made (about 2 KiB for WebSocket messages), which every idle socket would carry for nothing; a
//! `VecDeque` starts empty and keeps only the few slots a burst needed. Cordon's server and the relay it is
//! benchmarked against (cordon-loadgen) both use it, so their memory per idle socket compares like with like.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the receiver: a frame was queued, or the last sender is gone.
    readable: Notify,
    /// Wakes a sender: room was made, or the receiver is gone.
    writable: Notify,
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    queue: VecDeque<T>,
    senders: usize,
    receiver_gone: bool,
}

/// A sending half; clones share the queue. Once every sender is dropped, the receiver drains what is queued and
/// then sees the end.
#[derive(Debug)]
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving half. Dropping it makes every later send fail.
#[derive(Debug)]
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// The receiver is gone; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct Closed<T>(pub T);

/// Why [`Sender::try_send`] did not queue the value; the value comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    Full(T),
    Closed(T),
}

/// A queue holding at most `capacity` frames (at least one).
pub fn queue<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            senders: 1,
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
        // push, pop, count or flag store), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queue `value`, waiting while the queue is full. Fails once the receiver is gone.
    pub async fn send(&self, value: T) -> Result<(), Closed<T>> {
        let mut value = value;
        loop {
            // Register for a wake-up before looking, so room made between the look and the wait is not missed.
            let room = self.shared.writable.notified();
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(v)) => return Err(Closed(v)),
                Err(TrySendError::Full(v)) => value = v,
            }
            room.await;
        }
    }

    /// Queue `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Err(TrySendError::Closed(value));
        }
        if state.queue.len() >= self.shared.capacity {
            return Err(TrySendError::Full(value));
        }
        state.queue.push_back(value);
        drop(state);
        // One waiter at most (the writer); with none, the permit is kept for its next wait.
        self.shared.readable.notify_one();
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// The next frame; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(v) = self.try_recv() {
                return Some(v);
            }
            if self.shared.lock().senders == 0 {
                // A sender may have queued a last frame just before leaving.
                return self.try_recv();
            }
            self.shared.readable.notified().await;
        }
    }

    /// A frame that is already queued, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut state = self.shared.lock();
        let v = state.queue.pop_front();
        if v.is_some() {
            // Give a burst's slots back once it has drained, so a quiet socket holds no queue memory.
            if state.queue.is_empty() && state.queue.capacity() > 8 {
                state.queue = VecDeque::new();
            }
            drop(state);
            // Several senders may wait for room (the relay's); each frame taken makes room for one.
            self.shared.writable.notify_one();
        }
        v
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        let last = state.senders == 0;
        drop(state);
        if last {
            self.shared.readable.notify_one();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.queue.clear();
        drop(state);
        // Every waiting sender must see the end.
        self.shared.writable.notify_waiters();
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

    #[tokio::test]
    async fn clones_share_the_queue_and_the_end_waits_for_the_last() {
        let (tx, mut rx) = queue::<u32>(2);
        let other = tx.clone();
        tx.send(1).await.unwrap();
        other.try_send(2).unwrap();
        assert_eq!(other.try_send(3), Err(TrySendError::Full(3)));
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, Some(2));
        other.try_send(4).unwrap();
        drop(other);
        assert_eq!(rx.recv().await, Some(4));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn try_send_fails_once_the_receiver_is_gone() {
        let (tx, rx) = queue::<u32>(4);
        drop(rx);
        assert_eq!(tx.try_send(1), Err(TrySendError::Closed(1)));
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
