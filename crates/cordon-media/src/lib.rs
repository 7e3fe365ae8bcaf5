//! Chat attachments (issue 20): what a file is, told by its bytes and never by its name or the type a client
//! declared, from a short allow-list (PNG, JPEG, GIF, WebP, PDF, plain UTF-8 text; never HTML or SVG); and the
//! metadata a photo carries (EXIF with its GPS position, XMP, comments, text chunks) taken out before it is
//! stored. Pure: no I/O, no image decoding. The parsers walk the container structure only (JPEG segments, PNG
//! chunks, RIFF chunks), copy what a browser needs to render the picture and refuse what does not parse, so a
//! malformed file is an error, never a panic.
//!
//! ```
//! use cordon_media::{check, Kind};
//! let png = b"\x89PNG\r\n\x1a\n";
//! assert_eq!(cordon_media::sniff(png), Some(Kind::Png));
//! assert!(check("image/jpeg", png).is_err()); // declared JPEG, bytes say PNG
//! ```
#![forbid(unsafe_code)]

mod gif;
mod jpeg;
mod png;
mod webp;

/// What an attachment is. Only these are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Pdf,
    Text,
}

/// Why a file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The declared type is not on the allow-list (HTML, SVG, archives, executables, …).
    #[error("this type of file is not accepted")]
    TypeNotAllowed,
    /// The bytes are not what the declared type says (or not any accepted type at all).
    #[error("the file's content does not match its declared type")]
    Mismatch,
    /// The bytes start like the type but do not parse as it (truncated, corrupt, or crafted).
    #[error("the file is malformed")]
    Malformed,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Png,
        Kind::Jpeg,
        Kind::Gif,
        Kind::Webp,
        Kind::Pdf,
        Kind::Text,
    ];

    /// The media type it is served as.
    pub fn mime(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Pdf => "application/pdf",
            Kind::Text => "text/plain; charset=utf-8",
        }
    }

    /// The media type without parameters (as stored and declared).
    pub fn essence(self) -> &'static str {
        match self {
            Kind::Text => "text/plain",
            k => k.mime(),
        }
    }

    /// The kind a stored media type names.
    pub fn from_essence(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.essence() == s)
    }

    /// Raster images, the only files a browser may show inline (as an `<img>`, which runs no script).
    pub fn is_image(self) -> bool {
        matches!(self, Kind::Png | Kind::Jpeg | Kind::Gif | Kind::Webp)
    }

    /// The file name extensions that say this kind; the first is added when a name has none of them.
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Kind::Png => &["png"],
            Kind::Jpeg => &["jpg", "jpeg"],
            Kind::Gif => &["gif"],
            Kind::Webp => &["webp"],
            Kind::Pdf => &["pdf"],
            Kind::Text => &["txt", "log", "csv", "md"],
        }
    }
}

/// The kind a declared media type names (`image/png`, `text/plain; charset=utf-8`, …), case-insensitive, with
/// parameters ignored; `TypeNotAllowed` for anything else.
pub fn declared(content_type: &str) -> Result<Kind, MediaError> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let essence = if essence == "image/jpg" {
        "image/jpeg".to_string()
    } else {
        essence
    };
    Kind::from_essence(&essence).ok_or(MediaError::TypeNotAllowed)
}

/// What the bytes are, by their magic numbers; text only if it is entirely plain UTF-8 (see [`is_plain_text`]).
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(png::SIGNATURE) {
        Some(Kind::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Kind::Jpeg)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Kind::Gif)
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Kind::Webp)
    } else if bytes.starts_with(b"%PDF-") {
        Some(Kind::Pdf)
    } else if !bytes.is_empty() && is_plain_text(bytes) {
        Some(Kind::Text)
    } else {
        None
    }
}

/// UTF-8 with no control characters but tab, line feed, form feed and carriage return (no NUL, no escape
/// sequences for a terminal).
pub fn is_plain_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => !s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}')),
        Err(_) => false,
    }
}

/// The declared type must be allowed and the bytes must be that type.
pub fn check(content_type: &str, bytes: &[u8]) -> Result<Kind, MediaError> {
    let kind = declared(content_type)?;
    if sniff(bytes) != Some(kind) {
        return Err(MediaError::Mismatch);
    }
    Ok(kind)
}

