//! Cordon's audit ledger: an RFC 6962 / RFC 9162 Merkle log, its proofs, and
//! C2SP signed checkpoints. Pure and I/O-free: storage is reached only
//! through the [`NodeReader`] trait, and keys come in as bytes.
//!
//! * [`hash`]: leaf, node and empty-tree hashes (RFC 9162 §2.1).
//! * [`tree`]: the tree over stored complete-subtree hashes: what to store on
//!   append, tree heads, inclusion and consistency proofs, and the node ids
//!   each needs (for one batch read).
//! * [`verify`]: the RFC 9162 §2.1.3.2 and §2.1.4.2 verifiers.
//! * [`memory`]: an in-memory tree, for tests and offline verification.
//! * [`note`] and [`checkpoint`]: signed notes, verifier keys, checkpoints.
//!
//! See the crate README for the storage layout a database should use.
//!
//! ```
//! use cordon_ledger::*;
//!
//! // The in-memory tree stands in for the database's node table.
//! let tree = MemoryTree::from_entries([b"a".as_slice(), b"b", b"c"]);
//! let root = tree_hash(3, &tree)?;
//! let proof = inclusion_proof(1, 3, &tree)?;
//! verify_inclusion(1, 3, &leaf_hash(b"b"), &proof, &root)?;
//! let proof = consistency_proof(2, 3, &tree)?;
//! verify_consistency(2, 3, &tree.root_at(2)?, &root, &proof)?;
//!
//! // A signed checkpoint, opened with the published verifier key.
//! let signer = NoteSigner::from_seed("cordon.example/audit/platform", &[9u8; 32])?;
//! let note = Checkpoint::new("cordon.example/audit/platform", 3, root)?.sign(&signer)?;
//! let vkey: NoteVerifier = signer.verifier().to_string().parse()?;
//! let cp = Checkpoint::open(note.as_bytes(), "cordon.example/audit/platform", &vkey)?;
//! assert_eq!((cp.size(), cp.root()), (3, &root));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod hash;
pub mod memory;
pub mod note;
pub mod tree;
pub mod verify;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use memory::{MemoryTree, MissingNode};
pub use note::{key_id, Note, NoteError, NoteSignature, NoteSigner, NoteVerifier};
pub use tree::{
    append_dependencies, consistency_proof, consistency_proof_nodes, frontier_ids, inclusion_proof,
    inclusion_proof_nodes, stored_hashes_for_append, tree_hash, CompactRange, NodeId, NodeReader,
    ProofError, ProofNodes, TreeError,
};
pub use verify::{root_from_inclusion_proof, verify_consistency, verify_inclusion, VerifyError};
