//! Pure proof verifiers, following RFC 9162 §2.1.3.2 (inclusion) and
//! §2.1.4.2 (consistency) step by step.

use thiserror::Error;

use crate::hash::{node_hash, Hash, EMPTY_ROOT};

/// Why a proof did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VerifyError {
    /// `leaf_index >= tree_size`.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The second tree is smaller than the first.
    #[error("tree size went backwards: {first} > {second}")]
    SizeDecreased {
        /// The earlier size.
        first: u64,
        /// The later size.
        second: u64,
    },
    /// The proof has the wrong number of elements for these sizes.
    #[error("proof has the wrong number of hashes for these tree sizes")]
    WrongProofLength,
    /// The proof does not lead to the given (first) root.
    #[error("proof does not match the first tree's root hash")]
    FirstRootMismatch,
    /// The proof does not lead to the given root.
    #[error("proof does not match the root hash")]
    RootMismatch,
}

/// Verifies that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size`
/// leaves whose head is `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(VerifyError::RootMismatch)
    }
}

/// Steps 1-5 of RFC 9162 §2.1.3.2 without the final comparison: the root
/// that the proof implies.
pub fn root_from_inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, VerifyError> {
    // 1.
    if leaf_index >= tree_size {
        return Err(VerifyError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    // 2.
    let mut fnode = leaf_index;
    let mut snode = tree_size - 1;
    // 3.
    let mut r = *leaf_hash;
    // 4.
    for p in proof {
        // 4a.
        if snode == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        // 4b.
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        // 4c.
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    if snode != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    Ok(r)
}

/// Verifies that the tree of `second` leaves with head `second_root` extends
/// the tree of `first` leaves with head `first_root` (RFC 9162 §2.1.4.2).
///
/// The RFC algorithm covers `0 < first < second`. The edge cases are decided
/// strictly: equal sizes need an empty proof and equal roots; `first == 0`
/// needs an empty proof and `first_root` equal to the empty-tree hash (every
/// tree extends the empty tree).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if first > second {
        return Err(VerifyError::SizeDecreased { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength);
        }
        return if first_root == second_root {
            Ok(())
        } else {
            Err(VerifyError::RootMismatch)
        };
    }
    if first == 0 {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength);
        }
        return if first_root == &EMPTY_ROOT {
            Ok(())
        } else {
            Err(VerifyError::FirstRootMismatch)
        };
    }
    // 1.
    let Some((&head, rest)) = proof.split_first() else {
        return Err(VerifyError::WrongProofLength);
    };
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let (seed, path) = if first.is_power_of_two() {
        (*first_root, proof)
    } else {
        (head, rest)
    };
    // 3.
    let mut fnode = first - 1;
    let mut snode = second - 1;
    // 4.
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    let mut fr = seed;
    let mut sr = seed;
    // 6.
    for c in path {
        // 6a.
        if snode == 0 {
            return Err(VerifyError::WrongProofLength);
        }
        // 6b.
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        // 6c.
        fnode >>= 1;
        snode >>= 1;
    }
    // 7.
    if snode != 0 {
        return Err(VerifyError::WrongProofLength);
    }
    if &fr != first_root {
        return Err(VerifyError::FirstRootMismatch);
    }
    if &sr != second_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}
