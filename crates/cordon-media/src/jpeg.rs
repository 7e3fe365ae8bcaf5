//! JPEG: `SOI`, then marker segments, each scan followed by its entropy-coded data, then `EOI`. Kept: every
//! segment a decoder needs (tables, frame and scan headers, restart intervals), `APP0` when it is JFIF (pixel
//! density), `APP2` when it is an ICC colour profile, `APP14` (Adobe's colour transform: without it a CMYK or
//! RGB-coded file shows the wrong colours). Dropped: every other `APPn` (`APP1` EXIF with its GPS position and
//! camera serial numbers, XMP, Photoshop's IPTC in `APP13`, …) and comments (`COM`). The EXIF orientation alone
//! survives, rebuilt as a minimal EXIF segment of that one tag, so a phone photo still shows upright. Anything
//! after `EOI` is dropped.

use crate::{be16, MediaError};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;

/// Most segments one file may have.
const MAX_SEGMENTS: usize = 100_000;

fn is_rst(m: u8) -> bool {
    (0xD0..=0xD7).contains(&m)
}

pub(crate) fn strip(b: &[u8]) -> Result<Vec<u8>, MediaError> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != SOI {
        return Err(MediaError::Mismatch);
    }
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut orientation: Option<u16> = None;
    // Where the orientation goes: right after SOI, or after a leading JFIF APP0 (where EXIF sits in the files
    // cameras write), so a stripped file strips to itself.
    let mut insert_at = 2;
    let mut first = true;
    let mut pos = 2;
    for _ in 0..MAX_SEGMENTS {
        if b.get(pos) != Some(&0xFF) {
            return Err(MediaError::Malformed);
        }
        // Fill bytes: any number of 0xFF before a marker.
        while b.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *b.get(pos + 1).ok_or(MediaError::Malformed)?;
        match marker {
            EOI => {
                out.extend_from_slice(&[0xFF, EOI]);
                if let Some(o) = orientation {
                    out.splice(insert_at..insert_at, orientation_segment(o));
                }
                return Ok(out);
            }
            SOI | 0x00 => return Err(MediaError::Malformed),
            m if is_rst(m) || m == 0x01 => {
                // Stand-alone markers carry no length.
                out.extend_from_slice(&[0xFF, m]);
                pos += 2;
                continue;
            }
            _ => {}
        }
        let len = be16(b, pos + 2).ok_or(MediaError::Malformed)?;
        if len < 2 {
            return Err(MediaError::Malformed);
        }
        let end = pos + 2 + len;
        let seg = b.get(pos..end).ok_or(MediaError::Malformed)?;
        let payload = &seg[4..];
        let keep = match marker {
            APP0 => payload.starts_with(b"JFIF\0"),
            APP1 => {
                if orientation.is_none() && payload.starts_with(b"Exif\0\0") {
                    orientation = exif_orientation(&payload[6..]);
                }
                false
            }
            APP2 => payload.starts_with(b"ICC_PROFILE\0"),
            APP14 => payload.starts_with(b"Adobe"),
            m if (APP0..=APP15).contains(&m) => false,
            COM => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(seg);
            if first && marker == APP0 {
                insert_at = out.len();
            }
        }
        first = false;
        pos = end;
        if marker == SOS {
            // Entropy-coded data up to the next marker that is neither a stuffed 0xFF00 nor a restart marker.
            let start = pos;
            loop {
                let i = b[pos..]
                    .iter()
                    .position(|&x| x == 0xFF)
                    .map(|i| pos + i)
                    .ok_or(MediaError::Malformed)?;
                let next = *b.get(i + 1).ok_or(MediaError::Malformed)?;
                if next == 0x00 || is_rst(next) {
                    pos = i + 2;
                    continue;
                }
                if next == 0xFF {
                    // A fill byte: the marker (or more fill) follows; look again from it.
                    pos = i + 1;
                    continue;
                }
                pos = i;
                out.extend_from_slice(&b[start..pos]);
                break;
            }
        }
    }
    Err(MediaError::Malformed)
}

