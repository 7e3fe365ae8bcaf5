//! Card numbers split across several chat messages ("4111 1111", then "1111 1111"), for issues 7,
//! 17 and 18.
//!
//! A *fragment* is a message made only of digit groups and separators. Up to [`MAX_FRAGMENTS`]
//! consecutive fragments are read as one number when, together, they are a card: an issued prefix
//! and length, a valid Luhn digit, a first piece of at least 4 digits, and breaks that fit. Since
//! issue 17, a card of 13 to 19 digits may be broken anywhere after a first group of 4 digits or
//! more; otherwise (a first group of 1 to 3 digits, or a 12-digit card) the breaks must fit a
//! printed card's grouping (4-4-4-4…, 4-6-x): every space of the printed grouping was typed, as a
//! separator or as the end of a message, while extra breaks inside a printed group (Amex `3425` /
//! `195` / `369` / `22764`) are allowed. The last fragment then shows the mask and every earlier
//! one shows `••••`, so only the last four digits survive. Two unrelated numbers sent one after the
//! other (an order number, then a phone number) fail at least one of these tests, nearly always
//! several.
//!
//! [`hold_decision`] is the hold-back a chat server runs over the fragments of one connection: it
//! uses the same grouping rule ([`may_still_become_card`]), so whatever it holds is masked once
//! complete. One kind of piece that may begin a card is delivered at once instead of held: a zip
//! code's shape, 5 digits in one group (at most [`SHOWN_MAX_DIGITS`] in all). PCI DSS 3.4.1 allows
//! the first six digits of a card to be shown, so delivering it discloses nothing forbidden; it is
//! remembered (*shown*), and later pieces that may complete a card with it are held and masked as
//! usual, so the agent never sees more of a card than its first six and last four digits.

use std::borrow::Cow;

use crate::chars;
use crate::pan::{self, MAX_LEN};
use crate::{mask, Finding, Redaction, MASK_DOTS};

/// Most consecutive messages a split card number is looked for in.
pub const MAX_FRAGMENTS: usize = 4;

/// Digits the first piece of a split card carries at least: every printed grouping opens with a group
/// of 4, so a reply of 1 to 3 digits ("2", "42", a CVV) never starts a held sequence.
pub const MIN_FIRST_PIECE_DIGITS: usize = 4;

/// Shortest split card that may be grouped any way after its first group (the issue-17 rule).
const ANY_GROUPING_MIN_LEN: usize = 13;

/// Digits of a zip code's first group (`30301`): a sequence that opens with a group of exactly this
/// many digits is delivered as typed, not held, while it has at most [`SHOWN_MAX_DIGITS`] digits.
/// Holding it would delay nearly every zip sent alone (`303` is Diners Club, `55` Mastercard).
const ZIP_DIGITS: usize = 5;

/// Most leading digits of a card that may be shown (PCI DSS 3.4.1: at most the first six and the
/// last four): a sequence delivered as typed while it may still become a card has at most this many
/// digits, and every later piece of the card is masked.
pub const SHOWN_MAX_DIGITS: usize = 6;

/// Whether a split card whose first group (the digits before the first separator or message end)
/// has `n` digits may be grouped any way after it (issue 17): 4 or more, as every printed card
/// begins with 4. That takes in the long first groups of a card typed in halves (`41111111` /
/// `11111111`), as a zip and the rest (`41111` / `11111111111`), as a phone number and the rest
/// (`4111111111` / `111111`), with its last digits split off (`305693090259` / `04`), or whole and
/// then lengthened (`4111111111111111` / `111`). Shorter first groups (`37 82`) keep the
/// printed-breaks rule.
fn any_grouping_after(n: usize) -> bool {
    n >= MIN_FIRST_PIECE_DIGITS
}

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
            } else if let Some((kind, len)) = chars::sep_at(text, i) {
                // A slash joins groups inside one message, but `4111/1111` typed alone is more
                // likely a date or a ratio than a piece of a card: no fragment.
                if kind == chars::Sep::Slash {
                    return None;
                }
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
    let frags: Vec<Option<Fragment>> = parts.iter().map(|p| Fragment::parse(p)).collect();
    redact_parsed(parts, &frags).0
}

