//! Conformance with a real peer: an OCI image built by umoci (whose layers
//! carry umoci's whiteouts), applied by berth with both drivers, must give
//! exactly the root filesystem umoci itself unpacks.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use berth_snapshot::{Compression, Driver, Snapshotter, UnpackOptions};
use common::{listing, mount, sha256};

fn umoci(dir: &Path, args: &[&str]) {
    let out = Command::new("umoci")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn umoci_image_gives_the_rootfs_umoci_unpacks() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    umoci(d, &["init", "--layout", "img"]);
    umoci(d, &["new", "--image", "img:t"]);
    // Layer 1: busybox and some files.
    umoci(d, &["unpack", "--image", "img:t", "b1"]);
    let r = d.join("b1/rootfs");
    for sub in ["bin", "etc/sub", "data", "keep"] {
        fs::create_dir_all(r.join(sub)).unwrap();
    }
    fs::copy("/usr/bin/busybox", r.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", r.join("bin/sh")).unwrap();
    fs::write(r.join("etc/sub/a"), b"hi").unwrap();
    fs::write(r.join("etc/gone"), b"x").unwrap();
    fs::write(r.join("data/old"), b"d").unwrap();
    fs::write(r.join("keep/k"), b"k").unwrap();
    umoci(d, &["repack", "--image", "img:t", "b1"]);
    // Layer 2: deletions (whiteouts), a replaced directory, a new file.
    umoci(d, &["unpack", "--image", "img:t", "b2"]);
    let r = d.join("b2/rootfs");
    fs::remove_file(r.join("etc/gone")).unwrap();
    fs::remove_dir_all(r.join("data")).unwrap();
    fs::create_dir(r.join("data")).unwrap();
    fs::write(r.join("data/new"), b"new").unwrap();
    fs::write(r.join("etc/sub/a"), b"changed").unwrap();
    umoci(d, &["repack", "--image", "img:t", "b2"]);
    umoci(d, &["unpack", "--image", "img:t", "reference"]);
    let want = listing(&d.join("reference/rootfs"));
    assert!(want.contains_key("data/new") && !want.contains_key("etc/gone"));

    // The image as a registry client would see it.
    let blobs = d.join("img/blobs/sha256");
    let blob = |digest: &str| blobs.join(digest.trim_start_matches("sha256:"));
    let index = json(&d.join("img/index.json"));
    let manifest = json(&blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let config = json(&blob(manifest["config"]["digest"].as_str().unwrap()));
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len());

    for driver in [Driver::Overlay, Driver::Vfs] {
        let store = Snapshotter::open(&d.join(format!("store-{driver:?}")), Some(driver)).unwrap();
        let mut parent: Option<String> = None;
        for (layer, diff_id) in layers.iter().zip(&diff_ids) {
            let chain = match &parent {
                None => diff_id.clone(),
                Some(p) => sha256(format!("{p} {diff_id}").as_bytes()),
            };
            let digest = layer["digest"].as_str().unwrap();
            let mut opts = UnpackOptions::new(digest);
            opts.compression = Compression::from_media_type(layer["mediaType"].as_str().unwrap());
            opts.expected_diff_id = Some(diff_id.clone());
            let file = fs::File::open(blob(digest)).unwrap();
            store
                .apply_layer(&chain, parent.as_deref(), file, &opts)
                .unwrap();
            parent = Some(chain);
        }
        let mounts = store.prepare("ctr", parent.as_deref()).unwrap();
        let m = d.join(format!("merged-{driver:?}"));
        let _g = mount(&mounts, &m);
        assert_eq!(listing(&m), want, "{driver:?}");
    }
}
