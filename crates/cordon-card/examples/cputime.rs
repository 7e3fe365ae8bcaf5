//! Throughput per second of *CPU time* on this thread (from /proc/thread-self/schedstat), beside the
//! criterion figures: on a shared 2-core box, wall-clock numbers move with the neighbours' load,
//! on-CPU time much less. Uses the same inputs as `benches/redact.rs` (included from there).
//!
//! `cargo run --release -p cordon-card --example cputime [seconds]`
#![allow(clippy::unwrap_used, clippy::expect_used)] // measuring tool

#[path = "../benches/inputs.rs"]
mod inputs;

use std::hint::black_box;
use std::time::Instant;

fn on_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}

fn main() {
    let secs: f64 = std::env::args().nth(1).map_or(3.0, |s| s.parse().unwrap());
    for (name, text) in inputs::all(1 << 20) {
        let (cpu0, wall0) = (on_cpu_ns(), Instant::now());
        let mut rounds = 0u64;
        while wall0.elapsed().as_secs_f64() < secs {
            let mut n = 0;
            cordon_card::scan(black_box(&text), |_| n += 1);
            black_box(n);
            rounds += 1;
        }
        let cpu = (on_cpu_ns() - cpu0) as f64 / 1e9;
        let wall = wall0.elapsed().as_secs_f64();
        let bytes = (rounds * text.len() as u64) as f64;
        println!(
            "{name:12} {:8.1} MB/s per CPU-second   {:8.1} MB/s wall   ({rounds} x {} bytes, on CPU {:.0}% of wall)",
            bytes / cpu / 1e6,
            bytes / wall / 1e6,
            text.len(),
            100.0 * cpu / wall
        );
    }
}
