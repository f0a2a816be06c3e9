//! The store against real images: an OCI layout built by umoci from
//! busybox-static's /bin/busybox, copied by skopeo to `dir:` form as OCI
//! and as Docker schema 2. Needs umoci, skopeo and busybox-static (no root,
//! no network).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_image::manifest::media_types as mt;
use berth_image::{
    ContentError, Digest, ErrorKind, FsckProblem, GcOptions, ImageConfig, ImageStore, Manifest,
    Platform, Reference,
};

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An image built as a user would: umoci layout, busybox inside, `CMD sh`.
struct Built {
    _dir: tempfile::TempDir,
    /// The umoci OCI layout (with umoci's leftover blobs from earlier steps).
    layout: PathBuf,
    /// `skopeo copy oci:... dir:...` (OCI manifest).
    oci_dir: PathBuf,
    /// `skopeo copy --format v2s2 ...` (Docker schema 2 manifest).
    docker_dir: PathBuf,
}

fn build() -> Built {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let u = berth_testutil::Umoci::init(&layout).unwrap();
    u.layer(
        &dir.path().join("bundle"),
        None,
        berth_testutil::add_busybox,
    )
    .unwrap();
    u.config(&[
        "--config.cmd",
        "sh",
        "--architecture",
        "amd64",
        "--os",
        "linux",
    ])
    .unwrap();
    let image = u.image().to_owned();
    let oci_dir = dir.path().join("oci-dir");
    let docker_dir = dir.path().join("docker-dir");
    let src = format!("oci:{image}");
    run(Command::new("skopeo")
        .args(["copy", "-q", &src])
        .arg(format!("dir:{}", oci_dir.display())));
    run(Command::new("skopeo")
        .args(["copy", "-q", "--format", "v2s2", &src])
        .arg(format!("dir:{}", docker_dir.display())));
    Built {
        _dir: dir,
        layout,
        oci_dir,
        docker_dir,
    }
}

/// Copies a blob file into the store as a download would: in chunks, cut
/// once halfway and resumed from the ingest's offset.
fn ingest(store: &ImageStore, path: &Path, digest: &Digest) {
    let data = fs::read(path).unwrap();
    let reference = format!("test-{digest}");
    let half = data.len() / 2;
    {
        let mut w = store.content().writer(&reference).unwrap();
        w.write_all(&data[..half]).unwrap();
    }
    let mut w = store.content().writer(&reference).unwrap();
    let off = usize::try_from(w.offset()).unwrap();
    assert_eq!(off, half);
    for chunk in data[off..].chunks(32 * 1024) {
        w.write_all(chunk).unwrap();
    }
    let c = w.commit(digest, data.len() as u64).unwrap();
    assert_eq!(&c.digest, digest);
}

fn blob_files(dir: &Path) -> Vec<(Digest, PathBuf)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if let Ok(d) = Digest::from_hex(e.file_name().to_str().unwrap()) {
            out.push((d, e.path()));
        }
    }
    out.sort();
    out
}

/// sha256 of the gunzipped layer, computed by the real gzip.
fn diff_id_by_gzip(layer: &Path) -> Digest {
    let mut child = Command::new("gzip")
        .arg("-dc")
        .arg(layer)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (d, _) = Digest::of_reader(child.stdout.take().unwrap()).unwrap();
    assert!(child.wait().unwrap().success());
    d
}

