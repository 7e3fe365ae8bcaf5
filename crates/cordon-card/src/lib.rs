//! Payment card number (PAN) detection and redaction. Pure: no I/O, no allocation when nothing is found.
//!
//! ```
//! let r = cordon_card::redact("card 4111 1111 1111 1111 exp 12/27");
//! assert_eq!(r.text, "card [Visa •••• 1111] exp 12/27");
//! assert_eq!(r.findings[0].last4, "1111");
//! ```
//!
//! What counts as a card, and why, is described in `docs/CARD-REDACTION.md`: brands and lengths come
//! from one IIN table (`pan.rs`), every candidate must pass Luhn, groups may be separated by spaces,
//! dashes and dots of any script, digits may be of any script, and numbers that only look like cards
//! (phone numbers, tracking numbers, IBANs, UUIDs…) are left alone.
#![forbid(unsafe_code)]

mod chars;
mod context;
mod detect;
mod fragments;
mod pan;
mod skip;

use std::borrow::Cow;
use std::fmt::Write as _;

pub use fragments::{
    could_begin_card, hold_decision, is_fragment, may_still_become_card, redact_fragments,
    release_held, HoldDecision, MAX_FRAGMENTS, MIN_FIRST_PIECE_DIGITS, SHOWN_MAX_DIGITS,
};

/// A card network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
    Jcb,
    DinersClub,
    UnionPay,
    Maestro,
    Mir,
}

impl Brand {
    /// Display name used in masks, e.g. `Visa` in `[Visa •••• 1111]`.
    pub fn name(self) -> &'static str {
        match self {
            Brand::Visa => "Visa",
            Brand::Mastercard => "Mastercard",
            Brand::Amex => "Amex",
            Brand::Discover => "Discover",
            Brand::Jcb => "JCB",
            Brand::DinersClub => "Diners Club",
            Brand::UnionPay => "UnionPay",
            Brand::Maestro => "Maestro",
            Brand::Mir => "Mir",
        }
    }
}

/// One card number found in a text: byte span in the input, brand, last four digits (ASCII).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub brand: Brand,
    pub last4: String,
}

/// The result of redacting a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction<'a> {
    pub text: Cow<'a, str>,
    pub findings: Vec<Finding>,
}

/// A card found by [`scan`]: like [`Finding`] but `Copy`, for callers that must not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Byte offset of the card's first digit.
    pub start: usize,
    /// Byte offset just past the card's last digit.
    pub end: usize,
    pub brand: Brand,
    /// The last four digits, as ASCII digits whatever script the input used.
    pub last4: [u8; 4],
}

impl Hit {
    /// The last four digits as a string slice.
    pub fn last4(&self) -> &str {
        // `last4` only ever holds ASCII digits (set from digit values 0–9), so this cannot fail.
        std::str::from_utf8(&self.last4).unwrap_or("????")
    }

    fn finding(&self) -> Finding {
        Finding {
            start: self.start,
            end: self.end,
            brand: self.brand,
            last4: self.last4().to_owned(),
        }
    }
}

impl From<detect::Hit> for Hit {
    fn from(h: detect::Hit) -> Self {
        Hit {
            start: h.start,
            end: h.end,
            brand: h.brand,
            last4: h.last4,
        }
    }
}

/// A whole card number checked for the card vault (issue 15): the brand its prefix and length are issued
/// under, when it passes Luhn. `digits` are ASCII digits only (the vault strips spaces and dashes first).
pub fn check_pan(digits: &str) -> Option<Brand> {
    let values: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    if values.is_empty() || values.iter().any(|d| *d > 9) {
        return None;
    }
    let (brand, _) = pan::brand_of(&values)?;
    pan::luhn_ok(&values).then_some(brand)
}

/// One row of the IIN table as the vault's card form reads it for its live brand check: PANs whose first
/// `digits` digits lie in `lo..=hi` are `brand` when their length has its bit set in `lengths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IinRow {
    pub brand: Brand,
    pub digits: u8,
    pub lo: u32,
    pub hi: u32,
    pub lengths: u32,
}

/// The IIN table, in order (the first row whose prefix and length match names the brand), so the browser
/// form checks against the same table the server does.
pub fn iin_rows() -> impl Iterator<Item = IinRow> {
    pan::IIN_TABLE.iter().map(|r| IinRow {
        brand: r.brand,
        digits: r.digits,
        lo: r.lo,
        hi: r.hi,
        lengths: r.lengths,
    })
}

/// The four bullets of a mask.
pub const MASK_DOTS: &str = "••••";

/// Call `f` for every card number in `text`, in order of position; spans never overlap. Allocates nothing.
pub fn scan(text: &str, mut f: impl FnMut(Hit)) {
    detect::scan(text, |h| f(h.into()));
}

/// Find every card number in `text`.
pub fn find(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    scan(text, |h| out.push(h.finding()));
    out
}

/// Replace every card number in `text` by its mask. Borrows `text` when nothing is found.
pub fn redact(text: &str) -> Redaction<'_> {
    let mut hits = Vec::new();
    scan(text, |h| hits.push(h));
    if hits.is_empty() {
        return Redaction {
            text: Cow::Borrowed(text),
            findings: Vec::new(),
        };
    }
    let mut out = String::with_capacity(text.len() + 16 * hits.len());
    splice(text, &hits, &mut out);
    Redaction {
        text: Cow::Owned(out),
        findings: hits.iter().map(Hit::finding).collect(),
    }
}

/// Append `text`, redacted, to `out`, and call `f` for each card; returns how many were found.
/// Reusing `out` across calls keeps a stream of messages free of allocation.
pub fn redact_into(text: &str, out: &mut String, mut f: impl FnMut(Hit)) -> usize {
    let mut copied = 0;
    let mut count = 0;
    scan(text, |h| {
        out.push_str(&text[copied..h.start]);
        push_mask(out, h.brand, h.last4());
        copied = h.end;
        count += 1;
        f(h);
    });
    out.push_str(&text[copied..]);
    count
}

/// The mask that replaces a card, e.g. `[Visa •••• 1111]`.
pub fn mask(brand: Brand, last4: &str) -> String {
    let mut s = String::with_capacity(32);
    push_mask(&mut s, brand, last4);
    s
}

fn push_mask(out: &mut String, brand: Brand, last4: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "[{} {MASK_DOTS} {last4}]", brand.name());
}

fn splice(text: &str, hits: &[Hit], out: &mut String) {
    let mut copied = 0;
    for h in hits {
        out.push_str(&text[copied..h.start]);
        push_mask(out, h.brand, h.last4());
        copied = h.end;
    }
    out.push_str(&text[copied..]);
}
