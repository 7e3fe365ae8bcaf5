//! An in-memory tree: a [`NodeReader`] for tests, and the recomputation
//! behind `cordon audit verify`.

use std::fmt;

use thiserror::Error;

use crate::hash::{leaf_hash, node_hash, Hash};
use crate::tree::{self, NodeId, NodeReader, ProofError, TreeError};

/// A node that the tree does not hold (beyond its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("node {0:?} is not in the tree")]
pub struct MissingNode(pub NodeId);

/// Every complete subtree hash of a log, level by level, in memory
/// (about 64 bytes per leaf).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    /// `levels[l][i]` is node `(l, i)`; only complete subtrees are kept.
    levels: Vec<Vec<Hash>>,
}

impl fmt::Debug for MemoryTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTree")
            .field("size", &self.size())
            .finish_non_exhaustive()
    }
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tree with room for `leaves` leaves.
    pub fn with_capacity(leaves: usize) -> Self {
        let mut levels = Vec::new();
        let mut n = leaves;
        while n > 0 {
            levels.push(Vec::with_capacity(n));
            n /= 2;
        }
        MemoryTree { levels }
    }

    /// Builds the tree of the given entries (each hashed as a leaf).
    pub fn from_entries<I, E>(entries: I) -> Self
    where
        I: IntoIterator<Item = E>,
        E: AsRef<[u8]>,
    {
        let entries = entries.into_iter();
        let mut tree = Self::with_capacity(entries.size_hint().0);
        for e in entries {
            tree.push_entry(e.as_ref());
        }
        tree
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends an entry; returns its index.
    pub fn push_entry(&mut self, entry: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf hash; returns its index.
    pub fn push_leaf_hash(&mut self, hash: Hash) -> u64 {
        let index = self.size();
        let mut level = 0;
        let mut hash = hash;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let len = row.len();
            if len % 2 == 1 {
                break;
            }
            hash = node_hash(&row[len - 2], &row[len - 1]);
            level += 1;
        }
        index
    }

    /// The stored hash of a complete subtree, if the tree holds it.
    pub fn node(&self, id: NodeId) -> Option<Hash> {
        let row = self.levels.get(usize::from(id.level))?;
        row.get(usize::try_from(id.index).ok()?).copied()
    }

    /// The leaf hash of entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        self.node(NodeId::leaf(index))
    }

    /// Every complete subtree hash, level by level, left to right: what a
    /// database holding this log should have in its node table.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Hash)> + '_ {
        self.levels.iter().enumerate().flat_map(|(level, row)| {
            // At most 64 levels, so `level` fits in u8.
            let level = level as u8;
            row.iter()
                .enumerate()
                .map(move |(i, h)| (NodeId::new(level, i as u64), *h))
        })
    }

    /// The tree head at the current size.
    pub fn root(&self) -> Hash {
        self.compact_range(self.size())
            .map(|r| r.root())
            .unwrap_or(crate::EMPTY_ROOT)
    }

    /// The tree head at an earlier (or the current) size.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        Ok(self.compact_range(size)?.root())
    }

    /// The frontier at `size`, for example to continue appending from there.
    pub fn compact_range(&self, size: u64) -> Result<tree::CompactRange, ProofError> {
        self.check_size(size)?;
        tree::CompactRange::load(size, self).map_err(|e| self.flatten(e, size))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        tree::inclusion_proof(index, size, self).map_err(|e| self.flatten(e, size))
    }

    /// The consistency proof from size `first` to size `second`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(second)?;
        tree::consistency_proof(first, second, self).map_err(|e| self.flatten(e, second))
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        if size > self.size() {
            return Err(ProofError::SizeBeyondTree {
                requested: size,
                available: self.size(),
            });
        }
        Ok(())
    }

    fn flatten(&self, e: TreeError<MissingNode>, size: u64) -> ProofError {
        match e {
            TreeError::Proof(p) => p,
            // check_size ran first, and every complete subtree of a tree no
            // larger than ours is stored, so a read cannot miss; were it to,
            // it would mean the size was beyond the tree.
            TreeError::Read(MissingNode(_)) => ProofError::SizeBeyondTree {
                requested: size,
                available: self.size(),
            },
        }
    }
}

impl NodeReader for MemoryTree {
    type Error = MissingNode;

    fn read_nodes(&self, ids: &[NodeId]) -> Result<Vec<Hash>, MissingNode> {
        ids.iter()
            .map(|&id| self.node(id).ok_or(MissingNode(id)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{frontier_ids, stored_hashes_for_append, CompactRange};

    #[test]
    fn stored_nodes_match_stored_hashes_for_append() {
        let mut tree = MemoryTree::new();
        let mut range = CompactRange::new();
        let mut all = Vec::new();
        for i in 0..300u64 {
            let h = leaf_hash(&i.to_be_bytes());
            let expect = stored_hashes_for_append(i, h, &tree).unwrap();
            assert_eq!(range.append(h).unwrap(), expect);
            all.extend(expect);
            tree.push_leaf_hash(h);
            assert_eq!(range.root(), tree.root());
            assert_eq!(range, tree.compact_range(i + 1).unwrap());
        }
        let mut nodes: Vec<_> = tree.nodes().collect();
        nodes.sort();
        all.sort();
        assert_eq!(nodes, all);
        assert!(tree.read_nodes(&frontier_ids(301)).is_err());
        assert_eq!(
            tree.inclusion_proof(0, 301),
            Err(ProofError::SizeBeyondTree {
                requested: 301,
                available: 300
            })
        );
    }

    #[test]
    fn debug_does_not_dump_hashes() {
        let tree = MemoryTree::from_entries([b"a", b"b"]);
        assert_eq!(format!("{tree:?}"), "MemoryTree { size: 2, .. }");
    }
}
