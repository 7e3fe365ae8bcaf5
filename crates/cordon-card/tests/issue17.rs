//! Issue 17: any run of 13–19 digits in whole groups joined by one separator character each (space,
//! dash, dot, slash, their Unicode forms, a line break), with an issued prefix and length and a
//! valid Luhn digit, is masked, whatever its grouping and the words around it, unless it is one of
//! the named formats below. Each format is tested here on both sides: the format itself, and a
//! card that only looks a little like it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

fn masked(text: &str) -> bool {
    !cordon_card::find(text).is_empty()
}

#[test]
fn irregular_groupings_are_cards() {
    for t in [
        "3056930902 5904",     // Diners 14 as 10+4
        "305693090259-04",     // 12+2 with a dash
        "41111111 1111 1111",  // 8+4+4
        "4111 11111111 11 11", // 4+8+2+2
        "41111111-1111111-1",  // groups of 8, the check digit split off
        "4111 1111-1111.1111", // mixed separators
        "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1",
        "378 282 246 310 005",    // an Amex in groups of three
        "4111/1111/1111/1111",    // slashes
        "4111 1111\n1111 1111",   // a line break inside one message
        "4111 1111\r\n1111 1111", // CR LF
        "4111\u{2028}1111 1111 1111",
        "４１１１／１１１１／１１１１／１１１１",
    ] {
        let found = cordon_card::find(t);
        assert_eq!(found.len(), 1, "{t:?}");
        assert_eq!((found[0].start, found[0].end), (0, t.len()), "{t:?}");
    }
}

#[test]
fn context_words_never_narrow() {
    for t in [
        "my id 4539578763621486115",
        "order 4539 5787 6362 1486 115",
        "tracking 4111111111111111",
        "ref 4111-1111-1111-1111",
        "ticket 4222222222222",
        "call 4111 1111 1111 1111",
        "https://x.example/orders/4111111111111111",
    ] {
        assert!(masked(t), "{t:?}");
    }
}

#[test]
fn overlapping_candidates_are_masked_together() {
    let r = cordon_card::redact("1234 4111 1111 1111 1111");
    assert_eq!(r.text, "1234 [Visa •••• 1111]");
    // A card that starts inside another and ends after it: one mask over both.
    let t = "4111 1111 1111 1111 5555 5555 5555 4444";
    assert_eq!(cordon_card::find(t).len(), 2);
    let digits: String = cordon_card::redact(t)
        .text
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    assert!(!digits.contains("41111111"), "{digits}");
}

fn luhn_ok(d: &str) -> bool {
    let mut sum = 0;
    for (i, c) in d.bytes().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// `body` with the check digit that makes it pass Luhn.
fn complete(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|s| luhn_ok(s))
        .unwrap()
}

/// The named exceptions: each format is left alone though its digits pass the IIN table and Luhn,
/// and the same digits outside the format are masked.
#[test]
fn the_named_exceptions() {
    // A date range whose 16 digits are a Diners Club number (301…), and the same digits in fours.
    let (range, fours) = (1..=12)
        .flat_map(|m| (1..=28).map(move |d| (m, d)))
        .map(|(m, d)| {
            (
                format!("30.12.2024 {d:02}.{m:02}.2025"),
                format!("30122024{d:02}{m:02}2025"),
            )
        })
        .find(|(_, digits)| luhn_ok(digits))
        .map(|(r, d)| {
            (
                r,
                format!("{} {} {} {}", &d[..4], &d[4..8], &d[8..12], &d[12..]),
            )
        })
        .unwrap();
    let order = complete("3024827361572930");
    let order_3_7_7 = format!("{}-{}-{}", &order[..3], &order[3..10], &order[10..]);
    let order_fours = format!(
        "{} {} {} {} {}",
        &order[..4],
        &order[4..8],
        &order[8..12],
        &order[12..16],
        &order[16..]
    );
    let cases: Vec<(&str, String, String)> = vec![
        (
            "UUID",
            "55555555-5555-4555-8555-555555554444".into(),
            "5555-5555-5555-4444".into(),
        ),
        (
            // Fuzz run 12: a card from the UUID's last group into the digits after it is left alone
            // too; masked, it would have left the UUID's head to be read as a card.
            "UUID with digits after it",
            "52777776-5945-4555-8555-555555554444 6413".into(),
            "5277 7776 5945 4555".into(),
        ),
        (
            // Fuzz run 13: nor is a card from digits before a UUID into its first group.
            "UUID with digits before it",
            "645 6445 34477776-5945-4555-8555-555555554444".into(),
            "645 6445 34477776 5945".into(),
        ),
        (
            "IBAN that validates",
            "IBAN GB29 NWBK 6016 1331 9268 19".into(),
            "XX29 NWBK 6011 1111 1111 1117".into(),
        ),
        (
            "decimal fraction",
            "3.65870963519942".into(),
            "3 65870963519942".into(),
        ),
        ("date range", range, fours),
        ("order number 3-7-7", order_3_7_7, order_fours),
        (
            "postal tracking",
            "9400 4111 1111 1111 1111 11".into(),
            "9400 4111 1111 1111 1111 1".into(),
        ),
        (
            "E.164 phone",
            "+62 842-3668-2401".into(),
            "62 842-3668-2401".into(),
        ),
        (
            "phone after 00",
            "00 49 151 3170 3998".into(),
            "49 151 3170 3998".into(),
        ),
        (
            "glued to a word",
            "id_4111111111111111".into(),
            "id 4111111111111111".into(),
        ),
    ];
    for (name, format, card) in &cases {
        assert!(!masked(format), "{name}: {format:?} was masked");
        assert!(masked(card), "{name}: {card:?} was not masked");
    }
}