/// The file as it is stored: images without their metadata (JPEG: every APPn segment but JFIF, an ICC colour
/// profile and Adobe's colour transform, and the EXIF orientation kept as a minimal EXIF of that one tag; no
/// comments; PNG: no `tEXt`, `iTXt`, `zTXt`, `eXIf` or `tIME` chunks; WebP: no `EXIF` or `XMP ` chunks; GIF: no
/// comment, plain text or application extensions but the animation loop count), and nothing after the image's
/// end. PDF and text are returned as they are: a PDF's metadata (its Info dictionary, XMP streams) cannot be
/// taken out without rewriting the document, which this crate does not do (docs/PROTOCOL.md 15.15 says so).
pub fn strip(kind: Kind, bytes: &[u8]) -> Result<Vec<u8>, MediaError> {
    match kind {
        Kind::Jpeg => jpeg::strip(bytes),
        Kind::Png => png::strip(bytes),
        Kind::Webp => webp::strip(bytes),
        Kind::Gif => gif::strip(bytes),
        Kind::Pdf | Kind::Text => Ok(bytes.to_vec()),
    }
}

/// Most characters of a stored file name.
pub const MAX_NAME_CHARS: usize = 120;

/// A file name safe to store and to offer for download: the last path component only, no control characters,
/// quotes, slashes or backslashes, at most [`MAX_NAME_CHARS`] characters, and an extension that says what the
/// file is (a text file called `page.html` is offered as `page.html.txt`, so no browser or desktop opens it as a
/// page). Card numbers are the caller's to mask (this crate knows no cards).
pub fn safe_name(name: &str, kind: Kind) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | '`' | '<' | '>' | ';'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_string();
    let base = if cleaned.is_empty() {
        "file".to_string()
    } else {
        cleaned
    };
    let has_ext = base.rsplit_once('.').is_some_and(|(_, ext)| {
        kind.extensions()
            .contains(&ext.to_ascii_lowercase().as_str())
    });
    let ext = kind.extensions()[0];
    // Room for the extension when it is added.
    let room = if has_ext {
        MAX_NAME_CHARS
    } else {
        MAX_NAME_CHARS - ext.len() - 1
    };
    let mut out: String = if base.chars().count() > room {
        if has_ext {
            // Keep the extension: cut the stem.
            let (stem, e) = base.rsplit_once('.').unwrap_or((base.as_str(), ext));
            let keep = MAX_NAME_CHARS - e.chars().count() - 1;
            format!("{}.{e}", stem.chars().take(keep).collect::<String>())
        } else {
            base.chars().take(room).collect()
        }
    } else {
        base
    };
    if !has_ext {
        out.push('.');
        out.push_str(ext);
    }
    out
}

/// Read a big-endian u16 at `at`, if the bytes are there.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]) as usize)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn declared_types_and_sniffing() {
        assert_eq!(declared("IMAGE/PNG").unwrap(), Kind::Png);
        assert_eq!(declared("text/plain; charset=utf-8").unwrap(), Kind::Text);
        assert_eq!(declared("image/jpg").unwrap(), Kind::Jpeg);
        for bad in [
            "image/svg+xml",
            "text/html",
            "application/xhtml+xml",
            "application/zip",
            "",
            "application/octet-stream",
        ] {
            assert_eq!(declared(bad), Err(MediaError::TypeNotAllowed), "{bad}");
        }
        assert_eq!(sniff(b"GIF89a...."), Some(Kind::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Kind::Webp));
        assert_eq!(sniff(b"%PDF-1.7\n"), Some(Kind::Pdf));
        assert_eq!(sniff("plain text, é\n".as_bytes()), Some(Kind::Text));
        assert_eq!(sniff(b"bin\0ary"), None);
        assert_eq!(sniff(b"\x1b[31mred"), None);
        assert_eq!(sniff(&[0xff, 0xfe, 0x00]), None);
        // An SVG or HTML page is text by its bytes, but its declared type is refused first; declared as text it
        // is stored as text and only ever offered as a download named .txt.
        assert_eq!(
            check("image/svg+xml", b"<svg onload=alert(1)>"),
            Err(MediaError::TypeNotAllowed)
        );
        assert_eq!(
            check("text/plain", b"<svg onload=alert(1)>"),
            Ok(Kind::Text)
        );
        assert_eq!(check("image/png", b"<html>"), Err(MediaError::Mismatch));
        assert_eq!(
            check("text/plain", b"\x89PNG\r\n\x1a\nrest"),
            Err(MediaError::Mismatch)
        );
        assert_eq!(check("image/gif", b""), Err(MediaError::Mismatch));
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(safe_name("photo.JPG", Kind::Jpeg), "photo.JPG");
        assert_eq!(safe_name("photo.png", Kind::Jpeg), "photo.png.jpg");
        assert_eq!(safe_name("page.html", Kind::Text), "page.html.txt");
        assert_eq!(safe_name("../../etc/passwd", Kind::Text), "passwd.txt");
        assert_eq!(safe_name("C:\\Users\\me\\a.pdf", Kind::Pdf), "a.pdf");
        assert_eq!(safe_name("a\"b\r\n;c.gif", Kind::Gif), "abc.gif");
        assert_eq!(safe_name("", Kind::Png), "file.png");
        assert_eq!(safe_name("...", Kind::Png), "file.png");
        assert_eq!(safe_name(".htaccess", Kind::Text), "htaccess.txt");
        let long = format!("{}.png", "x".repeat(300));
        let s = safe_name(&long, Kind::Png);
        assert_eq!(s.chars().count(), MAX_NAME_CHARS);
        assert!(s.ends_with(".png"));
        let s = safe_name(&"y".repeat(300), Kind::Pdf);
        assert_eq!(s.chars().count(), MAX_NAME_CHARS);
        assert!(s.ends_with(".pdf"));
    }
}

