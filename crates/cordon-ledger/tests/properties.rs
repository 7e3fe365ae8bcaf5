//! Proofs from the stored-node tree against a direct transcription of the
//! RFC 9162 §2.1 definitions (MTH, PATH, PROOF/SUBPROOF), exhaustively for
//! small trees, and property tests that every proof verifies for random
//! sizes up to 10,000.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use cordon_ledger::{
    leaf_hash, node_hash, stored_hashes_for_append, verify_consistency, verify_inclusion, Hash,
    MemoryTree, NodeId, NodeReader, EMPTY_ROOT,
};
use proptest::prelude::*;

/// Largest power of two strictly less than `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// RFC 9162 §2.1.1 MTH over leaf hashes.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => EMPTY_ROOT,
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH(m, D[n]).
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &d[..k]);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = path(m - k, &d[k..]);
        p.push(mth(&d[..k]));
        p
    }
}

/// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &d[..k], b);
        p.push(mth(&d[k..]));
        p
    } else {
        let mut p = subproof(m - k, &d[k..], false);
        p.push(mth(&d[..k]));
        p
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
        .collect()
}

#[test]
fn matches_rfc_definitions_exhaustively_up_to_64() {
    let d = leaves(64);
    let tree = MemoryTree::from_entries((0..64u64).map(|i| format!("entry {i}")));
    for n in 1..=64usize {
        let root = mth(&d[..n]);
        assert_eq!(tree.root_at(n as u64).unwrap(), root, "root {n}");
        for m in 0..n {
            let want = path(m, &d[..n]);
            let got = tree.inclusion_proof(m as u64, n as u64).unwrap();
            assert_eq!(got, want, "PATH({m}, D[{n}])");
            verify_inclusion(m as u64, n as u64, &d[m], &got, &root).unwrap();
        }
        for m in 1..=n {
            let want = if m == n {
                vec![]
            } else {
                subproof(m, &d[..n], true)
            };
            let got = tree.consistency_proof(m as u64, n as u64).unwrap();
            assert_eq!(got, want, "PROOF({m}, D[{n}])");
            verify_consistency(m as u64, n as u64, &mth(&d[..m]), &root, &got).unwrap();
        }
    }
}

/// A reader that counts calls, to show each operation is one batch of O(log n) nodes.
struct Counting<'a> {
    tree: &'a MemoryTree,
    calls: std::cell::Cell<usize>,
    max_batch: std::cell::Cell<usize>,
}

impl NodeReader for Counting<'_> {
    type Error = cordon_ledger::MissingNode;
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        self.calls.set(self.calls.get() + 1);
        self.max_batch.set(self.max_batch.get().max(ids.len()));
        self.tree.read_nodes(ids)
    }
}

#[test]
fn operations_read_one_logarithmic_batch() {
    let n = 10_000u64;
    let tree = MemoryTree::from_entries((0..n).map(|i| i.to_be_bytes()));
    let r = Counting {
        tree: &tree,
        calls: 0.into(),
        max_batch: 0.into(),
    };
    for (i, size) in [(0, n), (n - 1, n), (4321, 9999), (5000, 8191)] {
        cordon_ledger::inclusion_proof(i, size, &r).unwrap();
    }
    for (a, b) in [(1, n), (n - 1, n), (4321, 9999), (4096, 8191)] {
        cordon_ledger::consistency_proof(a, b, &r).unwrap();
    }
    cordon_ledger::tree_hash(n, &r).unwrap();
    stored_hashes_for_append(n - 1, [0; 32], &r).unwrap();
    assert_eq!(r.calls.get(), 10);
    // log2(10,000) < 14; a proof reads at most ~2 log2 n nodes.
    assert!(r.max_batch.get() <= 28, "batch of {}", r.max_batch.get());
}

fn tree_of(n: u64) -> MemoryTree {
    let mut t = MemoryTree::with_capacity(n as usize);
    for i in 0..n {
        t.push_leaf_hash(leaf_hash(&i.to_le_bytes()));
    }
    t
}

proptest! {
    // Few cases: each builds a tree of up to 10,000 leaves.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_proof_verifies(size in 1u64..=10_000, a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
        let tree = tree_of(size);
        let root = tree.root();
        // Several inclusion proofs, including both ends.
        for index in [0, size - 1, a % size, b % size] {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = tree.leaf_hash(index).unwrap();
            prop_assert_eq!(verify_inclusion(index, size, &leaf, &proof, &root), Ok(()));
            // The proof is for this index and size only.
            if size > 1 {
                let other = (index + 1 + c % (size - 1)) % size;
                prop_assert!(verify_inclusion(other, size, &leaf, &proof, &root).is_err());
            }
        }
        // Consistency from several earlier sizes, and inclusion in an earlier tree.
        for first in [1, size, 1 + a % size, 1 + c % size] {
            let proof = tree.consistency_proof(first, size).unwrap();
            let old = tree.root_at(first).unwrap();
            prop_assert_eq!(verify_consistency(first, size, &old, &root, &proof), Ok(()));
            if let Some(h) = proof.first() {
                let mut bad = proof.clone();
                bad[0] = node_hash(h, h);
                prop_assert!(verify_consistency(first, size, &old, &root, &bad).is_err());
            }
            let index = b % first;
            let p = tree.inclusion_proof(index, first).unwrap();
            prop_assert_eq!(
                verify_inclusion(index, first, &tree.leaf_hash(index).unwrap(), &p, &old),
                Ok(())
            );
        }
    }

    #[test]
    fn tampered_entries_change_the_root(size in 2u64..=2_000, at in any::<u64>()) {
        let honest = tree_of(size);
        let at = at % size;
        let mut t = MemoryTree::new();
        for i in 0..size {
            let h = if i == at { leaf_hash(b"forged") } else { honest.leaf_hash(i).unwrap() };
            t.push_leaf_hash(h);
        }
        prop_assert_ne!(t.root(), honest.root());
        // Every tree head that includes the forged entry changes; earlier ones do not.
        prop_assert_eq!(t.root_at(at).unwrap(), honest.root_at(at).unwrap());
        prop_assert_ne!(t.root_at(at + 1).unwrap(), honest.root_at(at + 1).unwrap());
    }
}
