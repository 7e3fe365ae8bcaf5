//! Property tests. Cards are built here from this file's own copy of the IIN table and its own Luhn
//! code, then formatted and embedded at random, so the tests do not lean on the detector's logic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use cordon_card::Brand;
use proptest::prelude::*;

/// (brand, first prefix, last prefix, lengths): the published ranges, as in issue 2.
const RANGES: &[(Brand, &str, &str, &[usize])] = &[
    (Brand::Visa, "4", "4", &[13, 16, 19]),
    (Brand::Mastercard, "51", "55", &[16]),
    (Brand::Mastercard, "2221", "2720", &[16]),
    (Brand::Amex, "34", "34", &[15]),
    (Brand::Amex, "37", "37", &[15]),
    (Brand::Discover, "6011", "6011", &[16, 17, 18, 19]),
    (Brand::Discover, "622126", "622925", &[16, 17, 18, 19]),
    (Brand::Discover, "644", "649", &[16, 17, 18, 19]),
    (Brand::Discover, "65", "65", &[16, 17, 18, 19]),
    (Brand::Jcb, "3528", "3589", &[16, 17, 18, 19]),
    (Brand::DinersClub, "300", "305", &[14, 15, 16, 17, 18, 19]),
    (Brand::DinersClub, "309", "309", &[14, 15, 16, 17, 18, 19]),
    (Brand::DinersClub, "36", "36", &[14, 15, 16, 17, 18, 19]),
    (Brand::DinersClub, "38", "39", &[14, 15, 16, 17, 18, 19]),
    (Brand::UnionPay, "62", "62", &[16, 17, 18, 19]),
    (Brand::UnionPay, "81", "81", &[16, 17, 18, 19]),
    (
        Brand::Maestro,
        "50",
        "50",
        &[12, 13, 14, 15, 16, 17, 18, 19],
    ),
    (
        Brand::Maestro,
        "56",
        "69",
        &[12, 13, 14, 15, 16, 17, 18, 19],
    ),
    (Brand::Mir, "2200", "2204", &[16, 17, 18, 19]),
];

fn luhn_digit(body: &[u8]) -> u8 {
    // The check digit makes the sum, with every second digit from the right doubled, a multiple of 10.
    let mut sum = 0u32;
    for (i, d) in body.iter().rev().enumerate() {
        let mut d = u32::from(*d);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    ((10 - sum % 10) % 10) as u8
}

fn brands_for(digits: &[u8]) -> Vec<Brand> {
    let s: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
    RANGES
        .iter()
        .filter(|(_, lo, hi, lens)| {
            lens.contains(&s.len()) && (*lo..=*hi).contains(&&s[..lo.len()])
        })
        .map(|r| r.0)
        .collect()
}

/// A valid PAN: (digits, brand it was built for).
fn card() -> impl Strategy<Value = Vec<u8>> {
    (
        0..RANGES.len(),
        any::<prop::sample::Index>(),
        any::<u64>(),
        prop::collection::vec(0u8..10, 19),
    )
        .prop_map(|(r, len_ix, pick, body)| {
            let (_, lo, hi, lens) = RANGES[r];
            let len = *len_ix.get(lens);
            let (lo_n, hi_n): (u64, u64) = (lo.parse().unwrap(), hi.parse().unwrap());
            let prefix = format!("{:0w$}", lo_n + pick % (hi_n - lo_n + 1), w = lo.len());
            let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
            digits.extend_from_slice(&body[..len - 1 - digits.len()]);
            let check = luhn_digit(&digits);
            digits.push(check);
            digits
        })
}

const SEPARATORS: &[&str] = &[
    " ", "  ", "-", ".", " - ", "\u{a0}", "\u{2009}", "\u{202f}", "\u{3000}", "\u{2013}",
    "\u{2014}", "\u{2010}", "\u{ff0d}", "\u{200b}", "\t",
];
/// Zero of a few digit scripts: ASCII, full-width, Arabic-Indic, Devanagari, Bengali, Thai.
const ZEROS: &[u32] = &[0x30, 0xFF10, 0x660, 0x966, 0x9E6, 0xE50];

fn groupings(len: usize) -> Vec<Vec<usize>> {
    let mut g = vec![vec![len]];
    let mut fours = vec![4; len / 4];
    if len % 4 != 0 {
        fours.push(len % 4);
    }
    g.push(fours);
    match len {
        14 => g.push(vec![4, 6, 4]),
        15 => g.push(vec![4, 6, 5]),
        _ => {}
    }
    g
}

/// A formatted card: its text and its digits.
fn formatted_card() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        card(),
        any::<prop::sample::Index>(),
        prop::collection::vec(0..SEPARATORS.len(), 8),
        any::<bool>(),
        0..ZEROS.len(),
    )
        .prop_map(|(digits, g, seps, same_sep, script)| {
            let options = groupings(digits.len());
            let sizes = g.get(&options);
            let zero = if script < 3 { 0x30 } else { ZEROS[script] }; // mostly ASCII
            let mut text = String::new();
            let mut at = 0;
            for (k, size) in sizes.iter().enumerate() {
                if k > 0 {
                    text.push_str(
                        SEPARATORS[if same_sep {
                            seps[0]
                        } else {
                            seps[k % seps.len()]
                        }],
                    );
                }
                for d in &digits[at..at + size] {
                    text.push(char::from_u32(zero + u32::from(*d)).unwrap());
                }
                at += size;
            }
            (text, digits)
        })
}

