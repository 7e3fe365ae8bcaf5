//! The labelled corpus: every expected card is found and masked, nothing else is.
//!
//! `corpus/hand.txt` is written by hand; `corpus/generated.jsonl` comes from `corpus/generate.py`,
//! which builds cards from its own copy of the IIN table and Luhn, independently of the crate.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::path::Path;

#[derive(Debug)]
struct Case {
    origin: String,
    text: String,
    cards: Vec<String>,
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\u{").or_else(|| rest.find("\\n")) {
        out.push_str(&rest[..at]);
        if rest[at..].starts_with("\\n") {
            out.push('\n');
            rest = &rest[at + 2..];
            continue;
        }
        let close = rest[at..].find('}').unwrap() + at;
        let cp = u32::from_str_radix(&rest[at + 3..close], 16).unwrap();
        out.push(char::from_u32(cp).unwrap());
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn load(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let hand = std::fs::read_to_string(dir.join("hand.txt")).unwrap();
    for (n, line) in hand.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (labels, text) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("hand.txt:{}: no ' | '", n + 1));
        let cards = labels
            .split_whitespace()
            .filter(|l| *l != "-")
            .map(|l| l.strip_prefix('+').unwrap().to_owned())
            .collect();
        cases.push(Case {
            origin: format!("hand.txt:{}", n + 1),
            text: unescape(text),
            cards,
        });
    }
    let generated = std::fs::read_to_string(dir.join("generated.jsonl")).unwrap();
    for (n, line) in generated.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let cards = v["cards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect();
        cases.push(Case {
            origin: format!(
                "generated.jsonl:{} ({})",
                n + 1,
                v["class"].as_str().unwrap_or("")
            ),
            text: v["text"].as_str().unwrap().to_owned(),
            cards,
        });
    }
    cases
}

/// ASCII digits of every decimal digit in `s`, whatever its script.
fn digits_of(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            if c.is_ascii_digit() {
                return Some(c);
            }
            // Full-width and the other scripts used in the corpus.
            for zero in [0xFF10u32, 0x0660, 0x06F0, 0x0966, 0x0E50, 0x09E6] {
                let d = u32::from(c).wrapping_sub(zero);
                if d < 10 {
                    return char::from_digit(d, 10);
                }
            }
            None
        })
        .collect()
}

fn check(case: &Case) -> Vec<String> {
    let mut errors = Vec::new();
    let found = cordon_card::find(&case.text);
    let spans: Vec<String> = found
        .iter()
        .map(|f| digits_of(&case.text[f.start..f.end]))
        .collect();
    for (f, digits) in found.iter().zip(&spans) {
        if !case.cards.iter().any(|c| digits.contains(c.as_str())) {
            errors.push(format!(
                "false positive {:?} ({}) in {:?}",
                &case.text[f.start..f.end],
                f.brand.name(),
                case.text
            ));
        } else if !digits.ends_with(&f.last4) {
            errors.push(format!("last4 {} does not end {digits}", f.last4));
        }
    }
    for card in &case.cards {
        if !spans.iter().any(|d| d.contains(card.as_str())) {
            errors.push(format!("missed {card} in {:?}", case.text));
        }
    }
    let r = cordon_card::redact(&case.text);
    let left = digits_of(&r.text);
    for card in &case.cards {
        if left.contains(&card[..card.len() - 4]) {
            errors.push(format!("{card} survives redaction: {:?}", r.text));
        }
    }
    if cordon_card::redact(&r.text).text != r.text {
        errors.push(format!("not idempotent: {:?}", r.text));
    }
    errors
}

#[test]
fn corpus_has_full_recall_and_no_false_positives() {
    let cases = load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus"));
    let (mut positives, mut negatives) = (0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        if case.cards.is_empty() {
            negatives += 1;
        } else {
            positives += case.cards.len();
        }
        for e in check(case) {
            failures.push(format!("{}: {e}", case.origin));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(
        positives > 500 && negatives > 500,
        "corpus too small: {positives} cards, {negatives} negatives"
    );
}
