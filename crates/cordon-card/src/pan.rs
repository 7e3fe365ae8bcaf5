//! What a PAN is: the issuer (IIN) table, the lengths each network issues, and the Luhn check.

use crate::Brand;

/// Shortest and longest PAN any network in [`IIN_TABLE`] issues.
pub(crate) const MIN_LEN: usize = 12;
pub(crate) const MAX_LEN: usize = 19;

/// One row of the IIN table: PANs whose first `digits` digits lie in `lo..=hi`, with a length in `lengths`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IinRange {
    pub(crate) brand: Brand,
    pub(crate) digits: u8,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    /// Bit `n` set when a PAN of `n` digits is issued in this range.
    pub(crate) lengths: u32,
    /// Bit `n` set for the lengths most cards of this range have; other lengths are rarer and a
    /// hit with them alone needs no contrary context (see `detect`).
    pub(crate) common: u32,
}

const fn bits(lo: u32, hi: u32) -> u32 {
    let mut m = 0;
    let mut n = lo;
    while n <= hi {
        m |= 1 << n;
        n += 1;
    }
    m
}

const fn row(brand: Brand, digits: u8, lo: u32, hi: u32, lengths: u32, common: u32) -> IinRange {
    IinRange {
        brand,
        digits,
        lo,
        hi,
        lengths,
        common,
    }
}

const L16: u32 = 1 << 16;

/// The IIN table: the single place that says which numbers are card numbers.
///
/// Source: ISO/IEC 7812 ranges as published by the networks and collected in Wikipedia's
/// "Payment card number" IIN table, checked 2026-11 against `shared/research/security-anchors.md` and
/// issue 2 (Mastercard 2221–2720, UnionPay 81, Mir 2200–2204). Maestro keeps the broad historical
/// 50 and 56–69 block so that no Maestro card goes unredacted.
///
/// Order matters: the first row whose prefix *and* length match names the brand, so the more specific
/// prefixes come first (Discover's 622126–622925 before UnionPay's 62; Discover's 6011/65 before Maestro).
pub(crate) const IIN_TABLE: &[IinRange] = &[
    row(Brand::Discover, 6, 622_126, 622_925, bits(16, 19), L16),
    row(Brand::Discover, 4, 6011, 6011, bits(16, 19), L16),
    row(Brand::Discover, 3, 644, 649, bits(16, 19), L16),
    row(Brand::Discover, 2, 65, 65, bits(16, 19), L16),
    row(Brand::Mir, 4, 2200, 2204, bits(16, 19), L16),
    row(Brand::Mastercard, 4, 2221, 2720, L16, L16),
    row(Brand::Mastercard, 2, 51, 55, L16, L16),
    row(Brand::Jcb, 4, 3528, 3589, bits(16, 19), L16),
    row(Brand::DinersClub, 3, 300, 305, bits(14, 19), bits(14, 16)),
    row(Brand::DinersClub, 3, 309, 309, bits(14, 19), bits(14, 16)),
    row(Brand::DinersClub, 2, 36, 36, bits(14, 19), bits(14, 16)),
    row(Brand::DinersClub, 2, 38, 39, bits(14, 19), bits(14, 16)),
    row(Brand::Amex, 2, 34, 34, 1 << 15, 1 << 15),
    row(Brand::Amex, 2, 37, 37, 1 << 15, 1 << 15),
    row(Brand::UnionPay, 2, 62, 62, bits(16, 19), L16 | 1 << 19),
    row(Brand::UnionPay, 2, 81, 81, bits(16, 19), L16 | 1 << 19),
    row(Brand::Visa, 1, 4, 4, 1 << 13 | L16 | 1 << 19, L16),
    row(Brand::Maestro, 2, 50, 50, bits(12, 19), bits(16, 19)),
    row(Brand::Maestro, 2, 56, 69, bits(12, 19), bits(16, 19)),
];

/// For each two-digit prefix, the rows of [`IIN_TABLE`] (bit `k` for row `k`) whose range holds a
/// number starting with it: [`Prefix::of`] tests only these (one to three rows) instead of all.
static ROWS_BY_FIRST2: [u32; 100] = {
    let mut t = [0u32; 100];
    let mut k = 0;
    while k < IIN_TABLE.len() {
        let r = IIN_TABLE[k];
        // The two-digit prefixes the row covers: its bounds cut (or widened) to two digits.
        let (mut lo, mut hi) = (r.lo, r.hi);
        let mut d = r.digits;
        while d > 2 {
            lo /= 10;
            hi /= 10;
            d -= 1;
        }
        if d == 1 {
            lo *= 10;
            hi = hi * 10 + 9;
        }
        let mut p = lo;
        while p <= hi {
            t[p as usize] |= 1 << k;
            p += 1;
        }
        k += 1;
    }
    t
};

