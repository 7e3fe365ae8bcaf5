//! Looking around a Luhn-valid candidate: codes it sits inside (IBAN, UUID) and the words before it.
//!
//! Only candidates that already passed the IIN table and Luhn reach this module, so nothing here is on
//! the hot path.

use crate::chars::{self, Sep};

/// Whether the span `start..end` starts inside an IBAN that validates (mod 97), or has a digit inside a
/// UUID: the codes the issue-17 rule leaves alone. A span that starts inside an IBAN is left alone
/// wherever it ends: whether the IBAN validates must not depend on what follows the span, which
/// masking may change (idempotence). A UUID is left whole: a span that starts in one, or ends in one
/// (from digits before it), once masked, would take it apart, and the rest of it would then read
/// as a card (fuzz runs 12 and 13).
pub(crate) fn inside_code_validated(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    iban_start(text, start).is_some_and(|t| iban_validates(b, t, start))
        || in_uuid(b, start)
        || (end > start && in_uuid(b, end - 1))
}

/// IBAN lengths by country (SWIFT IBAN registry), for the countries of [`IBAN_COUNTRIES`].
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HN", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// Whether the IBAN from byte `t` (its country code), printed in groups of four joined by one space
/// or hyphen, has its country's length, ends at a group's end after `start`, and passes the mod-97
/// check. The fixed length and grouping keep what follows the IBAN out of the test, so that
/// masking a card after it cannot change the answer (idempotence).
fn iban_validates(b: &[u8], t: usize, start: usize) -> bool {
    let Some(&(_, want)) = IBAN_LENGTHS
        .iter()
        .find(|(cc, _)| b.get(t..t + 2) == Some(&cc[..]))
    else {
        return false;
    };
    let alnum = |c: u8| c.is_ascii_uppercase() || c.is_ascii_digit();
    // The IBAN moves its first four characters to the end; letters count as two digits (A = 10).
    let push = |r: u64, c: u8| -> u64 {
        if c.is_ascii_digit() {
            (r * 10 + u64::from(c - b'0')) % 97
        } else {
            (r * 100 + u64::from(c - b'A' + 10)) % 97
        }
    };
    let mut r: u64 = 0;
    let (mut chars_, mut in_group) = (0, 0);
    let mut i = t;
    while chars_ < want {
        let Some(&c) = b.get(i) else { return false };
        if alnum(c) {
            if in_group == 4 {
                return false;
            }
            if chars_ >= 4 {
                r = push(r, c);
            }
            chars_ += 1;
            in_group += 1;
            i += 1;
        } else if (c == b' ' || c == b'-')
            && in_group == 4
            && b.get(i + 1).is_some_and(|&n| alnum(n))
        {
            in_group = 0;
            i += 1;
        } else {
            return false;
        }
    }
    if i <= start || b.get(i).is_some_and(|&c| alnum(c)) {
        return false;
    }
    b[t..t + 4].iter().fold(r, |r, &c| push(r, c)) == 1
}

/// ISO 3166 codes of the countries that use IBANs (SWIFT IBAN registry).
const IBAN_COUNTRIES: &[&[u8; 2]] = &[
    b"AD", b"AE", b"AL", b"AT", b"AZ", b"BA", b"BE", b"BG", b"BH", b"BI", b"BR", b"BY", b"CH",
    b"CR", b"CY", b"CZ", b"DE", b"DJ", b"DK", b"DO", b"EE", b"EG", b"ES", b"FI", b"FK", b"FO",
    b"FR", b"GB", b"GE", b"GI", b"GL", b"GR", b"GT", b"HN", b"HR", b"HU", b"IE", b"IL", b"IQ",
    b"IS", b"IT", b"JO", b"KW", b"KZ", b"LB", b"LC", b"LI", b"LT", b"LU", b"LV", b"LY", b"MC",
    b"MD", b"ME", b"MK", b"MN", b"MR", b"MT", b"MU", b"NI", b"NL", b"NO", b"OM", b"PK", b"PL",
    b"PS", b"PT", b"QA", b"RO", b"RS", b"RU", b"SA", b"SC", b"SD", b"SE", b"SI", b"SK", b"SM",
    b"SO", b"ST", b"SV", b"TL", b"TN", b"TR", b"UA", b"VA", b"VG", b"XK", b"YE",
];

