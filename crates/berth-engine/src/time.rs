//! RFC 3339 timestamps (UTC, nanoseconds) as Docker prints them, and their parsing back to unix
//! seconds (image configs' `created`), without a date library.

use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`; times before 1970 print as the epoch.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_nanos()
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (Howard Hinnant's algorithm, for
/// non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Unix seconds of an RFC 3339 time (`2024-05-01T10:00:00.123Z`, `...+02:00`); `None` if it
/// does not parse.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = s.split_once(['T', 't', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || time.len() < 8 {
        return None;
    }
    let (hms, zone) = time.split_at(8);
    let mut t = hms.splitn(3, ':');
    let (hh, mm, ss) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    // Skip the fraction, then read the zone.
    let zone = zone
        .strip_prefix('.')
        .map_or(zone, |z| z.trim_start_matches(|c: char| c.is_ascii_digit()));
    let offset = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (num(&z[1..3])? * 3600 + num(&z[4..6])? * 60)
        }
        _ => return None,
    };
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss - offset)
}

/// Days from 1970-01-01 to the given date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.5
        let t = UNIX_EPOCH + Duration::new(951_827_696, 500_000_000);
        assert_eq!(rfc3339_utc(t), "2000-02-29T12:34:56.500000000Z");
        // 2026-12-01T20:04:45Z, checked against `date -u -d @1796155485`
        let t = UNIX_EPOCH + Duration::from_secs(1_796_155_485);
        assert_eq!(rfc3339_utc(t), "2026-12-01T20:04:45.000000000Z");
    }

    #[test]
    fn parses_back() {
        assert_eq!(parse_rfc3339("2026-12-01T20:04:45Z"), Some(1_796_155_485));
        assert_eq!(parse_rfc3339("2000-02-29T12:34:56.5Z"), Some(951_827_696));
        assert_eq!(
            parse_rfc3339("2000-02-29T14:34:56+02:00"),
            Some(951_827_696)
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000000000Z"), Some(0));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2000-13-01T00:00:00Z"), None);
    }
}
