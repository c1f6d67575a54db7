//! Timestamp parsing for log records, without a date-time dependency.
//!
//! Everything is converted to microseconds since the Unix epoch (UTC).

pub(crate) use crate::time::{days_from_civil, days_in_month};

/// A broken-down civil time; `to_unix_us` validates every field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub micros: u32,
}

impl Civil {
    /// Microseconds since the epoch, treating the fields as UTC; `None` for
    /// impossible dates (Feb 30, hour 24, ...).
    pub(crate) fn to_unix_us(self) -> Option<i64> {
        if !(0..=9999).contains(&self.year)
            || self.month == 0
            || self.day == 0
            || self.day > days_in_month(self.year, self.month)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
            || self.micros > 999_999
        {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        Some(secs * 1_000_000 + i64::from(self.micros))
    }
}

/// `Jan`..`Dec` (any case) to 1..=12.
pub(crate) fn month_from_abbr(b: &[u8]) -> Option<u32> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    if b.len() != 3 {
        return None;
    }
    let lower = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    MONTHS
        .iter()
        .position(|m| **m == lower)
        .map(|i| i as u32 + 1)
}

/// Fractional-second digits (any count) to microseconds (truncated).
pub(crate) fn frac_to_micros(digits: &[u8]) -> u32 {
    let mut us = 0u32;
    for i in 0..6 {
        let d = digits
            .get(i)
            .filter(|b| b.is_ascii_digit())
            .map_or(0, |b| u32::from(b - b'0'));
        us = us * 10 + d;
    }
    us
}

/// Exactly `n` ASCII digits at `*i`.
fn fixed_digits(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let s = b.get(*i..*i + n)?;
    let mut v = 0u32;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    *i += n;
    Some(v)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// Parses an RFC 3339 / ISO 8601 timestamp at the start of `b`
/// (`2024-03-01T10:00:00.123456789Z`, `...+02:00`, space instead of `T`;
/// without a zone the time is taken as UTC). Returns the instant and the
/// number of bytes consumed.
pub(crate) fn parse_rfc3339_prefix(b: &[u8]) -> Option<(i64, usize)> {
    let mut i = 0;
    let year = fixed_digits(b, &mut i, 4)?;
    expect(b, &mut i, b'-')?;
    let month = fixed_digits(b, &mut i, 2)?;
    expect(b, &mut i, b'-')?;
    let day = fixed_digits(b, &mut i, 2)?;
    match b.get(i) {
        Some(b'T' | b't' | b' ') => i += 1,
        _ => return None,
    }
    let hour = fixed_digits(b, &mut i, 2)?;
    expect(b, &mut i, b':')?;
    let minute = fixed_digits(b, &mut i, 2)?;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        i += 1;
        second = fixed_digits(b, &mut i, 2)?;
    }
    let mut micros = 0;
    if matches!(b.get(i), Some(b'.' | b',')) {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        micros = frac_to_micros(b.get(start..end)?);
        i = end;
    }
    let mut offset_s = 0i64;
    match b.get(i) {
        Some(b'Z' | b'z') => i += 1,
        Some(&sign @ (b'+' | b'-')) => {
            i += 1;
            let oh = fixed_digits(b, &mut i, 2)?;
            if b.get(i) == Some(&b':') {
                i += 1;
            }
            let om = fixed_digits(b, &mut i, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            offset_s = i64::from(oh * 3600 + om * 60);
            if sign == b'-' {
                offset_s = -offset_s;
            }
        }
        _ => {}
    }
    let civil = Civil {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        micros,
    };
    Some((civil.to_unix_us()? - offset_s * 1_000_000, i))
}

/// Parses a whole RFC 3339 timestamp string (surrounding white space
/// allowed) to microseconds since the Unix epoch.
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    let t = s.trim();
    let (us, used) = parse_rfc3339_prefix(t.as_bytes())?;
    (used == t.len()).then_some(us)
}

/// UTC offset in seconds of the time-zone abbreviations network devices
/// print (`UTC`, `EST`, `CEST`, ...). Ambiguous abbreviations (IST, ...)
/// are not listed: an unknown zone gives no time rather than a wrong one.
pub(crate) fn tz_abbr_offset(tz: &str) -> Option<i64> {
    let h = match tz.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "UT" | "Z" | "WET" | "ZULU" => 0,
        "BST" | "CET" | "WEST" | "MET" => 1,
        "CEST" | "EET" | "MEST" | "SAST" => 2,
        "EEST" | "MSK" => 3,
        "HKT" | "SGT" | "AWST" => 8,
        "JST" | "KST" => 9,
        "AEST" => 10,
        "AEDT" => 11,
        "NZST" => 12,
        "NZDT" => 13,
        "AST" | "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" | "AKDT" => -8,
        "AKST" => -9,
        "HST" => -10,
        _ => return None,
    };
    Some(h * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_against_known_instants() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(
            parse_rfc3339_us("2026-01-01T00:00:00.000001Z"),
            Some(1_767_225_600_000_001)
        );
        assert_eq!(
            parse_rfc3339_us("2000-02-29T12:00:00.123456Z"),
            Some(951_825_600_123_456)
        );
        assert_eq!(
            crate::time::rfc3339_us(951_825_600_123_456),
            "2000-02-29T12:00:00.123456Z"
        );
    }

    #[test]
    fn rfc3339_variants() {
        let base = parse_rfc3339_us("2024-03-01T10:00:00Z");
        assert_eq!(base, Some(1_709_287_200_000_000));
        assert_eq!(parse_rfc3339_us("2024-03-01T12:00:00+02:00"), base);
        assert_eq!(parse_rfc3339_us("2024-03-01T05:00:00-0500"), base);
        assert_eq!(parse_rfc3339_us("2024-03-01 10:00:00"), base);
        assert_eq!(
            parse_rfc3339_us("2024-03-01T10:00:00.1234567Z"),
            Some(1_709_287_200_123_456)
        );
        assert_eq!(parse_rfc3339_us("2024-02-30T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_us("2023-02-29T10:00:00Z"), None);
        assert_eq!(parse_rfc3339_us("2024-03-01T24:00:00Z"), None);
        assert_eq!(parse_rfc3339_us("2024-03-01T10:00:00Zjunk"), None);
        assert_eq!(parse_rfc3339_us("2024-03-01T10:00:00."), None);
        assert_eq!(parse_rfc3339_us(""), None);
        assert_eq!(parse_rfc3339_us("2024-3-1T10:00:00Z"), None);
    }

    #[test]
    fn months_and_zones() {
        assert_eq!(month_from_abbr(b"Jan"), Some(1));
        assert_eq!(month_from_abbr(b"DEC"), Some(12));
        assert_eq!(month_from_abbr(b"Foo"), None);
        assert_eq!(month_from_abbr(b"Ma"), None);
        assert_eq!(tz_abbr_offset("utc"), Some(0));
        assert_eq!(tz_abbr_offset("PDT"), Some(-7 * 3600));
        assert_eq!(tz_abbr_offset("IST"), None);
        assert_eq!(frac_to_micros(b"5"), 500_000);
        assert_eq!(frac_to_micros(b"123456789"), 123_456);
    }
}
