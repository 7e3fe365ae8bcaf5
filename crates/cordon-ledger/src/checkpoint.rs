//! C2SP tlog checkpoints (<https://c2sp.org/tlog-checkpoint>): a signed note
//! whose text is the origin line, the tree size in decimal and the base64
//! root hash, optionally followed by extension lines.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use thiserror::Error;

use crate::hash::Hash;
use crate::note::{NoteError, NoteSigner, NoteVerifier};

/// Errors from building, parsing and opening checkpoints. No variant carries
/// text taken from the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointError {
    /// The signed note itself is malformed or not signed by the trusted key.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The origin line is empty or contains a control character.
    #[error("checkpoint origin is empty or contains control characters")]
    InvalidOrigin,
    /// The origin is not the log the caller expected.
    #[error("checkpoint is for another log (expected origin {expected:?})")]
    OriginMismatch {
        /// The origin the caller asked for.
        expected: String,
    },
    /// Fewer than three lines, or text not ending in a newline.
    #[error("checkpoint text must have origin, size and root hash lines")]
    Truncated,
    /// The size line is not a decimal `u64` without leading zeroes.
    #[error("checkpoint tree size is not a canonical decimal number")]
    InvalidSize,
    /// The root line is not the standard base64 of 32 bytes.
    #[error("checkpoint root hash is not the base64 of 32 bytes")]
    InvalidRoot,
    /// An empty or otherwise invalid extension line.
    #[error("checkpoint extension lines must be non-empty and free of control characters")]
    InvalidExtension,
}

/// A log's tree head: origin, size and root hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(char::is_control)
}

impl Checkpoint {
    /// A checkpoint for the log `origin` at `size` leaves with head `root`.
    /// The origin should be a schema-less URL without spaces or `+`, such as
    /// `cordon.example/audit/tenant/123`; it must be non-empty and free of
    /// control characters.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        if !is_valid_line(origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds extension lines (the spec does not recommend them).
    pub fn with_extensions(mut self, lines: Vec<String>) -> Result<Self, CheckpointError> {
        if !lines.iter().all(|l| is_valid_line(l)) {
            return Err(CheckpointError::InvalidExtension);
        }
        self.extensions = lines;
        Ok(self)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Extension lines, if any.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: `origin\nsize\nbase64(root)\n` plus one line per extension.
    pub fn body(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses a checkpoint's note text (strictly: canonical decimal size,
    /// canonical base64 of exactly 32 bytes, non-empty extension lines).
    pub fn parse_body(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Truncated)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Truncated);
        };
        if !is_valid_line(origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        let size = parse_size(size).ok_or(CheckpointError::InvalidSize)?;
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(CheckpointError::InvalidRoot)?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if !extensions.iter().all(|l| is_valid_line(l)) {
            return Err(CheckpointError::InvalidExtension);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The signed checkpoint: body, blank line, signature line.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, CheckpointError> {
        Ok(signer.sign(&self.body())?)
    }

    /// Opens a signed checkpoint: verifies the note against `verifier` (C2SP
    /// rules), then parses its text and checks that it is for `origin`.
    pub fn open(
        note: &[u8],
        origin: &str,
        verifier: &NoteVerifier,
    ) -> Result<Self, CheckpointError> {
        let note = verifier.open(note)?;
        let cp = Self::parse_body(note.text())?;
        if cp.origin != origin {
            return Err(CheckpointError::OriginMismatch {
                expected: origin.to_owned(),
            });
        }
        Ok(cp)
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}
