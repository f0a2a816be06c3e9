//! Property tests (issue 9) of the engine on input from outside: docker archives and OCI
//! layouts whose `manifest.json`, `index.json`, manifest and image config are arbitrary (hostile dates, wrong types, NUL and bidi
//! characters, names that are not references, missing or foreign files) are loaded into a real
//! engine in a temp root; each load stores its images or fails with an error, and then every
//! query answers for every stored image (list, inspect, history, save) and remove works,
//! without a panic. Also the API's `filters` map, whatever it holds. Root (the store's layers
//! keep their owners); case counts keep each property to a few seconds.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::Cursor;

use berth_engine::{Engine, EngineConfig, ImageFilters};
use berth_oci::Digest;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A one-file layer as a tar.
fn layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_path("etc/note").unwrap();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append(&h, &b"note\n"[..]).unwrap();
    b.into_inner().unwrap()
}

/// Strings near RFC 3339 and hostile text.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,16}",
        "-?[0-9]{1,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9é]{2,3}(\\.[0-9]{0,10})?(Z|[+-][0-9é]{2}:[0-9]{2}|é)?",
        Just("2024-01-01T00:00:00Z".to_owned()),
        Just("a\u{0}b\u{202e}c".to_owned()),
    ]
}

/// Any JSON leaf, with hostile strings.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::String),
        prop::collection::vec(text(), 0..3).prop_map(|v| json!(v)),
    ]
}

/// A config: mostly well-typed with hostile values, sometimes a field of the wrong type.
fn image_config(diff_id: String) -> impl Strategy<Value = Value> {
    let history = prop::collection::vec(
        (text(), text(), any::<bool>(), prop::option::of(leaf())),
        0..4,
    );
    (
        text(),
        prop::collection::vec(text(), 0..4),
        history,
        prop::option::weighted(
            0.2,
            (
                prop::sample::select(vec![
                    "created",
                    "Cmd",
                    "Env",
                    "Labels",
                    "history",
                    "rootfs",
                    "architecture",
                    "os",
                ]),
                leaf(),
            ),
        ),
        prop::bool::weighted(0.9),
    )
        .prop_map(move |(created, env, history, wrong, right_diff)| {
            let history: Vec<Value> = history
                .into_iter()
                .map(|(created, by, empty, comment)| {
                    json!({"created": created, "created_by": by, "empty_layer": empty,
                           "comment": comment})
                })
                .collect();
            let diff_ids = if right_diff {
                json!([diff_id])
            } else {
                json!([])
            };
            let mut c = json!({
                "architecture": "amd64", "os": "linux", "created": created,
                "config": {"Env": env, "Cmd": ["sh"], "Labels": {"\u{202e}": "\u{0}"}},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": history,
            });
            if let Some((field, value)) = wrong {
                match field {
                    "Cmd" | "Env" | "Labels" => c["config"][field] = value,
                    f => c[f] = value,
                }
            }
            c
        })
}

/// A docker archive: manifest.json, the config, the layer, with names that may not fit.
fn archive(layer: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let diff_id = Digest::of(&layer).to_string();
    let tag = prop_oneof![
        "fuzz/[a-z]{1,4}:[a-z0-9]{1,4}",
        ".{0,12}",
        Just("sha256:abc".to_owned()),
        Just("UPPER:x".to_owned()),
    ];
    (
        image_config(diff_id),
        prop::collection::vec(tag, 0..3),
        prop::bool::weighted(0.9),
        prop::bool::weighted(0.9),
        prop::option::weighted(0.1, leaf()),
    )
        .prop_map(
            move |(config, tags, config_named_right, layer_named_right, junk)| {
                let config = serde_json::to_vec(&config).unwrap();
                let config_name = if config_named_right {
                    format!("{}.json", Digest::of(&config).hex())
                } else {
                    "config.json".to_owned()
                };
                let layers = if layer_named_right {
                    json!(["l/layer.tar"])
                } else {
                    json!(["../l/layer.tar"])
                };
                let mut manifest =
                    json!([{"Config": config_name, "RepoTags": tags, "Layers": layers}]);
                if let Some(junk) = junk {
                    manifest[0]["Parent"] = junk;
                }
                tar_of(&[
                    ("manifest.json", serde_json::to_vec(&manifest).unwrap()),
                    (config_name.as_str(), config),
                    ("l/layer.tar", layer.clone()),
                ])
            },
        )
}

