//! Push and pull against the real docker-registry, checked with skopeo.

#![allow(clippy::unwrap_used)]

mod common;

use berth_registry::{media_type, Digest, Digester, ErrorCode, ErrorKind, Registry};
use bytes::Bytes;
use common::*;

async fn push_image(
    reg: &Registry,
    repo: &str,
    tag: &str,
    tmp: &std::path::Path,
) -> (Layer, Vec<u8>, Vec<u8>) {
    let layer = make_layer(
        tmp,
        &format!("{}-layer", repo.replace('/', "-")),
        200_000,
        7,
    );
    let config = image_config(&[&layer]);
    let manifest = docker_manifest(&config, &[&layer]);
    let config_digest = Digest::of(&config);
    for (digest, data) in [
        (&config_digest, &config[..]),
        (&layer.digest, &layer.gz[..]),
    ] {
        assert_eq!(reg.blob_exists(repo, digest).await.unwrap(), None);
        let mut src = data;
        reg.upload_blob(repo, digest, data.len() as u64, &mut src)
            .await
            .unwrap();
        assert_eq!(
            reg.blob_exists(repo, digest).await.unwrap(),
            Some(data.len() as u64)
        );
    }
    let pushed = reg
        .put_manifest(
            repo,
            tag,
            Bytes::from(manifest.clone()),
            media_type::DOCKER_MANIFEST,
        )
        .await
        .unwrap();
    assert_eq!(pushed, Digest::of(&manifest));
    (layer, config, manifest)
}

