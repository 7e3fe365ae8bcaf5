//! Card input from the vault form, its checks, and the record sealed in the vault table.

use cordon_card::Brand;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::VaultError;

/// Longest name on a card we accept (EMV allows 26; names typed by hand run longer).
pub const MAX_NAME_CHARS: usize = 60;
/// Cards are refused that expire more than this many years ahead (no issuer goes beyond 20).
const MAX_YEARS_AHEAD: u32 = 20;

/// What the vault form posts. Zeroed when dropped; `Debug` shows nothing of it.
#[derive(Clone, Default, Deserialize, Zeroize)]
#[zeroize(drop)]
pub struct CardInput {
    /// As typed: digits with optional spaces or dashes.
    pub number: String,
    pub exp_month: u32,
    /// Two or four digits.
    pub exp_year: u32,
    pub name: String,
    /// The security code; optional (some processors take a token without it).
    #[serde(default)]
    pub cvv: String,
}

impl std::fmt::Debug for CardInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardInput(***)")
    }
}

/// A checked card: the number (digits only), brand, last four, expiry and name. `Debug` shows brand and last
/// four only.
#[derive(Clone)]
pub struct ValidCard {
    pan: Zeroizing<String>,
    pub brand: Brand,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
    name: Zeroizing<String>,
    cvv: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for ValidCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidCard")
            .field("brand", &self.brand.name())
            .field("last4", &self.last4)
            .finish_non_exhaustive()
    }
}

/// The part of a card sealed in the vault table: number, expiry, name. Never the security code.
#[derive(Serialize, Deserialize, Zeroize)]
#[zeroize(drop)]
pub struct CardRecord {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub name: String,
}

impl std::fmt::Debug for CardRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardRecord(***)")
    }
}

impl CardRecord {
    /// The bytes to seal, in a buffer zeroed on drop.
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        // A struct of strings and integers always serialises.
        Zeroizing::new(serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn from_plaintext(bytes: &[u8]) -> Result<CardRecord, VaultError> {
        serde_json::from_slice(bytes).map_err(|_| VaultError::Malformed)
    }

    pub fn brand(&self) -> Option<Brand> {
        cordon_card::check_pan(&self.number)
    }

    pub fn last4(&self) -> &str {
        let n = &self.number;
        n.get(n.len().saturating_sub(4)..).unwrap_or("")
    }
}

/// The digits of a typed card number: spaces and dashes dropped, anything else refused; 12 to 19 digits.
fn digits_of(number: &str) -> Result<Zeroizing<String>, VaultError> {
    let mut out = Zeroizing::new(String::with_capacity(19));
    for c in number.chars() {
        match c {
            '0'..='9' => out.push(c),
            ' ' | '-' | '\u{a0}' => {}
            _ => return Err(VaultError::CardNumber),
        }
        if out.len() > 19 {
            return Err(VaultError::CardNumber);
        }
    }
    if out.len() < 12 {
        return Err(VaultError::CardNumber);
    }
    Ok(out)
}

fn check_name(name: &str) -> Result<String, VaultError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(VaultError::Name);
    }
    // Letters of any script, spaces, and the punctuation names have; digits never (a name field is a
    // favourite place to paste a card number).
    let ok = name
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.' | ',' | '’'));
    if !ok {
        return Err(VaultError::Name);
    }
    Ok(name.to_string())
}

/// Year and month now, as the caller's clock says (the vault does not read clocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearMonth {
    pub year: u32,
    pub month: u32,
}

impl YearMonth {
    /// From Unix milliseconds (UTC; a card is valid to the end of its month).
    pub fn from_unix_ms(ms: i64) -> YearMonth {
        let days = ms.div_euclid(86_400_000);
        // Civil from days (Howard Hinnant's algorithm), for the year and month only.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        YearMonth {
            year: u32::try_from(year).unwrap_or(0),
            month: u32::try_from(month).unwrap_or(1),
        }
    }
}

fn check_expiry(month: u32, year: u32, now: YearMonth) -> Result<(u32, u32), VaultError> {
    let year = match year {
        0..=99 => 2000 + year,
        1000..=9999 => year,
        _ => return Err(VaultError::Expiry),
    };
    if !(1..=12).contains(&month) {
        return Err(VaultError::Expiry);
    }
    if (year, month) < (now.year, now.month) || year > now.year + MAX_YEARS_AHEAD {
        return Err(VaultError::Expiry);
    }
    Ok((month, year))
}

fn check_cvv(cvv: &str) -> Result<Option<Zeroizing<String>>, VaultError> {
    let cvv = cvv.trim();
    if cvv.is_empty() {
        return Ok(None);
    }
    if !(3..=4).contains(&cvv.len()) || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VaultError::Cvv);
    }
    Ok(Some(Zeroizing::new(cvv.to_string())))
}

/// Check what the form posted: a number that passes Luhn on an issued prefix and length, an expiry month not
/// past, a name, a 3- or 4-digit code (4 for Amex, 3 for the rest) when one is given.
pub fn validate(input: &CardInput, now: YearMonth) -> Result<ValidCard, VaultError> {
    let pan = digits_of(&input.number)?;
    let brand = cordon_card::check_pan(&pan).ok_or(VaultError::CardNumber)?;
    let (exp_month, exp_year) = check_expiry(input.exp_month, input.exp_year, now)?;
    let name = check_name(&input.name)?;
    let cvv = check_cvv(&input.cvv)?;
    if let Some(c) = &cvv {
        let want = if brand == Brand::Amex { 4 } else { 3 };
        if c.len() != want {
            return Err(VaultError::Cvv);
        }
    }
    let last4 = pan[pan.len() - 4..].to_string();
    Ok(ValidCard {
        pan,
        brand,
        last4,
        exp_month,
        exp_year,
        name: Zeroizing::new(name),
        cvv,
    })
}