/// [`redact_fragments`] over fragments already parsed; also returns the split cards found, as the
/// first and last piece of each.
fn redact_parsed<'a>(
    parts: &[&'a str],
    frags: &[Option<Fragment>],
) -> (Vec<Redaction<'a>>, Vec<(usize, usize)>) {
    let mut out: Vec<Redaction<'a>> = parts.iter().map(|p| crate::redact(p)).collect();
    let mut cards = Vec::new();
    // A fragment that is a short card by itself ("6011 1160 3556", Maestro) may be the start of a
    // longer one: the split reading is tried first and wins, so its digits never show in a mask.
    let mut i = 0;
    while i < parts.len() {
        match split_card_at(frags, i) {
            Some((last, brand, last4)) => {
                for k in i..=last {
                    if let Some(f) = &frags[k] {
                        out[k] = mask_fragment(parts[k], f, k == last, brand, &last4);
                    }
                }
                cards.push((i, last));
                i = last + 1;
            }
            None => i += 1,
        }
    }
    (out, cards)
}

/// The digits and typed breaks of a run of consecutive fragments, as they are read one by one.
#[derive(Debug, Default)]
struct Run {
    digits: Vec<u8>,
    /// Bit `p` set when a group ended after `p` digits: a separator or the end of a message.
    breaks: u32,
}

impl Run {
    /// Adds the next fragment; false (and the run is no longer meaningful) past [`MAX_LEN`] digits.
    fn push(&mut self, f: &Fragment) -> bool {
        if self.digits.len() + f.digits.len() > MAX_LEN {
            return false;
        }
        let mut at = self.digits.len();
        for n in &f.sizes {
            at += n;
            self.breaks |= 1 << at;
        }
        self.digits.extend_from_slice(&f.digits);
        true
    }

    /// Whether the breaks typed so far fit a card of `len` digits. Issue 17: a card of 13 to 19
    /// digits may be grouped any way after a first group of 4 or more digits
    /// ([`any_grouping_after`]). Otherwise (a 12-digit card, or another first group), every
    /// break of a printed grouping before the digits typed so far end must have been typed (extra
    /// ones are allowed).
    fn fits(&self, len: usize) -> bool {
        // Every pushed fragment sets the bit after its last digit, so a run with digits has a break.
        let first_group = self.breaks.trailing_zeros() as usize;
        if len >= ANY_GROUPING_MIN_LEN && self.breaks != 0 && any_grouping_after(first_group) {
            return true;
        }
        let typed_before_end = (1u32 << self.digits.len()) - 1;
        printed_groupings(len)
            .into_iter()
            .flatten()
            .any(|g| g & typed_before_end & !self.breaks == 0)
    }
}

/// The printed groupings of a card of `len` digits, as the breaks they put between groups (bit `p`:
/// a break after `p` digits): 4-4-4-4… with a last group of 1 to 4 (12 to 19 digits), and 4-6-x
/// with x from 3 to 9 (Amex 4-6-5, Diners 4-6-4; 13 to 19 digits). These are the groupings
/// `detect` calls printed like a card, bar the unbroken run, which no run of two or more messages
/// can be. A message's end and a separator both count as a break, and neither has to fall on a
/// printed one: people pause, or put a space, in the middle of a long group.
fn printed_groupings(len: usize) -> [Option<u32>; 2] {
    let mut fours = 0u32;
    let mut p = 4;
    while p < len {
        fours |= 1 << p;
        p += 4;
    }
    [
        (12..=MAX_LEN).contains(&len).then_some(fours),
        (13..=MAX_LEN).contains(&len).then_some(1 << 4 | 1 << 10),
    ]
}