#[test]
fn push_then_pull_back_and_skopeo_agrees() {
    isolated(async {
        let server = common::start_registry(Auth::None, false);
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::new(&server.host(), None, &options()).unwrap();
        let (layer, config, manifest) = push_image(&reg, "berth/app", "v1", tmp.path()).await;
        let digest = Digest::of(&manifest);

        // By tag and by digest, with the media type the registry stored.
        let got = reg.get_manifest("berth/app", "v1").await.unwrap();
        assert_eq!(&got.bytes[..], &manifest[..]);
        assert_eq!(got.media_type, media_type::DOCKER_MANIFEST);
        assert_eq!(got.digest, digest);
        let by_digest = reg
            .get_manifest("berth/app", digest.as_str())
            .await
            .unwrap();
        assert_eq!(by_digest.digest, digest);
        let head = reg.head_manifest("berth/app", "v1").await.unwrap();
        assert_eq!(head.digest, digest);
        assert_eq!(head.size, manifest.len() as u64);
        assert_eq!(head.media_type, media_type::DOCKER_MANIFEST);

        // Blobs come back whole, with progress up to their size.
        let mut sink = Vec::new();
        let mut last = 0;
        let n = reg
            .fetch_blob(
                "berth/app",
                &layer.digest,
                Some(layer.gz.len() as u64),
                Digester::new(),
                &mut sink,
                |p| {
                    assert!(p >= last);
                    last = p;
                },
            )
            .await
            .unwrap();
        assert_eq!(n, layer.gz.len() as u64);
        assert_eq!(last, n);
        assert_eq!(sink, layer.gz);
        let mut sink = Vec::new();
        reg.fetch_blob(
            "berth/app",
            &Digest::of(&config),
            None,
            Digester::new(),
            &mut sink,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(sink, config);

        // skopeo reads what berth pushed.
        let url = format!("docker://{}/berth/app:v1", server.host());
        let raw = run(
            "skopeo",
            strings(&["inspect", "--tls-verify=false", "--raw", &url]),
        )
        .await;
        assert_eq!(raw, manifest);
        let info: serde_json::Value = serde_json::from_slice(
            &run("skopeo", strings(&["inspect", "--tls-verify=false", &url])).await,
        )
        .unwrap();
        assert_eq!(info["Digest"], digest.as_str());
        assert_eq!(info["Layers"], serde_json::json!([layer.digest.as_str()]));
        assert_eq!(info["Architecture"], "amd64");
        // A full copy verifies every blob's digest.
        let oci = tmp.path().join("oci-out");
        run(
            "skopeo",
            strings(&[
                "copy",
                "--src-tls-verify=false",
                &url,
                &format!("oci:{}:v1", oci.display()),
            ]),
        )
        .await;
    });
}

#[test]
fn resume_from_a_partial_ingest_with_range() {
    isolated(async {
        let server = common::start_registry(Auth::None, false);
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::new(&server.host(), None, &options()).unwrap();
        let (layer, _, _) = push_image(&reg, "resume/app", "v1", tmp.path()).await;
        // The caller already holds the first 70000 bytes.
        let (have, rest) = layer.gz.split_at(70_000);
        let mut digester = Digester::new();
        digester.update(have);
        let mut sink = Vec::new();
        let mut first_progress = None;
        let n = reg
            .fetch_blob(
                "resume/app",
                &layer.digest,
                Some(layer.gz.len() as u64),
                digester,
                &mut sink,
                |p| {
                    first_progress.get_or_insert(p);
                },
            )
            .await
            .unwrap();
        assert_eq!(n, layer.gz.len() as u64);
        assert_eq!(sink, rest, "only the missing bytes are written");
        assert!(first_progress.unwrap() > 70_000);

        // A wrong prefix is caught by the whole-blob digest.
        let mut digester = Digester::new();
        digester.update(&vec![0u8; 70_000]);
        let err = reg
            .fetch_blob(
                "resume/app",
                &layer.digest,
                None,
                digester,
                &mut Vec::new(),
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    });
}

#[test]
fn skopeo_made_images_pull_with_berth() {
    isolated(async {
        let server = common::start_registry(Auth::None, false);
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("layout");
        let layout_s = layout.display().to_string();
        run("umoci", strings(&["init", "--layout", &layout_s])).await;
        run(
            "umoci",
            strings(&["new", "--image", &format!("{layout_s}:v1")]),
        )
        .await;
        let file = tmp.path().join("hello.txt");
        write_file(&file, &noise(50_000, 3));
        run(
            "umoci",
            strings(&[
                "insert",
                "--image",
                &format!("{layout_s}:v1"),
                &file.display().to_string(),
                "/hello.txt",
            ]),
        )
        .await;
        let reg = Registry::new(&server.host(), None, &options()).unwrap();
        for (tag, format, expect_type) in [
            ("docker", "v2s2", media_type::DOCKER_MANIFEST),
            ("oci", "oci", media_type::OCI_MANIFEST),
        ] {
            run(
                "skopeo",
                strings(&[
                    "copy",
                    "--dest-tls-verify=false",
                    "--format",
                    format,
                    &format!("oci:{layout_s}:v1"),
                    &format!("docker://{}/skopeo/img:{tag}", server.host()),
                ]),
            )
            .await;
            let m = reg.get_manifest("skopeo/img", tag).await.unwrap();
            assert_eq!(m.media_type, expect_type);
            let parsed: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
            let mut blobs = vec![parsed["config"].clone()];
            blobs.extend(parsed["layers"].as_array().unwrap().iter().cloned());
            assert_eq!(blobs.len(), 2, "config and one layer");
            for desc in blobs {
                let digest = Digest::parse(desc["digest"].as_str().unwrap()).unwrap();
                let size = desc["size"].as_u64().unwrap();
                let mut sink = Vec::new();
                let n = reg
                    .fetch_blob(
                        "skopeo/img",
                        &digest,
                        Some(size),
                        Digester::new(),
                        &mut sink,
                        |_| {},
                    )
                    .await
                    .unwrap();
                assert_eq!(n, size);
                assert_eq!(Digest::of(&sink), digest);
            }
        }
    });
}

#[test]
fn index_mount_and_typed_not_found() {
    isolated(async {
        let server = common::start_registry(Auth::None, false);
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::new(&server.host(), None, &options()).unwrap();
        let (layer, config, manifest) = push_image(&reg, "src/app", "v1", tmp.path()).await;

        // An OCI index over the manifest.
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": [{
                "mediaType": media_type::DOCKER_MANIFEST,
                "digest": Digest::of(&manifest).to_string(),
                "size": manifest.len(),
                "platform": {"architecture": "amd64", "os": "linux"}
            }]
        }))
        .unwrap();
        reg.put_manifest(
            "src/app",
            "multi",
            Bytes::from(index.clone()),
            media_type::OCI_INDEX,
        )
        .await
        .unwrap();
        let got = reg.get_manifest("src/app", "multi").await.unwrap();
        assert_eq!(got.media_type, media_type::OCI_INDEX);
        assert!(media_type::is_index(&got.media_type));
        let raw = run(
            "skopeo",
            strings(&[
                "inspect",
                "--tls-verify=false",
                "--raw",
                &format!("docker://{}/src/app:multi", server.host()),
            ]),
        )
        .await;
        assert_eq!(raw, index);

        // Cross-repository mount: the blob appears in the other repository.
        assert!(reg
            .mount_blob("dst/app", &layer.digest, "src/app")
            .await
            .unwrap());
        assert_eq!(
            reg.blob_exists("dst/app", &layer.digest).await.unwrap(),
            Some(layer.gz.len() as u64)
        );
        // A blob the source does not have is not mounted (202): upload instead.
        let missing = Digest::of(b"not pushed anywhere");
        assert!(!reg
            .mount_blob("dst/app", &missing, "src/app")
            .await
            .unwrap());
        let mut src = &config[..];
        reg.upload_blob(
            "dst/app",
            &Digest::of(&config),
            config.len() as u64,
            &mut src,
        )
        .await
        .unwrap();
        reg.put_manifest(
            "dst/app",
            "v1",
            Bytes::from(manifest.clone()),
            media_type::DOCKER_MANIFEST,
        )
        .await
        .unwrap();

        // Unknown tag, unknown repository: typed NotFound with the registry's code.
        let err = reg.get_manifest("src/app", "nope").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.code(), Some(&ErrorCode::ManifestUnknown), "{err}");
        let err = reg.get_manifest("no/such", "v1").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            matches!(
                err.code(),
                Some(ErrorCode::NameUnknown | ErrorCode::ManifestUnknown)
            ),
            "{err}"
        );

        // A manifest whose blob is gone: the fetch fails with BLOB_UNKNOWN.
        let url = format!("http://{}/v2/src/app/blobs/{}", server.host(), layer.digest);
        let resp = reqwest::Client::new().delete(&url).send().await.unwrap();
        assert_eq!(resp.status(), 202, "blob delete");
        let m = reg.get_manifest("src/app", "v1").await.unwrap();
        assert!(String::from_utf8_lossy(&m.bytes).contains(layer.digest.as_str()));
        let err = reg
            .fetch_blob(
                "src/app",
                &layer.digest,
                None,
                Digester::new(),
                &mut Vec::new(),
                |_| {},
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(err.code(), Some(&ErrorCode::BlobUnknown), "{err}");
        assert!(err.to_string().contains(layer.digest.as_str()), "{err}");

        // Pushing a manifest whose blob was never pushed is refused, typed.
        let other = make_layer(tmp.path(), "never-pushed", 1000, 9);
        let bad = docker_manifest(&config, &[&other]);
        let err = reg
            .put_manifest(
                "dst/app",
                "bad",
                Bytes::from(bad),
                media_type::DOCKER_MANIFEST,
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(&ErrorCode::ManifestBlobUnknown), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);

        // A digest that does not match the uploaded content is refused before commit.
        let mut src = &b"some bytes"[..];
        let err = reg
            .upload_blob("dst/app", &Digest::of(b"other bytes"), 10, &mut src)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(
            reg.blob_exists("dst/app", &Digest::of(b"some bytes"))
                .await
                .unwrap(),
            None
        );
    });
}

