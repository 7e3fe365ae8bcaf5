//! Card numbers split across several chat messages ("4111 1111", then "1111 1111"), for issue 7.
//!
//! A *fragment* is a message made only of digit groups and separators. Up to [`MAX_FRAGMENTS`]
//! consecutive fragments are read as one number when, together, they are a card: an issued prefix
//! and length, a valid Luhn digit, and groups that fall like a printed card's (4-4-4-4…, 4-6-5,
//! 4-6-4) across the messages. The last fragment then shows the mask and every earlier one shows
//! `••••`, so only the last four digits survive. Two unrelated numbers sent one after the other (an
//! order number, then a phone number) fail at least one of these tests, nearly always several.

use std::borrow::Cow;

use crate::chars;
use crate::detect;
use crate::pan::{self, MAX_LEN};
use crate::{mask, Finding, Redaction, MASK_DOTS};

/// Most consecutive messages a split card number is looked for in.
pub const MAX_FRAGMENTS: usize = 4;

/// A fragment's digits, group sizes and the span from its first digit to its last.
#[derive(Debug)]
struct Fragment {
    digits: Vec<u8>,
    sizes: Vec<usize>,
    start: usize,
    end: usize,
}

impl Fragment {
    /// Reads `text` if it is a fragment: digits and separators only (any amount of surrounding
    /// white space), with at least one digit.
    fn parse(text: &str) -> Option<Fragment> {
        let mut digits = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        let (mut start, mut end) = (None, 0);
        let mut in_group = false;
        let mut i = 0;
        while i < text.len() {
            if let Some((d, len)) = chars::digit_at(text, i) {
                if digits.len() > MAX_LEN {
                    return None; // longer than any card: not worth keeping
                }
                digits.push(d);
                match (in_group, sizes.last_mut()) {
                    (true, Some(n)) => *n += 1,
                    _ => sizes.push(1),
                }
                in_group = true;
                start.get_or_insert(i);
                i += len;
                end = i;
            } else if let Some((_, len)) = chars::sep_at(text, i) {
                in_group = false;
                i += len;
            } else {
                let (c, len) = chars::char_at(text, i)?;
                if !c.is_whitespace() {
                    return None;
                }
                in_group = false;
                i += len;
            }
        }
        Some(Fragment {
            digits,
            sizes,
            start: start?,
            end,
        })
    }
}

/// Whether `text` is made only of digit groups and separators (spaces, dashes, dots of any script),
/// with at least one digit: a message that may be one piece of a card number typed in several.
pub fn is_fragment(text: &str) -> bool {
    Fragment::parse(text).is_some()
}

/// Whether the digits typed so far (one or more fragments' text; separators are ignored) could be
/// the beginning of a card number still to be completed: their prefix is issued by some network
/// (from the IIN table) and they are shorter than that network's longest number. A chat server can
/// stop holding on to recent fragments as soon as this is false.
pub fn could_begin_card(digits_so_far: &str) -> bool {
    Fragment::parse(digits_so_far)
        .is_some_and(|f| f.digits.len() < MAX_LEN && pan::could_begin(&f.digits))
}

/// Redact a list of consecutive messages (oldest first), each as [`crate::redact`] would, and also
/// redact a card number split across 2 to [`MAX_FRAGMENTS`] consecutive fragments. Returns one
/// redaction per message, in order; each piece of a split card gets a finding (its own span, and
/// the brand and last four digits of the whole card).
pub fn redact_fragments<'a>(parts: &[&'a str]) -> Vec<Redaction<'a>> {
    let mut out: Vec<Redaction<'a>> = parts.iter().map(|p| crate::redact(p)).collect();
    // A fragment that is a short card by itself ("6011 1160 3556", Maestro) may be the start of a
    // longer one: the split reading is tried first and wins, so its digits never show in a mask.
    let frags: Vec<Option<Fragment>> = parts.iter().map(|p| Fragment::parse(p)).collect();
    let mut i = 0;
    while i < parts.len() {
        match split_card_at(&frags, i) {
            Some((last, brand, last4)) => {
                for k in i..=last {
                    if let Some(f) = &frags[k] {
                        out[k] = mask_fragment(parts[k], f, k == last, brand, &last4);
                    }
                }
                i = last + 1;
            }
            None => i += 1,
        }
    }
    out
}

