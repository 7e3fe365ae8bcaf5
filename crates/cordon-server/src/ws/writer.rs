//! The outbound side of a connection: frames queue (bounded) for one writer task per socket, which writes
//! bursts behind one flush and disconnects a client that stops reading (4008 slow consumer).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use cordon_service::protocol::ServerFrame;
use cordon_service::{code, Refusal};
use futures_util::SinkExt;

use super::{Conn, Exit, CLOSE_SLOW, WRITE_BURST};

type Sink = futures_util::stream::SplitSink<WebSocket, Message>;

/// The writer: a client that does not read for `write_timeout` is disconnected, so its buffers stay bounded.
pub(super) async fn write_loop(
    mut sink: Sink,
    mut out_rx: crate::outbound::Receiver<Message>,
    write_timeout: Duration,
    metrics: Arc<cordon_service::metrics::Metrics>,
) {
    while let Some(msg) = out_rx.recv().await {
        let mut closing = matches!(msg, Message::Close(_));
        // Frames that are already queued go out with the first one and a single flush: one write syscall
        // for a burst (an ack and its echo, an agent's fan-out) instead of one per frame.
        let burst = async {
            sink.feed(msg).await?;
            let mut more = 0;
            while !closing && more < WRITE_BURST {
                let Some(next) = out_rx.try_recv() else { break };
                closing = matches!(next, Message::Close(_));
                sink.feed(next).await?;
                more += 1;
            }
            sink.flush().await
        };
        match tokio::time::timeout(write_timeout, burst).await {
            Ok(Ok(())) if !closing => {}
            Ok(Ok(())) => break,
            Ok(Err(_)) => break,
            Err(_) => {
                metrics.slow_consumer_disconnects.inc();
                let close = Message::Close(Some(CloseFrame {
                    code: CLOSE_SLOW,
                    reason: Utf8Bytes::from_static("slow consumer"),
                }));
                let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
                break;
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

impl Conn {
    pub(super) async fn push(&mut self, msg: Message) -> Result<(), Exit> {
        let timeout = self.state.config.limits.write_timeout;
        match tokio::time::timeout(timeout, self.out.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Exit::Gone),
            Err(_) => {
                self.state.service.metrics().slow_consumer_disconnects.inc();
                Err(Exit::Close(CLOSE_SLOW, "slow consumer"))
            }
        }
    }

    pub(super) async fn send(&mut self, frame: &ServerFrame) -> Result<(), Exit> {
        self.push(Message::Text(frame.to_json().into())).await
    }

    pub(super) async fn send_raw(&mut self, frame: &str) -> Result<(), Exit> {
        self.push(Message::Text(Utf8Bytes::from(frame))).await
    }

    pub(super) async fn send_error(
        &mut self,
        code: &'static str,
        message: &str,
        reference: Option<&str>,
    ) -> Result<(), Exit> {
        self.state.service.metrics().error(code);
        self.send(&ServerFrame::Error {
            code,
            message: message.to_string(),
            reference: reference.map(str::to_string),
        })
        .await
    }

    /// A use case's refusal as an `error` frame. On these sockets a record the store did not find has always
    /// been answered as a conversation ("no such conversation"), and clients may match that text: the
    /// service's generic "not found" keeps it here.
    pub(super) async fn refuse(&mut self, r: Refusal, reference: Option<&str>) -> Result<(), Exit> {
        let generic = Refusal::not_found();
        let message = if r.code == code::NOT_FOUND && r.message == generic.message {
            "no such conversation"
        } else {
            &r.message
        };
        self.send_error(r.code, message, reference).await
    }
}
