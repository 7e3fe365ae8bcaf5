//! PNG: a signature, then chunks (length, type, data, CRC). The text chunks (`tEXt`, `iTXt`, `zTXt`), EXIF
//! (`eXIf`) and the modification time (`tIME`) are dropped; every other chunk is copied as it is, CRC included
//! (no chunk is changed, so none needs a new CRC). The first chunk must be `IHDR` and the last `IEND`; anything
//! after `IEND` is dropped.

use crate::MediaError;

pub(crate) const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Chunks that carry metadata, never pixels.
const DROPPED: [&[u8; 4]; 5] = [b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"tIME"];

/// Most chunks one file may have (a guard against a file of millions of empty chunks).
const MAX_CHUNKS: usize = 100_000;

pub(crate) fn strip(b: &[u8]) -> Result<Vec<u8>, MediaError> {
    if !b.starts_with(SIGNATURE) {
        return Err(MediaError::Mismatch);
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(SIGNATURE);
    let mut pos = SIGNATURE.len();
    let mut first = true;
    for _ in 0..MAX_CHUNKS {
        let head = b.get(pos..pos + 8).ok_or(MediaError::Malformed)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        // The spec bounds a chunk's length at 2^31 - 1.
        if len > 0x7FFF_FFFF {
            return Err(MediaError::Malformed);
        }
        let ty = &head[4..8];
        if !ty.iter().all(u8::is_ascii_alphabetic) {
            return Err(MediaError::Malformed);
        }
        let end = pos
            .checked_add(12)
            .and_then(|p| p.checked_add(len))
            .ok_or(MediaError::Malformed)?;
        let chunk = b.get(pos..end).ok_or(MediaError::Malformed)?;
        if first && (ty != b"IHDR" || len != 13) {
            return Err(MediaError::Malformed);
        }
        first = false;
        if !DROPPED.iter().any(|d| d.as_slice() == ty) {
            out.extend_from_slice(chunk);
        }
        pos = end;
        if ty == b"IEND" {
            return Ok(out);
        }
    }
    Err(MediaError::Malformed)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn chunk(ty: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(ty);
        v.extend_from_slice(data);
        // The CRC is copied, never checked: any four bytes do for the tests.
        v.extend_from_slice(&[1, 2, 3, 4]);
        v
    }

    /// A small PNG-shaped file with the given chunks between IHDR and IEND.
    pub(crate) fn png(middle: &[Vec<u8>]) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]));
        for c in middle {
            v.extend_from_slice(c);
        }
        v.extend(chunk(b"IDAT", b"pixels"));
        v.extend(chunk(b"IEND", b""));
        v
    }

    #[test]
    fn text_exif_and_time_chunks_go_the_rest_stays() {
        let with = png(&[
            chunk(b"tEXt", b"Author\0Secret Person"),
            chunk(b"iTXt", b"GPS\0\0\0\0\048.85,2.35"),
            chunk(b"zTXt", b"Comment\0\0xyz"),
            chunk(b"eXIf", b"MM\0*GPSGPSGPS"),
            chunk(b"tIME", &[7, 0xe9, 1, 1, 0, 0, 0]),
            chunk(b"gAMA", &[0, 0, 0xb1, 0x8f]),
        ]);
        let mut trailing = with.clone();
        trailing.extend_from_slice(b"after the end: hidden");
        let out = strip(&trailing).unwrap();
        assert_eq!(out, png(&[chunk(b"gAMA", &[0, 0, 0xb1, 0x8f])]));
        let text = String::from_utf8_lossy(&out);
        for gone in ["Secret", "48.85", "Comment", "GPSGPS", "hidden"] {
            assert!(!text.contains(gone), "{gone}");
        }
        // Stripping twice changes nothing more.
        assert_eq!(strip(&out).unwrap(), out);
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = png(&[]);
        assert!(strip(&good[..good.len() - 3]).is_err(), "truncated");
        assert!(strip(&good[..20]).is_err());
        let mut no_ihdr = SIGNATURE.to_vec();
        no_ihdr.extend(chunk(b"IDAT", b"x"));
        no_ihdr.extend(chunk(b"IEND", b""));
        assert_eq!(strip(&no_ihdr), Err(MediaError::Malformed));
        let mut huge = SIGNATURE.to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        huge.extend_from_slice(b"IHDR");
        assert_eq!(strip(&huge), Err(MediaError::Malformed));
        let mut no_end = SIGNATURE.to_vec();
        no_end.extend(chunk(b"IHDR", &[0; 13]));
        assert_eq!(strip(&no_end), Err(MediaError::Malformed));
    }
}
