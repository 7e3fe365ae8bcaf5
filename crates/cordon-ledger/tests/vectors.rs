//! Certificate Transparency's reference vectors, as used by
//! transparency-dev/merkle (`proof/verify_test.go`) and google/trillian
//! (`merkle/testonly/constants.go`), plus the negative probes of
//! `verify_test.go` (`corruptInclusionProof`, `corruptConsistencyProof`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use cordon_ledger::{
    consistency_proof, frontier_ids, inclusion_proof, leaf_hash, tree_hash, verify_consistency,
    verify_inclusion, CompactRange, Hash, MemoryTree, NodeId, VerifyError, EMPTY_ROOT,
};

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

const LEAVES: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots for sizes 0..=8 (trillian `RootHashes()`).
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// All complete-subtree hashes of the 8-leaf tree (trillian `NodeHashes()`).
const NODES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// (0-based leaf index, tree size, path): verify_test.go `inclusionProofs`
/// (which counts leaves from 1).
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (0, 1, &[]),
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (size1, size2, proof): verify_test.go `consistencyProofs`.
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// verify_test.go `sha256SomeHash`.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn reference_tree() -> MemoryTree {
    MemoryTree::from_entries(LEAVES.iter().map(|l| hex::decode(l).unwrap()))
}

fn hashes(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

#[test]
fn eight_leaf_root() {
    assert_eq!(
        reference_tree().root(),
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    );
}

#[test]
fn roots_for_every_size() {
    let tree = reference_tree();
    let mut range = CompactRange::new();
    assert_eq!(range.root(), EMPTY_ROOT);
    for (size, want) in ROOTS.iter().enumerate() {
        let size = size as u64;
        assert_eq!(
            tree.root_at(size).unwrap(),
            h(want),
            "MemoryTree size {size}"
        );
        assert_eq!(
            tree_hash(size, &tree).unwrap(),
            h(want),
            "tree_hash size {size}"
        );
        assert_eq!(
            MemoryTree::from_entries(
                LEAVES[..size as usize]
                    .iter()
                    .map(|l| hex::decode(l).unwrap())
            )
            .root(),
            h(want)
        );
        assert_eq!(range.root(), h(want), "CompactRange size {size}");
        if let Some(leaf) = LEAVES.get(size as usize) {
            range
                .append(leaf_hash(&hex::decode(leaf).unwrap()))
                .unwrap();
        }
    }
}

#[test]
fn stored_nodes_match_trillian_node_hashes() {
    let tree = reference_tree();
    let mut count = 0;
    for (level, row) in NODES.iter().enumerate() {
        for (index, want) in row.iter().enumerate() {
            assert_eq!(
                tree.node(NodeId::new(level as u8, index as u64)),
                Some(h(want))
            );
            count += 1;
        }
    }
    assert_eq!(tree.nodes().count(), count);
    // trillian `CompactTrees()`: the frontier of every size.
    for size in 0..=8u64 {
        let want: Vec<Hash> = frontier_ids(size)
            .iter()
            .map(|id| h(NODES[id.level as usize][id.index as usize]))
            .collect();
        assert_eq!(tree.compact_range(size).unwrap().hashes(), &want[..]);
    }
}

#[test]
fn inclusion_vectors_are_generated_and_verify() {
    let tree = reference_tree();
    for (index, size, path) in INCLUSION {
        let want = hashes(path);
        assert_eq!(
            tree.inclusion_proof(index, size).unwrap(),
            want,
            "{index}@{size}"
        );
        assert_eq!(inclusion_proof(index, size, &tree).unwrap(), want);
        let leaf = leaf_hash(&hex::decode(LEAVES[index as usize]).unwrap());
        let root = h(ROOTS[size as usize]);
        verify_inclusion(index, size, &leaf, &want, &root).unwrap();
        for (desc, p) in corrupt_inclusion(index, size, &leaf, &want, &root) {
            assert!(
                verify_inclusion(p.index, p.size, &p.leaf, &p.proof, &p.root).is_err(),
                "{index}@{size}: accepted {desc}"
            );
        }
    }
}

#[test]
fn consistency_vectors_are_generated_and_verify() {
    let tree = reference_tree();
    for (first, second, path) in CONSISTENCY {
        let want = hashes(path);
        assert_eq!(
            tree.consistency_proof(first, second).unwrap(),
            want,
            "{first}->{second}"
        );
        assert_eq!(consistency_proof(first, second, &tree).unwrap(), want);
        let (r1, r2) = (h(ROOTS[first as usize]), h(ROOTS[second as usize]));
        verify_consistency(first, second, &r1, &r2, &want).unwrap();
        if want.is_empty() {
            continue;
        }
        for (desc, p) in corrupt_consistency(first, second, &r1, &r2, &want) {
            assert!(
                verify_consistency(p.first, p.second, &p.r1, &p.r2, &p.proof).is_err(),
                "{first}->{second}: accepted {desc}"
            );
        }
    }
}

/// Every proof between the reference sizes, generated here, verifies.
#[test]
fn all_small_proofs_verify() {
    let tree = reference_tree();
    for size in 1..=8u64 {
        let root = h(ROOTS[size as usize]);
        for index in 0..size {
            let leaf = tree.leaf_hash(index).unwrap();
            let p = tree.inclusion_proof(index, size).unwrap();
            verify_inclusion(index, size, &leaf, &p, &root).unwrap();
        }
        for first in 1..=size {
            let p = tree.consistency_proof(first, size).unwrap();
            verify_consistency(first, size, &h(ROOTS[first as usize]), &root, &p).unwrap();
        }
    }
}

struct InclusionProbe {
    index: u64,
    size: u64,
    leaf: Hash,
    proof: Vec<Hash>,
    root: Hash,
}

fn corrupt_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let p = |index: u64, size: u64, leaf: Hash, proof: Vec<Hash>, root: Hash| InclusionProbe {
        index,
        size,
        leaf,
        proof,
        root,
    };
    let mut out = vec![
        (
            "index - 1".into(),
            p(index.wrapping_sub(1), size, *leaf, proof.to_vec(), *root),
        ),
        (
            "index + 1".into(),
            p(index + 1, size, *leaf, proof.to_vec(), *root),
        ),
        (
            "index ^ 2".into(),
            p(index ^ 2, size, *leaf, proof.to_vec(), *root),
        ),
        (
            "size * 2".into(),
            p(index, size * 2, *leaf, proof.to_vec(), *root),
        ),
        (
            "size / 2".into(),
            p(index, size / 2, *leaf, proof.to_vec(), *root),
        ),
        (
            "wrong leaf".into(),
            p(index, size, leaf_hash(b"WrongLeaf"), proof.to_vec(), *root),
        ),
        (
            "empty root".into(),
            p(index, size, *leaf, proof.to_vec(), EMPTY_ROOT),
        ),
        (
            "random root".into(),
            p(index, size, *leaf, proof.to_vec(), h(SOME_HASH)),
        ),
        (
            "trailing zero".into(),
            p(index, size, *leaf, [proof, &[[0; 32]]].concat(), *root),
        ),
        (
            "trailing root".into(),
            p(index, size, *leaf, [proof, &[*root]].concat(), *root),
        ),
        (
            "preceding zero".into(),
            p(index, size, *leaf, [&[[0; 32]], proof].concat(), *root),
        ),
        (
            "preceding root".into(),
            p(index, size, *leaf, [&[*root], proof].concat(), *root),
        ),
    ];
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        bad[i][0] ^= 8;
        out.push((
            format!("modified proof[{i}] bit 3"),
            p(index, size, *leaf, bad, *root),
        ));
    }
    if !proof.is_empty() {
        let short = proof[..proof.len() - 1].to_vec();
        out.push((
            "removed component".into(),
            p(index, size, *leaf, short, *root),
        ));
    }
    if proof.len() > 1 {
        let mut ins = vec![proof[0], h(SOME_HASH)];
        ins.extend_from_slice(&proof[1..]);
        out.push((
            "inserted component".into(),
            p(index, size, *leaf, ins, *root),
        ));
    }
    out
}

