//! The release manifest and its signed note.
//!
//! The signed text is, in this order (every line ends in a newline):
//!
//! ```text
//! cordon/release/v1
//! id <release id>
//! file <sha384 lowercase hex> <size in bytes> <name>     one line per widget file, in WIDGET_FILES order
//! ```
//!
//! followed by the C2SP signature block of the release key (key name [`KEY_NAME`]). The release id is inside
//! the signed text, so a signature cannot be moved to another release.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cordon_ledger::{Note, NoteError, NoteSigner, NoteVerifier};
use sha2::{Digest, Sha256, Sha384};

use crate::ReleaseError;

/// The note key name of release keys (and so of their verifier keys, `cordon/release+<id>+<key>`).
pub const KEY_NAME: &str = "cordon/release";
/// The first line of a manifest.
pub const HEADER: &str = "cordon/release/v1";
/// The largest widget file a release holds.
pub const MAX_FILE_BYTES: usize = 1 << 20;

/// One of the widget's files: its name in a release directory and the content type it is served with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WidgetFile {
    pub name: &'static str,
    pub content_type: &'static str,
}

/// Every file of a release, in manifest order: the files the widget origin serves. The frame page is a
/// template, rendered per tenant (see [`crate::frame`]); the console's and admin pages' files are not part of
/// a release (they never run on a tenant's page).
pub const WIDGET_FILES: &[WidgetFile] = &[
    WidgetFile {
        name: "loader.js",
        content_type: "text/javascript; charset=utf-8",
    },
    WidgetFile {
        name: "frame.html",
        content_type: "text/html; charset=utf-8",
    },
    WidgetFile {
        name: "frame.js",
        content_type: "text/javascript; charset=utf-8",
    },
    WidgetFile {
        name: "frame.css",
        content_type: "text/css; charset=utf-8",
    },
];

fn widget_file(name: &str) -> Option<&'static WidgetFile> {
    WIDGET_FILES.iter().find(|f| f.name == name)
}

/// One file of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub name: &'static str,
    /// Lowercase hex of the SHA-384 of the bytes.
    pub sha384: String,
    pub size: u64,
}

impl FileEntry {
    /// The file's path on the widget origin: `/w/<stem>-<first 20 hex digits>.<ext>`. The frame page's
    /// template has none (the page is served at `/w/frame/<widget key>`), but the name is well defined.
    pub fn path(&self) -> String {
        content_path(self.name, &self.sha384)
    }

    /// The SRI value, `sha384-<base64>`.
    pub fn integrity(&self) -> String {
        sri(&self.sha384)
    }
}

/// `/w/<stem>-<first 20 hex digits>.<ext>`, the content-addressed path of a widget file.
pub fn content_path(name: &str, sha384_hex: &str) -> String {
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "bin"));
    let prefix = sha384_hex.get(..20).unwrap_or(sha384_hex);
    format!("/w/{stem}-{prefix}.{ext}")
}

/// The SRI value of a SHA-384 given in hex (empty for malformed hex, which no manifest holds).
pub fn sri(sha384_hex: &str) -> String {
    match hex::decode(sha384_hex) {
        Ok(raw) => format!("sha384-{}", B64.encode(raw)),
        Err(_) => String::new(),
    }
}

/// Is `id` a release id: 1-64 of `a-z A-Z 0-9 . _ -`, not starting with a dot?
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A release's manifest: its id and every widget file's hash and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    id: String,
    files: Vec<FileEntry>,
}

