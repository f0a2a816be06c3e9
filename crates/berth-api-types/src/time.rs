//! Times as the Docker API writes them and the docker CLI shows them, on `jiff` (the one
//! calendar berth uses): RFC 3339 parsing of image configs' `created`, Go's `RFC3339Nano` and
//! `time.Time.String` renderings, and go-units' "2 hours ago".
//!
//! Only UTC and fixed offsets are involved, so jiff runs without its time zone database. Its
//! range is the years -9999 to 9999: a time outside it does not parse (`None`), which callers
//! show as `N/A`, as docker does for a missing date.

use std::time::SystemTime;

use jiff::Timestamp;

/// Unix seconds of an RFC 3339 time (`2024-05-01T10:00:00.123Z`, `...+02:00`); `None` if it
/// does not parse or lies outside the years -9999 to 9999. Never panics, whatever `s` holds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    s.parse::<Timestamp>().ok().map(Timestamp::as_second)
}

/// `t` as Go's `time.RFC3339Nano` in UTC: `2023-11-14T22:13:20.12345Z`, the fraction's trailing
/// zeros (and an all-zero fraction) left out. Times jiff cannot hold print as the epoch.
pub fn rfc3339_nano(t: SystemTime) -> String {
    timestamp(t).to_string()
}

/// `t` as RFC 3339 in UTC with nine fraction digits, `2026-12-01T20:04:45.000000000Z` (what
/// berthd writes for times it makes itself). Times before 1970 print as the epoch.
pub fn rfc3339_nano_fixed(t: SystemTime) -> String {
    let ts = timestamp(t).max(Timestamp::UNIX_EPOCH);
    format!("{ts:.9}")
}

/// Unix time `secs` as RFC 3339 in UTC with whole seconds (`2000-02-29T00:00:00Z`), as
/// `docker history --format '{{.CreatedAt}}'` prints it; `N/A` outside jiff's range.
pub fn rfc3339_secs(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(|_| "N/A".into(), |ts| format!("{ts:.0}"))
}

/// Go's `time.Unix(secs, 0).String()` in UTC: `2026-12-01 20:50:00 +0000 UTC`; `N/A` outside
/// jiff's range.
pub fn go_time_string(secs: i64) -> String {
    Timestamp::from_second(secs).map_or_else(
        |_| "N/A".into(),
        |ts| ts.strftime("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
    )
}

/// go-units' `HumanDuration` of `secs` seconds: "Less than a second", "About a minute",
/// "2 hours", "3 weeks".
pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    // math.Round(d.Hours())
    let hours = secs.saturating_add(1800).div_euclid(3600);
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", secs / 3600 / 24 / 365)
    }
}

/// "2 hours ago" for a Unix time `created`, seen at `now`.
pub fn since(created: i64, now: i64) -> String {
    format!("{} ago", human_duration(now.saturating_sub(created)))
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    Timestamp::now().as_second()
}

/// `t` as a jiff timestamp; the epoch when `t` is outside jiff's range.
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
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339_nano(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn formats_fixed_nanos() {
        assert_eq!(
            rfc3339_nano_fixed(UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
        // 2000-02-29 (a leap day in a century leap year) 12:34:56.5
        let t = UNIX_EPOCH + Duration::new(951_827_696, 500_000_000);
        assert_eq!(rfc3339_nano_fixed(t), "2000-02-29T12:34:56.500000000Z");
        // 2026-12-01T20:04:45Z, checked against `date -u -d @1796155485`
        let t = UNIX_EPOCH + Duration::from_secs(1_796_155_485);
        assert_eq!(rfc3339_nano_fixed(t), "2026-12-01T20:04:45.000000000Z");
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(rfc3339_nano_fixed(before), "1970-01-01T00:00:00.000000000Z");
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
        assert_eq!(parse_rfc3339("2001-02-29T00:00:00Z"), None);
    }

    /// What issue 9 found: multi-byte characters where the old parser sliced by byte index.
    #[test]
    fn non_ascii_and_absurd_times_do_not_parse() {
        for s in [
            "2024-01-01T00:00:00é",
            "2024-01-01T00:00:0é",
            "2024-01-01T00:00:00+0é:00",
            "2024-01-01T00:00:00.é",
            "2024-01-01Té",
            "99999-01-01T00:00:00Z",
            "-2024-01-01T00:00:00Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s:?}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            go_time_string(1_796_158_200),
            "2026-12-01 20:50:00 +0000 UTC"
        );
        assert_eq!(rfc3339_secs(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_secs(i64::MAX), "N/A");
        assert_eq!(go_time_string(i64::MIN), "N/A");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5399), "About an hour");
        assert_eq!(human_duration(5400), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(48 * 3600), "2 days");
        assert_eq!(human_duration(14 * 86_400), "2 weeks");
        assert_eq!(human_duration(60 * 86_400), "2 months");
        assert_eq!(human_duration(730 * 86_400), "2 years");
        assert_eq!(human_duration(i64::MAX), "292471208677 years");
        assert_eq!(since(100, 160), "About a minute ago");
        assert_eq!(since(i64::MIN, i64::MAX), "292471208677 years ago");
    }
}