/// The hold-back keeps the promises `crates/cordon/tests/split_cards.rs` checks end to end: these
/// answers are released at once, as typed, though their first digits begin a card.
#[test]
fn the_hold_back_still_never_holds_zips_and_grouped_phone_numbers() {
    for answer in [
        "hello there",
        "12345",
        "3",
        "42",
        "555 0100",
        "2024",
        "yes",
        "2",
        "30301",
        "60601",
        "55401",
        "40202",
        "415 555 2671",
        "555-0100",
        "1700000000",
        "978 0 306 40615 7",
        "2024-11-28",
        "14:30",
        "1Z999AA10123456784",
    ] {
        let d = cordon_card::hold_decision(&[], &[answer]);
        assert_eq!((d.release.len(), d.keep), (1, 0), "{answer:?} was held");
        assert_eq!(d.release[0].text, answer);
    }
    // A phone number typed in one run whose digits begin a card shows more than the first six
    // digits PCI DSS allows: held until the sequence ends, then released as typed.
    for answer in ["4155552671", "5551234567"] {
        let d = cordon_card::hold_decision(&[], &[answer]);
        assert_eq!((d.release.len(), d.keep), (0, 1), "{answer:?} was not held");
        let out = cordon_card::release_held(&[], &[answer]);
        assert_eq!(out[0].text, answer);
    }
    // Issue 17 shapes typed in pieces are held, then masked.
    for pieces in [
        &["4111 1111", "11111111"][..],
        &["4111", "11111111", "11", "11"],
        &["305693090259", "04"],
        &["411111111111111", "1"],
        &["41111111", "11111111"],
        &["4111111111111111", "003"],
    ] {
        assert!(
            cordon_card::may_still_become_card(&pieces[..1]),
            "{pieces:?}"
        );
        let out = cordon_card::redact_fragments(pieces);
        let shown: String = out
            .iter()
            .flat_map(|r| r.text.chars())
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(shown.len(), 4, "{pieces:?} -> {shown}");
    }
}

