//! A storage-agnostic RFC 6962 log tree built from complete (perfect) subtree
//! hashes.
//!
//! The only nodes ever stored are roots of *complete* subtrees, addressed by
//! [`NodeId`] `(level, index)`: node `(l, i)` is the hash of the `2^l` leaves
//! `[i·2^l, (i+1)·2^l)`. Level 0 holds the leaf hashes. A complete node never
//! changes once written, so the store is append-only; this is the set of
//! hashes Go's `sumdb/tlog` stores, addressed by coordinates instead of a
//! linear storage index.
//!
//! Every operation here touches O(log n) stored nodes and asks the
//! [`NodeReader`] for all of them in **one** batch:
//!
//! | operation | nodes read |
//! | --- | --- |
//! | append one leaf ([`stored_hashes_for_append`]) | `trailing_ones(n)` left siblings |
//! | append a batch ([`CompactRange::load`] then [`CompactRange::append`]) | `popcount(n)` |
//! | tree head ([`tree_hash`]) | `popcount(n)` |
//! | inclusion / consistency proof | at most ~2·log2(n) |

use std::fmt;
use std::ops::Range;

use thiserror::Error;

use crate::hash::{node_hash, Hash, EMPTY_ROOT};

/// The address of a complete subtree: `level` 0 is a leaf, and node
/// `(level, index)` covers leaves `[index << level, (index + 1) << level)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves (0..=63).
    pub level: u8,
    /// Position within the level, counting from the left.
    pub index: u64,
}

impl NodeId {
    /// The node at `(level, index)`.
    pub const fn new(level: u8, index: u64) -> Self {
        NodeId { level, index }
    }

    /// The leaf node for entry `index`.
    pub const fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// The leaves this node covers, `[begin, end)`. Wide integers, so that
    /// nodes at the far right of a 2^64-leaf address space do not overflow.
    pub fn leaf_range(&self) -> (u128, u128) {
        let begin = u128::from(self.index) << self.level;
        (begin, begin + (1u128 << self.level))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.level, self.index)
    }
}

/// Batch read access to stored complete-subtree hashes.
///
/// The database layer implements this with one query per call (for example
/// `SELECT level, idx, hash FROM audit_nodes WHERE log_id = ? AND (level, idx) IN (...)`).
/// Implementations must return exactly one hash per requested id, **in the
/// order requested**; ids may repeat only if the caller repeats them (the
/// functions in this crate never do). A missing node is an error of the
/// implementation's choosing.
pub trait NodeReader {
    /// The store's error type.
    type Error;

    /// Returns the hashes of `ids`, in the same order.
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error>;
}

impl<R: NodeReader + ?Sized> NodeReader for &R {
    type Error = R::Error;
    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, Self::Error> {
        (**self).read_nodes(ids)
    }
}

/// Invalid arguments for a proof, or a node list that does not fit a plan.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// Inclusion proofs need `index < size`.
    #[error("leaf index {index} is out of range for tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The requested tree size.
        size: u64,
    },
    /// Consistency proofs need `0 < first <= second`.
    #[error("a consistency proof needs 0 < first <= second (got first={first}, second={second})")]
    InvalidSizes {
        /// The earlier tree size.
        first: u64,
        /// The later tree size.
        second: u64,
    },
    /// A size larger than the tree that was asked about.
    #[error("tree size {requested} is larger than the tree ({available} leaves)")]
    SizeBeyondTree {
        /// The size that was asked for.
        requested: u64,
        /// The number of leaves available.
        available: u64,
    },
    /// The tree already holds `u64::MAX` leaves.
    #[error("the tree is full")]
    TreeFull,
    /// The number of hashes given does not match the number of nodes asked for.
    #[error("expected {expected} node hashes, got {got}")]
    HashCount {
        /// How many hashes the plan needs.
        expected: usize,
        /// How many were supplied.
        got: usize,
    },
}

