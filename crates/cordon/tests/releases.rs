//! Signed widget releases and the tamper monitor (issue 12), on the real binary: `cordon demo` (SQLite) makes an
//! approved first release; the monitor passes on it; a second release is refused to its own proposer
//! (self_approval), is not served before a second operator approves it, cannot be signed with an unknown key;
//! pinning serves the pinned release; a monitor that trusts only the demo's key alerts on a release signed by
//! another; one byte changed on disk is refused by the server and alerted by the monitor.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cordon(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cordon"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("CORDON_DATABASE")
        .env_remove("CORDON_OPERATOR_TOKEN")
        .env_remove("CORDON_RELEASE_KEY")
        .output()
        .expect("run cordon")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = cordon(data, args);
    assert!(
        out.status.success(),
        "cordon {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn operator_token(data: &Path, console: &str, name: &str) -> String {
    let op: Value =
        serde_json::from_str(&ok(data, &["operator", "create", "--name", name, "--json"])).unwrap();
    let totp = totp_rs::TOTP::from_url(op["otpauth_uri"].as_str().unwrap()).unwrap();
    let res: Value = reqwest::Client::new()
        .post(format!("{console}/api/v1/operator/sessions"))
        .json(&json!({"name": name, "password": op["password"], "code": totp.generate_current().unwrap()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    res["token"].as_str().expect("operator token").to_string()
}

async fn get(url: &str) -> (u16, String) {
    let res = reqwest::get(url).await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn releases_two_people_signed_bytes_only_and_the_monitor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut demo = Killed(
        Command::new(env!("CARGO_BIN_EXE_cordon"))
            .args(["demo", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .env_remove("CORDON_DATABASE")
            .env_remove("CORDON_LISTEN")
            .env_remove("CORDON_CONSOLE_URL")
            .env_remove("CORDON_WIDGET_URL")
            .env_remove("CORDON_WIDGET_LISTEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut console, mut frame_url, mut store) = (String::new(), String::new(), String::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    while frame_url.is_empty() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the demo's banner");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["cordon", "console", "and", "API", "at", url] => console = url.to_string(),
            ["store", "of", "skyway", url] => store = url.trim_end_matches('/').to_string(),
            ["tamper", "monitor:", .., "--url", url] => frame_url = url.to_string(),
            _ => {}
        }
    }
    let widget = frame_url.split("/w/frame/").next().unwrap().to_string();

    // The demo's release, as served, is its signed release.
    let out = ok(&data, &["monitor", "--url", &frame_url, "--origin", &store]);
    assert!(out.contains("serves exactly its signed release"), "{out}");

    // A second release: new frame.css bytes, proposed by one operator with a key of their own.
    let a = operator_token(&data, &console, "rel-a").await;
    let b = operator_token(&data, &console, "rel-b").await;
    let key = dir.path().join("a.key");
    ok(
        &data,
        &[
            "release",
            "keygen",
            "--token",
            &a,
            "--out",
            key.to_str().unwrap(),
        ],
    );
    let files = dir.path().join("widget");
    std::fs::create_dir_all(&files).unwrap();
    for (name, bytes) in cordon_server::web::embedded_release_files() {
        let mut bytes = bytes.to_vec();
        if name == "frame.css" {
            bytes.extend_from_slice(b"\n/* release 2 */\n");
        }
        std::fs::write(files.join(name), bytes).unwrap();
    }
    let (fdir, k) = (files.to_str().unwrap(), key.to_str().unwrap());
    // An unknown (untrusted) key is refused.
    let rogue = dir.path().join("rogue.key");
    std::fs::write(
        &rogue,
        cordon_release::signer_key_string(&[9u8; 32]).unwrap(),
    )
    .unwrap();
    let out = cordon(
        &data,
        &[
            "release",
            "propose",
            "--token",
            &a,
            "--dir",
            fdir,
            "--key",
            rogue.to_str().unwrap(),
            "--id",
            "r-rogue",
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown_release_key"));
    ok(
        &data,
        &[
            "release", "propose", "--token", &a, "--dir", fdir, "--key", k, "--id", "r2",
        ],
    );
    // Its proposer cannot approve it.
    let out = cordon(&data, &["release", "approve", "--token", &a, "--id", "r2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("self_approval"));
    // Unapproved: not served.
    let css = std::fs::read(files.join("frame.css")).unwrap();
    let m = cordon_release::Manifest::build(
        "r2",
        &[
            ("loader.js", b"".as_slice()),
            ("frame.html", b""),
            ("frame.js", b""),
            ("frame.css", &css),
        ],
    )
    .unwrap();
    let css_path = m.file("frame.css").unwrap().path();
    assert_eq!(
        get(&format!("{widget}{css_path}")).await.0,
        404,
        "an unapproved release is not served"
    );
    // A second operator approves it: served, and once skyway pins it, its frame uses it.
    ok(&data, &["release", "approve", "--token", &b, "--id", "r2"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(&format!("{widget}{css_path}")).await.0, 200);
    ok(
        &data,
        &["release", "pin", "--tenant", "skyway", "--id", "r2"],
    );
    let (status, page) = get(&frame_url).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("content=\"r2\"") && page.contains(&css_path),
        "the pinned release's frame"
    );

    // A monitor that pinned only the demo's key: r2 is signed by an unknown key.
    let out = cordon(&data, &["monitor", "--url", &frame_url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown key"));
    // Trusting both keys, it passes.
    let both = dir.path().join("keys.pub");
    let keys = format!(
        "{}{}",
        std::fs::read_to_string(data.join("release.pub")).unwrap(),
        std::fs::read_to_string(key.with_extension("pub")).unwrap()
    );
    std::fs::write(&both, keys).unwrap();
    let bk = both.to_str().unwrap();
    ok(
        &data,
        &["monitor", "--url", &frame_url, "--release-key", bk],
    );

    // One byte of a served file changed on disk: refused, and the monitor alerts.
    let js = data.join("releases/r2/frame.js");
    let mut bytes = std::fs::read(&js).unwrap();
    bytes[20] ^= 0x01;
    std::fs::write(&js, bytes).unwrap();
    let js_path = m
        .file("frame.js")
        .map(|_| ())
        .and(
            page.split("src=\"")
                .nth(1)
                .and_then(|s| s.split('"').next()),
        )
        .unwrap()
        .to_string();
    let (status, body) = get(&format!("{widget}{js_path}")).await;
    assert_eq!(status, 500);
    assert!(
        body.contains("release_tampered") && !body.contains("function"),
        "{body}"
    );
    let out = cordon(
        &data,
        &["monitor", "--url", &frame_url, "--release-key", bk],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("frame.js"));
}
