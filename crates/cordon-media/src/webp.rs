//! WebP: a RIFF container (`RIFF`, size, `WEBP`) of chunks (four-character code, little-endian size, data,
//! a pad byte when the size is odd). The `EXIF` and `XMP ` chunks are dropped and their flags cleared in the
//! `VP8X` header; every other chunk is copied as it is, and the RIFF size written anew. Anything after the
//! RIFF's end is dropped.

use crate::MediaError;

/// Most chunks one file may have.
const MAX_CHUNKS: usize = 100_000;
/// The `VP8X` flag bits that announce EXIF and XMP chunks.
const EXIF_FLAG: u8 = 0x08;
const XMP_FLAG: u8 = 0x04;

fn le32(b: &[u8], at: usize) -> Option<usize> {
    let x = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
}

pub(crate) fn strip(b: &[u8]) -> Result<Vec<u8>, MediaError> {
    if b.len() < 12 || &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" {
        return Err(MediaError::Mismatch);
    }
    let riff_end = le32(b, 4)
        .and_then(|n| n.checked_add(8))
        .filter(|&e| e <= b.len())
        .ok_or(MediaError::Malformed)?;
    let mut out = b[..12].to_vec();
    let mut pos = 12;
    let mut chunks = 0;
    while pos < riff_end {
        chunks += 1;
        if chunks > MAX_CHUNKS {
            return Err(MediaError::Malformed);
        }
        let size = le32(b, pos + 4).ok_or(MediaError::Malformed)?;
        let end = (pos + 8)
            .checked_add(size)
            .and_then(|e| e.checked_add(size & 1))
            .filter(|&e| e <= riff_end)
            .ok_or(MediaError::Malformed)?;
        let fourcc = &b[pos..pos + 4];
        if fourcc != b"EXIF" && fourcc != b"XMP " {
            let at = out.len();
            out.extend_from_slice(&b[pos..end]);
            if fourcc == b"VP8X" && size >= 1 {
                out[at + 8] &= !(EXIF_FLAG | XMP_FLAG);
            }
        }
        pos = end;
    }
    if chunks == 0 {
        return Err(MediaError::Malformed);
    }
    let riff_size = u32::try_from(out.len() - 8).map_err(|_| MediaError::Malformed)?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = fourcc.to_vec();
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        if data.len() % 2 == 1 {
            v.push(0);
        }
        v
    }

    pub(crate) fn webp(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
        v.extend_from_slice(b"WEBP");
        v.extend(body);
        v
    }

    #[test]
    fn exif_and_xmp_go_flags_cleared() {
        let input = webp(&[
            chunk(
                b"VP8X",
                &[EXIF_FLAG | XMP_FLAG | 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ),
            chunk(b"VP8 ", b"frame data"),
            chunk(b"EXIF", b"MM\0*GPS 48.85N"),
            chunk(b"XMP ", b"<x:xmpmeta>Secret</x:xmpmeta>"),
        ]);
        let mut trailing = input.clone();
        trailing.extend_from_slice(b"hidden");
        let out = strip(&trailing).unwrap();
        assert_eq!(
            out,
            webp(&[
                chunk(b"VP8X", &[0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
                chunk(b"VP8 ", b"frame data"),
            ])
        );
        assert_eq!(strip(&out).unwrap(), out);
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = webp(&[chunk(b"VP8 ", b"odd")]);
        assert_eq!(strip(&good[..good.len() - 1]), Err(MediaError::Malformed));
        assert_eq!(strip(&webp(&[])), Err(MediaError::Malformed));
        let mut lying = webp(&[chunk(b"VP8 ", b"abcd")]);
        lying[16] = 0xff;
        assert_eq!(strip(&lying), Err(MediaError::Malformed));
    }
}