/// The longest run of two or more fragments from `i` that reads as one card.
fn split_card_at(frags: &[Option<Fragment>], i: usize) -> Option<(usize, crate::Brand, String)> {
    let mut digits = Vec::new();
    let mut sizes = Vec::new();
    let mut best = None;
    for (k, f) in frags.iter().enumerate().skip(i).take(MAX_FRAGMENTS) {
        let Some(f) = f else { break };
        digits.extend_from_slice(&f.digits);
        sizes.extend_from_slice(&f.sizes);
        if digits.len() > MAX_LEN {
            break;
        }
        if k == i {
            if !pan::could_begin(&digits) {
                return None;
            }
            continue;
        }
        if let Some((brand, _)) = pan::brand_of(&digits) {
            if pan::luhn_ok(&digits) && detect::printed_like_a_card(&sizes) {
                let last4 = digits[digits.len() - 4..]
                    .iter()
                    .map(|d| char::from(b'0' + d))
                    .collect();
                best = Some((k, brand, last4));
            }
        }
    }
    best
}

fn mask_fragment<'a>(
    text: &'a str,
    f: &Fragment,
    last: bool,
    brand: crate::Brand,
    last4: &str,
) -> Redaction<'a> {
    let shown = if last {
        mask(brand, last4)
    } else {
        MASK_DOTS.to_owned()
    };
    let redacted = format!("{}{shown}{}", &text[..f.start], &text[f.end..]);
    Redaction {
        text: Cow::Owned(redacted),
        findings: vec![Finding {
            start: f.start,
            end: f.end,
            brand,
            last4: last4.to_owned(),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(parts: &[&str]) -> Vec<String> {
        redact_fragments(parts)
            .into_iter()
            .map(|r| r.text.into_owned())
            .collect()
    }

    #[test]
    fn fragments_are_digits_and_separators_only() {
        assert!(is_fragment("4111 1111"));
        assert!(is_fragment(" ４１１１－１１１１ \n"));
        assert!(is_fragment("1234"));
        assert!(!is_fragment("card 4111"));
        assert!(!is_fragment(""));
        assert!(!is_fragment(" - "));
        assert!(!is_fragment("4111/1111"));
    }

    #[test]
    fn prefixes_that_could_begin_a_card() {
        assert!(could_begin_card("4111"));
        assert!(could_begin_card("5555 5555"));
        assert!(could_begin_card("2221"));
        assert!(!could_begin_card("1234"));
        assert!(!could_begin_card("9400 1000"));
        assert!(!could_begin_card("2210"));
        assert!(!could_begin_card("card 4111"));
        assert!(!could_begin_card("4111 1111 1111 1111 111"));
    }

    #[test]
    fn card_split_in_two_three_and_four() {
        assert_eq!(
            texts(&["4111 1111", "1111 1111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["4111", "1111", "1111", "1111"]),
            ["••••", "••••", "••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["3782", "822463", "10005"]),
            ["••••", "••••", "[Amex •••• 0005]"]
        );
        assert_eq!(
            texts(&["５５５５ ５５５５ ５５５５", " 4444 "]),
            ["••••", " [Mastercard •••• 4444] "]
        );
        assert_eq!(
            texts(&["hello", "4111-1111-1111", "1111", "thanks"]),
            ["hello", "••••", "[Visa •••• 1111]", "thanks"]
        );
    }

    #[test]
    fn findings_for_each_piece() {
        let r = redact_fragments(&["4111 1111", "1111 1111"]);
        assert_eq!(r[0].findings[0].start, 0);
        assert_eq!(r[0].findings[0].end, 9);
        assert_eq!(r[1].findings[0].last4, "1111");
        assert_eq!(r[1].findings[0].brand, crate::Brand::Visa);
    }

    #[test]
    fn unrelated_numbers_are_not_joined() {
        let cases: &[&[&str]] = &[
            &["45001234", "555-123-4567"],        // order number, then phone
            &["6001234", "55512345"],             // two numbers, not grouped like a card
            &["1234", "5678"],                    // PINs
            &["2024", "01", "15"],                // a date
            &["4111 1111", "hello", "1111 1111"], // interrupted
            &["4111", "1111", "1111", "1111", "1111"][1..], // no issued prefix
            &["9400 1000 0000", "0000 0000 00"],  // tracking number
            &["+44 20", "7946 0958"],             // phone
        ];
        for parts in cases {
            let out = redact_fragments(parts);
            for (r, p) in out.iter().zip(parts.iter()) {
                assert_eq!(r.text, *p, "{parts:?}");
                assert!(r.findings.is_empty());
            }
        }
    }

    #[test]
    fn whole_cards_in_a_message_are_redacted_too() {
        assert_eq!(
            texts(&["4111 1111 1111 1111", "1234"]),
            ["[Visa •••• 1111]", "1234"]
        );
    }

    #[test]
    fn at_most_four_fragments() {
        let parts = ["4111", "1111", "1111", "111", "1"];
        assert_eq!(texts(&parts), parts);
    }
}