/// An IBAN written in groups: walking back from `start` over space- or dash-separated groups of four
/// upper-case letters or digits reaches a group `CCdd` (country code, check digits) that begins a
/// word, as in "GB29 NWBK 6016 1331 9268 19".
#[cfg(test)]
fn in_iban(text: &str, start: usize) -> bool {
    iban_start(text, start).is_some()
}

/// The byte where the grouped IBAN that `start` lies in begins (its country code), if any.
fn iban_start(text: &str, start: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut p = start;
    // An IBAN has at most 34 characters: the country group and at most eight more groups of four.
    for _ in 0..9 {
        let mut q = p;
        let mut seps = 0;
        while seps < 2 {
            match chars::char_before(text, q) {
                Some(c)
                    if matches!(
                        chars::sep_at(text, q - c.len_utf8()),
                        Some((Sep::Space | Sep::Dash, _))
                    ) =>
                {
                    q -= c.len_utf8();
                    seps += 1;
                }
                _ => break,
            }
        }
        if seps == 0 {
            return None;
        }
        let mut t = q;
        while t > 0 && q - t < 5 && (b[t - 1].is_ascii_uppercase() || b[t - 1].is_ascii_digit()) {
            t -= 1;
        }
        let group = &b[t..q];
        if group.len() != 4 {
            return None;
        }
        let begins_word = !chars::char_before(text, t).is_some_and(chars::is_glue);
        if begins_word
            && group[2..].iter().all(u8::is_ascii_digit)
            && IBAN_COUNTRIES.iter().any(|cc| cc[..] == group[..2])
        {
            return Some(t);
        }
        p = t;
    }
    None
}

