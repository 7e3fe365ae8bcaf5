//! `cordon redact`: text on stdin to stdout with every card number masked.
//!
//! Plain mode works on large blocks cut at line ends (a card never spans a line break), so a big
//! input streams through in constant memory at close to the detector's own speed. `--jsonl` reads
//! one `{"text": "..."}` object per line and writes `{"text": ..., "findings": [...]}` per line.
//! Bad input stops the run with an error naming the line; the input itself is never echoed, and
//! every line written before it is complete.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

#[derive(Debug, clap::Args)]
pub(crate) struct RedactArgs {
    /// Each input line is {"text": "..."}; each output line adds "findings".
    #[arg(long)]
    pub(crate) jsonl: bool,
}

/// Bytes read at a time in plain mode.
const BLOCK: usize = 1 << 18;

pub(crate) fn run(args: &RedactArgs) -> anyhow::Result<()> {
    let stdin = io::stdin().lock();
    let mut out = BufWriter::with_capacity(BLOCK, io::stdout().lock());
    let result = if args.jsonl {
        jsonl(stdin, &mut out)
    } else {
        plain(stdin, &mut out)
    };
    // Whatever happened, what was written so far is whole lines: push it out before reporting.
    let flushed = out.flush().context("writing stdout");
    result.and(flushed)
}

fn plain(mut input: impl Read, out: &mut impl Write) -> anyhow::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(2 * BLOCK);
    let mut redacted = String::with_capacity(2 * BLOCK);
    let mut line = 1usize; // number of the first line in `buf`
    loop {
        let filled = buf.len();
        buf.resize(filled + BLOCK, 0);
        let n = loop {
            match input.read(&mut buf[filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other.context("reading stdin")?,
            }
        };
        buf.truncate(filled + n);
        let eof = n == 0;
        // Work on whole lines only; keep a partial last line for the next round.
        let cut = if eof {
            buf.len()
        } else {
            match buf.iter().rposition(|&b| b == b'\n') {
                Some(p) => p + 1,
                None => continue,
            }
        };
        let chunk = &buf[..cut];
        match std::str::from_utf8(chunk) {
            Ok(text) => {
                redacted.clear();
                cordon_card::redact_into(text, &mut redacted, |_| {});
                out.write_all(redacted.as_bytes())
                    .context("writing stdout")?;
                line += newlines(chunk);
            }
            Err(e) => {
                // Write the whole lines before the bad one, then report it.
                let valid = &chunk[..e.valid_up_to()];
                let good = valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
                // `valid` is valid UTF-8 up to `valid_up_to`, and `good` is a char boundary within it.
                let text = std::str::from_utf8(&chunk[..good]).unwrap_or("");
                redacted.clear();
                cordon_card::redact_into(text, &mut redacted, |_| {});
                out.write_all(redacted.as_bytes())
                    .context("writing stdout")?;
                bail!("line {}: input is not valid UTF-8", line + newlines(valid));
            }
        }
        buf.drain(..cut);
        if eof {
            return Ok(());
        }
    }
}

fn newlines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

#[derive(Deserialize)]
struct Input<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct Output<'a> {
    text: &'a str,
    findings: &'a [Found<'a>],
}

#[derive(Serialize)]
struct Found<'a> {
    start: usize,
    end: usize,
    brand: &'static str,
    last4: &'a str,
}

fn jsonl(input: impl Read, out: &mut impl Write) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(BLOCK, input);
    let mut raw = Vec::new();
    let mut redacted = String::new();
    let mut hits = Vec::new();
    let mut line = 0usize;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).context("reading stdin")? == 0 {
            return Ok(());
        }
        line += 1;
        let body = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        let Ok(body) = std::str::from_utf8(body) else {
            bail!("line {line}: input is not valid UTF-8");
        };
        // serde would also read a struct from an array: insist on an object.
        if !body.trim_start().starts_with('{') && !body.trim().is_empty() {
            bail!("line {line}: expected an object with a string field \"text\"");
        }
        let msg: Input<'_> = serde_json::from_str(body).map_err(|e| json_error(line, &e))?;
        redacted.clear();
        hits.clear();
        cordon_card::redact_into(&msg.text, &mut redacted, |h| hits.push(h));
        let found: Vec<Found<'_>> = hits
            .iter()
            .map(|h: &cordon_card::Hit| Found {
                start: h.start,
                end: h.end,
                brand: h.brand.name(),
                last4: h.last4(),
            })
            .collect();
        serde_json::to_writer(
            &mut *out,
            &Output {
                text: &redacted,
                findings: &found,
            },
        )
        .context("writing stdout")?;
        out.write_all(b"\n").context("writing stdout")?;
    }
}

/// Describes a JSON error by its kind and column only: serde_json's own messages can quote the input.
fn json_error(line: usize, e: &serde_json::Error) -> anyhow::Error {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => format!("not valid JSON (column {})", e.column()),
        Category::Eof => {
            "JSON ends early (expected one {\"text\": \"...\"} object per line)".to_owned()
        }
        Category::Data => "expected an object with a string field \"text\"".to_owned(),
        Category::Io => "could not be read".to_owned(),
    };
    anyhow::anyhow!("line {line}: {what}")
}
