//! Conformance with docker itself: an image built by a private dockerd
//! (layers made by docker's own overlay2 differ: whiteouts, an opaque
//! directory, a setuid copy-up), read from `docker save` and applied by
//! berth with both drivers, must give the tree `docker export` writes for a
//! container of that image (less the files docker adds to every container).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use berth_snapshot::{Driver, Snapshotter, UnpackOptions};
use berth_testutil::Dockerd;
use common::{listing, mount, sha256};

const DOCKERFILE: &str = r#"FROM berth-snapshot-base
RUN rm /bin/ls && mkdir -p /data/sub && echo one > /data/sub/f && ln -s sub/f /data/link && mkdir /data/keep && echo k > /data/keep/k
RUN rm -rf /data/sub && mkdir /data/sub && echo two > /data/sub/g && chmod 4755 /bin/busybox && rm /data/link
"#;

fn untar(tar: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    let status = Command::new("tar")
        .args(["--numeric-owner", "-xpf"])
        .arg(tar)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(status.success());
}

/// What docker adds to every container's root, not part of the image.
fn without_container_files(mut m: BTreeMap<String, String>) -> BTreeMap<String, String> {
    m.retain(|k, _| {
        let top = k.split('/').next().unwrap_or("");
        !matches!(top, ".dockerenv" | "dev" | "proc" | "sys")
            && !matches!(
                k.as_str(),
                "etc/hosts" | "etc/hostname" | "etc/resolv.conf" | "etc/mtab"
            )
    });
    m
}

#[test]
fn docker_built_image_gives_the_tree_docker_exports() {
    assert!(
        Dockerd::available(),
        "dockerd, docker and unshare are needed (scripts/install-deps.sh)"
    );
    let dockerd = Dockerd::start(&[]).unwrap_or_else(|e| panic!("start dockerd: {e}"));
    dockerd.import_busybox("berth-snapshot-base");
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let ctx = w.join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), DOCKERFILE).unwrap();
    let ctx_s = ctx.display().to_string();
    let out = dockerd
        .docker_command(&[
            "build",
            "--network",
            "none",
            "-q",
            "-t",
            "berth-snapshot-img",
            &ctx_s,
        ])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dockerd.log_tail()
    );
    let saved = w.join("img.tar");
    dockerd
        .docker(&[
            "save",
            "-o",
            &saved.display().to_string(),
            "berth-snapshot-img",
        ])
        .assert_success();
    dockerd
        .docker(&["create", "--name", "berth-snapshot-c", "berth-snapshot-img"])
        .assert_success();
    let exported = w.join("export.tar");
    dockerd
        .docker(&[
            "export",
            "-o",
            &exported.display().to_string(),
            "berth-snapshot-c",
        ])
        .assert_success();
    untar(&exported, &w.join("reference"));
    let want = without_container_files(listing(&w.join("reference")));
    assert!(want.contains_key("data/sub/g") && !want.contains_key("data/sub/f"));
    assert!(!want.contains_key("bin/ls"));

    // `docker save`: manifest.json names the config and the layer tars.
    let img = w.join("img");
    untar(&saved, &img);
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(img.join("manifest.json")).unwrap()).unwrap();
    let config: serde_json::Value = serde_json::from_slice(
        &fs::read(img.join(manifest[0]["Config"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    let layers = manifest[0]["Layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "base plus two RUN layers");

    for driver in [Driver::Overlay, Driver::Vfs] {
        let store = Snapshotter::open(&w.join(format!("store-{driver:?}")), Some(driver)).unwrap();
        let mut parent: Option<String> = None;
        for (layer, diff_id) in layers.iter().zip(diff_ids) {
            let diff_id = diff_id.as_str().unwrap();
            let chain = match &parent {
                None => diff_id.to_string(),
                Some(p) => sha256(format!("{p} {diff_id}").as_bytes()),
            };
            let mut opts = UnpackOptions::new(layer.as_str().unwrap());
            opts.expected_diff_id = Some(diff_id.to_string());
            let blob = fs::File::open(img.join(layer.as_str().unwrap())).unwrap();
            store
                .apply_layer(&chain, parent.as_deref(), blob, &opts)
                .unwrap();
            parent = Some(chain);
        }
        let m = w.join(format!("merged-{driver:?}"));
        let _g = mount(&store.prepare("ctr", parent.as_deref()).unwrap(), &m);
        assert_eq!(without_container_files(listing(&m)), want, "{driver:?}");
    }
}