/// The split-across-messages hold applies the single-message rule: a card typed in pieces whose
/// first piece opens with a run of 4 digits or more is held and joined, as the same digits in one
/// message are masked. A first run of exactly 5 digits (a zip's shape) is delivered at once while
/// at most 6 digits have come, and what completes a card with it is masked (docs/CARD-REDACTION.md).
#[test]
fn split_cards_with_a_long_first_run_are_held_and_joined() {
    let visa = "4111111111111111";
    let visa19 = complete("411111111111111100");
    let diners = complete("3056930902590");
    let discover = complete("601100000000000000");
    let cases: Vec<Vec<String>> = vec![
        vec![visa[..8].into(), visa[8..].into()],
        vec![visa[..6].into(), visa[6..].into()],
        vec![visa[..7].into(), visa[7..12].into(), visa[12..].into()],
        vec![visa[..9].into(), visa[9..].into()],
        vec![visa[..11].into(), visa[11..].into()],
        vec![visa.into(), visa19[16..].into()],
        vec![visa19[..17].into(), visa19[17..].into()],
        vec![visa19[..18].into(), visa19[18..].into()],
        vec![
            diners[..8].into(),
            format!("{} {}", &diners[8..12], &diners[12..]),
        ],
        vec![discover[..9].into(), discover[9..].into()],
        // The second follow-up: a first run of exactly 10 digits (a phone number's shape).
        vec![visa[..10].into(), visa[10..].into()],
        vec![
            visa19[..10].into(),
            visa19[10..15].into(),
            visa19[15..].into(),
        ],
    ];
    for pieces in &cases {
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let whole: String = refs.concat().chars().filter(char::is_ascii_digit).collect();
        assert!(
            masked(&refs.join(" ")),
            "{refs:?} is no card in one message"
        );
        assert!(
            cordon_card::may_still_become_card(&refs[..1]),
            "{refs:?}: the first piece is not held"
        );
        let out = cordon_card::redact_fragments(&refs);
        let shown: String = out
            .iter()
            .flat_map(|r| r.text.chars())
            .filter(char::is_ascii_digit)
            .collect();
        assert_eq!(shown, whole[whole.len() - 4..], "{refs:?}");
        assert!(out.iter().all(|r| r.findings.len() == 1), "{refs:?}");
    }
    // Not held: numbers no card begins with (0, 1, 7, 9), whatever their length.
    for answer in [
        "10001",
        "90210",
        "02134",
        "70112345",
        "12345678",
        "940011189",
        "17000000001",
    ] {
        assert!(!cordon_card::may_still_become_card(&[answer]), "{answer:?}");
        let d = cordon_card::hold_decision(&[], &[answer]);
        assert_eq!((d.release.len(), d.keep), (1, 0), "{answer:?} was held");
        assert_eq!(d.release[0].text, answer);
    }
    // A zip-sized start that begins a card may still become one, but is delivered at once, as
    // typed, and counted as shown; what completes a card with it is held and masked. The agent sees
    // the first five digits and the last four, no more than PCI DSS allows (the first six and the
    // last four).
    for zip in ["30301", "55401", "41111"] {
        assert!(cordon_card::may_still_become_card(&[zip]), "{zip:?}");
        let d = cordon_card::hold_decision(&[], &[zip]);
        assert_eq!((d.release.len(), d.keep, d.shown), (1, 0, 1), "{zip:?}");
        assert_eq!(d.release[0].text, zip);
    }
    let d = cordon_card::hold_decision(&[&visa[..5]], &[&visa[5..]]);
    assert_eq!(
        (d.release.len(), d.keep),
        (0, 1),
        "a Visa may still grow to 19"
    );
    let out = cordon_card::release_held(&[&visa[..5]], &[&visa[5..]]);
    assert_eq!(out[0].text, "[Visa •••• 1111]");
    // More than six digits from a zip-sized or phone-sized start is held (a zip and its +4, a
    // phone number typed in one run), when its digits begin a card; six (`30301 1`) still go.
    for answer in ["30301-1234", "4155552671", "5551234567 0", "30301 1"] {
        assert!(cordon_card::may_still_become_card(&[answer]), "{answer:?}");
        let d = cordon_card::hold_decision(&[], &[answer]);
        let held = d.keep == 1;
        assert_eq!(held, answer != "30301 1", "{answer:?}");
    }
    // The cost: a number that begins a card is held until the next piece shows it is none.
    let held = ["30301123"];
    assert_eq!(cordon_card::hold_decision(&[], &held).keep, 1);
    let d = cordon_card::hold_decision(&[], &["30301123", "99999999999"]);
    assert_eq!(d.keep, 0);
    let texts: Vec<&str> = d.release.iter().map(|r| r.text.as_ref()).collect();
    assert_eq!(texts, ["30301123", "99999999999"]);
}

/// CR LF is one separator character everywhere, also in the scan's fast path for chains that
/// cannot hold a card: a card whose groups are joined by three line breaks and a space is masked
/// the same whether the breaks are LF or CR LF (the fast path once counted CR LF as two, cut the
/// chain there and left the card unmasked).
#[test]
fn cr_lf_is_one_separator_in_every_path() {
    for (lf, crlf) in [
        (
            "4111 1111\n\n\n 1111 1111",
            "4111 1111\r\n\r\n\r\n 1111 1111",
        ),
        (
            "x 4111\n\n\n 1111 1111 1111 y",
            "x 4111\r\n\r\n\r\n 1111 1111 1111 y",
        ),
        // Four line breaks are more than a separator run may hold: no card either way.
        (
            "4111 1111\n\n\n\n1111 1111",
            "4111 1111\r\n\r\n\r\n\r\n1111 1111",
        ),
    ] {
        let (a, b) = (cordon_card::find(lf), cordon_card::find(crlf));
        assert_eq!(a.len(), b.len(), "{lf:?} / {crlf:?}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.brand, &x.last4), (y.brand, &y.last4), "{crlf:?}");
        }
    }
    assert!(masked("4111 1111\r\n\r\n\r\n 1111 1111"));
}
