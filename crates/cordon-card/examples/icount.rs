//! A fixed amount of work for instruction counting (callgrind), which, unlike time, does not move
//! with the neighbours' load on a shared box: `rounds` scans of one benchmark input (the same
//! inputs as `benches/redact.rs`), then the number of cards found, so the work cannot be dropped.
//!
//! ```text
//! cargo build --release -p cordon-card --example icount
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/icount digit_dense 4
//! ```
//!
//! Instructions per byte = the `Ir` total / (rounds × 1 MiB), minus the input generation, which
//! `icount <input> 0` measures alone.
#![allow(clippy::unwrap_used, clippy::expect_used)] // measuring tool

#[path = "../benches/inputs.rs"]
mod inputs;

use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "digit_dense".to_owned());
    let rounds: u64 = args.next().map_or(4, |s| s.parse().unwrap());
    let (_, text) = inputs::all(1 << 20)
        .into_iter()
        .find(|(n, _)| *n == name)
        .expect("input: sparse_chat, digit_dense or intl_chat");
    let mut cards = 0u64;
    for _ in 0..rounds {
        cordon_card::scan(black_box(&text), |_| cards += 1);
    }
    println!("{name}: {rounds} x {} bytes, {cards} cards", text.len());
}