/// For each two-digit prefix whose rows all have prefixes of one or two digits (so that the two
/// digits decide them: `4…`, `5…`, `34`, `37`…), the lengths they issue. 0 where longer prefixes
/// must be read (`30`, `22`, `60`, `62`…) or no row matches (`1…`); [`lengths_of`] then asks
/// [`Prefix::of`]. Every row issues some length, so 0 never stands for a decided prefix.
static LENGTHS_BY_FIRST2: [u32; 100] = {
    let mut t = [0u32; 100];
    let mut p = 0;
    while p < 100 {
        let (mut rows, mut lengths, mut short) = (ROWS_BY_FIRST2[p], 0, true);
        while rows != 0 {
            let k = rows.trailing_zeros() as usize;
            rows &= rows - 1;
            short &= IIN_TABLE[k].digits <= 2;
            lengths |= IIN_TABLE[k].lengths;
        }
        if short {
            t[p] = lengths;
        }
        p += 1;
    }
    t
};

/// The lengths issued for a number that starts with these six digit values: [`Prefix::lengths`],
/// from one lookup when the first two digits decide it.
#[inline]
pub(crate) fn lengths_of(first6: &[u8]) -> u32 {
    let fast = match first6 {
        [d0, d1, ..] => LENGTHS_BY_FIRST2
            .get(usize::from(*d0) * 10 + usize::from(*d1))
            .copied()
            .unwrap_or(0),
        _ => 0,
    };
    if fast != 0 {
        return fast;
    }
    Prefix::of(first6).lengths()
}

/// Every row of [`IIN_TABLE`], as a mask like those of [`ROWS_BY_FIRST2`].
const ALL_ROWS: u32 = (1 << IIN_TABLE.len()) - 1;
// The row masks are `u32`s: the table must keep fewer than 32 rows.
const _: () = assert!(IIN_TABLE.len() < 32);

/// The first six digits of a candidate, read once for all the lengths tried from one start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prefix {
    /// The rows of [`IIN_TABLE`] whose range holds this prefix (bit `k` for row `k`).
    rows: u32,
    /// Lengths issued for this prefix by any row (bit `n` for `n` digits).
    lengths: u32,
}

impl Prefix {
    /// `first6` holds at least six digit values.
    pub(crate) fn of(first6: &[u8]) -> Prefix {
        let mut by_len = [0u32; 7];
        for (k, d) in first6.iter().take(6).enumerate() {
            by_len[k + 1] = by_len[k] * 10 + u32::from(*d);
        }
        // Digit values are 0–9, so the index is below 100; were it not, all rows are tested.
        let mut maybe = ROWS_BY_FIRST2
            .get(by_len[2] as usize)
            .copied()
            .unwrap_or(ALL_ROWS);
        let (mut rows, mut lengths) = (0, 0);
        while maybe != 0 {
            let k = maybe.trailing_zeros() as usize;
            maybe &= maybe - 1;
            let r = &IIN_TABLE[k];
            if (r.lo..=r.hi).contains(&by_len[usize::from(r.digits)]) {
                rows |= 1 << k;
                lengths |= r.lengths;
            }
        }
        Prefix { rows, lengths }
    }

    pub(crate) fn lengths(self) -> u32 {
        self.lengths
    }

    /// The brand for a PAN of `len` digits with this prefix, and whether `len` is a common length:
    /// the first row, in table order, whose prefix and length match.
    pub(crate) fn brand(self, len: usize) -> Option<(Brand, bool)> {
        if self.lengths & (1 << len) == 0 {
            return None;
        }
        let mut rows = self.rows;
        while rows != 0 {
            let r = &IIN_TABLE[rows.trailing_zeros() as usize];
            rows &= rows - 1;
            if r.lengths & (1 << len) != 0 {
                return Some((r.brand, r.common & (1 << len) != 0));
            }
        }
        None
    }
}

/// The brand of a PAN given as digit values (0–9), if its prefix and length are issued, and whether
/// that length is a common one for the range. Does not check Luhn.
pub(crate) fn brand_of(digits: &[u8]) -> Option<(Brand, bool)> {
    let len = digits.len();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return None;
    }
    Prefix::of(digits).brand(len)
}

