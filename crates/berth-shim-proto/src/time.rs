//! RFC 3339 timestamps with nanoseconds in UTC, as Go's `time.RFC3339Nano` prints them
//! (docker's log and state times), and their parsing, on jiff (berth keeps one calendar).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// Formats `t` as Go's `RFC3339Nano` in UTC: trailing zeros of the fraction trimmed, `Z`
/// suffix. A time jiff cannot hold prints as the epoch.
pub fn format(t: SystemTime) -> String {
    Timestamp::try_from(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_string()
}

/// Parses an RFC 3339 time (`Z` or a `±hh:mm` offset, a fraction up to nanoseconds).
/// `None` for anything else, or a time before 1970.
pub fn parse(s: &str) -> Option<SystemTime> {
    let ts = s.parse::<Timestamp>().ok()?;
    let secs = u64::try_from(ts.as_second()).ok()?;
    let nanos = u32::try_from(ts.subsec_nanosecond()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_and_parses_back() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_450_000);
        assert_eq!(format(t), "2023-11-14T22:13:20.12345Z");
        assert_eq!(parse("2023-11-14T22:13:20.12345Z"), Some(t));
        assert_eq!(format(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(format(leap), "2000-02-29T00:00:00Z");
        assert_eq!(parse("2000-02-29T00:00:00Z"), Some(leap));
        assert_eq!(parse("2000-02-29T01:30:00+01:30"), Some(leap));
        for bad in [
            "",
            "2000-02-29",
            "2000-02-29T00:00:00",
            "2000-13-01T00:00:00Z",
            "2000-02-29T00:00:00.Z",
            "2000-02-29T00:00:00+1:00",
            "20é0-02-29T00:00:00Z",
            "1960-01-01T00:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        for n in [0u64, 1, 999_999_999, 1_234_567_890_123_456_789] {
            let t = UNIX_EPOCH + Duration::from_nanos(n);
            assert_eq!(parse(&format(t)), Some(t));
        }
    }
}
