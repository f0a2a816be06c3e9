//! Property tests (issue 9) of what a request brings before a handler runs: the route (method
//! and path), the query string and its `filters` JSON, and the `X-Registry-Auth` header. None
//! panics on any input; filters and auth headers as the docker CLI encodes them decode back
//! to what was encoded. In the crate because these parsers are private; case counts keep each
//! property to a few seconds.

use std::collections::HashMap;

use base64::Engine as _;
use hyper::header::HeaderValue;
use hyper::Method;
use proptest::prelude::*;

use super::images::credentials;
use super::query::Query;
use super::stream::decode_registry_auth;
use crate::router::route;
use crate::types::images::AuthConfig;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::HEAD,
        Method::PUT,
    ])
}

/// Paths from the pieces of the API's routes.
fn path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/",
        "v1.41",
        "v1.12",
        "v9.99",
        "v",
        "v1.",
        "vé",
        "images",
        "json",
        "create",
        "get",
        "history",
        "tag",
        "push",
        "load",
        "prune",
        "_ping",
        "info",
        "version",
        "auth",
        "busybox",
        "..",
        ".",
        "sha256:abc",
        "%2F",
        "é",
        "\u{202e}",
        "",
    ]);
    prop::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

/// Docker's encoding of a query string value.
fn encode(key: &str, value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn routes_never_panic(m in method(), p in prop_oneof![path(), ".*"]) {
        let _ = route(&m, &p);
    }

    #[test]
    fn queries_never_panic(q in prop_oneof![".*", "[a-z=&%0-9A-F+{}\\[\\]\":,é]{0,40}"]) {
        let query = Query::parse(Some(&q));
        for key in ["filters", "all", "tag", "fromImage", "platform", "é"] {
            let _ = (query.get(key), query.bool(key), query.string(key));
        }
        let _ = query.filters();
    }

    #[test]
    fn filters_decode_what_docker_encodes(
        map in prop::collection::hash_map(".{0,8}", prop::collection::vec(".{0,8}", 1..4), 0..4),
        as_map in any::<bool>(),
    ) {
        // Docker's two forms: `{"k":["v"]}` and the older `{"k":{"v":true}}`.
        let json = if as_map {
            let m: HashMap<&String, HashMap<&String, bool>> = map
                .iter()
                .map(|(k, vs)| (k, vs.iter().map(|v| (v, true)).collect()))
                .collect();
            serde_json::to_string(&m).unwrap()
        } else {
            serde_json::to_string(&map).unwrap()
        };
        let decoded = Query::parse(Some(&encode("filters", &json))).filters().unwrap();
        prop_assert_eq!(decoded.len(), map.len());
        for (k, vs) in &map {
            let mut want = vs.clone();
            let mut got = decoded.get(k).cloned().unwrap_or_default();
            want.sort();
            want.dedup();
            got.sort();
            got.dedup();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn registry_auth_headers_never_panic(raw in prop::collection::vec(any::<u8>(), 0..80)) {
        if let Ok(value) = HeaderValue::from_bytes(&raw) {
            if let Ok(Some(auth)) = decode_registry_auth(&value) {
                let _ = credentials(auth);
            }
        }
    }

    #[test]
    fn registry_auth_decodes_what_docker_encodes(
        username in ".{0,12}",
        password in ".{0,12}",
        identitytoken in prop_oneof![Just(String::new()), ".{0,12}"],
        padded in any::<bool>(),
    ) {
        let auth = AuthConfig {
            username,
            password,
            identitytoken,
            ..AuthConfig::default()
        };
        let json = serde_json::to_vec(&auth).unwrap();
        let encoded = if padded {
            base64::engine::general_purpose::URL_SAFE.encode(&json)
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&json)
        };
        let value = HeaderValue::from_str(&encoded).unwrap();
        prop_assert_eq!(decode_registry_auth(&value).ok().flatten(), Some(auth));
    }
}