/// Whether these consecutive fragments (oldest first) could still become a card with more digits
/// typed after them, which is when a chat server holds them back (or, for a zip-sized start,
/// delivers and remembers them: [`hold_decision`]):
/// - (a) the first piece carries at least [`MIN_FIRST_PIECE_DIGITS`] digits;
/// - (b) the digits so far begin a range of the IIN table that issues numbers longer than them;
/// - (c) for one such longer length, the breaks typed so far fit: any grouping after a first group
///   of 4 or more digits ([`any_grouping_after`]), or else a printed grouping (see
///   [`printed_groupings`]), however the messages and separators cut its groups.
///
/// The masking of [`redact_fragments`] asks the same of a complete card (with its own length), so a
/// card completed from held fragments is masked. A chat server holds such fragments, bar a zip-sized
/// start, which it delivers and remembers ([`hold_decision`]).
pub fn may_still_become_card(pieces: &[&str]) -> bool {
    let frags: Vec<Option<Fragment>> = pieces.iter().map(|p| Fragment::parse(p)).collect();
    may_grow(&frags)
}

fn may_grow(frags: &[Option<Fragment>]) -> bool {
    let Some(Some(first)) = frags.first() else {
        return false;
    };
    if first.digits.len() < MIN_FIRST_PIECE_DIGITS {
        return false;
    }
    let mut run = Run::default();
    for f in frags {
        let Some(f) = f else { return false };
        if !run.push(f) {
            return false;
        }
    }
    let n = run.digits.len();
    // Lengths longer than the digits so far, up to MAX_LEN (so the shift stays in range).
    let longer = pan::issued_lengths(&run.digits) & !((1u32 << (n + 1)) - 1);
    (n + 1..=MAX_LEN).any(|len| longer & (1 << len) != 0 && run.fits(len))
}

