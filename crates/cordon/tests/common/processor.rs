//! A fake payment processor on loopback (issue 15): a plain blocking HTTP/1.1 server on its own thread, apart
//! from any test's runtime, that records every request (headers and body) and answers `200 {"status":
//! "approved"}`. One per test process, shared by every test in it.
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a panic is a failure report

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::sync::{Mutex, OnceLock};

/// One request the processor received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the forward is JSON")
    }
}

static URL: OnceLock<String> = OnceLock::new();
static RECEIVED: Mutex<Vec<Received>> = Mutex::new(Vec::new());

/// The processor's URL (`http://127.0.0.1:PORT/charge`), started on first use.
pub fn url() -> String {
    URL.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind processor");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || serve(stream));
            }
        });
        format!("http://127.0.0.1:{port}/charge")
    })
    .clone()
}

fn serve(stream: std::net::TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    RECEIVED.lock().unwrap().push(Received {
        path,
        headers,
        body,
    });
    let answer = br#"{"status":"approved"}"#;
    let mut out = stream;
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        answer.len()
    );
    let _ = out.write_all(answer);
}

/// Every request received so far whose body names `token_id`.
pub fn received_for(token_id: &str) -> Vec<Received> {
    RECEIVED
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .is_ok_and(|v| v["token_id"] == token_id)
        })
        .cloned()
        .collect()
}
