//! GIF (87a and 89a): a header, the logical screen descriptor and its colour table, then blocks until the
//! trailer. Image descriptors (with their colour tables and LZW data) and graphic control extensions are what a
//! browser draws, and are copied as they are; so is the one application extension that changes how it draws,
//! the animation loop count (`NETSCAPE2.0` or its twin `ANIMEXTS1.0`). Comment extensions, plain text extensions
//! and every other application extension (XMP's `XMP DataXMP`, ICC profiles, editors' private data) are dropped,
//! and so is anything after the trailer.

use crate::MediaError;

const HEADER_LEN: usize = 6;
/// The logical screen descriptor: width, height, flags, background colour, aspect ratio.
const SCREEN_LEN: usize = 7;
const EXTENSION: u8 = 0x21;
const IMAGE: u8 = 0x2C;
const TRAILER: u8 = 0x3B;
const GRAPHIC_CONTROL: u8 = 0xF9;
const APPLICATION: u8 = 0xFF;
/// Application identifiers (8 bytes) and authentication codes (3) of the loop-count extension.
const LOOP_APPS: [&[u8; 11]; 2] = [b"NETSCAPE2.0", b"ANIMEXTS1.0"];

/// Most blocks one file may have (a guard against a file of millions of empty extensions).
const MAX_BLOCKS: usize = 200_000;

/// The size of a colour table that `flags` announces (bit 7: present; bits 0-2: 2^(n+1) entries of 3 bytes).
fn colour_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

/// The end of the data sub-blocks that start at `pos` (each a length byte and that many bytes, the last of
/// length 0), just past the terminator.
fn sub_blocks_end(b: &[u8], mut pos: usize) -> Result<usize, MediaError> {
    loop {
        let n = usize::from(*b.get(pos).ok_or(MediaError::Malformed)?);
        pos += 1;
        if n == 0 {
            return Ok(pos);
        }
        pos = pos.checked_add(n).ok_or(MediaError::Malformed)?;
        if pos > b.len() {
            return Err(MediaError::Malformed);
        }
    }
}

pub(crate) fn strip(b: &[u8]) -> Result<Vec<u8>, MediaError> {
    if !(b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a")) {
        return Err(MediaError::Mismatch);
    }
    let screen = b
        .get(HEADER_LEN..HEADER_LEN + SCREEN_LEN)
        .ok_or(MediaError::Malformed)?;
    let mut pos = HEADER_LEN + SCREEN_LEN + colour_table_len(screen[4]);
    if pos > b.len() {
        return Err(MediaError::Malformed);
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&b[..pos]);
    let mut images = 0usize;
    for _ in 0..MAX_BLOCKS {
        let start = pos;
        match *b.get(pos).ok_or(MediaError::Malformed)? {
            TRAILER => {
                if images == 0 {
                    return Err(MediaError::Malformed);
                }
                out.push(TRAILER);
                return Ok(out);
            }
            IMAGE => {
                // Left, top, width, height (2 bytes each), flags; then its colour table, the LZW minimum code
                // size and the data.
                let flags = *b.get(pos + 9).ok_or(MediaError::Malformed)?;
                let data = pos + 10 + colour_table_len(flags);
                let min_code_size = *b.get(data).ok_or(MediaError::Malformed)?;
                if !(1..=11).contains(&min_code_size) {
                    return Err(MediaError::Malformed);
                }
                pos = sub_blocks_end(b, data + 1)?;
                images += 1;
                out.extend_from_slice(&b[start..pos]);
            }
            EXTENSION => {
                let label = *b.get(pos + 1).ok_or(MediaError::Malformed)?;
                pos = sub_blocks_end(b, pos + 2)?;
                let keep = match label {
                    GRAPHIC_CONTROL => true,
                    // The first sub-block of an application extension is its 11-byte identifier.
                    APPLICATION => {
                        b.get(start + 2) == Some(&11)
                            && b.get(start + 3..start + 14)
                                .is_some_and(|id| LOOP_APPS.iter().any(|a| a.as_slice() == id))
                    }
                    _ => false,
                };
                if keep {
                    out.extend_from_slice(&b[start..pos]);
                }
            }
            _ => return Err(MediaError::Malformed),
        }
    }
    Err(MediaError::Malformed)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Data as sub-blocks: at most 255 bytes each, then the terminator.
    fn sub_blocks(data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for c in data.chunks(255) {
            v.push(c.len() as u8);
            v.extend_from_slice(c);
        }
        v.push(0);
        v
    }

    pub(crate) fn extension(label: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![EXTENSION, label];
        v.extend(sub_blocks(data));
        v
    }

    fn application(id: &[u8; 11], data: &[u8]) -> Vec<u8> {
        let mut v = vec![EXTENSION, APPLICATION, 11];
        v.extend_from_slice(id);
        v.extend(sub_blocks(data));
        v
    }

    /// A 1×1 GIF89a with a two-colour global table, `blocks` before its one image.
    pub(crate) fn gif(blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]);
        v.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        for blk in blocks {
            v.extend_from_slice(blk);
        }
        v.extend_from_slice(&[IMAGE, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0]);
        v.push(TRAILER);
        v
    }

    #[test]
    fn comments_and_foreign_applications_go_pixels_timing_and_loop_stay() {
        let control = extension(GRAPHIC_CONTROL, &[0, 10, 0, 0]);
        let looping = application(b"NETSCAPE2.0", &[1, 0, 0]);
        let file = gif(&[
            control.clone(),
            extension(0xFE, b"shot at 51.5007 N, 0.1246 W"),
            application(b"XMP DataXMP", b"<x:xmpmeta>secret</x:xmpmeta>"),
            looping.clone(),
            extension(0x01, b"plain text overlay"),
        ]);
        let mut with_tail = file.clone();
        with_tail.extend_from_slice(b"after the trailer");
        let out = strip(&with_tail).unwrap();
        assert_eq!(out, gif(&[control, looping]));
        for gone in [
            &b"51.5007"[..],
            b"xmpmeta",
            b"overlay",
            b"after the trailer",
        ] {
            assert!(!out.windows(gone.len()).any(|w| w == gone));
        }
        assert_eq!(strip(&out).unwrap(), out, "stripping twice changes nothing");
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = gif(&[]);
        assert!(strip(&good).is_ok());
        assert_eq!(strip(b"GIF88a"), Err(MediaError::Mismatch));
        for cut in 0..good.len() {
            assert!(strip(&good[..cut]).is_err(), "cut at {cut}");
        }
        // No image before the trailer, an unknown block, a sub-block running past the end.
        let mut empty = good[..HEADER_LEN + SCREEN_LEN + 6].to_vec();
        empty.push(TRAILER);
        assert_eq!(strip(&empty), Err(MediaError::Malformed));
        let mut unknown = good.clone();
        unknown.insert(HEADER_LEN + SCREEN_LEN + 6, 0x99);
        assert_eq!(strip(&unknown), Err(MediaError::Malformed));
        let mut long = good[..HEADER_LEN + SCREEN_LEN + 6].to_vec();
        long.extend_from_slice(&[EXTENSION, 0xFE, 200, b'x']);
        assert_eq!(strip(&long), Err(MediaError::Malformed));
    }
}