/// Neutral words: no card keywords, no other-number keywords, no digits.
const WORDS: &[&str] = &[
    "hello",
    "thanks",
    "please",
    "here",
    "is",
    "my",
    "the",
    "ok",
    "so",
    "it",
    "works",
    "now",
    "great",
    "😀",
    "谢谢",
    "спасибо",
    "merci",
    "bitte",
    "yes",
    "no",
    "hmm",
    "wait",
    "what",
    "about",
    "this",
    "one",
    "à",
    "bientôt",
    "🙏🏽",
];
const LEFT_EDGE: &[&str] = &[" ", ": ", " (", " \"", "\n", " — ", "，", "：", "卡号"];
const RIGHT_EDGE: &[&str] = &[" ", ".", ",", ")", "!", "?", "\n", " — ", "。", "谢谢"];

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec(0..WORDS.len(), 0..6)
        .prop_map(|ix| ix.iter().map(|&i| WORDS[i]).collect::<Vec<_>>().join(" "))
}

fn mask_of(digits: &[u8], brand: Brand) -> String {
    let last4: String = digits[digits.len() - 4..]
        .iter()
        .map(|d| char::from(b'0' + d))
        .collect();
    cordon_card::mask(brand, &last4)
}

proptest! {
    // 1024 cases by default (well under a second); PROPTEST_CASES=… for a long run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1024),
        ..ProptestConfig::default()
    })]

    /// Every card embedded in random text is found with its exact span, and only its last four
    /// digits survive redaction.
    #[test]
    fn embedded_cards_are_caught(
        (card_text, digits) in formatted_card(),
        left in words(), right in words(),
        le in 0..LEFT_EDGE.len(), re in 0..RIGHT_EDGE.len(),
    ) {
        let prefix = if left.is_empty() { String::new() } else { format!("{left}{}", LEFT_EDGE[le]) };
        let suffix = if right.is_empty() { String::new() } else { format!("{}{right}", RIGHT_EDGE[re]) };
        let text = format!("{prefix}{card_text}{suffix}");
        let found = cordon_card::find(&text);
        prop_assert_eq!(found.len(), 1, "{:?}", text);
        let f = &found[0];
        prop_assert_eq!((f.start, f.end), (prefix.len(), prefix.len() + card_text.len()));
        prop_assert!(brands_for(&digits).contains(&f.brand), "{:?} named {:?}", digits, f.brand);
        let r = cordon_card::redact(&text);
        prop_assert_eq!(r.text.as_ref(), format!("{prefix}{}{suffix}", mask_of(&digits, f.brand)));
    }

    /// Redacting twice is redacting once, whatever the input.
    #[test]
    fn redaction_is_idempotent(
        parts in prop::collection::vec(prop_oneof![
            formatted_card().prop_map(|c| c.0),
            "[0-9 .\\-+/#a-f]{0,24}",
            "[０-９\u{a0}\u{3000}٠-٩]{0,12}",
            words(),
            prop::sample::select(vec!["card", "cc", "exp", "order", "+", "GB29 NWBK ", "deadbeef-", "x"]).prop_map(String::from),
        ], 0..8),
        joins in prop::collection::vec(prop::sample::select(vec!["", " ", "-", ".", ", ", "\n", "x"]), 8),
    ) {
        let mut text = String::new();
        for (k, p) in parts.iter().enumerate() {
            text.push_str(p);
            text.push_str(joins[k]);
        }
        let once = cordon_card::redact(&text);
        let twice = cordon_card::redact(&once.text);
        prop_assert_eq!(twice.text.as_ref(), once.text.as_ref(), "{:?}", text);
    }

    /// Text without a card comes back unchanged and borrowed: words with short numbers, long unbroken
    /// runs, numbers with unused prefixes, and card numbers with a wrong check digit.
    #[test]
    fn text_without_cards_is_unchanged(
        tokens in prop::collection::vec(prop_oneof![
            "[0-9]{1,6}([ .\\-/:][0-9]{1,5})?",
            "[0-9]{20,40}",
            "[0179][0-9]{11,18}",
            card().prop_map(|mut d| {
                let last = d.len() - 1;
                d[last] = (d[last] + 1 + d[0] % 9) % 10;
                d.iter().map(|x| char::from(b'0' + x)).collect::<String>()
            }),
            "[a-zA-Z]{1,8}",
        ], 0..12),
        w in prop::collection::vec(0..WORDS.len(), 12),
    ) {
        // A word between any two tokens keeps numbers from joining.
        let mut text = String::new();
        for (k, t) in tokens.iter().enumerate() {
            text.push_str(t);
            text.push(' ');
            text.push_str(WORDS[w[k]]);
            text.push(' ');
        }
        let r = cordon_card::redact(&text);
        prop_assert!(r.findings.is_empty(), "{:?}: {:?}", text, r.findings);
        prop_assert!(matches!(r.text, std::borrow::Cow::Borrowed(_)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    /// A card typed in 4-digit groups over 2–4 messages: only its last four digits survive.
    #[test]
    fn split_cards_are_caught(digits in card(), cuts in prop::collection::btree_set(1usize..4, 1..4)) {
        let groups: Vec<String> = digits.chunks(4).map(|c| c.iter().map(|d| char::from(b'0' + d)).collect()).collect();
        let mut bounds: Vec<usize> = cuts.into_iter().filter(|&c| c < groups.len()).collect();
        if bounds.is_empty() {
            return Ok(()); // a 12-digit card has no cut at 3
        }
        bounds.insert(0, 0);
        bounds.push(groups.len());
        let parts: Vec<String> = bounds.windows(2).map(|w| groups[w[0]..w[1]].join(" ")).collect();
        prop_assume!(parts.len() <= cordon_card::MAX_FRAGMENTS);
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let out = cordon_card::redact_fragments(&refs);
        let all: String = out.iter().map(|r| r.text.as_ref()).collect::<Vec<_>>().join("|");
        let last4: String = digits[digits.len() - 4..].iter().map(|d| char::from(b'0' + d)).collect();
        let kept: String = all.chars().filter(char::is_ascii_digit).collect();
        prop_assert_eq!(kept, last4, "{:?} -> {:?}", parts, all);
    }
}

/// Runs the hold-back over `pieces` sent one by one, as the chat server does, then ends the sequence
/// (`redact_fragments` over what is still held). Returns, per piece, the step it was released at
/// (`pieces.len()` for the end of the sequence) and its redaction.
fn hold_back(pieces: &[String]) -> Vec<(usize, cordon_card::Redaction<'_>)> {
    let (mut shown, mut held): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    for (step, p) in pieces.iter().enumerate() {
        held.push(p);
        let d = cordon_card::hold_decision(&shown, &held);
        assert_eq!(d.release.len() + d.keep, held.len());
        out.extend(d.release.into_iter().map(|r| (step, r)));
        shown.extend(held.drain(..held.len() - d.keep));
        shown.drain(..shown.len() - d.shown);
    }
    out.extend(
        cordon_card::release_held(&shown, &held)
            .into_iter()
            .map(|r| (pieces.len(), r)),
    );
    out
}

/// ASCII digits of a text.
fn digits_in(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// A card in one of its printed groupings (4-4-4-4…, Amex 4-6-5, Diners 4-6-4), cut into 2 to 4
/// messages anywhere after its first four digits, a group's separators kept inside each message:
/// the pieces and the card's digits.
fn card_in_pieces() -> impl Strategy<Value = (Vec<String>, Vec<u8>)> {
    (
        card(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<prop::sample::Index>(), 1..4),
        prop::collection::vec(0..SEPARATORS.len(), 8),
    )
        .prop_map(|(digits, g, cuts, seps)| {
            // The printed groupings, bar the unbroken run (see docs/CARD-REDACTION.md, limits).
            let options: Vec<Vec<usize>> = groupings(digits.len())
                .into_iter()
                .filter(|g| g.len() > 1)
                .collect();
            let sizes = g.get(&options);
            let mut group_ends = std::collections::BTreeSet::new();
            let mut at = 0;
            for s in sizes {
                at += s;
                group_ends.insert(at);
            }
            // Message breaks anywhere from the fourth digit on, inside a group or between two.
            let mut cuts: Vec<usize> = cuts
                .iter()
                .map(|ix| 4 + ix.index(digits.len() - 4))
                .collect();
            cuts.sort_unstable();
            cuts.dedup();
            cuts.push(digits.len());
            let mut pieces = Vec::new();
            let mut from = 0;
            for (k, &to) in cuts.iter().enumerate() {
                let mut text = String::new();
                for (p, d) in digits.iter().enumerate().take(to).skip(from) {
                    if p > from && group_ends.contains(&p) {
                        text.push_str(SEPARATORS[seps[k % seps.len()]]);
                    }
                    text.push(char::from(b'0' + d));
                }
                pieces.push(text);
                from = to;
            }
            (pieces, digits)
        })
}

/// A card of 13 to 19 digits with a first group of 4 digits or more (5, a zip's, and 10, a phone
/// number's, included), then broken anywhere: each break after the first group ends a message or is a separator inside one (2 to 4
/// messages). The pieces and the card's digits.
fn card_broken_after_its_first_group() -> impl Strategy<Value = (Vec<String>, Vec<u8>)> {
    (
        card().prop_filter("13 digits or more", |d| d.len() >= 13),
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..6),
        any::<bool>(),
        prop::collection::vec(0..SEPARATORS.len(), 8),
    )
        .prop_map(|(digits, first, breaks, first_ends_message, seps)| {
            // Zip- and phone-sized first groups twice as often as the others: they are the shapes
            // the hold-back treats apart.
            let firsts: Vec<usize> = (4..digits.len()).chain([5, 5, 10, 10]).collect();
            let first = *first.get(&firsts);
            // A break after p digits at key p; the value says whether it ends a message.
            let mut at = std::collections::BTreeMap::new();
            at.insert(first, first_ends_message);
            let mut messages = usize::from(first_ends_message);
            let after_first = digits.len() - first - 1; // positions left for a break (may be 0)
            for (ix, ends_message) in breaks.into_iter().filter(|_| after_first > 0) {
                let p = first + 1 + ix.index(after_first);
                if let std::collections::btree_map::Entry::Vacant(slot) = at.entry(p) {
                    let ends_message = ends_message && messages < 3;
                    messages += usize::from(ends_message);
                    slot.insert(ends_message);
                }
            }
            // One message is `redact`'s business (props above), where a separator run of several
            // characters keeps the older grouping rules: at least one break ends a message.
            if messages == 0 {
                at.insert(first, true);
            }
            let mut pieces = vec![String::new()];
            for (p, d) in digits.iter().enumerate() {
                match at.get(&p) {
                    Some(true) => pieces.push(String::new()),
                    Some(false) => pieces
                        .last_mut()
                        .unwrap()
                        .push_str(SEPARATORS[seps[p % seps.len()]]),
                    None => {}
                }
                pieces.last_mut().unwrap().push(char::from(b'0' + d));
            }
            (pieces, digits)
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1024),
        ..ProptestConfig::default()
    })]

    /// Issue 18: every split of a printed card into 2 to 4 messages, with any group sizes, is held
    /// until its last piece and then masked across all pieces, so only its last four digits survive.
    #[test]
    fn every_split_card_is_held_until_complete_then_masked((pieces, digits) in card_in_pieces()) {
        let out = hold_back(&pieces);
        prop_assert_eq!(out.len(), pieces.len());
        let last = pieces.len() - 1;
        for (step, r) in &out {
            prop_assert!(*step >= last, "{:?}: a piece was released at step {}", pieces, step);
            prop_assert_eq!(r.findings.len(), 1, "{:?}: {:?}", pieces, r.text);
        }
        let all: String = out.iter().map(|(_, r)| r.text.as_ref()).collect::<Vec<_>>().join("|");
        let last4: String = digits[digits.len() - 4..].iter().map(|d| char::from(b'0' + d)).collect();
        let kept: String = all.chars().filter(char::is_ascii_digit).collect();
        prop_assert_eq!(kept, last4, "{:?} -> {:?}", pieces, all);
    }

    /// Issue 17: a card of 13 to 19 digits broken anywhere after a first group of 4 digits or more,
    /// over 2 to 4 messages and with separators inside them, is held until its last piece and then
    /// masked, so only its last four digits survive. The one piece delivered before that is a
    /// zip-sized start (a first group of 5, at most 6 digits in the pieces delivered): delivered at
    /// once, as typed, so the agent sees at most the card's first six and last four digits.
    #[test]
    fn every_card_after_a_long_first_group_is_held_until_complete_then_masked(
        (pieces, digits) in card_broken_after_its_first_group()
    ) {
        let out = hold_back(&pieces);
        prop_assert_eq!(out.len(), pieces.len());
        let first_group = digits_in(pieces[0].split(|c: char| !c.is_ascii_digit()).next().unwrap_or("")).len();
        // The pieces delivered as typed: from a zip-sized first group, while at most six digits.
        let mut shown = 0;
        let mut shown_digits = 0;
        if first_group == 5 {
            for p in &pieces {
                let n = digits_in(p).len();
                if shown_digits + n > cordon_card::SHOWN_MAX_DIGITS {
                    break;
                }
                shown += 1;
                shown_digits += n;
            }
        }
        let last = pieces.len() - 1;
        for (k, (step, r)) in out.iter().enumerate() {
            if k < shown {
                prop_assert_eq!(*step, k, "{:?}: a zip-sized start was held", pieces);
                prop_assert_eq!(r.text.as_ref(), pieces[k].as_str());
            } else {
                prop_assert!(*step >= last, "{:?}: a piece was released at step {}", pieces, step);
                prop_assert_eq!(r.findings.len(), 1, "{:?}: {:?}", pieces, r.text);
            }
        }
        let all: String = out.iter().map(|(_, r)| r.text.as_ref()).collect::<Vec<_>>().join("|");
        let whole: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let want = format!("{}{}", &whole[..shown_digits], &whole[whole.len() - 4..]);
        prop_assert!(shown_digits <= cordon_card::SHOWN_MAX_DIGITS);
        prop_assert_eq!(digits_in(&all), want, "{:?} -> {:?}", pieces, all);
    }

    /// Short answers and numbers the hold-back leaves alone are released at once, as typed: 1 to 3
    /// digits; a zip (5 digits, and at most one more), whatever its prefix; a number that begins
    /// with 0, 1, 7 or 9, which no card does; 3 digits then more.
    #[test]
    fn short_answers_are_never_held(answer in prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{5}",
        "[0-9]{5}[ -][0-9]",
        "[0179][0-9]{3,10}([ -][0-9]{1,4}){0,2}",
        "[0-9]{3}[ -][0-9]{4,8}",
        "yes|no|ok|thanks",
    ]) {
        let out = hold_back(std::slice::from_ref(&answer));
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].0, 0, "{:?} was held", answer);
        let alone = cordon_card::redact(&answer);
        prop_assert_eq!(out[0].1.text.as_ref(), alone.text.as_ref());
    }

    /// A number the hold-back may hold (a zip and its +4, a phone number typed in one run, anything
    /// of more than six digits that begins a card) is delivered exactly as `redact` alone would
    /// deliver it, at the latest when the sequence ends: holding delays, it never changes a lone
    /// number.
    #[test]
    fn a_held_number_alone_is_released_as_typed(answer in prop_oneof![
        "[2-68][0-9]{4}([ -][0-9]{1,4}){1,2}",
        "[2-68][0-9]{9}([ -][0-9]{1,4}){0,2}",
        "[2-68][0-9]{6,18}",
    ]) {
        let out = hold_back(std::slice::from_ref(&answer));
        prop_assert_eq!(out.len(), 1);
        let alone = cordon_card::redact(&answer);
        prop_assert_eq!(out[0].1.text.as_ref(), alone.text.as_ref());
        // …and a zip followed by it: the zip at once, as typed, the number as `redact` would, unless
        // the two make a card, which then shows at most the zip and the card's last four.
        let pieces = vec!["30301".to_owned(), answer.clone()];
        let out = hold_back(&pieces);
        prop_assert_eq!(out[0].0, 0);
        prop_assert_eq!(out[0].1.text.as_ref(), "30301");
        let joined = format!("30301{}", digits_in(&answer));
        if out[1].1.text != alone.text {
            // Joined: a split card's last piece, masked whole.
            let last4 = &joined[joined.len() - 4..];
            prop_assert_eq!(digits_in(&out[1].1.text), last4, "{:?}", pieces);
        }
    }
}