/// A fuzz-style property test: any bytes, and valid files with random metadata and random damage, never
/// panic; what a strip returns is of the same kind, strips to itself, and holds none of the metadata.
#[cfg(test)]
mod fuzz {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const MARK: &[u8] = b"METADATA-MARK";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            for kind in Kind::ALL {
                let _ = strip(kind, &bytes);
            }
            let _ = sniff(&bytes);
            for prefix in [&b"\x89PNG\r\n\x1a\n"[..], b"\xff\xd8\xff", b"RIFF\x40\0\0\0WEBP", b"GIF89a"] {
                let mut v = prefix.to_vec();
                v.extend_from_slice(&bytes);
                if let Some(k) = sniff(&v) {
                    let _ = strip(k, &v);
                }
            }
        }

        #[test]
        fn metadata_never_survives_and_damage_never_panics(
            junk in proptest::collection::vec(any::<u8>(), 0..40),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            flip_to in any::<u8>(),
        ) {
            let mut meta = MARK.to_vec();
            meta.extend_from_slice(&junk);
            let files = [
                (Kind::Png, png::tests::png(&[png::tests::chunk(b"tEXt", &meta), png::tests::chunk(b"eXIf", &meta)])),
                (Kind::Jpeg, jpeg::tests::jpeg(&[jpeg::tests::seg(0xE1, &meta), jpeg::tests::seg(0xFE, &meta)])),
                (Kind::Webp, webp::tests::webp(&[webp::tests::chunk(b"VP8 ", b"frame"), webp::tests::chunk(b"EXIF", &meta)])),
                (Kind::Gif, gif::tests::gif(&[gif::tests::extension(0xFE, &meta)])),
            ];
            for (kind, file) in files {
                let out = strip(kind, &file).unwrap();
                prop_assert!(!out.windows(MARK.len()).any(|w| w == MARK), "{kind:?}");
                prop_assert_eq!(sniff(&out), Some(kind));
                prop_assert_eq!(strip(kind, &out).unwrap(), out.clone());
                // Damaged copies: cut short or one byte changed. Errors are fine; panics and metadata are not.
                let short = &file[..cut.index(file.len())];
                let _ = strip(kind, short);
                let mut flipped = file.clone();
                let i = flip.index(flipped.len());
                flipped[i] = flip_to;
                if let Ok(o) = strip(kind, &flipped) {
                    let any_mark_before = flipped.windows(MARK.len()).filter(|w| *w == MARK).count();
                    let any_mark_after = o.windows(MARK.len()).filter(|w| *w == MARK).count();
                    // A flipped byte can turn a metadata chunk into another kind of chunk (it is then kept as
                    // that), never add metadata.
                    prop_assert!(any_mark_after <= any_mark_before);
                }
            }
        }
    }
}