/// The orientation (1–8) in an EXIF block (a TIFF header and IFD0), if it has a valid one.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let x = [*tiff.get(at)?, *tiff.get(at + 1)?];
        Some(if little {
            u16::from_le_bytes(x)
        } else {
            u16::from_be_bytes(x)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let x = [
            *tiff.get(at)?,
            *tiff.get(at + 1)?,
            *tiff.get(at + 2)?,
            *tiff.get(at + 3)?,
        ];
        Some(if little {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    for i in 0..count.min(1000) {
        let e = ifd.checked_add(2 + i * 12)?;
        // Tag 0x0112 (Orientation), type 3 (SHORT), count 1: the value sits in the entry's first two bytes.
        if u16_at(e)? == 0x0112 && u16_at(e + 2)? == 3 && u32_at(e + 4)? == 1 {
            let v = u16_at(e + 8)?;
            return (1..=8).contains(&v).then_some(v);
        }
    }
    None
}

/// A minimal APP1 EXIF segment holding only the orientation: big-endian TIFF header, IFD0 with one entry.
fn orientation_segment(o: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&1u16.to_be_bytes());
    tiff.extend_from_slice(&0x0112u16.to_be_bytes());
    tiff.extend_from_slice(&3u16.to_be_bytes());
    tiff.extend_from_slice(&1u32.to_be_bytes());
    tiff.extend_from_slice(&o.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]);
    tiff.extend_from_slice(&0u32.to_be_bytes());
    let mut seg = vec![0xFF, APP1];
    let len = (2 + 6 + tiff.len()) as u16;
    seg.extend_from_slice(&len.to_be_bytes());
    seg.extend_from_slice(b"Exif\0\0");
    seg.extend_from_slice(&tiff);
    seg
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn seg(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, marker];
        v.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    /// An EXIF block (little-endian) with an orientation, a GPS pointer and a camera serial in IFD0.
    fn exif(orientation: u16) -> Vec<u8> {
        let mut t = b"Exif\0\0II\x2a\0\x08\0\0\0".to_vec();
        t.extend_from_slice(&3u16.to_le_bytes());
        // Make (0x010F) as ASCII pointing past the IFD, Orientation, GPS IFD pointer.
        for (tag, ty, count, value) in [
            (0x010Fu16, 2u16, 12u32, 50u32),
            (0x0112, 3, 1, u32::from(orientation)),
            (0x8825, 4, 1, 70),
        ] {
            t.extend_from_slice(&tag.to_le_bytes());
            t.extend_from_slice(&ty.to_le_bytes());
            t.extend_from_slice(&count.to_le_bytes());
            t.extend_from_slice(&value.to_le_bytes());
        }
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(b"SERIAL-12345 GPS 48.8584N 2.2945E");
        t
    }

    /// A JPEG-shaped file: headers, one scan with stuffed bytes and a restart marker, then EOI.
    pub(crate) fn jpeg(app: &[Vec<u8>]) -> Vec<u8> {
        let mut v = vec![0xFF, SOI];
        for a in app {
            v.extend_from_slice(a);
        }
        v.extend(seg(0xDB, &[0; 65]));
        v.extend(seg(0xC0, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]));
        v.extend(seg(0xC4, &[0; 20]));
        v.extend(seg(SOS, &[1, 1, 0, 0, 0x3f, 0]));
        v.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        v.extend_from_slice(&[0xFF, EOI]);
        v
    }

    #[test]
    fn exif_xmp_and_comments_go_orientation_stays() {
        let input = jpeg(&[
            seg(APP0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0"),
            seg(APP1, &exif(6)),
            seg(
                APP1,
                b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>Secret Person</x:xmpmeta>",
            ),
            seg(0xED, b"Photoshop 3.0\0IPTC city Paris"),
            seg(COM, b"shot by Secret Person"),
            seg(APP2, b"ICC_PROFILE\0\x01\x01profile"),
            seg(APP14, b"Adobe\0\x64\0\0\0\0\x01"),
        ]);
        let mut trailing = input.clone();
        trailing.extend_from_slice(b"appended zip: hidden");
        let out = strip(&trailing).unwrap();
        let text = String::from_utf8_lossy(&out);
        for gone in ["SERIAL", "48.8584", "Secret", "Paris", "hidden", "xmpmeta"] {
            assert!(!text.contains(gone), "{gone} left in {text}");
        }
        assert!(text.contains("JFIF") && text.contains("ICC_PROFILE") && text.contains("Adobe"));
        assert_eq!(orientation_of(&out), Some(6));
        // The scan data is copied byte for byte.
        assert!(out.ends_with(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, EOI]));
        assert_eq!(strip(&out).unwrap(), out, "stripping twice changes nothing");
        let plain = strip(&jpeg(&[])).unwrap();
        assert_eq!(plain, jpeg(&[]));
        assert_eq!(orientation_of(&plain), None);
    }

    fn orientation_of(j: &[u8]) -> Option<u16> {
        let i = j.windows(6).position(|w| w == b"Exif\0\0")?;
        exif_orientation(&j[i + 6..])
    }

    #[test]
    fn malformed_files_are_refused() {
        let good = jpeg(&[]);
        assert_eq!(strip(&good[..good.len() - 2]), Err(MediaError::Malformed));
        assert_eq!(strip(&good[..10]), Err(MediaError::Malformed));
        let mut bad_len = vec![0xFF, SOI, 0xFF, 0xE1, 0x00, 0x01];
        bad_len.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(strip(&bad_len), Err(MediaError::Malformed));
        let mut junk = vec![0xFF, SOI, 0x12, 0x34];
        junk.extend_from_slice(&[0xFF, EOI]);
        assert_eq!(strip(&junk), Err(MediaError::Malformed));
        assert_eq!(strip(b"\xff\xd8"), Err(MediaError::Mismatch));
        // A bad orientation is simply not kept.
        let out = strip(&jpeg(&[seg(APP1, &exif(9))])).unwrap();
        assert_eq!(orientation_of(&out), None);
    }
}