/// A tar of `files`.
fn tar_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

/// An OCI layout archive: index.json naming a manifest by annotation, the manifest, config
/// and layer as blobs; media types, sizes and names that may not fit.
fn oci_archive(layer: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let diff_id = Digest::of(&layer).to_string();
    let media_type = prop_oneof![
        4 => Just("application/vnd.oci.image.manifest.v1+json"),
        1 => Just("application/vnd.oci.image.index.v1+json"),
        1 => Just("application/vnd.docker.distribution.manifest.v2+json"),
        1 => Just("text/plain"),
    ];
    let name = prop_oneof![
        "docker.io/fuzz/[a-z]{1,4}:[a-z0-9]{1,4}",
        "[a-z0-9]{1,4}",
        ".{0,12}",
    ];
    (
        image_config(diff_id),
        media_type,
        prop::option::of(name),
        prop::bool::weighted(0.9),
        prop::option::weighted(0.1, leaf()),
    )
        .prop_map(move |(config, media_type, name, sizes_right, platform)| {
            let config = serde_json::to_vec(&config).unwrap();
            let size = |data: &[u8]| {
                if sizes_right {
                    data.len()
                } else {
                    data.len() + 1
                }
            };
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": Digest::of(&config).to_string(),
                    "size": size(&config),
                },
                "layers": [{
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": Digest::of(&layer).to_string(),
                    "size": size(&layer),
                }],
            }))
            .unwrap();
            let mut entry = json!({
                "mediaType": media_type,
                "digest": Digest::of(&manifest).to_string(),
                "size": manifest.len(),
            });
            if let Some(name) = name {
                entry["annotations"] = json!({
                    "io.containerd.image.name": name,
                    "org.opencontainers.image.ref.name": name,
                });
            }
            if let Some(platform) = platform {
                entry["platform"] = platform;
            }
            let index = json!({"schemaVersion": 2, "manifests": [entry]});
            let blob = |data: &[u8]| format!("blobs/sha256/{}", Digest::of(data).hex());
            tar_of(&[
                ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
                ("index.json", serde_json::to_vec(&index).unwrap()),
                (blob(&manifest).as_str(), manifest.clone()),
                (blob(&config).as_str(), config.clone()),
                (blob(&layer).as_str(), layer.clone()),
            ])
        })
}

#[test]
fn hostile_archives_load_or_fail_and_every_query_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    let engine = Engine::open(EngineConfig::new(&root, tmp.path().join("run"))).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let images = engine.images();
    let stored = std::cell::Cell::new(0u32);
    let mut runner = TestRunner::new(config(60));
    runner
        .run(
            &prop_oneof![archive(layer()), oci_archive(layer())],
            |bytes| {
                rt.block_on(async {
                    if images
                        .load(Box::new(Cursor::new(bytes)), None)
                        .await
                        .is_ok()
                    {
                        stored.set(stored.get() + 1);
                    }
                    let list = images.list(ImageFilters::default()).await.unwrap();
                    for image in list {
                        let id = image.id.to_string();
                        images.inspect(&id).await.unwrap();
                        images.history(&id).await.unwrap();
                        let plan = images.save_plan(vec![id.clone()]).await.unwrap();
                        images.save(plan, std::io::sink()).await.unwrap();
                        images.remove(&id, true).await.unwrap();
                    }
                });
                Ok(())
            },
        )
        .unwrap();
    eprintln!("{} of the archives loaded", stored.get());
    assert!(
        stored.get() > 0,
        "no archive loaded: the strategy tests nothing"
    );
    rt.block_on(images.prune(true)).unwrap();
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn filters_never_panic(map in prop::collection::hash_map(
        prop_oneof![
            prop::sample::select(vec!["dangling", "label", "reference", "before", "since"])
                .prop_map(str::to_owned),
            ".{0,8}",
        ],
        prop::collection::vec(".{0,12}", 0..3),
        0..4,
    )) {
        let map: HashMap<String, Vec<String>> = map;
        let _ = ImageFilters::from_map(&map);
    }
}
