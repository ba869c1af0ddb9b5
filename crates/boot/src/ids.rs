//! Random identifiers (keys, message ids, session ids) and wire timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::BootError;

/// 16 random bytes shown as 8 hex digits, `-`, 24 hex digits (jupyter_client's `new_id`).
pub(crate) fn new_id() -> Result<String, BootError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| BootError::Random {
        message: err.to_string(),
    })?;
    let hex = to_hex(&bytes);
    Ok(format!("{}-{}", &hex[..8], &hex[8..]))
}

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Decode lowercase or uppercase hex; `None` on odd length or a non-hex digit.
pub(crate) fn from_hex(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// ISO 8601 UTC timestamp with microseconds, e.g. `2026-11-26T18:23:31.559459Z`.
pub(crate) fn iso8601_utc(time: SystemTime) -> String {
    // Times before the epoch do not occur on a sane clock; clamp them to it.
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both values are within small ranges by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_have_the_8_24_shape_and_differ() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        let (head, tail) = a.split_once('-').unwrap();
        assert_eq!(head.len(), 8);
        assert_eq!(tail.len(), 24);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert!(!a.chars().any(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn hex_round_trips() {
        let bytes = [0u8, 1, 0xab, 0xff, 0x10];
        assert_eq!(to_hex(&bytes), "0001abff10");
        assert_eq!(from_hex(b"0001ABff10").unwrap(), bytes);
        assert!(from_hex(b"abc").is_none());
        assert!(from_hex(b"zz").is_none());
    }

    #[test]
    fn dates_are_iso8601_utc_with_micros() {
        assert_eq!(iso8601_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // 2026-11-26T18:23:31.559459Z, the timestamp of the reference's real frames.
        let t = UNIX_EPOCH + Duration::new(1_795_717_411, 559_459_000);
        assert_eq!(iso8601_utc(t), "2026-11-26T18:23:31.559459Z");
        // Leap day and end of year.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(iso8601_utc(leap), "2000-02-29T00:00:00.000000Z");
        let eoy = UNIX_EPOCH + Duration::from_secs(1_704_067_199); // 2023-12-31T23:59:59
        assert_eq!(iso8601_utc(eoy), "2023-12-31T23:59:59.000000Z");
    }
}
