//! Character classes for card numbers: decimal digits of every script, the separators people type
//! between digit groups, and the characters that glue a digit run into a larger word.

/// Code point of the digit zero of every block of Unicode decimal digits (general category Nd).
/// Each block holds the ten digits 0–9 in order. Generated from Python 3.11's `unicodedata`
/// (Unicode 14.0) plus the Unicode 15.0 blocks Kawi (U+11F50) and Nag Mundari (U+1E4F0).
const DIGIT_ZEROS: [u32; 68] = [
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
    0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
    0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0,
    0x1E950, 0x1FBF0,
];

/// Bytes that can begin the UTF-8 encoding of a decimal digit: ASCII digits and the lead bytes of the
/// blocks above (0xD9, 0xDB, 0xDF, 0xE0, 0xE1, 0xEA, 0xEF, 0xF0). The scanner only stops on these.
pub(crate) static DIGIT_START: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'0';
    while b <= b'9' {
        t[b as usize] = true;
        b += 1;
    }
    let leads = [0xD9u8, 0xDB, 0xDF, 0xE0, 0xE1, 0xEA, 0xEF, 0xF0];
    let mut k = 0;
    while k < leads.len() {
        t[leads[k] as usize] = true;
        k += 1;
    }
    t
};

/// The character starting at byte `i` of `text` (which must be a char boundary) and its UTF-8 length.
#[inline]
pub(crate) fn char_at(text: &str, i: usize) -> Option<(char, usize)> {
    let c = text.get(i..)?.chars().next()?;
    Some((c, c.len_utf8()))
}

/// The value of a decimal digit character.
#[inline]
pub(crate) fn digit_value(c: char) -> Option<u8> {
    let cp = u32::from(c);
    if c.is_ascii_digit() {
        return Some((cp - 0x30) as u8);
    }
    if cp < 0x660 {
        return None;
    }
    let k = DIGIT_ZEROS.partition_point(|&z| z <= cp);
    let zero = DIGIT_ZEROS[k.checked_sub(1)?];
    (cp - zero < 10).then(|| (cp - zero) as u8)
}

/// The digit at byte `i` and its encoded length, ASCII first.
#[inline]
pub(crate) fn digit_at(text: &str, i: usize) -> Option<(u8, usize)> {
    let b = *text.as_bytes().get(i)?;
    if b.is_ascii_digit() {
        return Some((b - b'0', 1));
    }
    if !DIGIT_START[usize::from(b)] {
        return None;
    }
    let (c, len) = char_at(text, i)?;
    Some((digit_value(c)?, len))
}

/// Kinds of separator between the digit groups of a card number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sep {
    /// Any kind of space, including no-break, thin, ideographic and zero-width ones.
    Space,
    /// Hyphens, dashes and minus signs.
    Dash,
    /// Full stops and middle dots.
    Dot,
    /// Slashes: `/`, fraction and division slashes, full-width solidus.
    Slash,
    /// A line break inside one message: LF, CR, CR LF (one separator), NEL, line and paragraph
    /// separators.
    Break,
}

/// The separator at byte `i`, if any, and its encoded length.
#[inline]
pub(crate) fn sep_at(text: &str, i: usize) -> Option<(Sep, usize)> {
    let b = *text.as_bytes().get(i)?;
    match b {
        b' ' | b'\t' => return Some((Sep::Space, 1)),
        b'-' => return Some((Sep::Dash, 1)),
        b'.' => return Some((Sep::Dot, 1)),
        b'/' => return Some((Sep::Slash, 1)),
        b'\n' => return Some((Sep::Break, 1)),
        b'\r' => {
            let len = if text.as_bytes().get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            return Some((Sep::Break, len));
        }
        0..=0x7F => return None,
        _ => {}
    }
    let (c, len) = char_at(text, i)?;
    let kind = match c {
        '\u{00A0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200B}'
        | '\u{202F}'
        | '\u{205F}'
        | '\u{2060}'
        | '\u{3000}'
        | '\u{FEFF}'
        | '\u{00AD}' => Sep::Space,
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{FF0D}'
        | '\u{30FC}' => Sep::Dash,
        '\u{00B7}' | '\u{2024}' | '\u{2027}' | '\u{30FB}' | '\u{FF0E}' | '\u{FF65}' => Sep::Dot,
        '\u{2044}' | '\u{2215}' | '\u{FF0F}' => Sep::Slash,
        '\u{0085}' | '\u{2028}' | '\u{2029}' => Sep::Break,
        _ => return None,
    };
    Some((kind, len))
}

/// Whether `c` makes a digit run touching it part of a word or code (`ab4111…`, `…1111x`), as in hex
/// hashes, IBANs written without spaces and tracking numbers. Scripts written without spaces (CJK,
/// Thai…) do not glue, so `卡号4111…` still holds a card.
#[inline]
pub(crate) fn is_glue(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || c == '_'
        || (('\u{00C0}'..='\u{052F}').contains(&c) && c.is_alphabetic())
        || digit_value(c).is_some()
}

/// Whether the character starting at byte `i` glues (see [`is_glue`]).
#[inline]
pub(crate) fn is_glue_at(text: &str, i: usize) -> bool {
    char_at(text, i).is_some_and(|(c, _)| is_glue(c))
}

/// The character ending just before byte `i` (a char boundary).
#[inline]
pub(crate) fn char_before(text: &str, i: usize) -> Option<char> {
    text.get(..i)?.chars().next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_of_many_scripts() {
        assert_eq!(digit_value('7'), Some(7));
        assert_eq!(digit_value('７'), Some(7));
        assert_eq!(digit_value('٣'), Some(3));
        assert_eq!(digit_value('۹'), Some(9));
        assert_eq!(digit_value('४'), Some(4));
        assert_eq!(digit_value('๕'), Some(5));
        assert_eq!(digit_value('𝟘'), Some(0));
        assert_eq!(digit_value('a'), None);
        assert_eq!(digit_value('Ⅳ'), None);
        assert_eq!(digit_value('²'), None);
        assert_eq!(digit_value('\u{FF1A}'), None);
    }

    #[test]
    fn digit_start_table_matches_digit_blocks() {
        for zero in DIGIT_ZEROS {
            for d in 0..10 {
                let c = char::from_u32(zero + d).unwrap();
                let mut buf = [0u8; 4];
                let lead = c.encode_utf8(&mut buf).as_bytes()[0];
                assert!(DIGIT_START[usize::from(lead)], "{c:?}");
                assert_eq!(digit_value(c), Some(d as u8));
            }
        }
    }

    #[test]
    fn separators() {
        for (s, k) in [
            (" ", Sep::Space),
            ("\u{a0}", Sep::Space),
            ("\u{2009}", Sep::Space),
            ("–", Sep::Dash),
            ("．", Sep::Dot),
        ] {
            assert_eq!(sep_at(s, 0).map(|x| x.0), Some(k), "{s:?}");
        }
        // Issue 17: slashes and line breaks join digit groups too; CR LF is one separator.
        assert_eq!(sep_at("/", 0), Some((Sep::Slash, 1)));
        assert_eq!(sep_at("\u{ff0f}", 0).map(|x| x.0), Some(Sep::Slash));
        assert_eq!(sep_at("\n", 0), Some((Sep::Break, 1)));
        assert_eq!(sep_at("\r\n", 0), Some((Sep::Break, 2)));
        assert_eq!(sep_at("\u{2028}", 0).map(|x| x.0), Some(Sep::Break));
        assert_eq!(sep_at(",", 0), None);
        assert_eq!(sep_at(":", 0), None);
    }
}