/// The longest run of two or more fragments from `i` that reads as one card.
fn split_card_at(frags: &[Option<Fragment>], i: usize) -> Option<(usize, crate::Brand, String)> {
    let mut run = Run::default();
    let mut best = None;
    for (k, f) in frags.iter().enumerate().skip(i).take(MAX_FRAGMENTS) {
        let Some(f) = f else { break };
        if !run.push(f) {
            break;
        }
        if k == i {
            if f.digits.len() < MIN_FIRST_PIECE_DIGITS || !pan::could_begin(&run.digits) {
                return None;
            }
            continue;
        }
        let digits = &run.digits;
        if let Some((brand, _)) = pan::brand_of(digits) {
            if pan::luhn_ok(digits) && run.fits(digits.len()) {
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

/// What the hold-back does with the fragments of one connection, after one more arrived.
#[derive(Debug)]
pub struct HoldDecision<'a> {
    /// The oldest held pieces, to deliver now in this order, each redacted as it must be stored and
    /// delivered (a piece of a split card is `••••` or the mask and has a finding; a zip-sized start
    /// is as typed).
    pub release: Vec<Redaction<'a>>,
    /// How many of the newest held pieces stay held: `release.len() + keep` is the number held.
    pub keep: usize,
    /// How many of the newest delivered pieces (the ones given as shown, then `release`) the
    /// sequence still counts: they were delivered as typed, and a later piece that completes a card
    /// with them is masked. Pass them as `shown` next time; the others are done with.
    pub shown: usize,
}

/// The hold-back decision over one connection's current sequence, taken after each new fragment:
/// `shown` are the pieces of it already delivered as typed (oldest first; what the last decision's
/// [`HoldDecision::shown`] counted), `held` the fragments held after them, the new one last (each
/// one that [`is_fragment`] accepts; at most [`MAX_FRAGMENTS`] pieces in all). Release what can no
/// longer be part of a card, masked when it forms one, and keep what still may.
///
/// Over all the pieces, shown and held alike, the sequence kept is the longest tail of fewer than
/// [`MAX_FRAGMENTS`] pieces that [`may_still_become_card`]: no piece before it can be part of a card
/// still to come. Every held piece before that tail is released, redacted over all the pieces
/// ([`redact_fragments`]), with one exception: a card that is complete and cannot grow any longer
/// (a 16-digit Mastercard) is released whole, masked, even when its last pieces could also begin
/// another card, and the decision is then taken again over the pieces after it. A complete card
/// that may still grow (a 16-digit Visa may have 19 digits) is kept, since it is such a tail.
///
/// The tail's held pieces are kept held, bar one case: a tail that opens with a group of 5 digits
/// (a zip code's shape) and has at most [`SHOWN_MAX_DIGITS`] digits is delivered as typed now, and
/// counted as shown. The agent then sees at most a card's first six digits before its mask, which
/// shows the last four: no more than PCI DSS 3.4.1 allows, while zips sent alone are not delayed.
/// Pieces whose digits go beyond six are held as usual (`30301-1234`, a phone number typed in one
/// run such as `4155552671`, when their prefix begins a card), since delivering them would show
/// more.
///
/// Whatever stays held is released by [`release_held`] when the sequence ends (a message that is
/// not a fragment, or the window has passed).
pub fn hold_decision<'a>(shown: &[&'a str], held: &[&'a str]) -> HoldDecision<'a> {
    let parts: Vec<&'a str> = shown.iter().chain(held).copied().collect();
    let frags: Vec<Option<Fragment>> = parts.iter().map(|p| Fragment::parse(p)).collect();
    // The redactions of parts[..from], the pieces the sequence no longer counts.
    let mut done = Vec::new();
    let mut from = 0;
    while from < parts.len() {
        let (parts, frags) = (&parts[from..], &frags[from..]);
        let n = parts.len();
        let tail = (0..n)
            .find(|&s| n - s < MAX_FRAGMENTS && may_grow(&frags[s..]))
            .unwrap_or(n);
        if tail == 0 {
            break;
        }
        let (red, cards) = redact_parsed(parts, frags);
        // A split card whose pieces straddle the tail's start cannot grow (else the tail would start
        // at its first piece): release it whole, masked, rather than cut it.
        let keep_from = cards
            .iter()
            .find(|&&(first, last)| first < tail && tail <= last)
            .map_or(tail, |&(_, last)| last + 1);
        done.extend(red.into_iter().take(keep_from));
        from += keep_from;
    }
    // The shown pieces were delivered already: only the held ones among `done` are released.
    let mut release: Vec<Redaction<'a>> = done.into_iter().skip(shown.len()).collect();
    let still_shown = shown.len().saturating_sub(from);
    let mut keep = parts.len() - from - still_shown;
    if keep > 0 && may_show(&frags[from..]) {
        // Five or six digits, no card on their own: as typed.
        release.extend(parts[parts.len() - keep..].iter().map(|p| crate::redact(p)));
        keep = 0;
    }
    HoldDecision {
        release,
        keep,
        shown: parts.len() - from - keep,
    }
}

/// Whether a sequence that may still become a card may be delivered as typed all the same: it opens
/// with a group of [`ZIP_DIGITS`] digits and has at most [`SHOWN_MAX_DIGITS`] digits.
fn may_show(frags: &[Option<Fragment>]) -> bool {
    let mut digits = 0;
    for f in frags {
        let Some(f) = f else { return false };
        digits += f.digits.len();
    }
    let opens_like_a_zip =
        matches!(frags.first(), Some(Some(f)) if f.sizes.first() == Some(&ZIP_DIGITS));
    opens_like_a_zip && digits <= SHOWN_MAX_DIGITS
}

/// The end of a sequence (a message that is not a fragment, or the window has passed): every held
/// piece, redacted over the shown ones and the held ones together ([`redact_fragments`]), so a card
/// that the held pieces complete with the shown ones is masked in the held ones. One redaction per
/// held piece, in order.
pub fn release_held<'a>(shown: &[&'a str], held: &[&'a str]) -> Vec<Redaction<'a>> {
    let parts: Vec<&'a str> = shown.iter().chain(held).copied().collect();
    redact_fragments(&parts)
        .into_iter()
        .skip(shown.len())
        .collect()
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

    /// Runs the hold-back over `pieces` sent one by one, as a chat server does, then ends the
    /// sequence; returns, for each piece, the step (index of the piece just sent, or `pieces.len()`
    /// for the end) at which it was released, and the text it was released as.
    fn hold_back(pieces: &[&str]) -> Vec<(usize, String)> {
        let (mut shown, mut held): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        for (step, p) in pieces.iter().enumerate() {
            held.push(p);
            let d = hold_decision(&shown, &held);
            assert_eq!(d.release.len() + d.keep, held.len());
            for r in d.release {
                out.push((step, r.text.into_owned()));
            }
            shown.extend(held.drain(..held.len() - d.keep));
            shown.drain(..shown.len() - d.shown);
            let digits: usize = shown
                .iter()
                .filter_map(|p| Fragment::parse(p))
                .map(|f| f.digits.len())
                .sum();
            assert!(
                digits <= SHOWN_MAX_DIGITS,
                "{pieces:?}: {shown:?} counted as shown"
            );
        }
        for r in release_held(&shown, &held) {
            out.push((pieces.len(), r.text.into_owned()));
        }
        out
    }

    fn released(pieces: &[&str], steps: &[usize], texts: &[&str]) {
        let want: Vec<(usize, String)> = steps
            .iter()
            .zip(texts)
            .map(|(s, t)| (*s, (*t).to_owned()))
            .collect();
        assert_eq!(hold_back(pieces), want, "{pieces:?}");
    }

    #[test]
    fn short_later_groups_are_joined() {
        // Issue 18: Amex 4-6-5 and Diners 4-6-4 typed with the 6-digit group in two.
        assert_eq!(
            texts(&["3425", "195", "369", "22764"]),
            ["••••", "••••", "••••", "[Amex •••• 2764]"]
        );
        assert_eq!(
            texts(&["3600", "743", "766", "9867"]),
            ["••••", "••••", "••••", "[Diners Club •••• 9867]"]
        );
        assert_eq!(
            texts(&["3782 822", "463 10005"]),
            ["••••", "[Amex •••• 0005]"]
        );
        assert_eq!(
            texts(&["37 82", "822463", "10005"]),
            ["••••", "••••", "[Amex •••• 0005]"]
        );
        assert_eq!(
            texts(&["4111 11", "11 1111 1111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["3056", "930902", "59", "04"]),
            ["••••", "••••", "••••", "[Diners Club •••• 5904]"]
        );
    }

    #[test]
    fn joins_need_a_first_group_of_four_or_more() {
        // Issue 17: after a first group of 4, any grouping joins, as it does in one message. (Until
        // issue 17 these three were left as typed: no break after 12, nor after 10.)
        assert_eq!(
            texts(&["4111 1111", "11111111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["3782", "82246310005"]),
            ["••••", "[Amex •••• 0005]"]
        );
        assert_eq!(
            texts(&["4111", "11111111", "11", "11"]),
            ["••••", "••••", "••••", "[Visa •••• 1111]"]
        );
        // 12+2 (Diners) and the check digit split off.
        assert_eq!(
            texts(&["305693090259", "04"]),
            ["••••", "[Diners Club •••• 5904]"]
        );
        assert_eq!(
            texts(&["411111111111111", "1"]),
            ["••••", "[Visa •••• 1111]"]
        );
        // A card typed in halves, or whole and then lengthened: any first group of 4 digits or more
        // (issue 17, closing the gap against the single-message rule).
        for (a, b) in [
            ("41111111", "11111111"),
            ("411111", "1111111111"),
            ("4111111", "111111111"),
            ("411111111", "1111111"),
            ("41111111111", "11111"),
            ("41111111", "1111 1111"),
        ] {
            assert_eq!(texts(&[a, b]), ["••••", "[Visa •••• 1111]"], "{a} / {b}");
        }
        assert_eq!(
            texts(&["4111111111111111", "003"]),
            ["••••", "[Visa •••• 1003]"]
        );
        assert_eq!(
            texts(&["3056930", "90259", "04"]),
            ["••••", "••••", "[Diners Club •••• 5904]"]
        );
        // A first group of exactly 5 (a zip's shape) or 10 digits (a phone number's) too: until the
        // second follow-up of issue 17 these were the gap left, never joined.
        assert_eq!(
            texts(&["41111", "11111111111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["4111111111", "111111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        assert_eq!(
            texts(&["41111 1111", "111 1111"]),
            ["••••", "[Visa •••• 1111]"]
        );
        // A whole card followed by digits that make no longer one: masked on its own, as `redact` does.
        assert_eq!(
            texts(&["4111111111111111", "111"]),
            ["[Visa •••• 1111]", "111"]
        );
        // A first piece of fewer than four digits is never held, so never joined either.
        assert_eq!(texts(&["378", "2 822463 10005"]), ["378", "2 822463 10005"]);
    }

    #[test]
    fn what_may_still_become_a_card() {
        for held in [
            &["3425"][..],
            &["3425", "195"],
            &["3425", "195", "369"],
            &["3600", "743", "766"],
            &["34 25"],
            &["4111 1111"],
            &["4012 88"],
            &["4111", "1111", "1111", "1111"], // a 16-digit Visa may have 19
            &["4111 1111 1111 1111"],
            &["3456 7"], // a space inside the second group of four
            // Issue 17: any grouping after a first group of 4, or a first group of 12 to 15.
            &["4111 1111", "11111111"],
            &["4111", "11111111", "11"],
            &["305693090259"],
            &["411111111111111"],
            // …and any other first group of 4 or more, bar 5 and 10, when it begins a card.
            &["41111111"],
            &["411111"],
            &["30301123"], // an 8-digit number that begins a Diners Club range
            &["55555555"],
            &["41111111111"],
            &["4111111111111111"], // a whole Visa may have 19 digits
            &["6011111111111117"], // so may a Discover
            &["41111111", "111"],
            // …5 and 10 included since the second follow-up (the hold-back delivers a zip-sized
            // start and remembers it, and holds the rest).
            &["30301"],
            &["30301-1234"],
            &["4155552671"],
            &["41111 111111"],
            &["4111111111 1"],
            &["41111", "1"],
        ] {
            assert!(may_still_become_card(held), "{held:?}");
        }
        for held in [
            &["yes"][..],
            &["2"],
            &["42"],
            &["123"],
            &["1234"],         // no issued prefix
            &["415 555 2671"], // a first group of 3 and no break after four digits
            &["555 0100"],
            &["10001"], // 1, 7, 9 and 0 begin no card, whatever the length
            &["12345678"],
            &["70112345"],
            &["940010001"],
            &["01712345678"],
            &["5555555555554444"],   // a Mastercard is 16: complete as it is
            &["378282246310005"],    // an Amex is 15
            &["3425 195 369 22764"], // an Amex is 15 digits: complete
            &["3425", "195", "369", "22764"],
            &["5555 5555 5555 4444"],     // a Mastercard is 16
            &["4111 1111 1111 1111 111"], // 19 digits
            &["4111", "hello"],
        ] {
            assert!(!may_still_become_card(held), "{held:?}");
        }
    }

    #[test]
    fn printed_groupings_are_detects_printed_shapes() {
        // Every way to cut 12 to 19 digits into two or more groups: a printed grouping exactly when
        // `detect` calls it printed like a card.
        for len in MIN_LEN_FOR_TEST..=MAX_LEN {
            for cuts in 1u32..(1 << (len - 1)) {
                let breaks = cuts << 1; // bit p for a break after p digits, 1 ≤ p < len
                let mut sizes = Vec::new();
                let mut last = 0;
                for p in 1..len {
                    if breaks & (1 << p) != 0 {
                        sizes.push(p - last);
                        last = p;
                    }
                }
                sizes.push(len - last);
                let printed = printed_groupings(len)
                    .into_iter()
                    .flatten()
                    .any(|g| g == breaks);
                assert_eq!(
                    printed,
                    crate::detect::printed_like_a_card(&sizes),
                    "{sizes:?}"
                );
            }
        }
    }
    const MIN_LEN_FOR_TEST: usize = 12;

    #[test]
    fn the_hold_back_holds_a_split_card_until_it_is_complete() {
        // An Amex cannot grow: released, masked, with its last piece.
        released(
            &["3425", "195", "369", "22764"],
            &[3, 3, 3, 3],
            &["••••", "••••", "••••", "[Amex •••• 2764]"],
        );
        released(
            &["3600", "743", "766", "9867"],
            &[3, 3, 3, 3],
            &["••••", "••••", "••••", "[Diners Club •••• 9867]"],
        );
        // A 16-digit Visa may have 19 digits: held to the end of the sequence.
        released(
            &["4111 11", "11 1111 1111"],
            &[2, 2],
            &["••••", "[Visa •••• 1111]"],
        );
        // A complete Mastercard is released at once, though its last piece could begin another.
        released(
            &["5555 5555", "5555 4444"],
            &[1, 1],
            &["••••", "[Mastercard •••• 4444]"],
        );
    }

    #[test]
    fn the_hold_back_never_holds_short_answers() {
        for answer in [
            "2",
            "42",
            "123",
            "30301",
            "415 555 2671",
            "555 0100",
            "1234",
        ] {
            released(&[answer], &[0], &[answer]);
        }
        // A CVV after a card typed in pieces: the card is masked, the CVV released at once as typed.
        released(
            &["4111 1111", "1111 1111", "123"],
            &[2, 2, 2],
            &["••••", "[Visa •••• 1111]", "123"],
        );
    }

    #[test]
    fn the_hold_back_releases_what_can_no_longer_be_a_card() {
        // Four pieces that make no card: the oldest go as typed, a tail that may begin one stays.
        // ("2222 3333" may still be a Mastercard.)
        released(
            &["4111", "1111", "2222", "3333"],
            &[3, 3, 4, 4],
            &["4111", "1111", "2222", "3333"],
        );
        // A number that cannot begin a card goes at once; what follows starts afresh.
        released(
            &["4111 1112", "11111111", "3782", "822463", "10005"],
            &[2, 2, 4, 4, 4],
            &["4111 1112", "11111111", "••••", "••••", "[Amex •••• 0005]"],
        );
        // Issue 17: a 4+8 Visa is a card (until then, released as typed), and is masked once what
        // follows shows that it has ended.
        released(
            &["4111 1111", "11111111", "3782", "822463", "10005"],
            &[2, 2, 4, 4, 4],
            &[
                "••••",
                "[Visa •••• 1111]",
                "••••",
                "••••",
                "[Amex •••• 0005]",
            ],
        );
    }

    #[test]
    fn the_hold_back_holds_a_long_first_group_that_begins_a_card() {
        // Issue 17: a card typed in halves is held, then masked (a Visa may grow to 19: held to the
        // end of the sequence; a Mastercard cannot: released at once).
        released(
            &["41111111", "11111111"],
            &[2, 2],
            &["••••", "[Visa •••• 1111]"],
        );
        released(
            &["55555555", "55554444"],
            &[1, 1],
            &["••••", "[Mastercard •••• 4444]"],
        );
        // A whole Visa, then the three digits of a 19-digit one, which cannot grow: released at once.
        released(
            &["4111111111111111", "003"],
            &[1, 1],
            &["••••", "[Visa •••• 1003]"],
        );
        // The cost: an 8-digit number that begins a card is held until the next piece shows it is
        // none (19 digits that fail Luhn cannot grow), then released as typed.
        released(
            &["30301123", "99999999999"],
            &[1, 1],
            &["30301123", "99999999999"],
        );
        // …or until the sequence ends, while it still may become one.
        released(&["41111111", "1234"], &[2, 2], &["41111111", "1234"]);
        // Zips (delivered at once, as typed: see the next test) and numbers no card begins with are
        // never held.
        for answer in ["30301", "55401", "10001", "12345678", "94001000"] {
            released(&[answer], &[0], &[answer]);
        }
    }

    #[test]
    fn a_zip_sized_start_is_delivered_and_what_completes_a_card_with_it_is_masked() {
        // Delivered at once, as typed (5 digits of a card are fewer than the first six PCI DSS
        // allows to show); the rest is held and masked, so the agent sees the first five and the
        // last four. A Visa may still grow to 19: held to the end of the sequence.
        released(
            &["41111", "11111111111"],
            &[0, 2],
            &["41111", "[Visa •••• 1111]"],
        );
        released(
            &["41111", "1111 1111", "111"],
            &[0, 3, 3],
            &["41111", "••••", "[Visa •••• 1111]"],
        );
        // A Mastercard cannot grow: released with its last piece.
        released(
            &["55555", "55555554444"],
            &[0, 1],
            &["55555", "[Mastercard •••• 4444]"],
        );
        // A sixth digit may still be shown; a seventh is held.
        released(&["30301", "2"], &[0, 1], &["30301", "2"]);
        released(&["30301", "42"], &[0, 2], &["30301", "42"]);
        released(&["30301", "55401"], &[0, 2], &["30301", "55401"]);
        // A zip and its +4, or a phone number typed in one run, that begin a card show more than six
        // digits: held until the sequence shows they are no card, then as typed.
        released(&["30301-1234"], &[1], &["30301-1234"]);
        released(&["4155552671"], &[1], &["4155552671"]);
        released(
            &["4155552671", "999999999"],
            &[1, 1],
            &["4155552671", "999999999"],
        );
        // 10 + 6 and 6 + 10 are held and masked whole.
        released(
            &["4111111111", "111111"],
            &[2, 2],
            &["••••", "[Visa •••• 1111]"],
        );
        released(
            &["5555555555", "554444"],
            &[1, 1],
            &["••••", "[Mastercard •••• 4444]"],
        );
        released(
            &["411111", "1111111111"],
            &[2, 2],
            &["••••", "[Visa •••• 1111]"],
        );
        // A card after a zip that is no part of it: the zip is done with once the card's first piece
        // cannot continue it, and the card is masked as usual.
        released(
            &["30301", "4111 1111", "1111 1111"],
            &[0, 3, 3],
            &["30301", "••••", "[Visa •••• 1111]"],
        );
        let d = hold_decision(&["30301"], &["4111 1111", "1111 1111"]);
        assert_eq!((d.release.len(), d.keep, d.shown), (0, 2, 0));
    }

    #[test]
    fn a_shorter_card_inside_a_longer_one_does_not_release_its_start() {
        // "6011" then a 13-digit Visa on its own: the two may still be a 19-digit Discover, so the
        // first piece is not released as typed because a card begins after it.
        let visa13 = "4222 2222 2222 2";
        assert_eq!(texts(&[visa13]), ["[Visa •••• 2222]"]);
        let d = hold_decision(&[], &["6011", visa13]);
        assert_eq!((d.release.len(), d.keep), (0, 2));
    }

    #[test]
    fn at_most_four_fragments() {
        let parts = ["4111", "1111", "1111", "111", "1"];
        assert_eq!(texts(&parts), parts);
    }
}
