//! Property tests (issue 9): times (image configs' `created`, from registries and archives),
//! API versions (from request paths) and hosts (`-H`, `DOCKER_HOST`) parse without panicking
//! whatever they hold, and times printed by berth parse back to the same instant.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, UNIX_EPOCH};

use berth_api_types::time::{
    go_time_string, parse_rfc3339, rfc3339_nano, rfc3339_nano_fixed, rfc3339_secs, since,
};
use berth_api_types::{ApiVersion, Host};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Unix seconds from 0001-01-01 (the first year RFC 3339 writes with four digits) to jiff's
/// last instant, 9999-12-30T22:00:00.999999999Z (later times print as `N/A`).
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_207_200;

#[test]
fn the_last_printable_second_parses_back() {
    // Found by printed_times_parse_back: 9999-12-31 is past jiff's range, so it prints as
    // N/A; the last second jiff holds must round-trip, with and without a fraction.
    assert_eq!(parse_rfc3339(&rfc3339_secs(MAX_SECS)), Some(MAX_SECS));
    assert_eq!(rfc3339_secs(MAX_SECS + 7200), "N/A");
    let t = UNIX_EPOCH + Duration::new(u64::try_from(MAX_SECS).unwrap(), 999_999_999);
    assert_eq!(parse_rfc3339(&rfc3339_nano(t)), Some(MAX_SECS));
    assert_eq!(parse_rfc3339(&rfc3339_nano_fixed(t)), Some(MAX_SECS));
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn times_never_panic(s in prop_oneof![
        ".*",
        "[0-9T:.Zz+ -é\u{202e}\u{0}]{0,40}",
        "-?[0-9]{1,6}-[0-9]{1,2}-[0-9]{1,2}[Tt ][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\\.[0-9é]{0,12})?(Z|[+-][0-9é]{1,2}:?[0-9é]{0,2}|.)?",
    ]) {
        if let Some(secs) = parse_rfc3339(&s) {
            let _ = (go_time_string(secs), rfc3339_secs(secs), since(secs, 0));
        }
    }

    #[test]
    fn printed_times_parse_back(secs in MIN_SECS..=MAX_SECS, nanos in 0u32..1_000_000_000) {
        prop_assert_eq!(parse_rfc3339(&rfc3339_secs(secs)), Some(secs));
        if let Ok(secs) = u64::try_from(secs) {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            let secs = i64::try_from(secs).unwrap();
            prop_assert_eq!(parse_rfc3339(&rfc3339_nano(t)), Some(secs));
            prop_assert_eq!(parse_rfc3339(&rfc3339_nano_fixed(t)), Some(secs));
        }
    }

    #[test]
    fn offsets_are_applied(secs in MIN_SECS + 86_400..=MAX_SECS - 86_400, minutes in -1439i64..=1439) {
        // The same instant written at another offset.
        let local = secs + minutes * 60;
        let utc = rfc3339_secs(local);
        let sign = if minutes < 0 { '-' } else { '+' };
        let with_offset = format!(
            "{}{sign}{:02}:{:02}",
            utc.trim_end_matches('Z'),
            minutes.abs() / 60,
            minutes.abs() % 60
        );
        prop_assert_eq!(parse_rfc3339(&with_offset), Some(secs));
    }

    #[test]
    fn api_versions_and_hosts_never_panic(s in prop_oneof![".*", "[v0-9.é/:a-z]{0,20}"]) {
        if let Some(v) = ApiVersion::parse(&s) {
            prop_assert_eq!(ApiVersion::parse(v.as_str()).map(|v| v.as_str().to_owned()), Some(v.as_str().to_owned()));
            let _ = v.at_least(&s);
        }
        let _ = Host::parse(&s);
        let _ = Host::parse(&format!("unix://{s}"));
        let _ = Host::parse(&format!("tcp://{s}"));
    }
}
