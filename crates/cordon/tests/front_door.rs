//! The front door, tried as an attacker would (issue 18): slow and greedy clients, and frames the WebSocket
//! library refuses. Each case names the close code or status a client sees.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::TestServer;
use cordon_server::Limits;
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

async fn tcp_from(source: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(source, 0))
        .expect("bind source");
    socket.connect(to).await.expect("connect")
}

/// Read until the server closes (or `limit` passes); returns what it sent and whether it closed.
async fn read_until_closed(tcp: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

fn metric(text: &str, line_start: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn oversized_and_non_utf8_frames_close_with_1009_and_1007() {
    let srv = TestServer::start(cordon_store::testing::sqlite()).await;
    let fx = srv.fixture("skyway").await;
    let url = format!("ws://{}/ws/visitor", srv.addr);

    // Over the 1 MiB hard cap: 1009 (message too big), before or after hello.
    let mut big = common::Ws::connect(&url, &[]).await;
    let _ = big
        .inner
        .send(Message::Text("z".repeat(2 * 1024 * 1024).into()))
        .await;
    assert_eq!(big.closed(Duration::from_secs(5)).await, Some(1009));

    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let _ = ws
        .inner
        .send(Message::Text("y".repeat(1024 * 1024 + 1).into()))
        .await;
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Some(1009));

    // A text frame that is not UTF-8: 1007 (invalid payload data).
    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let frame = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    let _ = ws.inner.send(Message::Frame(frame)).await;
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Some(1007));

    // A frame of a reserved opcode: 1002 (protocol error).
    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let frame = Frame::message(vec![1, 2], OpCode::Data(Data::Reserved(3)), true);
    let _ = ws.inner.send(Message::Frame(frame)).await;
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Some(1002));

    // Positive control: an ordinary visitor still chats.
    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = ws.open().await;
    ws.say(&conv, "m1", "hello").await;
    srv.stop().await;
}

#[tokio::test]
async fn a_client_that_trickles_headers_is_closed_after_the_header_timeout() {
    let limits = Limits {
        header_read_timeout: Duration::from_millis(600),
        ..Limits::default()
    };
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), limits).await;
    let loopback = IpAddr::from([127, 0, 0, 1]);

    // One header line every 200 ms, never the blank line that ends the head.
    let mut slow = tcp_from(loopback, srv.addr).await;
    let started = Instant::now();
    slow.write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .expect("write");
    let mut closed = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow
            .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        let mut probe = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    let took = started.elapsed();
    assert!(
        closed,
        "a trickling client was still connected after {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "closed only after {took:?} (timeout 600 ms)"
    );

    // A client that sends nothing at all is closed too.
    let mut silent = tcp_from(loopback, srv.addr).await;
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(4)).await;
    assert!(closed, "a silent connection stayed open");

    // Positive control: a prompt request is answered on the same server.
    let mut prompt = tcp_from(loopback, srv.addr).await;
    prompt
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let (reply, _) = read_until_closed(&mut prompt, Duration::from_secs(4)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let body = reqwest::get(format!("{}/metrics", srv.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metric(&body, "cordon_header_read_timeouts_total") >= 2,
        "{body}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let limits = Limits {
        max_connections_per_ip: 5,
        ..Limits::default()
    };
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), limits).await;
    let fx = srv.fixture("skyway").await;
    let greedy = IpAddr::from([127, 0, 0, 1]);

    // Four idle sockets and one live WebSocket: the upgraded socket keeps its place in the count.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tcp_from(greedy, srv.addr).await);
    }
    let (mut ws, _) = srv.visitor(&fx.tenant.widget_key, None).await;
    let conv = ws.open().await;

    // The sixth is refused with a complete 429 and a stable code, then closed.
    let mut refused = tcp_from(greedy, srv.addr).await;
    let (reply, closed) = read_until_closed(&mut refused, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 429"), "{reply}");
    assert!(reply.contains("too_many_connections"), "{reply}");
    assert!(
        reply.to_ascii_lowercase().contains("retry-after: 1"),
        "{reply}"
    );
    assert!(closed);

    // Another address is served meanwhile (a positive control that the server is not simply full).
    let mut other = tcp_from(IpAddr::from([127, 0, 0, 2]), srv.addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let (reply, _) = read_until_closed(&mut other, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    // The WebSocket in the count still works, and closing a socket frees a place.
    ws.say(&conv, "m1", "still here").await;
    held.pop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = tcp_from(greedy, srv.addr).await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let (reply, _) = read_until_closed(&mut again, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");

    let body = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client")
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        metric(
            &body,
            "cordon_connections_refused_total{reason=\"too_many_open\"}"
        ),
        1,
        "{body}"
    );
    drop(held);
    srv.stop().await;
}

#[tokio::test]
async fn one_address_cannot_open_connections_faster_than_its_rate() {
    let limits = Limits {
        new_connections_per_ip_per_sec: 2.0,
        new_connections_per_ip_burst: 4.0,
        ..Limits::default()
    };
    let srv = TestServer::start_with(cordon_store::testing::sqlite(), limits).await;
    let fast = IpAddr::from([127, 0, 0, 3]);
    let mut answers = Vec::new();
    for _ in 0..6 {
        let mut tcp = tcp_from(fast, srv.addr).await;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .expect("write");
        let (reply, _) = read_until_closed(&mut tcp, Duration::from_secs(3)).await;
        answers.push(reply.lines().next().unwrap_or_default().to_string());
    }
    let ok = answers.iter().filter(|a| a.contains(" 200")).count();
    let limited = answers.iter().filter(|a| a.contains(" 429")).count();
    assert!(
        (4..=5).contains(&ok) && ok + limited == 6,
        "burst of 4 then refused: {answers:?}"
    );
    // The bucket refills with time.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut tcp = tcp_from(fast, srv.addr).await;
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .expect("write");
    let (reply, _) = read_until_closed(&mut tcp, Duration::from_secs(3)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    srv.stop().await;
}