impl Manifest {
    /// The manifest of `files` (name, bytes): every widget file exactly once, nothing else.
    pub fn build(id: &str, files: &[(&str, &[u8])]) -> Result<Manifest, ReleaseError> {
        if !valid_id(id) {
            return Err(ReleaseError::InvalidId);
        }
        let mut entries = Vec::with_capacity(WIDGET_FILES.len());
        for wf in WIDGET_FILES {
            let mut found = files.iter().filter(|(n, _)| *n == wf.name);
            let (_, bytes) = found.next().ok_or(ReleaseError::MissingFile(wf.name))?;
            if found.next().is_some() {
                return Err(ReleaseError::UnexpectedFile);
            }
            if bytes.len() > MAX_FILE_BYTES {
                return Err(ReleaseError::FileTooLarge {
                    max: MAX_FILE_BYTES,
                });
            }
            entries.push(FileEntry {
                name: wf.name,
                sha384: hex::encode(Sha384::digest(bytes)),
                size: bytes.len() as u64,
            });
        }
        if files.iter().any(|(n, _)| widget_file(n).is_none()) {
            return Err(ReleaseError::UnexpectedFile);
        }
        Ok(Manifest {
            id: id.to_string(),
            files: entries,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Every file, in [`WIDGET_FILES`] order.
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// The entry of one widget file.
    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// The file this content-addressed path names (`/w/frame-0123….js`), if it is one of this release's.
    pub fn file_at_path(&self, path: &str) -> Option<&FileEntry> {
        self.files
            .iter()
            .filter(|f| f.name != "frame.html")
            .find(|f| f.path() == path)
    }

    /// Every file's SHA-384 (hex), in manifest order: what a visitor session that ran this release ran.
    pub fn hashes(&self) -> Vec<String> {
        self.files.iter().map(|f| f.sha384.clone()).collect()
    }

    /// Check bytes read for `name` against the manifest.
    pub fn check(&self, name: &str, bytes: &[u8]) -> Result<(), ReleaseError> {
        let wf = widget_file(name).ok_or(ReleaseError::UnexpectedFile)?;
        let entry = self.file(name).ok_or(ReleaseError::MissingFile(wf.name))?;
        if bytes.len() as u64 != entry.size || hex::encode(Sha384::digest(bytes)) != entry.sha384 {
            return Err(ReleaseError::Mismatch(wf.name));
        }
        Ok(())
    }

    /// The signed text.
    pub fn text(&self) -> String {
        let mut out = format!("{HEADER}\nid {}\n", self.id);
        for f in &self.files {
            out.push_str(&format!("file {} {} {}\n", f.sha384, f.size, f.name));
        }
        out
    }

    /// Parse a manifest's text (no signature is checked here: see [`Manifest::open`]).
    pub fn parse(text: &str) -> Result<Manifest, ReleaseError> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or(ReleaseError::Malformed)?
            .split('\n');
        if lines.next() != Some(HEADER) {
            return Err(ReleaseError::Malformed);
        }
        let id = lines
            .next()
            .and_then(|l| l.strip_prefix("id "))
            .filter(|id| valid_id(id))
            .ok_or(ReleaseError::Malformed)?;
        let mut files = Vec::new();
        for wf in WIDGET_FILES {
            let line = lines.next().ok_or(ReleaseError::Malformed)?;
            let mut parts = line
                .strip_prefix("file ")
                .ok_or(ReleaseError::Malformed)?
                .split(' ');
            let (Some(hash), Some(size), Some(name), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(ReleaseError::Malformed);
            };
            let well_formed = hash.len() == 96
                && hash
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            let size: u64 = size.parse().map_err(|_| ReleaseError::Malformed)?;
            if !well_formed || name != wf.name || size > MAX_FILE_BYTES as u64 {
                return Err(ReleaseError::Malformed);
            }
            files.push(FileEntry {
                name: wf.name,
                sha384: hash.to_string(),
                size,
            });
        }
        if files.len() != WIDGET_FILES.len() || lines.next().is_some() {
            return Err(ReleaseError::Malformed);
        }
        Ok(Manifest {
            id: id.to_string(),
            files,
        })
    }

    /// The signed note of this manifest.
    pub fn sign(&self, signer: &NoteSigner) -> Result<String, ReleaseError> {
        if signer.name() != KEY_NAME {
            return Err(ReleaseError::MalformedKey);
        }
        signer
            .sign(&self.text())
            .map_err(|_| ReleaseError::Malformed)
    }

    /// Open a signed manifest with the keys the caller trusts: it must carry a valid signature by one of them
    /// (and no bad signature claiming one). Answers the manifest and the index of the key that signed it.
    pub fn open(note: &str, trusted: &[NoteVerifier]) -> Result<(Manifest, usize), ReleaseError> {
        let parsed = Note::parse(note.as_bytes()).map_err(|_| ReleaseError::Malformed)?;
        for (i, key) in trusted.iter().enumerate() {
            match parsed.verify(key) {
                Ok(()) => return Ok((Manifest::parse(parsed.text())?, i)),
                Err(NoteError::NotSignedByKey { .. }) => continue,
                Err(_) => return Err(ReleaseError::BadSignature),
            }
        }
        Err(ReleaseError::UnknownKey)
    }

    /// The manifest of a signed note without checking its signature (for listings of what a server already
    /// checked; never for a decision).
    pub fn peek(note: &str) -> Result<Manifest, ReleaseError> {
        let parsed = Note::parse(note.as_bytes()).map_err(|_| ReleaseError::Malformed)?;
        Manifest::parse(parsed.text())
    }

    /// A digest of the signed note (standard base64 of its SHA-256), for audit targets.
    pub fn note_digest(note: &str) -> String {
        B64.encode(Sha256::digest(note.as_bytes()))
    }
}

/// A release key's signer from its 32-byte seed.
pub fn signer_from_seed(seed: &[u8; 32]) -> Result<NoteSigner, ReleaseError> {
    NoteSigner::from_seed(KEY_NAME, seed).map_err(|_| ReleaseError::MalformedKey)
}

/// The signer key string (`PRIVATE+KEY+cordon/release+<hex id>+<base64(0x01 ‖ seed)>`, as in Go's
/// `golang.org/x/mod/sumdb/note`) of a seed, to keep in a key file. The caller must keep it secret.
pub fn signer_key_string(seed: &[u8; 32]) -> Result<String, ReleaseError> {
    let signer = signer_from_seed(seed)?;
    let mut raw = Vec::with_capacity(33);
    raw.push(cordon_ledger::note::ALG_ED25519);
    raw.extend_from_slice(seed);
    let out = format!(
        "PRIVATE+KEY+{KEY_NAME}+{:08x}+{}",
        signer.key_id(),
        B64.encode(&raw)
    );
    raw.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(&mut raw);
    Ok(out)
}

/// The release signer of a key string, which must be a release key (key name [`KEY_NAME`]).
pub fn signer_from_key_string(skey: &str) -> Result<NoteSigner, ReleaseError> {
    let signer =
        NoteSigner::from_signer_key(skey.trim()).map_err(|_| ReleaseError::MalformedKey)?;
    if signer.name() != KEY_NAME {
        return Err(ReleaseError::MalformedKey);
    }
    Ok(signer)
}

/// A trusted release key from its verifier key string, which must be a release key.
pub fn verifier(vkey: &str) -> Result<NoteVerifier, ReleaseError> {
    let v = NoteVerifier::parse(vkey.trim()).map_err(|_| ReleaseError::MalformedKey)?;
    if v.name() != KEY_NAME {
        return Err(ReleaseError::MalformedKey);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("loader.js", b"loader".to_vec()),
            ("frame.html", b"<p>{{tenant_name}}</p>".to_vec()),
            ("frame.js", b"frame js".to_vec()),
            ("frame.css", b"p{}".to_vec()),
        ]
    }

    fn manifest(id: &str) -> Manifest {
        let f = files();
        let refs: Vec<(&str, &[u8])> = f.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        Manifest::build(id, &refs).unwrap()
    }

    #[test]
    fn text_round_trips_and_files_are_content_addressed() {
        let m = manifest("r1");
        assert_eq!(Manifest::parse(&m.text()).unwrap(), m);
        let loader = m.file("loader.js").unwrap();
        assert!(loader.path().starts_with("/w/loader-") && loader.path().ends_with(".js"));
        assert_eq!(m.file_at_path(&loader.path()), Some(loader));
        assert!(loader.integrity().starts_with("sha384-"));
        assert_eq!(m.hashes().len(), 4);
        assert!(m.check("frame.js", b"frame js").is_ok());
        assert_eq!(
            m.check("frame.js", b"frame jS"),
            Err(ReleaseError::Mismatch("frame.js"))
        );
        assert_eq!(
            m.check("frame.js", b"frame js "),
            Err(ReleaseError::Mismatch("frame.js"))
        );
    }

    #[test]
    fn a_release_has_exactly_the_widget_files() {
        let f = files();
        let mut refs: Vec<(&str, &[u8])> = f.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        refs.push(("evil.js", b"x"));
        assert_eq!(
            Manifest::build("r", &refs),
            Err(ReleaseError::UnexpectedFile)
        );
        refs.pop();
        refs.remove(0);
        assert_eq!(
            Manifest::build("r", &refs),
            Err(ReleaseError::MissingFile("loader.js"))
        );
        assert_eq!(Manifest::build("../x", &[]), Err(ReleaseError::InvalidId));
    }

    #[test]
    fn signed_notes_open_only_with_a_trusted_key() {
        let m = manifest("r2");
        let signer = signer_from_seed(&[7u8; 32]).unwrap();
        let other = signer_from_seed(&[8u8; 32]).unwrap();
        let note = m.sign(&signer).unwrap();
        let (opened, i) = Manifest::open(&note, &[other.verifier(), signer.verifier()]).unwrap();
        assert_eq!((opened, i), (m.clone(), 1));
        assert_eq!(
            Manifest::open(&note, &[other.verifier()]),
            Err(ReleaseError::UnknownKey)
        );
        // One changed hash digit: the signature no longer verifies.
        let at = note.find("file ").unwrap() + 5;
        let mut bytes = note.clone().into_bytes();
        bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            Manifest::open(&tampered, &[signer.verifier()]),
            Err(ReleaseError::BadSignature)
        );
        assert_eq!(Manifest::peek(&note).unwrap(), m);
    }

