//! The webhook receiver of the tests: tests/support/webhook_receiver.py, written apart from Cordon (Python's
//! standard library), run as a child process in a folder of its own (port, secret, mode, requests.jsonl).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a panic is a failure report

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// The independent receiver, in its own folder (port, secret, mode, requests.jsonl).
#[derive(Debug)]
pub struct Receiver {
    pub dir: PathBuf,
    pub url: String,
    child: std::process::Child,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receiver {
    pub fn start(dir: &Path, mode: &str) -> Receiver {
        std::fs::create_dir_all(dir).expect("receiver dir");
        std::fs::write(dir.join("mode"), mode).expect("mode");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/webhook_receiver.py");
        let child = std::process::Command::new("python3")
            .arg(&script)
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs the webhook receiver");
        let port_file = dir.join("port");
        let started = std::time::Instant::now();
        while !port_file.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the receiver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file).expect("port");
        Receiver {
            dir: dir.to_path_buf(),
            url: format!("http://127.0.0.1:{}/hooks", port.trim()),
            child,
        }
    }

    pub fn set(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value).expect("receiver setting");
    }

    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Wait until `done` holds for the requests so far (at most `limit`), and answer them.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let r = self.requests();
            if done(&r) || started.elapsed() > limit {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