/// Whether some issued PAN starts with these two digits: a table lookup for the hot path.
#[inline]
pub(crate) fn could_begin2(d0: u8, d1: u8) -> bool {
    // Digit values are 0–9, so the index is below 100. Past the table (never passed), say yes: the
    // callers use this only to skip numbers, and a yes means a closer look.
    ROWS_BY_FIRST2
        .get(usize::from(d0) * 10 + usize::from(d1))
        .is_none_or(|&rows| rows != 0)
}

/// Whether some issued PAN starts with this digit.
#[inline]
pub(crate) fn could_begin1(d0: u8) -> bool {
    static FIRST_ONE: [bool; 10] = {
        let mut t = [false; 10];
        let mut p = 0;
        while p < 100 {
            if ROWS_BY_FIRST2[p] != 0 {
                t[p / 10] = true;
            }
            p += 1;
        }
        t
    };
    // As in `could_begin2`: a value past the table (never passed) means a closer look.
    FIRST_ONE.get(usize::from(d0)).is_none_or(|&b| b)
}

/// Whether some issued PAN starts with these digits (a prefix of at most [`MAX_LEN`] digits).
pub(crate) fn could_begin(digits: &[u8]) -> bool {
    if digits.is_empty() {
        return true;
    }
    issued_lengths(digits) >> digits.len() != 0
}

/// The lengths (bit `n` for `n` digits) of the PANs some row of [`IIN_TABLE`] issues with a prefix
/// that these digits begin, or that begins with them: the lengths a number starting so could have.
/// Empty for more than [`MAX_LEN`] digits.
pub(crate) fn issued_lengths(digits: &[u8]) -> u32 {
    if digits.len() > MAX_LEN {
        return 0;
    }
    let mut value = 0u32;
    for d in digits.iter().take(6) {
        value = value * 10 + u32::from(*d);
    }
    let have = digits.len().min(6) as u32;
    IIN_TABLE
        .iter()
        .filter(|r| {
            let need = u32::from(r.digits);
            if have >= need {
                let p = value / 10u32.pow(have - need);
                (r.lo..=r.hi).contains(&p)
            } else {
                // Only the first `have` digits are known: does the range contain a number starting so?
                let scale = 10u32.pow(need - have);
                let lo = value * scale;
                let hi = lo + scale - 1;
                lo <= r.hi && hi >= r.lo
            }
        })
        .fold(0, |m, r| m | r.lengths)
}