    #[test]
    fn key_strings_round_trip_and_only_release_keys_are_accepted() {
        let skey = signer_key_string(&[3u8; 32]).unwrap();
        let signer = signer_from_key_string(&skey).unwrap();
        assert_eq!(
            signer.public_key(),
            signer_from_seed(&[3u8; 32]).unwrap().public_key()
        );
        let vkey = signer.verifier().to_string();
        assert!(vkey.starts_with("cordon/release+"));
        assert_eq!(verifier(&vkey).unwrap(), signer.verifier());
        let audit = NoteSigner::from_seed("cordon/audit/platform", &[3u8; 32]).unwrap();
        assert_eq!(
            verifier(&audit.verifier().to_string()),
            Err(ReleaseError::MalformedKey)
        );
        assert_eq!(m_sign_with(&audit), Err(ReleaseError::MalformedKey));
        assert!(signer_from_key_string("PRIVATE+KEY+x").is_err());
    }

    fn m_sign_with(s: &NoteSigner) -> Result<String, ReleaseError> {
        manifest("r3").sign(s)
    }

    #[test]
    fn malformed_manifests_are_refused() {
        let m = manifest("r4");
        let text = m.text();
        for bad in [
            String::new(),
            text.replace(HEADER, "cordon/release/v0"),
            text.replace("loader.js", "loader2.js"),
            text.trim_end().to_string(),
            format!("{text}file x 1 y\n"),
            text.replacen(" 6 ", " 6x ", 1),
        ] {
            assert_eq!(
                Manifest::parse(&bad),
                Err(ReleaseError::Malformed),
                "{bad:?}"
            );
        }
    }
}
