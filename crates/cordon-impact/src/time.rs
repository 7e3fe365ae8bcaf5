//! RFC 3339 timestamps in UTC, to and from Unix milliseconds, without a date library: reports must render the
//! same bytes on every machine (a signed report is re-serialised to be checked), so no time zone database and no
//! locale take part.

use crate::ImpactError;

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 to a civil date (proleptic Gregorian), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A civil date to days since 1970-01-01 (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    millis: i64,
}

fn parts(ms: i64) -> Parts {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: in_day / 3_600_000,
        minute: in_day / 60_000 % 60,
        second: in_day / 1_000 % 60,
        millis: in_day % 1_000,
    }
}

/// `2017-09-27T10:02:13.045Z`: the form every timestamp in a report takes.
pub fn format_millis(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.millis
    )
}

/// `2017-09-27T10:02Z`: minutes only, for the one-line reasons people read.
pub fn format_minutes(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.minute
    )
}

/// `2017-09-27 10:02:13`: seconds, with a space, for text people read (a transcript email says "UTC" beside it).
pub fn format_seconds_readable(ms: i64) -> String {
    let p = parts(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

fn number(s: &str, len: usize) -> Option<i64> {
    if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parse an RFC 3339 timestamp (`2017-09-26T00:00:00Z`, `…T02:00:00.5+02:00`) to Unix milliseconds. Digits
/// beyond milliseconds are truncated; leap seconds (`:60`) are refused rather than guessed at.
pub fn parse_rfc3339(input: &str) -> Result<i64, ImpactError> {
    let bad = || ImpactError::InvalidTime;
    let s = input.trim();
    if s.len() < 20 || !s.is_ascii() {
        return Err(bad());
    }
    let b = s.as_bytes();
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return Err(bad());
    }
    if b[16] != b':' {
        return Err(bad());
    }
    let year = number(&s[0..4], 4).ok_or_else(bad)?;
    let month = number(&s[5..7], 2).ok_or_else(bad)? as u32;
    let day = number(&s[8..10], 2).ok_or_else(bad)? as u32;
    let hour = number(&s[11..13], 2).ok_or_else(bad)?;
    let minute = number(&s[14..16], 2).ok_or_else(bad)?;
    let second = number(&s[17..19], 2).ok_or_else(bad)?;
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let kept: String = frac[..digits.min(3)].chars().collect();
        millis = format!("{kept:0<3}").parse().map_err(|_| bad())?;
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let oh = number(&rest[1..3], 2).ok_or_else(bad)?;
            let om = number(&rest[4..6], 2).ok_or_else(bad)?;
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            sign * (oh * 60 + om)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    Ok(
        days * MS_PER_DAY + hour * 3_600_000 + minute * 60_000 + second * 1_000 + millis
            - offset_minutes * 60_000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        // The start of the 2017 skimming window, as reported.
        let t = parse_rfc3339("2017-09-26T00:00:00Z").unwrap();
        assert_eq!(t, 1_506_384_000_000);
        assert_eq!(format_minutes(t + 36_120_000), "2017-09-26T10:02Z");
        assert_eq!(
            parse_rfc3339("2017-09-26T02:00:00.5+02:00").unwrap(),
            t + 500
        );
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            parse_rfc3339("2000-02-29T12:00:00Z").unwrap(),
            951_825_600_000
        );
    }

    #[test]
    fn refuses_what_is_not_rfc3339() {
        for s in [
            "",
            "2017-09-26",
            "2017-09-26T00:00:00",
            "2017-02-29T00:00:00Z",
            "2017-13-01T00:00:00Z",
            "2017-09-26T24:00:00Z",
            "2017-09-26T23:59:60Z",
            "2017-09-26T00:00:00.Z",
            "2017-09-26T00:00:00+2:00",
            "2017-09-26T00:00:00Z trailing",
            "２017-09-26T00:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s:?} must be refused");
        }
    }

    proptest! {
        #[test]
        fn format_then_parse_is_identity(ms in -62_135_596_800_000i64..253_402_300_799_999i64) {
            prop_assert_eq!(parse_rfc3339(&format_millis(ms)).unwrap(), ms);
        }

        #[test]
        fn formatting_preserves_order(a in 0i64..4_102_444_800_000, b in 0i64..4_102_444_800_000) {
            prop_assert_eq!(a.cmp(&b), format_millis(a).cmp(&format_millis(b)));
        }
    }
}
