//! Criterion benchmarks: throughput on sparse-digit chat text, digit-dense text and non-Latin chat,
//! the cost per typical message, and the split-card hold-back a chat server runs on every visitor
//! message made only of digits. Run: `cargo bench -p cordon-card --bench redact`.
//!
//! The inputs are generated here from a fixed seed, so every run measures the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

mod inputs;

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("card_redact");
    g.measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(30);
    for (name, text) in inputs::all(1 << 20) {
        let hits = cordon_card::find(&text).len();
        assert!(
            name == "intl_chat" || hits > 0,
            "{name}: no cards in the input"
        );
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function(format!("find/{name}"), |b| {
            b.iter(|| {
                let mut n = 0;
                cordon_card::scan(black_box(&text), |_| n += 1);
                n
            })
        });
        let mut out = String::with_capacity(text.len() + 1024);
        g.bench_function(format!("redact_into/{name}"), |b| {
            b.iter(|| {
                out.clear();
                cordon_card::redact_into(black_box(&text), &mut out, |_| {})
            })
        });
    }
    g.finish();
}

fn per_message(c: &mut Criterion) {
    let mut g = c.benchmark_group("card_message");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let typical = "Hi, I ordered a blue jacket last week (order #48213) and it still hasn't arrived, can you check?";
    let with_card =
        "sure, my card is 4111 1111 1111 1111 exp 12/27, can you charge it for the order?";
    for (name, msg) in [("typical", typical), ("with_card", with_card)] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("redact/{name}"), |b| {
            b.iter(|| cordon_card::redact(black_box(msg)))
        });
    }
    g.finish();
}

/// The hold-back decision after each piece: short answers (released at once), a card in pieces
/// (held, then masked), and the end of a sequence.
fn hold_back(c: &mut Criterion) {
    let mut g = c.benchmark_group("card_hold_back");
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    let cases: &[(&str, &[&str])] = &[
        ("short_answer", &["42"]),
        ("zip", &["30301"]),
        ("first_piece", &["3425"]),
        ("amex_4_3_3", &["3425", "195", "369"]),
        ("amex_complete", &["3425", "195", "369", "22764"]),
        ("visa_complete", &["4111 1111", "1111 1111"]),
        ("phone_one_run", &["4155552671"]),
    ];
    for (name, held) in cases {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("hold_decision/{name}"), |b| {
            b.iter(|| cordon_card::hold_decision(&[], black_box(held)))
        });
    }
    let visa: &[&str] = &["4111 1111", "1111 1111"];
    g.bench_function("redact_fragments/visa_complete", |b| {
        b.iter(|| cordon_card::redact_fragments(black_box(visa)))
    });
    g.finish();
}

criterion_group!(benches, throughput, per_message, hold_back);
criterion_main!(benches);
