//! Signed widget releases (issue 12): the widget's files (the loader, the frame page's template, the frame's
//! script and style) as a **manifest** of paths, sizes and SHA-384 hashes, signed with an Ed25519 release key as
//! a C2SP signed note (the format of the audit checkpoints, from cordon-ledger), and the checks made against it:
//! by the server before it serves a byte, and by `cordon monitor` against what a deployment serves.
//!
//! Pure and I/O-free: files come in as bytes, keys as seeds or strings.
//!
//! * [`manifest`]: the manifest, its text, signing and opening with the trusted keys, the content-addressed
//!   paths and SRI values of its files.
//! * [`frame`]: the frame page rendered from its template, the same template matched against a served page,
//!   and the page's Content-Security-Policy.
#![forbid(unsafe_code)]

pub mod frame;
pub mod manifest;

pub use frame::{match_frame, page_csp, render_frame, ws_origin, FrameValues};
pub use manifest::{
    content_path, signer_from_key_string, signer_from_seed, signer_key_string, sri, valid_id,
    verifier, FileEntry, Manifest, WidgetFile, KEY_NAME, WIDGET_FILES,
};

use thiserror::Error;

/// Why a release, a file or a served page was refused. No variant quotes its input: file names come from the
/// fixed list of the widget's files.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReleaseError {
    /// A release needs every widget file.
    #[error("the release has no {0}")]
    MissingFile(&'static str),
    /// A manifest names a file that is not one of the widget's, or one twice.
    #[error("the manifest names a file outside the widget's files, or one twice")]
    UnexpectedFile,
    /// A file larger than [`manifest::MAX_FILE_BYTES`].
    #[error("a widget file is larger than {max} bytes")]
    FileTooLarge { max: usize },
    /// A release id that is not 1-64 of `a-z A-Z 0-9 . _ -`.
    #[error("malformed release id")]
    InvalidId,
    /// The manifest's text does not parse.
    #[error("malformed release manifest")]
    Malformed,
    /// The note is signed by no key the caller trusts.
    #[error("the release is not signed by a trusted release key")]
    UnknownKey,
    /// A signature that claims a trusted key and does not verify.
    #[error("the release's signature does not verify")]
    BadSignature,
    /// The key string does not parse.
    #[error("malformed release key")]
    MalformedKey,
    /// The bytes of a file differ from its manifest entry.
    #[error("{0} does not match the signed manifest")]
    Mismatch(&'static str),
    /// A served frame page that is not its release's template with safe values filled in.
    #[error("the frame page is not the release's template: {0}")]
    FrameMismatch(&'static str),
}
