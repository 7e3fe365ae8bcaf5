//! Payment card number detection and redaction (placeholder; see issue 2).
#![forbid(unsafe_code)]

use std::borrow::Cow;

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

/// Find every card number in `text`.
pub fn find(_text: &str) -> Vec<Finding> {
    Vec::new()
}

/// Replace every card number in `text` by its mask.
pub fn redact(text: &str) -> Redaction<'_> {
    Redaction {
        text: Cow::Borrowed(text),
        findings: find(text),
    }
}
