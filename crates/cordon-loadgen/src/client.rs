//! WebSocket and HTTP clients, loopback only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Client buffers: the same small sizes as the servers, so 10,000 client sockets fit in one process.
const BUFFER: usize = 4 * 1024;

/// Where the server under test listens. Only loopback addresses are accepted: load never leaves the machine.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// `http://host:port`, sent as Origin where the protocol needs one.
    pub(crate) base: String,
}

impl Target {
    pub(crate) fn parse(url: &str) -> anyhow::Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| anyhow!("target must be http://HOST:PORT (plain HTTP on loopback)"))?;
        let hostport = rest.split('/').next().unwrap_or(rest);
        let hostport = if hostport.starts_with("localhost:") {
            hostport.replacen("localhost", "127.0.0.1", 1)
        } else {
            hostport.to_string()
        };
        let addr: SocketAddr = hostport
            .parse()
            .with_context(|| format!("target {url:?} is not HOST:PORT with an IP address"))?;
        if !addr.ip().is_loopback() {
            bail!("target {addr} is not a loopback address; load tests stay on 127.0.0.0/8 or ::1");
        }
        Ok(Target {
            addr,
            base: format!("http://{hostport}"),
        })
    }
}

/// Source addresses to spread client sockets over (127.0.0.2, 127.0.0.3, ...): each gives its own range of
/// ephemeral ports, so tens of thousands of sockets and TIME_WAIT entries fit.
pub(crate) fn sources(n: usize, target: &Target) -> Vec<IpAddr> {
    if !matches!(target.addr.ip(), IpAddr::V4(_)) || n == 0 {
        return vec![];
    }
    (0..n.min(250))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
        .collect()
}

async fn tcp(target: &Target, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = match target.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(target.addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Open a WebSocket on `path` with extra request headers.
pub(crate) async fn connect(
    target: &Target,
    path: &str,
    headers: &[(&'static str, String)],
    source: Option<IpAddr>,
) -> anyhow::Result<Ws> {
    let stream = tcp(target, source).await.context("connect")?;
    let mut req = format!("ws://{}{path}", target.addr).into_client_request()?;
    for (name, value) in headers {
        req.headers_mut()
            .insert(*name, HeaderValue::from_str(value).context("header value")?);
    }
    let config = WebSocketConfig::default()
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .context("websocket handshake")?;
    Ok(ws)
}

pub(crate) async fn send_text(ws: &mut Ws, text: String) -> anyhow::Result<()> {
    ws.send(Message::Text(text.into())).await?;
    Ok(())
}

/// Read text frames until `want` accepts one (returning its value), or the deadline passes. Error frames are
/// turned into errors with their code.
pub(crate) async fn wait_for<T>(
    ws: &mut Ws,
    timeout: Duration,
    mut want: impl FnMut(&crate::frames::In<'_>) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| anyhow!("timeout"))?;
        match msg {
            Some(Ok(Message::Text(t))) => {
                let Some(frame) = crate::frames::parse(t.as_str()) else {
                    bail!("unparseable frame");
                };
                if let Some(v) = want(&frame) {
                    return Ok(v);
                }
                if frame.kind == "error" {
                    bail!(
                        "error frame: {}",
                        frame.code.as_deref().unwrap_or("unknown")
                    );
                }
            }
            Some(Ok(Message::Close(_))) | None => bail!("closed"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("websocket: {e}"),
        }
    }
}

/// A minimal HTTP/1.1 POST with a JSON body; returns (status, headers, body). Loopback only (the target).
pub(crate) async fn post_json(
    target: &Target,
    path: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<(u16, Vec<(String, String)>, String)> {
    let mut stream = tcp(target, None).await?;
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.addr,
        body.len()
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| anyhow!("HTTP timeout"))??;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response"))?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("malformed HTTP status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, body.to_string()))
}

/// GET returning (status, body); used to tell Cordon from the relay and to wait for readiness.
pub(crate) async fn get(target: &Target, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tcp(target, None).await?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        target.addr
    );
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .map_err(|_| anyhow!("HTTP timeout"))??;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets() {
        assert!(Target::parse("http://127.0.0.1:8080").is_ok());
        assert!(Target::parse("http://localhost:8080/").is_ok());
        assert!(Target::parse("http://[::1]:8080").is_ok());
        assert!(Target::parse("http://10.0.0.1:8080").is_err());
        assert!(Target::parse("http://example.com:80").is_err());
        assert!(Target::parse("https://127.0.0.1:8080").is_err());
        let t = Target::parse("http://127.0.0.1:9").unwrap();
        let s = sources(3, &t);
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|ip| ip.is_loopback()));
    }
}
