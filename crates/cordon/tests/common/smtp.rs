//! A tiny SMTP sink on loopback for the transcript email tests (issue 20): it greets, answers EHLO/HELO, MAIL,
//! RCPT, DATA, RSET, NOOP and QUIT, and keeps each message it accepts. It offers no STARTTLS or AUTH (the
//! server sends plain text to loopback only). It can refuse the next few transactions for now (451), and it
//! refuses any recipient whose address starts with `bounce` for good (550).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// The DATA as sent (dot-unstuffed), headers and MIME parts.
    pub data: String,
}

impl Mail {
    /// The message's text: each MIME part's body decoded (quoted-printable or base64), headers kept.
    pub fn decoded(&self) -> String {
        let mut out = String::new();
        let mut encoding = String::new();
        let mut in_body = false;
        let mut body: Vec<&str> = Vec::new();
        let flush = |encoding: &str, body: &mut Vec<&str>, out: &mut String| {
            match encoding {
                "base64" => {
                    let joined: String = body.concat();
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(joined.trim())
                        .unwrap_or_default();
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                "quoted-printable" => out.push_str(&decode_qp(&body.join("\n"))),
                _ => out.push_str(&body.join("\n")),
            }
            out.push('\n');
            body.clear();
        };
        for line in self.data.split("\r\n") {
            if line.starts_with("--") {
                if in_body {
                    flush(&encoding, &mut body, &mut out);
                }
                in_body = false;
                encoding.clear();
                out.push_str(line);
                out.push('\n');
                continue;
            }
            if !in_body {
                if line.is_empty() {
                    in_body = true;
                } else {
                    if let Some(v) = line
                        .to_ascii_lowercase()
                        .strip_prefix("content-transfer-encoding:")
                    {
                        encoding = v.trim().to_string();
                    }
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
            body.push(line);
        }
        if in_body {
            flush(&encoding, &mut body, &mut out);
        }
        out
    }
}

fn decode_qp(s: &str) -> String {
    let mut bytes = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(h) = s.get(i + 1..i + 3) {
                if let Ok(v) = u8::from_str_radix(h, 16) {
                    bytes.push(v);
                    i += 3;
                    continue;
                }
            }
        }
        bytes.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[derive(Debug, Default)]
struct Shared {
    mails: Mutex<Vec<Mail>>,
    /// Transactions to refuse for now (451 to MAIL FROM) before accepting again.
    refuse: AtomicUsize,
    /// MAIL FROM commands seen (each an attempt).
    attempts: AtomicUsize,
}

#[derive(Debug, Clone)]
pub struct SmtpSink {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink addr");
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = session(stream, s).await;
                });
            }
        });
        SmtpSink { addr, shared }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Refuse the next `n` transactions with 451 (try again later).
    pub fn refuse_next(&self, n: usize) {
        self.shared.refuse.store(n, Ordering::SeqCst);
    }

    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.shared.mails.lock().expect("sink lock").clone()
    }

    /// Wait until at least `n` mails arrived (panics after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Mail> {
        let start = std::time::Instant::now();
        loop {
            let m = self.mails();
            if m.len() >= n {
                return m;
            }
            assert!(
                start.elapsed() < within,
                "the sink got {} mails, expected {n}",
                m.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn address(arg: &str) -> String {
    let a = arg.split_once(':').map(|(_, a)| a).unwrap_or(arg).trim();
    let a = a.split_whitespace().next().unwrap_or("");
    a.trim_start_matches('<').trim_end_matches('>').to_string()
}

async fn session(stream: tokio::net::TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to: Vec<String> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 ok\r\n"
        } else if upper.starts_with("RSET") {
            from.clear();
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("MAIL FROM") {
            shared.attempts.fetch_add(1, Ordering::SeqCst);
            let refused = shared
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                b"451 4.3.0 try again later\r\n"
            } else {
                from = address(&cmd);
                to.clear();
                b"250 ok\r\n"
            }
        } else if upper.starts_with("RCPT TO") {
            let a = address(&cmd);
            if a.starts_with("bounce") {
                b"550 5.1.1 no such user here\r\n"
            } else {
                to.push(a);
                b"250 ok\r\n"
            }
        } else if upper == "DATA" {
            if from.is_empty() || to.is_empty() {
                b"503 bad sequence\r\n"
            } else {
                w.write_all(b"354 go ahead\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    let l = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(l);
                }
                shared.mails.lock().expect("sink lock").push(Mail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 ok queued\r\n"
            }
        } else if upper.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
}