struct ConsistencyProbe {
    first: u64,
    second: u64,
    r1: Hash,
    r2: Hash,
    proof: Vec<Hash>,
}

fn corrupt_consistency(
    first: u64,
    second: u64,
    r1: &Hash,
    r2: &Hash,
    proof: &[Hash],
) -> Vec<(String, ConsistencyProbe)> {
    let p = |first: u64, second: u64, r1: Hash, r2: Hash, proof: Vec<Hash>| ConsistencyProbe {
        first,
        second,
        r1,
        r2,
        proof,
    };
    let wrong = leaf_hash(b"WrongRoot");
    let mut out = vec![
        (
            "size1 - 1".into(),
            p(first - 1, second, *r1, *r2, proof.to_vec()),
        ),
        (
            "size1 + 1".into(),
            p(first + 1, second, *r1, *r2, proof.to_vec()),
        ),
        (
            "size1 ^ 2".into(),
            p(first ^ 2, second, *r1, *r2, proof.to_vec()),
        ),
        (
            "size2 * 2".into(),
            p(first, second * 2, *r1, *r2, proof.to_vec()),
        ),
        (
            "size2 / 2".into(),
            p(first, second / 2, *r1, *r2, proof.to_vec()),
        ),
        (
            "wrong root1".into(),
            p(first, second, wrong, *r2, proof.to_vec()),
        ),
        (
            "wrong root2".into(),
            p(first, second, *r1, wrong, proof.to_vec()),
        ),
        (
            "swapped roots".into(),
            p(first, second, *r2, *r1, proof.to_vec()),
        ),
        ("empty proof".into(), p(first, second, *r1, *r2, vec![])),
        (
            "trailing zero".into(),
            p(first, second, *r1, *r2, [proof, &[[0; 32]]].concat()),
        ),
        (
            "trailing root1".into(),
            p(first, second, *r1, *r2, [proof, &[*r1]].concat()),
        ),
        (
            "trailing root2".into(),
            p(first, second, *r1, *r2, [proof, &[*r2]].concat()),
        ),
        (
            "preceding zero".into(),
            p(first, second, *r1, *r2, [&[[0; 32]], proof].concat()),
        ),
        (
            "preceding root1".into(),
            p(first, second, *r1, *r2, [&[*r1], proof].concat()),
        ),
        (
            "preceding root2".into(),
            p(first, second, *r1, *r2, [&[*r2], proof].concat()),
        ),
        (
            "preceding proof[0]".into(),
            p(first, second, *r1, *r2, [&[proof[0]], proof].concat()),
        ),
        (
            "truncated proof".into(),
            p(first, second, *r1, *r2, proof[..proof.len() - 1].to_vec()),
        ),
    ];
    for i in 0..proof.len() {
        let mut bad = proof.to_vec();
        bad[i][0] ^= 16;
        out.push((
            format!("modified proof[{i}] bit 4"),
            p(first, second, *r1, *r2, bad),
        ));
    }
    out
}

