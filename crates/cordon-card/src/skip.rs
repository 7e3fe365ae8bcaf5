//! Skip straight to the next byte that can begin a digit, eight bytes at a time (SWAR on `u64`).
//!
//! Most chat text has few digits, so nearly all of it is passed over here at a few operations per
//! word; only ASCII digits and the lead bytes of non-ASCII digits (see [`DIGIT_START`]) stop the scan.

use crate::chars::DIGIT_START;

const LANES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte lane of `w` that is an ASCII digit or a UTF-8 lead byte (0xC0 and up).
/// Continuation bytes are not flagged, so text in other scripts stops the scan once per character
/// at most, not once per byte.
#[inline(always)]
fn candidates(w: u64) -> u64 {
    let low7 = w & !HIGH;
    // Adding 0x50 (resp. 0x46) to a 7-bit lane sets its high bit iff the lane is >= 0x30 (>= 0x3A);
    // the lanes are < 0x80, so no carry crosses into the next lane.
    let ge_0 = low7.wrapping_add(0x50 * LANES);
    let ge_colon = low7.wrapping_add(0x46 * LANES);
    let ascii_digit = ge_0 & !ge_colon & !w;
    // Bit 6 shifted up into bit 7 of the same lane: both set means a lead byte.
    let lead = w & (w << 1);
    (ascii_digit | lead) & HIGH
}

/// Bytes per round of [`next_digit_start`]'s main loop.
const BLOCK: usize = 32;

/// Whether some byte of `block` is an ASCII digit or a UTF-8 lead byte (0xC0 and up), as
/// [`candidates`] flags them. Written as a plain loop over the lanes with no early exit, which
/// LLVM vectorises (SSE2 on x86-64: two loads, a few compares and one mask test for 32 bytes,
/// where the SWAR form takes about ten operations per eight bytes).
#[inline(always)]
fn may_stop(block: &[u8; BLOCK]) -> bool {
    let mut any = 0u8;
    for &b in block {
        any |= u8::from(b.wrapping_sub(b'0') < 10) | u8::from(b >= 0xC0);
    }
    any != 0
}

#[inline(always)]
fn word(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Number of ASCII digits in a row starting at `from`, eight bytes at a time.
#[inline]
pub(crate) fn ascii_digit_run(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while i + 8 <= bytes.len() {
        let w = word(bytes, i);
        let low7 = w & !HIGH;
        let digit = low7.wrapping_add(0x50 * LANES) & !low7.wrapping_add(0x46 * LANES) & !w & HIGH;
        let other = !digit & HIGH;
        if other != 0 {
            return i - from + (other.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    i - from
}

/// Position of the first byte at or after `from` that may begin a digit.
#[inline]
pub(crate) fn next_digit_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    // One word first: in digit-dense text, and in scripts whose every character stops the scan,
    // the next stop is usually within eight bytes, and the four words below would be read for one.
    if i + 8 <= bytes.len() {
        if let Some(p) = first_in(bytes, i, candidates(word(bytes, i))) {
            return Some(p);
        }
        i += 8;
    }
    // BLOCK bytes per round while there is room, tested lane by lane in a form the compiler turns
    // into a few vector instructions; only a block with a stop is looked at word by word.
    while let Some(block) = bytes.get(i..).and_then(|rest| rest.first_chunk::<BLOCK>()) {
        if !may_stop(block) {
            i += BLOCK;
            continue;
        }
        for k in (0..BLOCK).step_by(8) {
            if let Some(p) = first_in(bytes, i + k, candidates(word(bytes, i + k))) {
                return Some(p);
            }
        }
        i += BLOCK;
    }
    while i + 8 <= bytes.len() {
        if let Some(p) = first_in(bytes, i, candidates(word(bytes, i))) {
            return Some(p);
        }
        i += 8;
    }
    (i..bytes.len()).find(|&p| DIGIT_START[usize::from(bytes[p])])
}

/// The first lane flagged in `mask` (for the word at `base`) that really can begin a digit.
#[inline(always)]
fn first_in(bytes: &[u8], base: usize, mut mask: u64) -> Option<usize> {
    while mask != 0 {
        let p = base + (mask.trailing_zeros() / 8) as usize;
        if DIGIT_START[usize::from(bytes[p])] {
            return Some(p);
        }
        mask &= mask - 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_same_bytes_as_a_plain_loop() {
        let samples = [
            "no digits here at all, just words and words and more words....",
            "x9",
            "abcdefghijklmnopqrstuvwxyz0123456789",
            "héllo wörld ٣ ４ 𝟘 日本語のテキスト 12",
            "",
            "////////////////////////////////////////////////:::::::::::::::5",
        ];
        for s in samples {
            let bytes = s.as_bytes();
            for from in 0..=bytes.len() {
                let want = (from..bytes.len()).find(|&p| DIGIT_START[usize::from(bytes[p])]);
                assert_eq!(next_digit_start(bytes, from), want, "{s:?} from {from}");
            }
        }
    }

    #[test]
    fn one_stop_anywhere_in_several_blocks() {
        // A single stop (or a lead byte of a character that begins no digit) at every position of a
        // text longer than three blocks, looked for from every position before and after it.
        for stop in ["7", "٣", "é", "👍", "\u{1D7CE}"] {
            for at in 0..130 {
                let text = format!("{}{stop}{}", "x".repeat(at), "y".repeat(130 - at));
                let bytes = text.as_bytes();
                for from in 0..=bytes.len() {
                    let want = (from..bytes.len()).find(|&p| DIGIT_START[usize::from(bytes[p])]);
                    assert_eq!(
                        next_digit_start(bytes, from),
                        want,
                        "{stop:?} at {at} from {from}"
                    );
                }
            }
        }
    }

    #[test]
    fn digit_runs() {
        let s = b"0123456789012345x 12 9999999 77777777";
        for from in 0..s.len() {
            let want = s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
            assert_eq!(ascii_digit_run(s, from), want, "from {from}");
        }
        for b in 0..=255u8 {
            let mut w = [b'5'; 12];
            w[3] = b;
            assert_eq!(
                ascii_digit_run(&w, 0),
                if b.is_ascii_digit() { 12 } else { 3 },
                "{b:#x}"
            );
        }
    }

    #[test]
    fn a_block_stops_exactly_where_a_word_does() {
        for lane in 0..BLOCK {
            for b in 0..=255u8 {
                let mut block = [b'a'; BLOCK];
                block[lane] = b;
                assert_eq!(
                    may_stop(&block),
                    b.is_ascii_digit() || b >= 0xC0,
                    "byte {b:#x} lane {lane}"
                );
            }
        }
    }

    #[test]
    fn every_byte_value_in_every_lane() {
        for lane in 0..8 {
            for b in 0..=255u8 {
                let mut w = [b'a'; 8];
                w[lane] = b;
                let m = candidates(u64::from_le_bytes(w));
                let flagged = m & (0x80 << (8 * lane)) != 0;
                assert_eq!(
                    flagged,
                    b.is_ascii_digit() || b >= 0xC0,
                    "byte {b:#x} lane {lane}"
                );
                assert_eq!(m & !(0x80 << (8 * lane)), 0);
            }
        }
    }
}
