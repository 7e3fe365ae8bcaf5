//! Audit-ledger benchmarks (pure crate, in memory):
//!
//! * `append/*`: appending leaves, the way the database layer will (hash the
//!   entry, compute the nodes to store), per leaf and in batches;
//! * `proof_1m/*`: proofs and tree heads from a 1,000,000-leaf `MemoryTree`;
//! * `verify_1m/*`: recomputing the tree of 1,000,000 entries, as
//!   `cordon audit verify` does.
//!
//! Run: `cargo bench -p cordon-ledger --bench ledger`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark set-up

use std::hint::black_box;
use std::time::Duration;

use cordon_ledger::{
    consistency_proof, inclusion_proof, leaf_hash, stored_hashes_for_append, tree_hash,
    verify_inclusion, CompactRange, MemoryTree,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const MILLION: u64 = 1_000_000;

/// An entry shaped like Cordon's canonical-JSON audit entries (~150 bytes).
fn entry(i: u64) -> Vec<u8> {
    format!(
        "{{\"action\":\"conversation.history.read\",\"actor\":\"agent:{:08}\",\"at\":\"2026-11-28T15:{:02}:{:02}.{:03}Z\",\"id\":\"evt_{:016x}\",\"target\":\"conversation:{:010}\"}}",
        i % 5000,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        i % 1000,
        i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        i / 7
    )
    .into_bytes()
}

fn tree_of(n: u64) -> MemoryTree {
    let mut t = MemoryTree::with_capacity(n as usize);
    for i in 0..n {
        t.push_leaf_hash(leaf_hash(&i.to_le_bytes()));
    }
    t
}

/// Deterministic pseudo-random indexes (splitmix64).
fn indexes(n: u64, count: usize) -> Vec<u64> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..count)
        .map(|_| {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % n
        })
        .collect()
}

fn append(c: &mut Criterion) {
    let big = tree_of(MILLION);
    let entries: Vec<Vec<u8>> = (0..1000).map(|i| entry(MILLION + i)).collect();
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1000));

    // The database batch path: load the frontier once (one read), then hash
    // and append 1,000 entries, collecting every node to store.
    g.bench_function("batch_1000_entries_at_1m", |b| {
        b.iter(|| {
            let mut range = CompactRange::load(MILLION, &big).unwrap();
            let mut stored = Vec::with_capacity(2100);
            for e in &entries {
                range
                    .append_with(leaf_hash(e), |id, h| stored.push((id, *h)))
                    .unwrap();
            }
            black_box((range.root(), stored.len()))
        })
    });

    // One transaction per entry: read the left siblings, compute the nodes.
    g.bench_function("single_1000_entries_at_1m", |b| {
        b.iter(|| {
            let mut n = 0;
            for (i, e) in entries.iter().enumerate() {
                // Positions 1M..1M+1000 have the sibling patterns of fresh appends.
                let at = MILLION - 1000 + i as u64;
                n += stored_hashes_for_append(at, leaf_hash(e), &big)
                    .unwrap()
                    .len();
            }
            black_box(n)
        })
    });

    // In-memory tree growth (hash + store every complete subtree).
    g.bench_function("memory_tree_1000_entries", |b| {
        b.iter_batched(
            || MemoryTree::with_capacity(1000),
            |mut t| {
                for e in &entries {
                    t.push_entry(e);
                }
                black_box(t.root())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn proofs(c: &mut Criterion) {
    let tree = tree_of(MILLION);
    let root = tree.root();
    let idx = indexes(MILLION, 1024);
    let mut g = c.benchmark_group("proof_1m");
    g.throughput(Throughput::Elements(1));

    let mut i = 0;
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| {
            i = (i + 1) % idx.len();
            black_box(inclusion_proof(idx[i], MILLION, &tree).unwrap())
        })
    });
    let mut i = 0;
    g.bench_function("consistency_proof", |b| {
        b.iter(|| {
            i = (i + 1) % idx.len();
            black_box(consistency_proof(idx[i] + 1, MILLION, &tree).unwrap())
        })
    });
    g.bench_function("tree_hash", |b| {
        b.iter(|| black_box(tree_hash(MILLION - 1, &tree).unwrap()))
    });

    let proofs: Vec<_> = idx
        .iter()
        .map(|&j| {
            (
                j,
                tree.leaf_hash(j).unwrap(),
                tree.inclusion_proof(j, MILLION).unwrap(),
            )
        })
        .collect();
    let mut i = 0;
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| {
            i = (i + 1) % proofs.len();
            let (j, leaf, p) = &proofs[i];
            verify_inclusion(*j, MILLION, leaf, p, &root).unwrap()
        })
    });
    g.finish();
}

fn verify_from_entries(c: &mut Criterion) {
    let entries: Vec<Vec<u8>> = (0..MILLION).map(entry).collect();
    let bytes: usize = entries.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("verify_1m");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(12));
    g.throughput(Throughput::Elements(MILLION));
    eprintln!("verify_1m: {MILLION} entries, {bytes} bytes");

    // What `audit verify` does when it also wants proofs afterwards: build
    // the full in-memory tree (every complete subtree) from the entries.
    g.bench_function("memory_tree_from_entries", |b| {
        b.iter(|| {
            let t = MemoryTree::from_entries(&entries);
            black_box(t.root())
        })
    });
    // Streaming: O(log n) memory; tree heads at any checkpoint size on the way.
    g.bench_function("compact_range_from_entries", |b| {
        b.iter(|| {
            let mut r = CompactRange::new();
            for e in &entries {
                r.append_with(leaf_hash(e), |_, _| {}).unwrap();
            }
            black_box(r.root())
        })
    });
    g.finish();
}

criterion_group!(benches, append, proofs, verify_from_entries);
criterion_main!(benches);