#[test]
fn oci_layout_pull_register_gc() {
    let built = build();
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("image")).unwrap();

    // Every blob of the layout, including umoci's leftovers, verified on commit.
    let blobs = blob_files(&built.layout.join("blobs/sha256"));
    for (d, p) in &blobs {
        ingest(&store, p, d);
    }
    let index_json = fs::read(built.layout.join("index.json")).unwrap();
    let index = store
        .content()
        .write_blob(&index_json, None)
        .unwrap()
        .digest;

    let parsed = Manifest::parse(None, &index_json, "index.json").unwrap();
    assert_eq!(parsed.media_type(), mt::OCI_INDEX);

    let name = Reference::parse_docker_ref("localhost:5000/busybox").unwrap();
    let host = Platform::host().matcher();
    let rec = store.register(&name, &index, mt::OCI_INDEX, &host).unwrap();

    let resolved = store.resolve(&index, None, &host).unwrap();
    assert_eq!(resolved.manifest_media_type, mt::OCI_MANIFEST);
    assert_eq!(rec.id, resolved.config_digest);
    assert_eq!(rec.manifest, resolved.manifest_digest);
    assert_eq!(resolved.config.platform().to_string(), "linux/amd64");
    let cmd = resolved.config.config.as_ref().and_then(|c| c.cmd.clone());
    assert_eq!(cmd, Some(vec!["sh".to_owned()]));
    assert_eq!(rec.layers.len(), 1);
    let layer_path = store.content().blob_path(&rec.layers[0].blob);
    assert_eq!(
        rec.layers[0].diff_id,
        diff_id_by_gzip(&layer_path),
        "diff_id matches gzip's"
    );
    assert_eq!(rec.layers[0].size, fs::metadata(&layer_path).unwrap().len());
    let tag = store.metadata().get_ref(&name).unwrap().unwrap();
    assert_eq!(tag.reference.familiar(), "localhost:5000/busybox:latest");
    assert_eq!(tag.target, index);

    let check = store.check().unwrap();
    assert!(check.is_clean(), "{check:?}");
    assert_eq!(check.content.blobs, blobs.len() as u64 + 1);

    // GC frees exactly umoci's leftovers: what index.json does not reach.
    let reachable: HashSet<Digest> = [
        index.clone(),
        rec.manifest.clone(),
        rec.id.clone(),
        rec.layers[0].blob.clone(),
    ]
    .into();
    let leftovers: HashSet<Digest> = blobs
        .iter()
        .map(|(d, _)| d.clone())
        .filter(|d| !reachable.contains(d))
        .collect();
    assert!(
        !leftovers.is_empty(),
        "umoci leaves earlier manifests and configs"
    );
    let report = store.gc(&GcOptions::default()).unwrap();
    let removed: HashSet<Digest> = report.removed.iter().map(|i| i.digest.clone()).collect();
    assert_eq!(removed, leftovers);
    assert_eq!(report.kept, 4);
    assert!(store.check().unwrap().is_clean());

    // A container still using the layer keeps it after the image is gone.
    store.metadata().remove_ref(&name).unwrap();
    assert_eq!(
        store.metadata().dangling_images().unwrap(),
        vec![rec.id.clone()]
    );
    store.metadata().delete_image(&rec.id).unwrap();
    let opts = GcOptions {
        roots: [rec.layers[0].blob.clone()].into(),
        stale_ingests: None,
    };
    let report = store.gc(&opts).unwrap();
    assert_eq!(report.removed.len(), 3);
    assert!(store.content().exists(&rec.layers[0].blob));
    let report = store.gc(&GcOptions::default()).unwrap();
    assert_eq!(report.removed.len(), 1);
    assert!(store.content().list().unwrap().is_empty());
}

