//! Property tests (issue 9: input from outside never panics): the parsers of what registries
//! and archives send — manifests, indexes, image configs — on arbitrary bytes and on arbitrary
//! JSON around the real field names; a config berth stores parses back to the same value.
//! (Digests, references and platforms are berth-oci's: its tests/props.rs.)
//! Case counts are set so that each property runs in well under a few seconds.

#![allow(clippy::unwrap_used)]

use berth_image::{ImageConfig, Manifest};
use proptest::prelude::*;
use serde_json::{Map, Value};

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

/// A JSON value whose object keys are mostly the names manifests, indexes and configs use.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        4 => prop::sample::select(vec![
            "schemaVersion", "mediaType", "config", "layers", "manifests", "digest", "size",
            "platform", "architecture", "os", "variant", "os.version", "os.features",
            "annotations", "urls", "created", "author", "Cmd", "Env", "Entrypoint", "Labels",
            "ExposedPorts", "Volumes", "WorkingDir", "User", "rootfs", "type", "diff_ids",
            "history", "created_by", "empty_layer", "comment", "fsLayers", "subject",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        Just(Value::String(
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".into()
        )),
        Just(Value::String(
            "application/vnd.docker.distribution.manifest.v2+json".into()
        )),
        Just(Value::String(
            "application/vnd.oci.image.index.v1+json".into()
        )),
        near("0123456789-T:.Z+é", 30).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn manifests_never_panic_on_bytes(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Manifest::parse(None, &data, "fuzz");
        let _ = ImageConfig::parse(&data, "fuzz");
    }

    #[test]
    fn manifests_and_configs_never_panic_on_json(
        v in json_value(),
        declared in prop::option::of(prop::sample::select(vec![
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            "text/plain",
        ])),
    ) {
        let bytes = serde_json::to_vec(&v).unwrap();
        if let Ok(m) = Manifest::parse(declared, &bytes, "fuzz") {
            let _ = (m.media_type(), m.children());
        }
        if let Ok(c) = ImageConfig::parse(&bytes, "fuzz") {
            let _ = c.platform();
            // What berth stores it as parses back to the same config.
            let again = serde_json::to_vec(&c).unwrap();
            prop_assert_eq!(ImageConfig::parse(&again, "again").unwrap(), c);
        }
    }

    #[test]
    fn configs_with_hostile_fields_parse_or_fail_cleanly(
        created in prop_oneof![".*", near("0123456789-T:.Z+é\u{202e}\u{0}", 30)],
        created_by in ".*",
        env in prop::collection::vec(".*", 0..8),
    ) {
        let v = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": created,
            "config": {"Env": env, "Cmd": [created_by.clone()]},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [{"created": created, "created_by": created_by}],
        });
        let c = ImageConfig::parse(&serde_json::to_vec(&v).unwrap(), "fuzz").unwrap();
        prop_assert_eq!(c.created.as_deref(), Some(created.as_str()));
    }
}
