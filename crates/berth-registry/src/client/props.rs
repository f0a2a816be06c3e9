//! Property tests (issue 9) of what a registry sends that berth parses before anything else:
//! `WWW-Authenticate` challenges, `Content-Range`, error bodies, digests and references, and
//! the host names and insecure-registry entries the daemon is configured with. None panics on
//! any input; what parses prints back to the same value. In the crate because these parsers are
//! private; case counts keep each property to a few seconds.

use proptest::prelude::*;

use super::download::parse_content_range;
use super::endpoint::{is_plain_http, validate_host};
use super::manifest::parse_reference;
use crate::auth::parse_challenges;
use crate::error::parse_remote;
use crate::Digest;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Header-like text: the tokens challenges are made of, in any order.
fn challenge_text() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "Bearer",
        "Basic",
        "Digest",
        " ",
        ",",
        "=",
        "\"",
        "\\",
        "realm",
        "service",
        "scope",
        "\"https://auth.example/token\"",
        "\"repository:a/b:pull,push\"",
        "é",
        "\u{202e}",
        "\u{0}",
        "x",
        "\"unterminated",
    ]);
    prop::collection::vec(piece, 0..20).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn challenges_never_panic(s in prop_oneof![challenge_text(), ".*"]) {
        let _ = parse_challenges(&s);
    }

    #[test]
    fn content_ranges_never_panic_and_round_trip(
        s in prop_oneof![".*", "bytes ?[0-9é-]{0,12}/[0-9*é]{0,6}"],
        start in any::<u64>(),
        len in any::<u64>(),
        total in any::<Option<u64>>(),
    ) {
        let _ = parse_content_range(&s);
        let end = start.saturating_add(len);
        let total_text = total.map_or_else(|| "*".to_owned(), |t| t.to_string());
        let header = format!("bytes {start}-{end}/{total_text}");
        prop_assert_eq!(parse_content_range(&header), Some((start, total)));
    }

    #[test]
    fn error_bodies_never_panic(status in any::<u16>(), body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        ".*".prop_map(String::into_bytes),
        "\\{\"errors\":\\[\\{\"code\":\"[A-Z_é]{0,12}\",\"message\":\".{0,12}\",\"detail\":.{0,8}\\}\\]\\}"
            .prop_map(String::into_bytes),
    ]) {
        let _ = parse_remote(status, &body).to_string();
    }

    #[test]
    fn digests_and_references_never_panic(
        s in prop_oneof![".*", "(sha256|sha512|md5|é)?:?[0-9a-fé]{0,70}", "[A-Za-z0-9_.-]{0,130}"]
    ) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        }
        let _ = parse_reference(&s);
    }

    #[test]
    fn hosts_and_insecure_entries_never_panic(
        host in prop_oneof![".*", "\\[?[0-9a-f:.é]{0,20}\\]?(:[0-9é]{0,6})?", "[a-z.-]{0,12}(:[0-9]{0,6})?"],
        entries in prop::collection::vec(
            prop_oneof![".*", "[0-9a-f:.]{0,20}/[0-9é-]{0,4}"], 0..4),
    ) {
        let _ = is_plain_http(&host, &entries);
        if let Ok(name) = validate_host(&host) {
            let _ = is_plain_http(&name, &entries);
        }
    }
}