impl ValidCard {
    /// The record to seal (number, expiry, name).
    pub fn record(&self) -> CardRecord {
        CardRecord {
            number: self.pan.to_string(),
            exp_month: self.exp_month,
            exp_year: self.exp_year,
            name: self.name.to_string(),
        }
    }

    /// The security code, taken out (for the in-memory hold); `None` when none was given.
    pub fn take_cvv(&mut self) -> Option<Zeroizing<String>> {
        self.cvv.take()
    }

    /// What the conversation shows: `Visa •••• 1111`.
    pub fn label(&self) -> String {
        label(self.brand.name(), &self.last4)
    }
}

/// `Visa •••• 1111`: the only form of a card the chat, the console and the API ever show.
pub fn label(brand: &str, last4: &str) -> String {
    format!("{brand} {} {last4}", cordon_card::MASK_DOTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: YearMonth = YearMonth {
        year: 2026,
        month: 12,
    };

    fn input(number: &str, m: u32, y: u32, name: &str, cvv: &str) -> CardInput {
        CardInput {
            number: number.into(),
            exp_month: m,
            exp_year: y,
            name: name.into(),
            cvv: cvv.into(),
        }
    }

    #[test]
    fn good_cards_pass_with_brand_and_last_four() {
        let c = validate(
            &input("4111 1111 1111 1111", 12, 30, "Ada Lovelace", "123"),
            NOW,
        )
        .unwrap();
        assert_eq!(c.brand, Brand::Visa);
        assert_eq!(c.last4, "1111");
        assert_eq!((c.exp_month, c.exp_year), (12, 2030));
        assert_eq!(c.label(), "Visa •••• 1111");
        let amex = validate(
            &input("3782-822463-10005", 1, 2027, "Zoë O'Brien", "1234"),
            NOW,
        )
        .unwrap();
        assert_eq!(amex.brand, Brand::Amex);
        let mc = validate(&input("5555555555554444", 12, 2026, "José", ""), NOW).unwrap();
        assert_eq!(mc.brand, Brand::Mastercard);
    }

    #[test]
    fn bad_input_is_refused_without_echo() {
        let cases = [
            (
                input("4111 1111 1111 1112", 12, 30, "A", "123"),
                VaultError::CardNumber,
            ),
            (
                input("4111x1111111111111", 12, 30, "A", "123"),
                VaultError::CardNumber,
            ),
            (
                input("41111111111111111111111", 12, 30, "A", "123"),
                VaultError::CardNumber,
            ),
            (input("1234", 12, 30, "A", "123"), VaultError::CardNumber),
            (
                input("4111111111111111", 11, 2026, "A", "123"),
                VaultError::Expiry,
            ),
            (
                input("4111111111111111", 13, 2030, "A", "123"),
                VaultError::Expiry,
            ),
            (
                input("4111111111111111", 1, 2060, "A", "123"),
                VaultError::Expiry,
            ),
            (
                input("4111111111111111", 12, 30, " ", "123"),
                VaultError::Name,
            ),
            (
                input("4111111111111111", 12, 30, "4111111111111111", "123"),
                VaultError::Name,
            ),
            (
                input("4111111111111111", 12, 30, &"a".repeat(61), "123"),
                VaultError::Name,
            ),
            (
                input("4111111111111111", 12, 30, "A", "12"),
                VaultError::Cvv,
            ),
            (
                input("4111111111111111", 12, 30, "A", "1234"),
                VaultError::Cvv,
            ),
            (
                input("378282246310005", 12, 30, "A", "123"),
                VaultError::Cvv,
            ),
        ];
        for (i, want) in cases {
            let err = validate(&i, NOW).unwrap_err();
            assert_eq!(err, want);
            assert!(!err.to_string().contains("4111"));
        }
    }

    #[test]
    fn nothing_prints_the_number() {
        let i = input("4111111111111111", 12, 30, "Ada", "123");
        let c = validate(&i, NOW).unwrap();
        let r = c.record();
        for s in [format!("{i:?}"), format!("{c:?}"), format!("{r:?}")] {
            assert!(!s.contains("4111111111111111"), "{s}");
            assert!(!s.contains("123\""), "{s}");
        }
    }

    #[test]
    fn the_record_round_trips_and_never_holds_the_code() {
        let c = validate(&input("4111111111111111", 12, 30, "Ada", "123"), NOW).unwrap();
        let bytes = c.record().to_plaintext();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(!text.contains("123\"") && !text.contains("cvv"));
        let back = CardRecord::from_plaintext(&bytes).unwrap();
        assert_eq!(back.number, "4111111111111111");
        assert_eq!(back.last4(), "1111");
        assert_eq!(back.brand(), Some(Brand::Visa));
        assert!(CardRecord::from_plaintext(b"{").is_err());
    }

    #[test]
    fn year_and_month_from_unix_time() {
        assert_eq!(
            YearMonth::from_unix_ms(0),
            YearMonth {
                year: 1970,
                month: 1
            }
        );
        // 2026-12-03T14:56:20Z
        assert_eq!(
            YearMonth::from_unix_ms(1_796_309_780_000),
            YearMonth {
                year: 2026,
                month: 12
            }
        );
        // 2024-02-29T12:00:00Z
        assert_eq!(
            YearMonth::from_unix_ms(1_709_208_000_000),
            YearMonth {
                year: 2024,
                month: 2
            }
        );
    }
}
