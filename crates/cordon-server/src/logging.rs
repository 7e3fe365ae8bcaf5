//! Logging with a last line of defence: every formatted line passes through the card redactor before it is
//! written. Cordon's own code never logs client text, but libraries may (tungstenite logs whole frames at
//! trace level), so the writer masks card numbers whatever the filter lets through. Two things differ from
//! masking chat text:
//! - tungstenite dumps every frame's payload as hex (`payload: 0x7b22…`), where no digit of a card is visible as
//!   a digit: long hex runs are decoded, and re-encoded from the masked text when they hold a card;
//! - the detector's context rules (a rare-length number after "id" or "order" is not taken for a card) fit chat,
//!   not logs, where a frame like `{"client_msg_id":"4539578763621486115"}` is quoted whole: every run of digits
//!   and separators is also checked on its own, without the words around it. A false mask in a log costs nothing.

use std::borrow::Cow;
use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// A writer that buffers one event and writes it redacted on flush or drop.
#[derive(Debug)]
pub struct RedactingWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> RedactingWriter<W> {
    pub fn new(inner: W) -> Self {
        RedactingWriter {
            buf: Vec::with_capacity(256),
            inner,
        }
    }

    fn emit(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buf);
        let text = redact_hex(&text);
        let redacted = redact_log_text(&text);
        self.inner.write_all(redacted.as_bytes())?;
        self.buf.clear();
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit()
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.emit();
    }
}

/// Mask card numbers in log text: with the detector's context rules, then in each digit run on its own.
pub fn redact_log_text(text: &str) -> Cow<'_, str> {
    match cordon_card::redact(text).text {
        Cow::Borrowed(_) => redact_digit_runs(text),
        Cow::Owned(masked) => Cow::Owned(redact_digit_runs(&masked).into_owned()),
    }
}

/// Fewest digits in a card number.
const MIN_CARD_DIGITS: usize = 12;

fn is_digit(c: char) -> bool {
    c.is_numeric()
}

/// Characters that may separate the digit groups of a card (spaces, dashes and dots of any script).
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '.' | '\u{2010}'
                ..='\u{2015}'
                    | '\u{2212}'
                    | '\u{00b7}'
                    | '\u{2024}'
                    | '\u{fe58}'
                    | '\u{fe63}'
                    | '\u{ff0d}'
                    | '\u{ff0e}'
                    | '\u{ff65}'
                    | '\u{30fb}'
        )
}

/// Redact each run of digits (groups joined by at most three separators) as a text of its own.
fn redact_digit_runs(text: &str) -> Cow<'_, str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i].1) {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut digits = 0;
        let mut end_idx = i;
        let mut j = i;
        while j < chars.len() {
            if is_digit(chars[j].1) {
                digits += 1;
                end_idx = j;
                j += 1;
                continue;
            }
            let mut k = j;
            while k < chars.len() && k - j < 3 && is_separator(chars[k].1) {
                k += 1;
            }
            if k > j && k < chars.len() && is_digit(chars[k].1) {
                j = k;
            } else {
                break;
            }
        }
        let end = chars[end_idx].0 + chars[end_idx].1.len_utf8();
        i = end_idx + 1;
        if digits < MIN_CARD_DIGITS {
            continue;
        }
        let run = &text[start..end];
        if let Cow::Owned(masked) = cordon_card::redact(run).text {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push_str(&masked);
            copied = end;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Hex runs shorter than this cannot hold a card (12 digits at least, two hex characters each).
const MIN_HEX_RUN: usize = 24;

/// Mask card numbers inside hex dumps: each run of hex digits long enough to hold a card is decoded (at both
/// nibble alignments) and, if the decoded text holds a card, replaced by the hex of the redacted text.
pub fn redact_hex(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut copied, mut i) = (0, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_hexdigit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
            i += 1;
        }
        if i - start < MIN_HEX_RUN {
            continue;
        }
        // Hex digits are ASCII, so `start..i` lies on char boundaries.
        if let Some(clean) = redact_hex_run(&text[start..i]) {
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..start]);
            o.push_str(&clean);
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

