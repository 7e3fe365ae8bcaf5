//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys, and
//! note verifier keys (`<name>+<hex key id>+<base64(0x01 ‖ public key)>`), as
//! in Go's `golang.org/x/mod/sumdb/note`.
//!
//! Nothing here does I/O: keys come in as bytes or strings.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The signature type byte of Ed25519 note signatures.
pub const ALG_ED25519: u8 = 0x01;

/// The largest note accepted by [`Note::parse`].
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines accepted by [`Note::parse`] (the spec asks for at
/// least 16; Go's implementation stops at 100).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";
const PRIVATE_KEY_PREFIX: &str = "PRIVATE+KEY+";

/// Errors from parsing, signing and verifying notes and keys. No variant
/// carries text taken from the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("note is larger than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Not UTF-8, or an ASCII control character other than newline.
    #[error("note is not valid UTF-8 or contains control characters")]
    InvalidEncoding,
    /// No blank line followed by signature lines ending in a newline.
    #[error("note has no signature block")]
    MissingSignatureBlock,
    /// A line in the signature block is not `— <name> <base64>`.
    #[error("signature line {line} is malformed")]
    MalformedSignatureLine {
        /// 1-based position within the signature block.
        line: usize,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has more than {max} signatures")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// Text to sign must be non-empty, end in a newline, and contain no
    /// control characters other than newline.
    #[error("note text must be non-empty, end with a newline and contain no control characters")]
    InvalidText,
    /// Key names must be non-empty, without spaces or `+`.
    #[error("key name is empty or contains a space or '+'")]
    InvalidKeyName,
    /// A verifier or signer key string that does not parse.
    #[error("malformed key string")]
    MalformedKey,
    /// A key string whose key id does not match its name and public key.
    #[error("key id does not match the key name and public key")]
    KeyIdMismatch,
    /// A key of a type other than Ed25519.
    #[error("unsupported signature type {0:#04x}")]
    UnsupportedAlgorithm(u8),
    /// Not a valid Ed25519 public key.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// A signature by the trusted key that does not verify: the note must be rejected.
    #[error("signature by {name}+{key_id:08x} does not verify")]
    BadSignature {
        /// The trusted key's name.
        name: String,
        /// The trusted key's id.
        key_id: u32,
    },
    /// No signature by the trusted key.
    #[error("note has no signature by {name}+{key_id:08x}")]
    NotSignedByKey {
        /// The trusted key's name.
        name: String,
        /// The trusted key's id.
        key_id: u32,
    },
}

/// The C2SP key id: `SHA-256(name ‖ "\n" ‖ alg ‖ public key)[:4]`, big-endian.
pub fn key_id(name: &str, alg: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([alg]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `name` is a valid key name: non-empty, no Unicode white space, no `+`.
pub fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn is_valid_text(text: &str) -> bool {
    !text.is_empty() && text.ends_with('\n') && !text.chars().any(|c| c < ' ' && c != '\n')
}

/// Splits at the first `sep`; the second part is `None` if there is none.
fn chop(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

fn parse_hex_key_id(s: &str) -> Option<u32> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// An Ed25519 note signing key. Its `Debug` output never shows the key.
pub struct NoteSigner {
    name: String,
    key_id: u32,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    /// A signer for key name `name` from a 32-byte Ed25519 seed (the RFC 8032
    /// private key).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = SigningKey::from_bytes(seed);
        let key_id = key_id(name, ALG_ED25519, key.verifying_key().as_bytes());
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id,
            key,
        })
    }

    /// Parses Go's signer key string,
    /// `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`.
    pub fn from_signer_key(skey: &str) -> Result<Self, NoteError> {
        let rest = skey
            .strip_prefix(PRIVATE_KEY_PREFIX)
            .ok_or(NoteError::MalformedKey)?;
        let (name, rest) = chop(rest, '+');
        let (id_hex, key64) = chop(rest.ok_or(NoteError::MalformedKey)?, '+');
        let key64 = key64.ok_or(NoteError::MalformedKey)?;
        let id = parse_hex_key_id(id_hex).ok_or(NoteError::MalformedKey)?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let raw = zeroizing_decode(key64)?;
        let (&alg, seed) = raw.split_first().ok_or(NoteError::MalformedKey)?;
        if alg != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(alg));
        }
        let seed: &[u8; 32] = seed.try_into().map_err(|_| NoteError::MalformedKey)?;
        let signer = Self::from_seed(name, seed)?;
        if signer.key_id != id {
            return Err(NoteError::KeyIdMismatch);
        }
        Ok(signer)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// One signature line, `— <name> <base64(key id ‖ signature)>\n`, over `text`.
    pub fn signature_line(&self, text: &str) -> Result<String, NoteError> {
        if !is_valid_text(text) {
            return Err(NoteError::InvalidText);
        }
        let sig = self.key.sign(text.as_bytes());
        let mut raw = Vec::with_capacity(4 + 64);
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw)))
    }

    /// The signed note: `text`, a blank line, and this key's signature line.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        let line = self.signature_line(text)?;
        Ok(format!("{text}\n{line}"))
    }
}

/// Decodes base64 into a buffer that is wiped on drop (it holds a seed).
fn zeroizing_decode(s: &str) -> Result<ZeroOnDrop, NoteError> {
    B64.decode(s)
        .map(ZeroOnDrop)
        .map_err(|_| NoteError::MalformedKey)
}

