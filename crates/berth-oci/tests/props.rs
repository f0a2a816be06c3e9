//! Property tests (issue 9: input from outside never panics): berth-oci's parsers of what
//! registries, archives and users send — digests, references, tags, platforms — on arbitrary
//! strings and on near-miss inputs built from their grammar; what parses prints back to the
//! same value. Case counts are set so that each property runs in well under a few seconds.

#![allow(clippy::unwrap_used)]

use berth_oci::{Digest, Platform, Reference};
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Strings near a grammar: its characters, separators, and some that are not ASCII.
fn near(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let chars: Vec<char> = alphabet.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..max).prop_map(|v| v.into_iter().collect())
}

const REF_CHARS: &str = "abcxyz019AZ._-/:@sha256sha512eé\u{202e}\u{0} ";

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn digests_never_panic_and_round_trip(s in prop_oneof![".*", near("sha256:512abcdef0123456789", 80)]) {
        if let Ok(d) = Digest::parse(&s) {
            prop_assert_eq!(Digest::parse(&d.to_string()).unwrap(), d.clone());
            let _ = (d.short(), d.hex(), d.algorithm());
        }
    }

    #[test]
    fn computed_digests_parse_back(data in prop::collection::vec(any::<u8>(), 0..64)) {
        let d = Digest::of(&data);
        prop_assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
    }

    #[test]
    fn references_never_panic_and_round_trip(s in prop_oneof![
        ".*",
        near(REF_CHARS, 40),
        "([a-z0-9.-]{1,8}(:[0-9]{1,5})?/)?[a-z0-9._-]{1,8}(/[a-z0-9._-]{1,8}){0,2}(:[A-Za-z0-9_.-]{1,10})?(@sha256:[0-9a-f]{64})?",
    ]) {
        let _ = Reference::parse_strict(&s);
        let _ = Reference::parse_docker_ref(&s);
        if let Ok(r) = Reference::parse_normalized(&s) {
            prop_assert_eq!(Reference::parse_normalized(&r.to_string()).unwrap(), r.clone());
            prop_assert_eq!(Reference::parse_normalized(&r.familiar()).unwrap(), r.clone());
            let _ = (r.familiar_name(), r.repository(), r.with_default_tag());
        }
    }

    #[test]
    fn tags_never_panic(s in prop_oneof![".*", near(REF_CHARS, 140)]) {
        if let Ok(r) = Reference::parse_normalized("busybox") {
            if let Ok(t) = r.with_tag(&s) {
                prop_assert_eq!(t.tag(), Some(s.as_str()));
            }
        }
        let _ = berth_oci::reference::validate_tag(&s);
    }

    #[test]
    fn platforms_never_panic_and_round_trip(
        s in prop_oneof![
            ".*",
            near("linuxwindowsamd64arm64v5v6v7v8386x86_64/é*", 30),
            "(linux|windows|darwin|LINUX)?(/(amd64|arm64|arm|386|x86_64|aarch64|armhf|armel|é))?(/v[5-8])?",
        ]
    ) {
        if let Ok(p) = Platform::parse(&s) {
            prop_assert_eq!(Platform::parse(&p.to_string()).unwrap(), p.clone());
            let _ = p.matcher().rank(&p.normalize());
        }
    }
}