/// verify_test.go TestVerifyInclusionSingleEntry and TestVerifyInclusion.
#[test]
fn inclusion_edge_cases() {
    let hash = leaf_hash(b"data");
    verify_inclusion(0, 1, &hash, &[], &hash).unwrap();
    assert_eq!(
        verify_inclusion(0, 1, &hash, &[], &EMPTY_ROOT),
        Err(VerifyError::RootMismatch)
    );
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert_eq!(
            verify_inclusion(index, size, &h(SOME_HASH), &[], &EMPTY_ROOT),
            Err(VerifyError::IndexOutOfRange { index, size })
        );
    }
    assert!(verify_inclusion(0, 1, &h(SOME_HASH), &[], &EMPTY_ROOT).is_err());
    // A proof longer than the tree is deep.
    assert_eq!(
        verify_inclusion(0, 1, &hash, &[hash], &hash),
        Err(VerifyError::WrongProofLength)
    );
    // Extreme sizes must not panic.
    assert!(verify_inclusion(u64::MAX - 1, u64::MAX, &hash, &[hash; 64], &hash).is_err());
    assert!(verify_inclusion(0, u64::MAX, &hash, &[hash; 70], &hash).is_err());
}

/// verify_test.go TestVerifyConsistency, with Cordon's stricter rule for
/// size 0 (the first root must then be the empty-tree hash).
#[test]
fn consistency_edge_cases() {
    let root1 = leaf_hash(b"don't care 1");
    let root2 = leaf_hash(b"don't care 2");
    let none: [Hash; 0] = [];
    let one = [EMPTY_ROOT];
    // Equal sizes need equal roots and an empty proof.
    assert!(verify_consistency(0, 0, &root1, &root2, &none).is_err());
    assert!(verify_consistency(1, 1, &root1, &root2, &none).is_err());
    verify_consistency(0, 0, &root1, &root1, &none).unwrap();
    verify_consistency(1, 1, &root2, &root2, &none).unwrap();
    // Every tree extends the empty tree, whose root is SHA-256("").
    verify_consistency(0, 1, &EMPTY_ROOT, &root2, &none).unwrap();
    assert_eq!(
        verify_consistency(0, 1, &root1, &root2, &none),
        Err(VerifyError::FirstRootMismatch)
    );
    // Time travel.
    assert_eq!(
        verify_consistency(1, 0, &root1, &root2, &none),
        Err(VerifyError::SizeDecreased {
            first: 1,
            second: 0
        })
    );
    assert!(verify_consistency(2, 1, &root1, &root2, &none).is_err());
    // Empty proof for different sizes.
    assert_eq!(
        verify_consistency(1, 2, &root1, &root2, &none),
        Err(VerifyError::WrongProofLength)
    );
    // Roots don't match.
    assert!(verify_consistency(0, 0, &EMPTY_ROOT, &root2, &none).is_err());
    assert!(verify_consistency(1, 1, &EMPTY_ROOT, &root2, &none).is_err());
    // Roots match but the proof is not empty.
    assert!(verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &one).is_err());
    assert!(verify_consistency(0, 1, &EMPTY_ROOT, &EMPTY_ROOT, &one).is_err());
    assert!(verify_consistency(1, 1, &EMPTY_ROOT, &EMPTY_ROOT, &one).is_err());
    // Extreme sizes must not panic.
    assert!(verify_consistency(1, u64::MAX, &root1, &root2, &[root1; 64]).is_err());
    assert!(verify_consistency(u64::MAX - 1, u64::MAX, &root1, &root2, &[root1; 3]).is_err());
}