/// An error from a tree operation that reads nodes through a [`NodeReader`].
#[derive(Debug, Error)]
pub enum TreeError<E> {
    /// The arguments were invalid, or the reader returned the wrong number of hashes.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The reader failed.
    #[error("reading tree nodes failed")]
    Read(#[source] E),
}

fn read_exact<R: NodeReader>(reader: &R, ids: &[NodeId]) -> Result<Vec<Hash>, TreeError<R::Error>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_nodes(ids).map_err(TreeError::Read)?;
    if hashes.len() != ids.len() {
        return Err(ProofError::HashCount {
            expected: ids.len(),
            got: hashes.len(),
        }
        .into());
    }
    Ok(hashes)
}

/// The complete subtrees that make up a tree of `size` leaves (its "compact
/// range" or frontier), largest (leftmost) first: one node per set bit of
/// `size`.
pub fn frontier_ids(size: u64) -> Vec<NodeId> {
    let mut ids = Vec::with_capacity(size.count_ones() as usize);
    for level in (0..64u8).rev() {
        if (size >> level) & 1 == 1 {
            ids.push(NodeId::new(level, (size >> level) - 1));
        }
    }
    ids
}

/// Folds frontier hashes (largest first) into the RFC 6962 tree head.
fn fold_frontier(hashes: &[Hash]) -> Hash {
    match hashes.split_last() {
        None => EMPTY_ROOT,
        Some((last, rest)) => rest
            .iter()
            .rev()
            .fold(*last, |acc, left| node_hash(left, &acc)),
    }
}

/// The RFC 6962 tree head `MTH(D[0:size])`, from `popcount(size)` stored
/// nodes read in one batch. `size == 0` gives [`EMPTY_ROOT`] without reading.
pub fn tree_hash<R: NodeReader>(size: u64, reader: &R) -> Result<Hash, TreeError<R::Error>> {
    let hashes = read_exact(reader, &frontier_ids(size))?;
    Ok(fold_frontier(&hashes))
}

/// The nodes that must already be stored to append leaf number `n` (the left
/// siblings that the new leaf completes), lowest level first.
pub fn append_dependencies(n: u64) -> Vec<NodeId> {
    (0..n.trailing_ones() as u8)
        .map(|level| NodeId::new(level, (n >> level) ^ 1))
        .collect()
}

/// What to store when leaf number `n` (0-based; the tree grows from `n` to
/// `n + 1` leaves) with hash `leaf_hash` is appended: the leaf itself at
/// `(0, n)` and every complete subtree it completes, lowest level first.
/// This is the analogue of Go's `tlog.StoredHashes`: `1 + trailing_ones(n)`
/// nodes, reading the `trailing_ones(n)` left siblings in one batch.
///
/// To append many leaves in one transaction, use [`CompactRange`] instead: it
/// reads `popcount(n)` nodes once and then needs no reads at all.
pub fn stored_hashes_for_append<R: NodeReader>(
    n: u64,
    leaf_hash: Hash,
    reader: &R,
) -> Result<Vec<(NodeId, Hash)>, TreeError<R::Error>> {
    if n == u64::MAX {
        return Err(ProofError::TreeFull.into());
    }
    let deps = append_dependencies(n);
    let siblings = read_exact(reader, &deps)?;
    let mut out = Vec::with_capacity(deps.len() + 1);
    out.push((NodeId::leaf(n), leaf_hash));
    let mut acc = leaf_hash;
    for (left, dep) in siblings.iter().zip(&deps) {
        acc = node_hash(left, &acc);
        // n < u64::MAX, so dep.level < trailing_ones(n) <= 63 and the parent fits.
        let level = dep.level + 1;
        out.push((NodeId::new(level, n >> level), acc));
    }
    Ok(out)
}