#[test]
fn docker_hub_mirrors_are_tried_in_order() {
    isolated(async {
        // Two mirrors holding different images under the same name: which one answers
        // shows the order. Docker Hub itself is unreachable from the test's namespace.
        let first = common::start_registry(Auth::None, false);
        let second = common::start_registry(Auth::None, false);
        let tmp = tempfile::tempdir().unwrap();
        let on_first = Registry::new(&first.host(), None, &options()).unwrap();
        let (_, _, manifest_first) =
            push_image(&on_first, "library/busybox", "1.36", tmp.path()).await;
        let on_second = Registry::new(&second.host(), None, &options()).unwrap();
        let manifest_second =
            push_other_image(&on_second, "library/busybox", "1.36", tmp.path()).await;
        assert_ne!(manifest_first, manifest_second);

        let hub_with = |mirrors: &[String]| {
            let mut opts = options();
            opts.mirrors = mirrors.to_vec();
            Registry::new("docker.io", None, &opts).unwrap()
        };
        let (dead, a, b) = (
            format!("http://127.0.0.1:{DEAD_PORT}"),
            format!("http://{}", first.host()),
            format!("http://{}", second.host()),
        );
        // A mirror that is down is passed over; the first one that answers wins.
        for (mirrors, want) in [
            (vec![dead.clone(), a.clone(), b.clone()], &manifest_first),
            (vec![dead.clone(), b.clone(), a.clone()], &manifest_second),
            (vec![a.clone(), b.clone()], &manifest_first),
        ] {
            let got = hub_with(&mirrors)
                .get_manifest("busybox", "1.36")
                .await
                .unwrap();
            assert_eq!(Digest::of(&got.bytes), Digest::of(want), "{mirrors:?}");
        }
        // All mirrors down: the pull fails (it cannot reach Docker Hub either).
        assert!(hub_with(&[dead])
            .get_manifest("busybox", "1.36")
            .await
            .is_err());
    });
}

