//! Proof verification and proof planning must never panic on any sizes,
//! indexes or proof lists; and for a small real tree, honest proofs verify
//! and any change to them is rejected.
#![no_main]

use cordon_ledger::{
    consistency_proof_nodes, inclusion_proof_nodes, leaf_hash, verify_consistency,
    verify_inclusion, Hash, MemoryTree,
};
use libfuzzer_sys::fuzz_target;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let (a, b, c) = (u64_at(data, 0), u64_at(data, 8), u64_at(data, 16));
    let rest = data.get(24..).unwrap_or(&[]);
    let proof: Vec<Hash> = rest
        .chunks_exact(32)
        .take(80)
        .map(|ch| {
            let mut h = [0u8; 32];
            h.copy_from_slice(ch);
            h
        })
        .collect();
    let x = proof.first().copied().unwrap_or([0; 32]);

    // Arbitrary inputs: only errors, never panics.
    let _ = verify_inclusion(a, b, &x, &proof, &x);
    let _ = verify_consistency(
        a,
        b,
        &x,
        &c.to_le_bytes().repeat(4).try_into().unwrap_or(x),
        &proof,
    );
    if let Ok(plan) = inclusion_proof_nodes(a, b) {
        let hashes = vec![x; plan.ids().len()];
        assert_eq!(
            plan.assemble(&hashes).map(|p| p.len()),
            Ok(plan.proof_len())
        );
        let _ = plan.assemble(&proof);
    }
    if let Ok(plan) = consistency_proof_nodes(a, b) {
        let hashes = vec![x; plan.ids().len()];
        assert_eq!(
            plan.assemble(&hashes).map(|p| p.len()),
            Ok(plan.proof_len())
        );
    }

    // A small real tree: honest proofs verify, tampered ones do not.
    let size = 1 + c % 300;
    let tree = MemoryTree::from_entries((0..size).map(|i| i.to_le_bytes()));
    let root = tree.root();
    let index = a % size;
    let leaf = leaf_hash(&index.to_le_bytes());
    let Ok(p) = tree.inclusion_proof(index, size) else {
        panic!("inclusion proof")
    };
    assert_eq!(verify_inclusion(index, size, &leaf, &p, &root), Ok(()));
    if !p.is_empty() {
        let mut bad = p.clone();
        let k = (b as usize) % bad.len();
        bad[k][(b as usize >> 8) % 32] ^= 1 << (b % 8);
        assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
    }
    let first = 1 + b % size;
    let Ok(old) = tree.root_at(first) else {
        panic!("root_at")
    };
    let Ok(p) = tree.consistency_proof(first, size) else {
        panic!("consistency proof")
    };
    assert_eq!(verify_consistency(first, size, &old, &root, &p), Ok(()));
    if !p.is_empty() {
        let mut bad = p.clone();
        let k = (a as usize) % bad.len();
        bad[k][(a as usize >> 8) % 32] ^= 1 << (a % 8);
        assert!(verify_consistency(first, size, &old, &root, &bad).is_err());
    }
});