struct ZeroOnDrop(Vec<u8>);

impl std::ops::Deref for ZeroOnDrop {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ZeroOnDrop {
    fn drop(&mut self) {
        // Best effort without `unsafe`: overwrite, then keep the optimiser
        // from discarding the writes.
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&mut self.0);
    }
}

/// A trusted Ed25519 note key: name, key id and public key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    key: VerifyingKey,
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoteVerifier")
            .field(&self.to_string())
            .finish()
    }
}

impl NoteVerifier {
    /// A verifier for key name `name` and a 32-byte Ed25519 public key.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let key = VerifyingKey::from_bytes(public_key).map_err(|_| NoteError::InvalidPublicKey)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, ALG_ED25519, public_key),
            key,
        })
    }

    /// Parses a verifier key, `<name>+<hex key id>+<base64(0x01 ‖ public key)>`,
    /// checking that the key id matches.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let (name, rest) = chop(vkey, '+');
        let (id_hex, key64) = chop(rest.ok_or(NoteError::MalformedKey)?, '+');
        let key64 = key64.ok_or(NoteError::MalformedKey)?;
        let id = parse_hex_key_id(id_hex).ok_or(NoteError::MalformedKey)?;
        if !is_valid_key_name(name) {
            return Err(NoteError::InvalidKeyName);
        }
        let raw = B64.decode(key64).map_err(|_| NoteError::MalformedKey)?;
        if raw.is_empty() {
            return Err(NoteError::MalformedKey);
        }
        if key_id(name, raw[0], &raw[1..]) != id {
            return Err(NoteError::KeyIdMismatch);
        }
        if raw[0] != ALG_ED25519 {
            return Err(NoteError::UnsupportedAlgorithm(raw[0]));
        }
        let pk: &[u8; 32] = raw[1..].try_into().map_err(|_| NoteError::MalformedKey)?;
        Self::from_public_key(name, pk)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The 32-byte Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Whether `signature` (without the key id) is this key's signature of `text`.
    pub fn verify(&self, text: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <&[u8; 64]>::try_from(signature) else {
            return false;
        };
        let sig = Signature::from_bytes(bytes);
        self.key.verify_strict(text, &sig).is_ok()
    }

    /// Opens a signed note: parses it and checks it by the C2SP rules against
    /// this key. Signatures by other keys are ignored; any signature that
    /// claims this key (same name and key id) must verify; at least one must.
    /// Returns the note, whose text is then trusted.
    pub fn open(&self, msg: &[u8]) -> Result<Note, NoteError> {
        let note = Note::parse(msg)?;
        note.verify(self)?;
        Ok(note)
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        Self::parse(s)
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key id (first four bytes of the decoded base64).
    pub key_id: u32,
    /// The signature bytes after the key id.
    pub signature: Vec<u8>,
}

/// A parsed signed note. Its text is **untrusted** until
/// [`verify`](Self::verify) (or [`NoteVerifier::open`]) succeeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses the syntax of a signed note (no signature is checked):
    /// UTF-8 without control characters other than newline, the text, a
    /// blank line, then one or more `— <name> <base64>` lines. The text ends
    /// at the last blank line.
    pub fn parse(msg: &[u8]) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                max: MAX_NOTE_BYTES,
            });
        }
        let msg = std::str::from_utf8(msg).map_err(|_| NoteError::InvalidEncoding)?;
        if msg.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::InvalidEncoding);
        }
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingSignatureBlock)?;
        let (text, sigs) = (&msg[..split + 1], &msg[split + 2..]);
        if sigs.is_empty() || !sigs.ends_with('\n') {
            return Err(NoteError::MissingSignatureBlock);
        }
        let mut signatures = Vec::new();
        for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            if signatures.len() == MAX_SIGNATURES {
                return Err(NoteError::TooManySignatures {
                    max: MAX_SIGNATURES,
                });
            }
            let bad = NoteError::MalformedSignatureLine { line: i + 1 };
            let rest = line.strip_prefix(SIG_PREFIX).ok_or_else(|| bad.clone())?;
            let (name, b64) = rest.split_once(' ').ok_or_else(|| bad.clone())?;
            if !is_valid_key_name(name) || b64.is_empty() {
                return Err(bad);
            }
            let raw = B64.decode(b64).map_err(|_| bad.clone())?;
            if raw.len() < 5 {
                return Err(bad);
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]),
                signature: raw[4..].to_vec(),
            });
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text (including its final newline). Untrusted until verified.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Checks the note against one trusted key, by the C2SP rules: lines from
    /// other keys (name or key id differ) are ignored, every line that claims
    /// this key must verify, and at least one must.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<(), NoteError> {
        let mut verified = false;
        for sig in &self.signatures {
            if sig.name != verifier.name || sig.key_id != verifier.key_id {
                continue;
            }
            if !verifier.verify(self.text.as_bytes(), &sig.signature) {
                return Err(NoteError::BadSignature {
                    name: verifier.name.clone(),
                    key_id: verifier.key_id,
                });
            }
            verified = true;
        }
        if verified {
            Ok(())
        } else {
            Err(NoteError::NotSignedByKey {
                name: verifier.name.clone(),
                key_id: verifier.key_id,
            })
        }
    }
}