/// The frontier of a tree: the hashes of the complete subtrees covering
/// `[0, size)`. Enough to compute the tree head and to append leaves, with no
/// further reads. O(log n) memory.
///
/// Use it for batched appends (load once per transaction, append every
/// entry, store what [`append`](Self::append) returns) and for streaming
/// verification of a log from its entries.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CompactRange {
    size: u64,
    /// Hashes of `frontier_ids(size)`, largest first.
    hashes: Vec<Hash>,
}

impl fmt::Debug for CompactRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactRange")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads the frontier of a stored tree of `size` leaves (one batch read).
    pub fn load<R: NodeReader>(size: u64, reader: &R) -> Result<Self, TreeError<R::Error>> {
        let hashes = read_exact(reader, &frontier_ids(size))?;
        Ok(CompactRange { size, hashes })
    }

    /// Builds a range from hashes the caller already has for
    /// [`frontier_ids(size)`](frontier_ids), in that order.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, ProofError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(ProofError::HashCount {
                expected,
                got: hashes.len(),
            });
        }
        Ok(CompactRange { size, hashes })
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier hashes, largest subtree first (see [`frontier_ids`]).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// The RFC 6962 tree head of the current size.
    pub fn root(&self) -> Hash {
        fold_frontier(&self.hashes)
    }

    /// Appends a leaf hash, calling `store` for every node to persist (the
    /// leaf, then each completed parent, lowest level first).
    pub fn append_with(
        &mut self,
        leaf_hash: Hash,
        mut store: impl FnMut(NodeId, &Hash),
    ) -> Result<(), ProofError> {
        let n = self.size;
        if n == u64::MAX {
            return Err(ProofError::TreeFull);
        }
        store(NodeId::leaf(n), &leaf_hash);
        let mut acc = leaf_hash;
        let mut level: u8 = 0;
        // The lowest `trailing_ones(n)` frontier entries are exactly the left
        // siblings the new leaf completes, and they sit at the end of
        // `hashes`. n < u64::MAX, so at most 63 of them: `level` stays <= 63.
        while (n >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else { break };
            acc = node_hash(&left, &acc);
            level += 1;
            store(NodeId::new(level, n >> level), &acc);
        }
        self.hashes.push(acc);
        self.size = n + 1;
        Ok(())
    }

    /// Appends a leaf hash and returns the nodes to store (see
    /// [`stored_hashes_for_append`]).
    pub fn append(&mut self, leaf_hash: Hash) -> Result<Vec<(NodeId, Hash)>, ProofError> {
        let mut out = Vec::with_capacity(1 + self.size.trailing_ones() as usize);
        self.append_with(leaf_hash, |id, h| out.push((id, *h)))?;
        Ok(out)
    }
}

/// The stored nodes a proof needs, and how to turn their hashes into the
/// proof: fetch [`ids`](Self::ids) in one batch, then call
/// [`assemble`](Self::assemble).
///
/// At most one proof element is *ephemeral*: the right-border subtree that is
/// not complete at this tree size. Its hash is rebuilt from the complete
/// subtrees covering it (`ids[ephemeral]`, lowest level first).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProofNodes {
    ids: Vec<NodeId>,
    ephemeral: Range<usize>,
}

impl ProofNodes {
    /// The nodes to read, in the order [`assemble`](Self::assemble) expects.
    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    /// `ids()[range]` are folded into one proof hash (empty if none are).
    pub fn ephemeral(&self) -> Range<usize> {
        self.ephemeral.clone()
    }

    /// Number of hashes in the finished proof.
    pub fn proof_len(&self) -> usize {
        let folded = self.ephemeral.len().saturating_sub(1);
        self.ids.len() - folded
    }

