//! Sizes as docker prints them (the `go-units` rules): decimal units with Go's `%.Ng` (`1.24MB`,
//! `4.26kB`). Durations and dates ("2 hours ago", Go's `time.Time.String`) are
//! berth-api-types' `time` module.

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
}