/// Pushes an image other than [`push_image`]'s (another layer) as `repo:tag`; returns its
/// manifest.
async fn push_other_image(reg: &Registry, repo: &str, tag: &str, tmp: &std::path::Path) -> Vec<u8> {
    let layer = make_layer(tmp, "other-layer", 1000, 99);
    let config = image_config(&[&layer]);
    let manifest = docker_manifest(&config, &[&layer]);
    for (digest, data) in [
        (Digest::of(&config), &config[..]),
        (layer.digest.clone(), &layer.gz[..]),
    ] {
        let mut src = data;
        reg.upload_blob(repo, &digest, data.len() as u64, &mut src)
            .await
            .unwrap();
    }
    reg.put_manifest(
        repo,
        tag,
        Bytes::from(manifest.clone()),
        media_type::DOCKER_MANIFEST,
    )
    .await
    .unwrap();
    manifest
}

#[test]
fn relative_upload_locations_are_followed() {
    isolated(async {
        let server = common::start_registry(Auth::None, true);
        // Check the registry really answers a relative Location.
        let start = reqwest::Client::new()
            .post(format!(
                "http://{}/v2/rel/app/blobs/uploads/",
                server.host()
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 202);
        let loc = start.headers()["location"].to_str().unwrap().to_owned();
        assert!(loc.starts_with("/v2/rel/app/blobs/uploads/"), "{loc}");
        let tmp = tempfile::tempdir().unwrap();
        let reg = Registry::new(&server.host(), None, &options()).unwrap();
        let (layer, _, manifest) = push_image(&reg, "rel/app", "v1", tmp.path()).await;
        assert_eq!(
            &reg.get_manifest("rel/app", "v1").await.unwrap().bytes[..],
            &manifest[..]
        );
        let mut sink = Vec::new();
        reg.fetch_blob(
            "rel/app",
            &layer.digest,
            None,
            Digester::new(),
            &mut sink,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!(sink, layer.gz);
    });
}