    /// Turns the hashes of [`ids`](Self::ids) (same order) into the proof.
    pub fn assemble(&self, hashes: &[Hash]) -> Result<Vec<Hash>, ProofError> {
        if hashes.len() != self.ids.len() {
            return Err(ProofError::HashCount {
                expected: self.ids.len(),
                got: hashes.len(),
            });
        }
        let mut out = Vec::with_capacity(self.proof_len());
        let mut i = 0;
        while i < hashes.len() {
            if i == self.ephemeral.start && self.ephemeral.len() > 1 {
                let folded = hashes[self.ephemeral.start + 1..self.ephemeral.end]
                    .iter()
                    .fold(hashes[i], |acc, left| node_hash(left, &acc));
                out.push(folded);
                i = self.ephemeral.end;
            } else {
                out.push(hashes[i]);
                i += 1;
            }
        }
        Ok(out)
    }

    fn prepend(&mut self, id: NodeId) {
        self.ids.insert(0, id);
        if !self.ephemeral.is_empty() {
            self.ephemeral = self.ephemeral.start + 1..self.ephemeral.end + 1;
        }
    }
}

/// The audit path of the complete node `(level, index)` in a tree of `size`
/// leaves: its siblings from `level` up, with the right-border sibling that is
/// incomplete at this size expanded into the complete nodes covering it.
fn path_nodes(level: u8, index: u64, size: u64) -> ProofNodes {
    let mut ids = Vec::new();
    let mut ephemeral = 0..0;
    let last = size.saturating_sub(1);
    let size128 = u128::from(size);
    let mut level = level;
    let mut index = index;
    // When `last >> level == 0`, node (level, 0) covers the whole tree: done.
    while level < 64 && (last >> level) != 0 {
        let sibling = NodeId::new(level, index ^ 1);
        let (begin, end) = sibling.leaf_range();
        if end <= size128 {
            ids.push(sibling);
        } else if begin < size128 {
            // The sibling is incomplete: the complete subtrees of
            // [begin, size) are exactly the frontier nodes of `size` below
            // this level. Lowest first, so `assemble` folds right to left.
            let start = ids.len();
            for l in 0..level {
                if (size >> l) & 1 == 1 {
                    ids.push(NodeId::new(l, (size >> l) - 1));
                }
            }
            ephemeral = start..ids.len();
        }
        // else: the sibling lies wholly beyond the tree; RFC 6962 promotes
        // the node instead, and the path has no element at this level.
        index >>= 1;
        level += 1;
    }
    ProofNodes { ids, ephemeral }
}

/// The nodes needed for the inclusion proof of leaf `index` in the tree of
/// `size` leaves (RFC 9162 §2.1.3.1), for a batch read.
pub fn inclusion_proof_nodes(index: u64, size: u64) -> Result<ProofNodes, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    Ok(path_nodes(0, index, size))
}

