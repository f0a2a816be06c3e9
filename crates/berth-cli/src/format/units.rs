//! Sizes, durations and dates as docker prints them (the `go-units` rules): decimal units with
//! Go's `%.Ng` (`1.24MB`, `4.26kB`), "About a minute", "2 hours", and Go's `time.Time.String`.

/// `units.HumanSizeWithPrecision`: decimal units (1000), `precision` significant digits.
pub fn human_size_prec(size: f64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(v, precision), UNITS[i])
}

/// `units.BytesSize`: binary units (1024), four significant digits (`1.102MiB`).
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut v = size;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", go_g(v, 4), UNITS[i])
}

/// `units.HumanSize` (four significant digits), as in progress bars.
pub fn human_size(size: i64) -> String {
    // Sizes are far below 2^53: no precision is lost that the output would show.
    #[allow(clippy::cast_precision_loss)]
    human_size_prec(size as f64, 4)
}

/// The SIZE column of `docker images` and `docker history` (three significant digits).
pub fn table_size(size: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    human_size_prec(size as f64, 3)
}

/// Go's `%.{prec}g` for the non-negative values sizes take: `prec` significant digits,
/// trailing zeros dropped, exponent form only when the exponent reaches `prec`.
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let prec_i = i32::try_from(prec).unwrap_or(i32::MAX);
    if exp < -4 || exp >= prec_i {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(prec_i - 1 - exp).unwrap_or(0);
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `units.HumanDuration` of `secs` seconds.
pub fn human_duration(secs: i64) -> String {
    let minutes = secs / 60;
    // math.Round(d.Hours())
    let hours = (secs + 1800).div_euclid(3600);
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
    format!("{} ago", human_duration(now - created))
}

/// Now, in Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Go's `time.Unix(secs, 0).String()` in UTC: `2026-12-01 20:50:00 +0000 UTC`.
pub fn go_time_string(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// RFC 3339 in UTC, as `--format '{{.CreatedAt}}'` of `docker history` prints it.
pub fn rfc3339(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Year, month, day, hour, minute, second of a Unix time (proleptic Gregorian, UTC).
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(table_size(1_240_000), "1.24MB");
        assert_eq!(table_size(4_260), "4.26kB");
        assert_eq!(table_size(999), "999B");
        assert_eq!(table_size(0), "0B");
        assert_eq!(table_size(1_000_000), "1MB");
        assert_eq!(table_size(999_999), "1e+03kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(3_400_000), "3.4MB");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(77_800_000), "77.8MB");
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
        assert_eq!(since(100, 160), "About a minute ago");
    }

    #[test]
    fn dates() {
        assert_eq!(go_time_string(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            go_time_string(1_796_158_200),
            "2026-12-01 20:50:00 +0000 UTC"
        );
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
