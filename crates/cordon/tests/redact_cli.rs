//! `cordon redact` as a process: stdin to stdout, `--jsonl`, and errors that name the line.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn redact(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .arg("redact")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Write from another thread so a full stdout pipe cannot deadlock the test.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn stdout(o: &Output) -> &str {
    std::str::from_utf8(&o.stdout).unwrap()
}

fn stderr(o: &Output) -> &str {
    std::str::from_utf8(&o.stderr).unwrap()
}

#[test]
fn plain_text_is_masked_and_everything_else_kept() {
    let input = "hi\ncard 4111 1111 1111 1111 exp 12/27\r\nno card: +44 20 7946 0958\n３７８２ ８２２４６３ １０００５";
    let o = redact(&[], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "hi\ncard [Visa •••• 1111] exp 12/27\r\nno card: +44 20 7946 0958\n[Amex •••• 0005]"
    );
}

#[test]
fn large_input_streams_through_unchanged_but_for_cards() {
    let mut input = String::new();
    for i in 0..60_000 {
        match i % 3 {
            0 => input.push_str(&format!(
                "message {i}: my card is 5555-5555-5555-4444, thanks\n"
            )),
            1 => input.push_str(&format!("order #{i} ships 2024-01-{:02}\n", i % 28 + 1)),
            _ => input.push_str("nothing to see here, just a longer line of ordinary chat text\n"),
        }
    }
    let o = redact(&[], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), cordon_card::redact(&input).text);
}

#[test]
fn jsonl_gives_findings_per_line_in_order() {
    let input = concat!(
        "{\"text\": \"pay with 4111 1111 1111 1111 or 5555555555554444\"}\n",
        "{\"text\": \"nothing here\", \"id\": 7}\n",
        "{\"text\": \"\\u0034111111111111111\"}\n",
    );
    let o = redact(&["--jsonl"], input.as_bytes());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["text"],
        "pay with [Visa •••• 1111] or [Mastercard •••• 4444]"
    );
    assert_eq!(
        lines[0]["findings"],
        serde_json::json!([
            {"start": 9, "end": 28, "brand": "Visa", "last4": "1111"},
            {"start": 32, "end": 48, "brand": "Mastercard", "last4": "4444"},
        ])
    );
    assert_eq!(
        lines[1],
        serde_json::json!({"text": "nothing here", "findings": []})
    );
    assert_eq!(lines[2]["text"], "[Visa •••• 1111]");
}

#[test]
fn bad_json_names_the_line_without_echoing_it() {
    let secret = "4111 1111 1111 1111 and some words";
    let input = format!("{{\"text\": \"ok 5555555555554444\"}}\n{{\"text\": \"{secret}\"\n{{\"text\": \"never read\"}}\n");
    let o = redact(&["--jsonl"], input.as_bytes());
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("line 2"), "{err}");
    assert!(
        !err.contains("4111") && !err.contains("words"),
        "input echoed: {err}"
    );
    // The line before the bad one was written whole.
    assert_eq!(stdout(&o), "{\"text\":\"ok [Mastercard •••• 4444]\",\"findings\":[{\"start\":3,\"end\":19,\"brand\":\"Mastercard\",\"last4\":\"4444\"}]}\n");
}

#[test]
fn wrong_json_shape_names_the_line_without_echoing_it() {
    for bad in [
        "{\"text\": 4111111111111111}",
        "[\"4111 1111 1111 1111\"]",
        "{\"txt\": \"4111 1111 1111 1111\"}",
        "",
    ] {
        let input = format!("{{\"text\": \"a\"}}\n{bad}\n");
        let o = redact(&["--jsonl"], input.as_bytes());
        assert!(!o.status.success(), "{bad}");
        let err = stderr(&o);
        assert!(err.contains("line 2"), "{bad}: {err}");
        assert!(!err.contains("4111"), "input echoed: {err}");
        assert_eq!(stdout(&o).lines().count(), 1);
    }
}

#[test]
fn invalid_utf8_names_the_line() {
    let input =
        b"card 4111 1111 1111 1111\nsecond line\nthird \xff\xfe line 5555555555554444\nfourth\n"
            .to_vec();
    let o = redact(&[], &input);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("line 3") && err.contains("UTF-8"), "{err}");
    assert!(!err.contains("5555"), "{err}");
    assert_eq!(stdout(&o), "card [Visa •••• 1111]\nsecond line\n");

    let o = redact(&["--jsonl"], b"{\"text\": \"x\"}\n{\"text\": \"\xff\"}\n");
    assert!(!o.status.success());
    assert!(stderr(&o).contains("line 2"), "{}", stderr(&o));
}