fn redact_hex_run(run: &str) -> Option<String> {
    for skip in 0..2 {
        let body = &run[skip..];
        let even = body.len() / 2 * 2;
        let decoded: Vec<u8> = body.as_bytes()[..even]
            .chunks(2)
            .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
            .collect();
        let decoded = String::from_utf8_lossy(&decoded);
        if let Cow::Owned(masked) = redact_log_text(&decoded) {
            let mut clean = String::with_capacity(run.len());
            clean.push_str(&run[..skip]);
            for b in masked.as_bytes() {
                clean.push_str(&format!("{b:02x}"));
            }
            clean.push_str(&body[even..]);
            return Some(clean);
        }
    }
    None
}

fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Makes a redacting writer over stderr for each event.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(io::stderr())
    }
}

/// Log targets whose events carry what a client sent, whole: tungstenite logs every frame it reads and writes
/// (at trace, as text and as hex) and every close reason (at debug); axum logs each rejected request with the
/// deserializer's message, which quotes the offending value. The redacting writer masks a whole card in them,
/// but not the pieces of a card typed in several messages, which only the hold-back in the message path joins
/// up. So these targets are off at every level, whatever `RUST_LOG` asks for.
const CLIENT_PAYLOAD_TARGETS: &[&str] = &["tungstenite", "tokio_tungstenite", "axum::rejection"];

/// Whether events of `target` may carry client payloads (the target or one of its modules is listed).
pub fn carries_client_payload(target: &str) -> bool {
    CLIENT_PAYLOAD_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Install the global subscriber. The filter comes from `RUST_LOG` (default `info`); the targets that log
/// client payloads stay off whatever it says.
pub fn init() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A global filter (a layer that only says no): it holds for every layer and every event, logged through
    // `tracing` or through the `log` crate (tungstenite's), before any is formatted.
    let payload_free =
        tracing_subscriber::filter::filter_fn(|meta| !carries_client_payload(meta.target()));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingStderr)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_target(true)
        .finish()
        .with(payload_free)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn payload_targets_are_recognised_with_their_modules_only() {
        for t in [
            "tungstenite",
            "tungstenite::protocol",
            "tokio_tungstenite::compat",
            "axum::rejection",
        ] {
            assert!(carries_client_payload(t), "{t}");
        }
        for t in [
            "tungstenite_extra",
            "axum::serve",
            "hyper::proto::h1",
            "cordon_server::ws",
        ] {
            assert!(!carries_client_payload(t), "{t}");
        }
    }

    #[test]
    fn hex_dumps_are_masked() {
        let frame = r#"{"type":"message.send","text":"card 4111 1111 1111 1111"}"#;
        let line = format!(
            "TRACE tungstenite: received frame payload: 0x{}\n",
            hex(frame)
        );
        let out = redact_hex(&line);
        assert!(!out.contains(&hex("4111 1111 1111")), "{out}");
        assert!(
            out.contains(&hex("1111]")),
            "the mask is there, in hex: {out}"
        );
        // Odd alignment and upper case.
        let odd = format!("x{}", hex(frame).to_uppercase());
        assert!(!redact_hex(&odd)
            .to_lowercase()
            .contains(&hex("4111 1111 1111")));
        // No card: untouched, without allocating.
        let plain = format!("payload: 0x{}", hex(r#"{"type":"ping"}"#));
        assert!(matches!(redact_hex(&plain), Cow::Borrowed(_)));
    }

    #[test]
    fn numbers_are_masked_whatever_words_surround_them() {
        // A 19-digit Visa after "id" is no card to the chat detector, but it is one in a log.
        let line = r#"Received message {"client_msg_id":"4539578763621486115","conversation_id":"4539.5787.6362.1486.115"}"#;
        let out = redact_log_text(line);
        assert!(!out.contains("4539578763621486115"), "{out}");
        assert!(!out.contains("4539.5787.6362.1486"), "{out}");
        let hexed = redact_hex(&hex(line)).into_owned();
        assert!(!hexed.contains(&hex("4539578763621486115")), "{hexed}");
        // Short numbers and timestamps stay.
        let plain = "2026-11-28T16:07:02.678020Z seq=42 took 1234 ms";
        assert!(matches!(redact_log_text(plain), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_masks_text_and_hex() {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(&mut out);
            let _ = write!(w, "text 4111111111111111 hex {}", hex("4111111111111111"));
        }
        let out = String::from_utf8(out).unwrap_or_default();
        assert!(!out.contains("4111111111111111"), "{out}");
        assert!(!out.contains(&hex("4111111111111111")), "{out}");
    }
}