/// The Luhn (mod 10) check over digit values.
pub(crate) fn luhn_ok(digits: &[u8]) -> bool {
    // 2d, minus 9 when that has two digits; arithmetic rather than a table, so no index to check.
    let doubled = |d: u8| {
        let d = u32::from(d);
        2 * d - if d > 4 { 9 } else { 0 }
    };
    // From the right, two digits at a time: the last one as it is, the one before it doubled.
    let mut pairs = digits.rchunks_exact(2);
    let mut sum = 0u32;
    for pair in &mut pairs {
        sum += u32::from(pair[1]) + doubled(pair[0]);
    }
    // An odd count leaves the first digit, an even distance from the last: not doubled.
    if let [first] = pairs.remainder() {
        sum += u32::from(*first);
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(s: &str) -> Vec<u8> {
        s.bytes().map(|b| b - b'0').collect()
    }

    #[test]
    fn luhn_agrees_with_the_textbook_loop() {
        let textbook = |digits: &[u8]| {
            let mut sum = 0u32;
            for (k, d) in digits.iter().rev().enumerate() {
                let mut v = u32::from(*d);
                if k % 2 == 1 {
                    v *= 2;
                    if v > 9 {
                        v -= 9;
                    }
                }
                sum += v;
            }
            sum % 10 == 0
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 21) as usize;
            let digits: Vec<u8> = (0..len).map(|k| ((x >> (k * 3)) % 10) as u8).collect();
            assert_eq!(luhn_ok(&digits), textbook(&digits), "{digits:?}");
        }
    }

    #[test]
    fn luhn_known_numbers() {
        assert!(luhn_ok(&ds("4111111111111111")));
        assert!(luhn_ok(&ds("378282246310005")));
        assert!(!luhn_ok(&ds("4111111111111112")));
        assert!(luhn_ok(&ds("0")));
    }

    #[test]
    fn brands_by_prefix_and_length() {
        let cases = [
            ("4111111111111111", Some(Brand::Visa)),
            ("4222222222222", Some(Brand::Visa)),
            ("411111111111111", None),
            ("5555555555554444", Some(Brand::Mastercard)),
            ("2223003122003222", Some(Brand::Mastercard)),
            ("2720990000000007", Some(Brand::Mastercard)),
            ("2721000000000000", None),
            ("2200000000000004", Some(Brand::Mir)),
            ("2205000000000000", None),
            ("378282246310005", Some(Brand::Amex)),
            ("6011111111111117", Some(Brand::Discover)),
            ("6221260000000000", Some(Brand::Discover)),
            ("6200000000000005", Some(Brand::UnionPay)),
            ("8100000000000000", Some(Brand::UnionPay)),
            ("3530111333300000", Some(Brand::Jcb)),
            ("30569309025904", Some(Brand::DinersClub)),
            ("6759649826438453", Some(Brand::Maestro)),
            ("501800000009", Some(Brand::Maestro)),
            ("601100000000", Some(Brand::Maestro)),
            ("1234567890123456", None),
            ("7000000000000000", None),
            ("9000000000000", None),
            ("3100000000000000", None),
        ];
        for (n, want) in cases {
            assert_eq!(brand_of(&ds(n)).map(|b| b.0), want, "{n}");
        }
    }

    #[test]
    fn two_digit_table_agrees_with_the_full_test() {
        for p in 0..100u8 {
            assert_eq!(
                could_begin2(p / 10, p % 10),
                could_begin(&[p / 10, p % 10]),
                "{p}"
            );
        }
    }

    #[test]
    fn prefix_lookup_agrees_with_the_whole_table() {
        // The rows found through ROWS_BY_FIRST2 are the rows of a plain scan: for every four-digit
        // prefix (each row but one has four digits or fewer) at both ends of its range, and for every
        // six-digit prefix under 62 (the six-digit row, 622126–622925).
        let prefixes = (0..10_000u32)
            .flat_map(|p| [p * 100, p * 100 + 99])
            .chain(620_000..630_000);
        for p in prefixes {
            let d: Vec<u8> = format!("{p:06}").bytes().map(|b| b - b'0').collect();
            let pf = Prefix::of(&d);
            let by_len: Vec<u32> = (0..=6).map(|k| p / 10u32.pow(6 - k)).collect();
            let (mut rows, mut lengths) = (0u32, 0u32);
            for (k, r) in IIN_TABLE.iter().enumerate() {
                if (r.lo..=r.hi).contains(&by_len[usize::from(r.digits)]) {
                    rows |= 1 << k;
                    lengths |= r.lengths;
                }
            }
            assert_eq!((pf.rows, pf.lengths), (rows, lengths), "{p:06}");
            assert_eq!(lengths_of(&d), lengths, "{p:06}");
            for len in MIN_LEN..=MAX_LEN {
                let want = IIN_TABLE.iter().find_map(|r| {
                    (r.lengths & (1 << len) != 0
                        && (r.lo..=r.hi).contains(&by_len[usize::from(r.digits)]))
                    .then_some((r.brand, r.common & (1 << len) != 0))
                });
                assert_eq!(pf.brand(len), want, "{p:06} {len}");
            }
        }
    }

    #[test]
    fn one_digit_prefixes() {
        let firsts: Vec<u8> = (0..10).filter(|&d| could_begin1(d)).collect();
        assert_eq!(firsts, [2, 3, 4, 5, 6, 8]);
    }

    #[test]
    fn prefixes_that_could_begin() {
        assert!(could_begin(&ds("4")));
        assert!(could_begin(&ds("22")));
        assert!(could_begin(&ds("2221")));
        assert!(!could_begin(&ds("2210")));
        assert!(could_begin(&ds("6221")));
        assert!(!could_begin(&ds("1")));
        assert!(!could_begin(&ds("9")));
        assert!(!could_begin(&ds("31")));
        assert!(could_begin(&ds("3")));
        assert!(could_begin(&ds("4111111111111111111")));
        assert!(!could_begin(&ds("34000000000000000")));
    }

    #[test]
    fn lengths_a_prefix_can_still_have() {
        assert_eq!(issued_lengths(&ds("34")), 1 << 15);
        assert_eq!(issued_lengths(&ds("4111")), 1 << 13 | 1 << 16 | 1 << 19);
        // "3" may be Amex (15), Diners (14–19) or JCB (16–19).
        assert_eq!(issued_lengths(&ds("3")), bits(14, 19));
        assert_eq!(issued_lengths(&ds("2210")), 0);
        assert_eq!(issued_lengths(&ds("41111111111111111111")), 0);
        assert_eq!(
            issued_lengths(&[]),
            IIN_TABLE.iter().fold(0, |m, r| m | r.lengths)
        );
    }
}
