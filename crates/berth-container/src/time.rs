//! Timestamps as runc prints them (`created` in the state, logrus' log lines), with jiff's
//! RFC 3339 printer: berth-container keeps no calendar of its own.

use std::time::SystemTime;

use jiff::Timestamp;

/// Formats `t` as Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction trimmed, `Z`
/// suffix). A time jiff cannot hold (beyond the year 9999) prints as the epoch.
pub fn rfc3339_nano(t: SystemTime) -> String {
    timestamp(t).to_string()
}

/// Formats `t` as RFC 3339 in UTC with whole seconds (logrus' log timestamps).
pub fn rfc3339_secs(t: SystemTime) -> String {
    format!("{:.0}", timestamp(t))
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_450_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12345Z");
        assert_eq!(rfc3339_secs(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_nano(leap), "2000-02-29T00:00:00Z");
    }
}