/// The nodes needed for the consistency proof from tree size `first` to
/// `second` (RFC 9162 §2.1.4.1), for a batch read. Requires
/// `0 < first <= second`; equal sizes give an empty proof.
pub fn consistency_proof_nodes(first: u64, second: u64) -> Result<ProofNodes, ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::InvalidSizes { first, second });
    }
    if first == second {
        return Ok(ProofNodes::default());
    }
    // The smallest (rightmost) complete subtree of the first tree; the proof
    // is its audit path in the second tree, preceded by the node itself
    // unless it is the whole first tree (which the verifier already has).
    let level = first.trailing_zeros() as u8;
    let index = (first >> level) - 1;
    let mut nodes = path_nodes(level, index, second);
    if !first.is_power_of_two() {
        nodes.prepend(NodeId::new(level, index));
    }
    Ok(nodes)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`
/// leaves, from one batch read.
pub fn inclusion_proof<R: NodeReader>(
    index: u64,
    size: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let plan = inclusion_proof_nodes(index, size)?;
    let hashes = read_exact(reader, plan.ids())?;
    Ok(plan.assemble(&hashes)?)
}

/// The consistency proof from tree size `first` to `second`, from one batch
/// read. Requires `0 < first <= second`.
pub fn consistency_proof<R: NodeReader>(
    first: u64,
    second: u64,
    reader: &R,
) -> Result<Vec<Hash>, TreeError<R::Error>> {
    let plan = consistency_proof_nodes(first, second)?;
    let hashes = read_exact(reader, plan.ids())?;
    Ok(plan.assemble(&hashes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (size or first, index or second, expected ids, expected ephemeral range)
    type Case = (u64, u64, &'static [(u8, u64)], Option<Range<usize>>);

    fn id(level: u8, index: u64) -> NodeId {
        NodeId::new(level, index)
    }

    #[test]
    fn frontier() {
        assert!(frontier_ids(0).is_empty());
        assert_eq!(frontier_ids(1), vec![id(0, 0)]);
        assert_eq!(frontier_ids(7), vec![id(2, 0), id(1, 2), id(0, 6)]);
        assert_eq!(frontier_ids(8), vec![id(3, 0)]);
        assert_eq!(frontier_ids(u64::MAX).len(), 64);
        assert_eq!(frontier_ids(u64::MAX)[0], id(63, 0));
    }

    #[test]
    fn append_dependencies_are_the_completed_siblings() {
        assert!(append_dependencies(0).is_empty());
        assert_eq!(append_dependencies(1), vec![id(0, 0)]);
        assert!(append_dependencies(2).is_empty());
        assert_eq!(append_dependencies(3), vec![id(0, 2), id(1, 0)]);
        assert_eq!(append_dependencies(7), vec![id(0, 6), id(1, 2), id(2, 0)]);
    }

    // Node lists from transparency-dev/merkle proof/proof_test.go (TestInclusion),
    // ids only; the ephemeral range is checked where it folds more than one node.
    #[test]
    fn inclusion_node_lists_match_reference() {
        let cases: &[Case] = &[
            (1, 0, &[], None),
            (2, 0, &[(0, 1)], None),
            (2, 1, &[(0, 0)], None),
            (3, 1, &[(0, 0), (0, 2)], None),
            (7, 0, &[(0, 1), (1, 1), (0, 6), (1, 2)], Some(2..4)),
            (7, 1, &[(0, 0), (1, 1), (0, 6), (1, 2)], Some(2..4)),
            (7, 2, &[(0, 3), (1, 0), (0, 6), (1, 2)], Some(2..4)),
            (7, 3, &[(0, 2), (1, 0), (0, 6), (1, 2)], Some(2..4)),
            (7, 4, &[(0, 5), (0, 6), (2, 0)], None),
            (7, 5, &[(0, 4), (0, 6), (2, 0)], None),
            (7, 6, &[(1, 2), (2, 0)], None),
            (4, 2, &[(0, 3), (1, 0)], None),
            (5, 3, &[(0, 2), (1, 0), (0, 4)], None),
            (6, 3, &[(0, 2), (1, 0), (1, 2)], None),
            (6, 4, &[(0, 5), (2, 0)], None),
            (
                15,
                10,
                &[(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)],
                Some(2..4),
            ),
            (
                31,
                24,
                &[(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)],
                Some(2..4),
            ),
            (
                95,
                81,
                &[
                    (0, 80),
                    (1, 41),
                    (2, 21),
                    (0, 94),
                    (1, 46),
                    (2, 22),
                    (4, 4),
                    (6, 0),
                ],
                Some(3..6),
            ),
        ];
        for (size, index, want, eph) in cases {
            let got = inclusion_proof_nodes(*index, *size).unwrap();
            let want: Vec<NodeId> = want.iter().map(|&(l, i)| id(l, i)).collect();
            assert_eq!(got.ids(), &want[..], "size {size} index {index}");
            if let Some(eph) = eph {
                assert_eq!(&got.ephemeral(), eph, "size {size} index {index}");
            } else {
                assert!(got.ephemeral().len() <= 1, "size {size} index {index}");
            }
        }
        for (index, size) in [(0, 0), (1, 0), (2, 1), (3, 0), (8, 7)] {
            assert_eq!(
                inclusion_proof_nodes(index, size),
                Err(ProofError::IndexOutOfRange { index, size })
            );
        }
    }

    // transparency-dev/merkle proof/proof_test.go (TestConsistency).
    #[test]
    fn consistency_node_lists_match_reference() {
        let cases: &[Case] = &[
            (1, 2, &[(0, 1)], None),
            (1, 4, &[(0, 1), (1, 1)], None),
            (1, 6, &[(0, 1), (1, 1), (1, 2)], None),
            (2, 3, &[(0, 2)], None),
            (2, 8, &[(1, 1), (2, 1)], None),
            (3, 7, &[(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], Some(3..5)),
            (4, 7, &[(0, 6), (1, 2)], Some(0..2)),
            (5, 7, &[(0, 4), (0, 5), (0, 6), (2, 0)], None),
            (6, 7, &[(1, 2), (0, 6), (2, 0)], None),
            (7, 8, &[(0, 6), (0, 7), (1, 2), (2, 0)], None),
            (2, 4, &[(1, 1)], None),
            (3, 5, &[(0, 2), (0, 3), (1, 0), (0, 4)], None),
            (3, 6, &[(0, 2), (0, 3), (1, 0), (1, 2)], None),
            (4, 6, &[(1, 2)], None),
            (1, 7, &[(0, 1), (1, 1), (0, 6), (1, 2)], Some(2..4)),
            (
                10,
                15,
                &[(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)],
                Some(2..4),
            ),
            (
                24,
                31,
                &[(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)],
                Some(1..4),
            ),
            (
                81,
                95,
                &[
                    (0, 80),
                    (0, 81),
                    (1, 41),
                    (2, 21),
                    (0, 94),
                    (1, 46),
                    (2, 22),
                    (4, 4),
                    (6, 0),
                ],
                Some(4..7),
            ),
        ];
        for (first, second, want, eph) in cases {
            let got = consistency_proof_nodes(*first, *second).unwrap();
            let want: Vec<NodeId> = want.iter().map(|&(l, i)| id(l, i)).collect();
            assert_eq!(got.ids(), &want[..], "{first} -> {second}");
            if let Some(eph) = eph {
                assert_eq!(&got.ephemeral(), eph, "{first} -> {second}");
            } else {
                assert!(got.ephemeral().len() <= 1, "{first} -> {second}");
            }
        }
        for n in [1u64, 2, 3, 4, 5, 7, 8] {
            assert!(consistency_proof_nodes(n, n).unwrap().ids().is_empty());
        }
        for (first, second) in [(5, 0), (9, 8), (0, 0), (0, 3)] {
            assert_eq!(
                consistency_proof_nodes(first, second),
                Err(ProofError::InvalidSizes { first, second })
            );
        }
    }

    #[test]
    fn huge_sizes_do_not_overflow() {
        let size = u64::MAX;
        let p = inclusion_proof_nodes(size - 1, size).unwrap();
        assert_eq!(p.proof_len(), 63);
        let p = inclusion_proof_nodes(0, size).unwrap();
        assert_eq!(p.proof_len(), 64);
        let p = consistency_proof_nodes(size - 1, size).unwrap();
        assert!(p.proof_len() > 0);
        let p = consistency_proof_nodes(1 << 63, size).unwrap();
        assert!(p.proof_len() > 0);
        let mut r = CompactRange::from_parts((1 << 63) - 1, vec![[0u8; 32]; 63]).unwrap();
        let stored = r.append([1u8; 32]).unwrap();
        assert_eq!(stored.len(), 1 + 63);
        assert_eq!(stored.last().unwrap().0, id(63, 0));
        assert_eq!(r.hashes().len(), 1);
        let mut r = CompactRange::from_parts(size - 1, vec![[0u8; 32]; 63]).unwrap();
        assert_eq!(r.append([1u8; 32]).unwrap().len(), 1);
        assert_eq!(r.size(), u64::MAX);
        assert_eq!(r.append([1u8; 32]), Err(ProofError::TreeFull));
    }
}