#[test]
fn docker_schema2_and_manifest_lists() {
    let built = build();
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("image")).unwrap();
    for (d, p) in blob_files(&built.docker_dir) {
        ingest(&store, &p, &d);
    }
    let manifest_json = fs::read(built.docker_dir.join("manifest.json")).unwrap();
    let m = Manifest::parse(None, &manifest_json, "manifest.json").unwrap();
    assert_eq!(m.media_type(), mt::DOCKER_MANIFEST);
    let Manifest::Image { manifest, .. } = &m else {
        panic!("{m:?}")
    };
    assert_eq!(manifest.config.media_type, mt::DOCKER_CONFIG);
    assert_eq!(manifest.layers[0].media_type, mt::DOCKER_LAYER_GZIP);
    let manifest_digest = store
        .content()
        .write_blob(&manifest_json, None)
        .unwrap()
        .digest;

    // The same config as the OCI copy: the image id does not depend on the format.
    let oci_manifest = fs::read(built.oci_dir.join("manifest.json")).unwrap();
    let Manifest::Image { manifest: oci, .. } =
        Manifest::parse(Some(mt::OCI_MANIFEST), &oci_manifest, "oci").unwrap()
    else {
        panic!()
    };
    assert_eq!(oci.config.digest, manifest.config.digest);
    let config = ImageConfig::parse(
        &store
            .content()
            .read_blob(&manifest.config.digest, 1 << 20)
            .unwrap(),
        "config",
    )
    .unwrap();
    assert_eq!(config.rootfs.diff_ids.len(), 1);

    // A digest reference straight to the manifest.
    let by_digest = Reference::parse_normalized("localhost:5000/busybox")
        .unwrap()
        .with_digest(manifest_digest.clone());
    let host = Platform::host().matcher();
    let rec = store
        .register(&by_digest, &manifest_digest, mt::DOCKER_MANIFEST, &host)
        .unwrap();
    assert_eq!(rec.id, manifest.config.digest);
    assert_eq!(rec.media_type, mt::DOCKER_MANIFEST);

    // A manifest list with an arm64 entry (not pulled) before the real amd64 one.
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": mt::DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": mt::DOCKER_MANIFEST, "digest": Digest::of(b"arm64 manifest"), "size": 1,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": mt::DOCKER_MANIFEST, "digest": manifest_digest, "size": manifest_json.len(),
             "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    })
    .to_string();
    let list_digest = store
        .content()
        .write_blob(list.as_bytes(), None)
        .unwrap()
        .digest;
    let resolved = store
        .resolve(&list_digest, Some(mt::DOCKER_MANIFEST_LIST), &host)
        .unwrap();
    assert_eq!(resolved.manifest_digest, manifest_digest);
    let arm64 = Platform::parse("linux/arm64").unwrap().matcher();
    let e = store
        .resolve(&list_digest, Some(mt::DOCKER_MANIFEST_LIST), &arm64)
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::NotFound,
        "arm64 is chosen but not in the store: {e}"
    );
    let s390x = Platform::parse("linux/s390x").unwrap().matcher();
    let e = store.resolve(&list_digest, None, &s390x).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no matching manifest for linux/s390x in the manifest list entries"
    );
    let tag = Reference::parse_docker_ref("localhost:5000/busybox:multi").unwrap();
    let rec2 = store
        .register(&tag, &list_digest, mt::DOCKER_MANIFEST_LIST, &host)
        .unwrap();
    assert_eq!(rec2.id, rec.id, "one image, two names");
    assert_eq!(store.metadata().refs_of(&rec.id).unwrap().len(), 2);
    let report = store.gc(&GcOptions::default()).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
}

#[test]
fn real_layer_damage_is_caught() {
    let built = build();
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("image")).unwrap();
    let (layer, path) = blob_files(&built.oci_dir)
        .into_iter()
        .max_by_key(|(_, p)| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = Vec::new();
    fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    let size = data.len() as u64;

    // Truncated download: refused, resumable.
    let mut w = store.content().writer("layer").unwrap();
    w.write_all(&data[..data.len() - 100]).unwrap();
    let e = w.commit(&layer, size).unwrap_err();
    assert!(matches!(e, ContentError::SizeMismatch { .. }), "{e}");
    assert!(!store.content().exists(&layer));
    assert_eq!(
        store.content().ingest_status("layer").unwrap().offset,
        size - 100
    );
    store.content().abort("layer").unwrap();

    // A flipped byte: refused, nothing kept.
    let mut bad = data.clone();
    bad[1000] ^= 0xff;
    let mut w = store.content().writer("layer").unwrap();
    w.write_all(&bad).unwrap();
    let e = w.commit(&layer, size).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(!store.content().exists(&layer));
    assert!(store.content().ingests().unwrap().is_empty());

    // Committed correctly, then damaged on disk: fsck finds it.
    store.content().write_blob(&data, Some(&layer)).unwrap();
    assert!(store.check().unwrap().is_clean());
    let blob = store.content().blob_path(&layer);
    let mut perms = fs::metadata(&blob).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o644);
    fs::set_permissions(&blob, perms).unwrap();
    fs::write(&blob, &bad).unwrap();
    let report = store.check().unwrap();
    assert_eq!(report.content.problems.len(), 1);
    assert!(
        matches!(&report.content.problems[0], FsckProblem::Corrupt { digest, .. } if *digest == layer),
        "{report:?}"
    );
}
