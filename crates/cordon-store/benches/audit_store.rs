//! Audit ledger through the real storage (SQLite, durable: WAL + synchronous=FULL).
//!
//! - durable appends in bounded batches (target: >= 50,000 entries/s);
//! - an inclusion proof at 1,000,000 entries, nodes read through SQLite (target: < 100 µs);
//! - recomputing a 1,000,000-entry log from its stored entries, as `cordon audit verify` does (target: < 10 s).
//!
//! `cargo bench -p cordon-store --bench audit_store`. Building the 1M-entry log takes about half a minute.

use cordon_store::{AuditEntry, Store, StoreConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const BIG: u64 = 1_000_000;
const BATCH: usize = 1000;

fn entry(log: &str, i: u64) -> AuditEntry {
    // Shaped like a real entry (~150 bytes of canonical JSON).
    AuditEntry {
        log_id: log.to_string(),
        bytes: format!(
            r#"{{"action":"transcript.read","actor":"agent:a_Q2xJc3R1dmVudGVzdGlk","id":"ae_{i:022}","log":"{log}","target":"conversation:c_AbCdEfGhIjKlMnOpQrStUv","ts":{}}}"#,
            1_795_000_000_000u64 + i
        )
        .into_bytes(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let store: Store =
        rt.block_on(async { Store::open(&StoreConfig::new(&url)).await.expect("open") });

    // Fill the big log.
    let started = std::time::Instant::now();
    rt.block_on(async {
        let mut i = 0;
        while i < BIG {
            let batch: Vec<AuditEntry> = (i..i + 10_000).map(|k| entry("big", k)).collect();
            store.append_audit_batch(&batch).await.expect("fill");
            i += 10_000;
        }
    });
    eprintln!("filled {BIG} entries in {:?}", started.elapsed());

    let mut g = c.benchmark_group("audit_store");
    g.sample_size(10);
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut next = 0u64;
    g.bench_function("durable_append_batch_1000", |b| {
        b.iter(|| {
            let batch: Vec<AuditEntry> = (next..next + BATCH as u64)
                .map(|k| entry("append", k))
                .collect();
            next += BATCH as u64;
            rt.block_on(store.append_audit_batch(&batch))
                .expect("append");
        })
    });
    g.throughput(Throughput::Elements(1));
    g.sample_size(50);
    let mut index = 12_345u64;
    // Through the store's node cache (complete nodes are immutable), as the API serves proofs.
    g.bench_function("inclusion_proof_at_1M", |b| {
        b.iter(|| {
            index = (index * 7919 + 13) % BIG;
            let nodes = cordon_ledger::inclusion_proof_nodes(index, BIG).expect("nodes");
            let hashes = rt
                .block_on(store.audit_nodes("big", nodes.ids()))
                .expect("read");
            nodes.assemble(&hashes).expect("assemble")
        })
    });
    g.bench_function("inclusion_proof_at_1M_uncached", |b| {
        b.iter(|| {
            index = (index * 7919 + 13) % BIG;
            let nodes = cordon_ledger::inclusion_proof_nodes(index, BIG).expect("nodes");
            let hashes = rt
                .block_on(store.audit_nodes_uncached("big", nodes.ids()))
                .expect("read");
            nodes.assemble(&hashes).expect("assemble")
        })
    });
    g.sample_size(10);
    g.throughput(Throughput::Elements(BIG));
    g.bench_function("recompute_1M_from_storage", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tree = cordon_ledger::MemoryTree::with_capacity(BIG as usize);
                let mut start = 0i64;
                while start < BIG as i64 {
                    let page = store
                        .audit_entries("big", start, start + 20_000)
                        .await
                        .expect("page");
                    let leaves = store
                        .audit_leaf_nodes("big", start, start + 20_000)
                        .await
                        .expect("leaves");
                    for ((_, bytes), (_, stored)) in page.iter().zip(leaves.iter()) {
                        let h = cordon_ledger::leaf_hash(bytes);
                        assert_eq!(h.as_slice(), stored.as_slice());
                        tree.push_leaf_hash(h);
                    }
                    start += 20_000;
                }
                tree.root()
            })
        })
    });
    g.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, bench);
criterion_main!(benches);
