//! RFC 6962 Merkle log (placeholder; see issue 5).
#![forbid(unsafe_code)]