/// Whether the byte at `start` lies inside a UUID (8-4-4-4-12 hex digits), even when its groups happen
/// to be all digits. The UUID must be a whole token: hex digits and dashes running on past it make it
/// something else, and a looser test would see UUIDs in runs that only become UUID-shaped once a card
/// inside them is masked.
fn in_uuid(b: &[u8], start: usize) -> bool {
    const LEN: usize = 36;
    let hexish = |c: u8| c.is_ascii_hexdigit() || c == b'-';
    if !b.get(start).is_some_and(|&c| hexish(c)) {
        return false;
    }
    let mut s = start;
    while s > 0 && start - s <= LEN && hexish(b[s - 1]) {
        s -= 1;
    }
    let mut e = start;
    while e < b.len() && e - s <= LEN && hexish(b[e]) {
        e += 1;
    }
    e - s == LEN
        && b[s..e].iter().enumerate().all(|(i, &c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Words that, just before a number, say what kind of number it is.
const NOT_A_CARD: &[&str] = &[
    "order",
    "orders",
    "ord",
    "tracking",
    "track",
    "trk",
    "awb",
    "fedex",
    "ups",
    "usps",
    "dhl",
    "shipment",
    "parcel",
    "package",
    "consignment",
    "waybill",
    "ticket",
    "case",
    "incident",
    "invoice",
    "inv",
    "ref",
    "reference",
    "confirmation",
    "conf",
    "booking",
    "reservation",
    "pnr",
    "phone",
    "tel",
    "telephone",
    "call",
    "mobile",
    "cell",
    "fax",
    "whatsapp",
    "sms",
    "text",
    "isbn",
    "issn",
    "iban",
    "bic",
    "swift",
    "account",
    "acct",
    "routing",
    "sort",
    "imei",
    "serial",
    "sku",
    "upc",
    "ean",
    "gtin",
    "barcode",
    "policy",
    "member",
    "membership",
    "customer",
    "transaction",
    "txn",
    "receipt",
    "claim",
    "rma",
    "id",
    "uuid",
];

/// Words that, just before a number, say it is a card: they win over [`NOT_A_CARD`] further back.
const A_CARD: &[&str] = &[
    "card",
    "cc",
    "visa",
    "mastercard",
    "mc",
    "amex",
    "discover",
    "jcb",
    "diners",
    "unionpay",
    "maestro",
    "mir",
    "credit",
    "debit",
    "pan",
    "cvv",
    "cvc",
    "exp",
    "expiry",
    "pay",
    "payment",
    "charge",
    "billing",
];

/// Whether the digits starting at `p` are glued to the word before them ("ab4111…", part of a hex
/// string or code), except when that word is a card word ("card4111…" is not glue). Only the word
/// itself counts, not what comes before it: that may be a card's last digit, which redaction turns
/// into `]`, and the answer must not change then (idempotence).
pub(crate) fn glued_before(text: &str, p: usize) -> bool {
    if !chars::char_before(text, p).is_some_and(chars::is_glue) {
        return false;
    }
    let b = text.as_bytes();
    let mut s = p;
    while s > 0 && b[s - 1].is_ascii_alphabetic() {
        s -= 1;
    }
    !(s < p && is_card_word(&text[s..p]))
}

/// Whether the digits ending at `e` are glued to the word after them, except a card word
/// ("…1111exp 12/27").
pub(crate) fn glued_after(text: &str, e: usize) -> bool {
    if !chars::is_glue_at(text, e) {
        return false;
    }
    let b = text.as_bytes();
    let mut s = e;
    while s < b.len() && b[s].is_ascii_alphabetic() {
        s += 1;
    }
    !(s > e && is_card_word(&text[e..s]))
}

fn is_card_word(w: &str) -> bool {
    A_CARD.iter().any(|k| k.eq_ignore_ascii_case(w))
}

/// Whether the few words just before `start` (back to the nearest number) name another kind of
/// number ("order #", "tracking:", "call me on"), or the number sits in a URL path. Used only for
/// candidates that are not sure cards (odd grouping or a rare length).
pub(crate) fn says_not_a_card(text: &str, start: usize) -> bool {
    if chars::char_before(text, start) == Some('/') {
        return true;
    }
    let mut from = start.saturating_sub(64);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = text.get(from..start).unwrap_or("");
    for word in before
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .rev()
        .take(4)
    {
        if word.chars().any(|c| chars::digit_value(c).is_some()) {
            return false;
        }
        let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
        if is(A_CARD) {
            return false;
        }
        if is(NOT_A_CARD) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glue_except_card_words() {
        assert!(glued_before("ab4111", 2));
        assert!(glued_before("a3b4111", 3));
        assert!(!glued_before("1111card4111", 8));
        assert!(!glued_before("card4111", 4));
        assert!(!glued_before("CC4111", 2));
        assert!(!glued_before(" 4111", 1));
        assert!(glued_after("1111ab", 4));
        assert!(!glued_after("1111exp", 4));
        assert!(!glued_after("1111cvv123", 4));
        assert!(glued_after("1111expx9", 4));
    }

    #[test]
    fn iban_groups() {
        let t = "IBAN GB29 NWBK 6016 1331 9268 19 please";
        let at = t.find("6016").unwrap();
        assert!(in_iban(t, at));
        let t = "card 6016 1331 9268 19";
        assert!(!in_iban(t, t.find("6016").unwrap()));
        let t = "XGB29 NWBK 6016 1331 9268 19";
        assert!(!in_iban(t, t.find("6016").unwrap()));
    }

    #[test]
    fn ibans_that_validate() {
        let ok = |t: &str| {
            inside_code_validated(t, t.find("6016").unwrap(), t.find("6016").unwrap() + 4)
        };
        assert!(ok("IBAN GB29 NWBK 6016 1331 9268 19 please"));
        assert!(ok("GB29 NWBK 6016 1331 9268 19 4111 1111 1111 1111"));
        // One digit changed: no IBAN, so no exception.
        assert!(!ok("IBAN GB29 NWBK 6016 1331 9268 18"));
        assert!(!ok("IBAN GB28 NWBK 6016 1331 9268 19"));
    }

    #[test]
    fn uuid_shapes() {
        let t = b"id 12345678-1234-5678-1234-567812345678 ok";
        assert!(in_uuid(t, 3));
        assert!(in_uuid(t, 27));
        assert!(!in_uuid(t, 2), "the space before it");
        assert!(!in_uuid(t, 40), "the word after it");
        let t = b"4111-1111-1111-1111";
        assert!(!in_uuid(t, 0));
        // A UUID shape inside a longer hex run is no UUID.
        let t = b"DDDDDDDD-5678-1234-5674-500000000000000009";
        assert!(!in_uuid(t, 9));
        let t = b"x-12345678-1234-5678-1234-567812345678";
        assert!(
            !in_uuid(t, 2),
            "a dash before it makes the run longer than a UUID"
        );
    }

    #[test]
    fn words_before() {
        let at = |t: &str| says_not_a_card(t, t.find('6').unwrap());
        assert!(at("tracking number: 600012345678"));
        assert!(at("Order #600012345678"));
        assert!(!at("order 12, card 600012345678"));
        assert!(!at("order 12 600012345678"));
        assert!(!at("hello 600012345678"));
        assert!(at("https://x.example/orders/600012345678"));
    }
}
