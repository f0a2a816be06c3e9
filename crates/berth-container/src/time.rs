//! RFC 3339 timestamps with nanoseconds, in UTC, as runc prints `created`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `t` as Go's `time.RFC3339Nano` in UTC (trailing zeros of the
/// fraction trimmed, `Z` suffix).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Formats `t` as RFC 3339 in UTC with whole seconds (logrus' log timestamps).
pub fn rfc3339_secs(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339_nano(UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()))
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_450_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12345Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_nano(leap), "2000-02-29T00:00:00Z");
    }
}
