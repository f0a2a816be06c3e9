//! Garbage collection of blobs: mark from every root, sweep the rest.
//!
//! Roots are what the metadata keeps alive ([`Metadata::gc_roots`]: ref
//! targets, image manifests, configs and layers, leased content) plus what
//! the caller passes (layers of running containers, say). Marking follows
//! manifests to their config and layers and indexes to their entries;
//! entries that are not in the store (other platforms of an index) are
//! fine. A root without a known media type is sniffed: a small blob that
//! parses as a manifest or index is followed, anything else is a leaf.
//! A blob declared a manifest that does not parse stops the collection
//! before anything is removed: better keep garbage than lose an image.
//!
//! The whole run holds the content store's exclusive lock (no commit lands
//! between mark and sweep) and the metadata database (no lease or image is
//! added meanwhile). The protocol for a pull is therefore: create a lease,
//! add each digest to it *before* checking whether the blob exists or
//! committing it, register the image, delete the lease. Whatever a
//! collection removes, a later `exists` sees as gone. A lease whose owner
//! died before deleting it is ended by the next [`crate::ImageStore::recover`],
//! which then collects.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, SystemTime};

use crate::content::{ContentStore, Info};
use crate::digest::Digest;
use crate::error::{ContentError, Error};
use crate::manifest::{is_manifest_or_index, Manifest};
use crate::metadata::Metadata;

/// Manifests and indexes larger than this are not followed (containerd's
/// limit for manifests is 4 MiB too).
const MAX_MANIFEST: u64 = 4 << 20;

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct GcOptions {
    /// Extra digests to keep (and follow, if they are manifests).
    pub roots: HashSet<Digest>,
    /// Also discard ingests not written to for this long (no live writer).
    pub stale_ingests: Option<Duration>,
}

/// What a collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs removed.
    pub removed: Vec<Info>,
    pub bytes_freed: u64,
    /// Blobs kept.
    pub kept: usize,
    /// References of the ingests discarded.
    pub ingests_removed: Vec<String>,
}

/// Marks from the metadata's roots and `options.roots`, removes every
/// other blob.
pub fn collect(
    content: &ContentStore,
    metadata: &Metadata,
    options: &GcOptions,
) -> Result<GcReport, Error> {
    let _exclusive = content.exclusive();
    // The database stays locked from reading the roots to the end of the
    // sweep: a lease taken meanwhile waits, and then sees what was removed.
    let mut report = metadata.with_roots(|mut roots| {
        roots.extend(options.roots.iter().cloned());
        sweep(content, &mark(content, roots)?)
    })??;
    if let Some(age) = options.stale_ingests {
        let now = SystemTime::now();
        for ingest in content.ingests()? {
            let old = ingest
                .updated
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|d| d >= age);
            // A live writer keeps its ingest (abort refuses it).
            if old && content.abort(&ingest.reference).is_ok() {
                report.ingests_removed.push(ingest.reference);
            }
        }
    }
    Ok(report)
}

fn sweep(content: &ContentStore, marked: &HashSet<Digest>) -> Result<GcReport, Error> {
    let mut report = GcReport::default();
    for info in content.list()? {
        if marked.contains(&info.digest) {
            report.kept += 1;
            continue;
        }
        match content.delete(&info.digest) {
            Ok(()) | Err(ContentError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        report.bytes_freed += info.size;
        report.removed.push(info);
    }
    Ok(report)
}

/// Every digest reachable from `roots` (including roots not in the store).
pub fn mark(content: &ContentStore, roots: HashSet<Digest>) -> Result<HashSet<Digest>, Error> {
    let mut marked = HashSet::new();
    let mut queue: VecDeque<(Digest, Option<String>)> =
        roots.into_iter().map(|d| (d, None)).collect();
    while let Some((digest, media_type)) = queue.pop_front() {
        if !marked.insert(digest.clone()) {
            continue;
        }
        let declared = media_type.as_deref();
        if declared.is_some_and(|m| !is_manifest_or_index(m)) {
            continue;
        }
        let size = match content.info(&digest) {
            Ok(info) => info.size,
            Err(ContentError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if size > MAX_MANIFEST {
            if declared.is_some() {
                return Err(ContentError::TooLarge {
                    digest,
                    size,
                    limit: MAX_MANIFEST,
                }
                .into());
            }
            continue;
        }
        let data = content.read_blob(&digest, MAX_MANIFEST)?;
        match Manifest::parse(declared, &data, digest.as_str()) {
            Ok(m) => {
                for child in m.children() {
                    queue.push_back((child.digest.clone(), Some(child.media_type.clone())));
                }
            }
            Err(e) if declared.is_some() => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::media_types as mt;
    use crate::metadata::{ImageRecord, LayerRecord};
    use crate::reference::Reference;

    struct Fixture {
        _dir: tempfile::TempDir,
        content: ContentStore,
        meta: Metadata,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path().join("content")).unwrap();
        let meta = Metadata::open(dir.path().join("metadata.db")).unwrap();
        Fixture {
            _dir: dir,
            content,
            meta,
        }
    }

    fn put(f: &Fixture, data: &[u8]) -> Digest {
        f.content.write_blob(data, None).unwrap().digest
    }

    /// An image of two layers in an index that also names a missing arm64
    /// manifest; returns (index, manifest, config, layers).
    fn image(f: &Fixture, tag: &str) -> (Digest, Digest, Digest, Vec<Digest>) {
        let layers = vec![
            put(f, format!("{tag} layer 1").as_bytes()),
            put(f, format!("{tag} layer 2").as_bytes()),
        ];
        let config = put(
            f,
            format!(r#"{{"rootfs":{{"type":"layers","diff_ids":[]}},"tag":"{tag}"}}"#).as_bytes(),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": config, "size": 1},
            "layers": layers.iter().map(|d| serde_json::json!({"mediaType": mt::OCI_LAYER_GZIP, "digest": d, "size": 1})).collect::<Vec<_>>(),
        });
        let manifest = put(f, manifest.to_string().as_bytes());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": mt::OCI_MANIFEST, "digest": manifest, "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
                {"mediaType": mt::OCI_MANIFEST, "digest": Digest::of(tag.as_bytes()), "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
            ]
        });
        let index = put(f, index.to_string().as_bytes());
        (index, manifest, config, layers)
    }

    #[test]
    fn keeps_what_is_referenced_and_frees_the_rest() {
        let f = fixture();
        let (index, manifest, config, layers) = image(&f, "a");
        let (index_b, _, config_b, layers_b) = image(&f, "b");
        let junk = put(&f, b"unreferenced");

        // Tag only the index of "a": the walk finds manifest, config, layers.
        let rec = ImageRecord {
            id: config.clone(),
            manifest: manifest.clone(),
            media_type: mt::OCI_MANIFEST.into(),
            created: None,
            size: 2,
            added: 0,
            layers: vec![],
        };
        let rec = f.meta.put_image(&rec).unwrap();
        let name = Reference::parse_docker_ref("a").unwrap();
        f.meta
            .set_ref(&name, &rec.id, &index, mt::OCI_INDEX)
            .unwrap();
        // "b" is kept by a caller's root (its index): everything under it too.
        let opts = GcOptions {
            roots: [index_b.clone()].into(),
            stale_ingests: None,
        };
        let report = collect(&f.content, &f.meta, &opts).unwrap();
        assert_eq!(
            report
                .removed
                .iter()
                .map(|i| i.digest.clone())
                .collect::<Vec<_>>(),
            vec![junk.clone()]
        );
        assert_eq!(report.bytes_freed, 12);
        assert_eq!(report.kept, 10);
        for d in [&index, &manifest, &config, &index_b, &config_b]
            .into_iter()
            .chain(&layers)
            .chain(&layers_b)
        {
            assert!(f.content.exists(d), "{d} kept");
        }

        // Without the caller's root, b goes.
        let report = collect(&f.content, &f.meta, &GcOptions::default()).unwrap();
        assert_eq!(report.removed.len(), 5);
        assert!(!f.content.exists(&index_b) && !f.content.exists(&config_b));
        assert!(f.content.exists(&layers[0]));

        // Untagged and deleted, "a" goes as well, and the store is empty and sound.
        f.meta.delete_image(&rec.id).unwrap();
        let report = collect(&f.content, &f.meta, &GcOptions::default()).unwrap();
        assert_eq!(report.removed.len(), 5);
        assert!(f.content.list().unwrap().is_empty());
        assert!(f.content.fsck().unwrap().is_clean());
    }

    #[test]
    fn image_records_and_leases_are_roots() {
        let f = fixture();
        let layer = put(&f, b"layer");
        let config = put(&f, b"{}");
        let manifest = put(&f, b"not parsed: the image record names everything");
        let rec = ImageRecord {
            id: config.clone(),
            manifest: manifest.clone(),
            media_type: mt::OCI_MANIFEST.into(),
            created: None,
            size: 0,
            added: 0,
            layers: vec![LayerRecord {
                diff_id: Digest::of(b"diff"),
                blob: layer.clone(),
                media_type: mt::OCI_LAYER.into(),
                size: 5,
            }],
        };
        f.meta.put_image(&rec).unwrap();
        f.meta.create_lease("pull").unwrap();
        let pending = Digest::of(b"pending");
        f.meta.lease_add("pull", &pending).unwrap();
        put(&f, b"pending");
        let report = collect(&f.content, &f.meta, &GcOptions::default()).unwrap();
        assert!(report.removed.is_empty(), "{report:?}");
        f.meta.delete_lease("pull").unwrap();
        let report = collect(&f.content, &f.meta, &GcOptions::default()).unwrap();
        assert_eq!(report.removed.len(), 1);
        assert_eq!(report.removed[0].digest, pending);
    }

    #[test]
    fn a_broken_manifest_stops_the_sweep() {
        let f = fixture();
        let bad = put(&f, b"{\"schemaVersion\": 2, \"manifests\": 5}");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": mt::OCI_INDEX, "digest": bad, "size": 1}]});
        let index = put(&f, index.to_string().as_bytes());
        let junk = put(&f, b"junk");
        let opts = GcOptions {
            roots: [index].into(),
            stale_ingests: None,
        };
        let e = collect(&f.content, &f.meta, &opts).expect_err("a broken manifest");
        assert!(
            e.to_string().contains(bad.as_str()),
            "names the manifest: {e}"
        );
        assert!(f.content.exists(&junk), "nothing removed");
    }

    #[test]
    fn stale_ingests() {
        let f = fixture();
        drop(f.content.writer("abandoned").unwrap());
        let live = f.content.writer("live").unwrap();
        let opts = GcOptions {
            roots: HashSet::new(),
            stale_ingests: Some(Duration::ZERO),
        };
        let report = collect(&f.content, &f.meta, &opts).unwrap();
        assert_eq!(report.ingests_removed, vec!["abandoned".to_owned()]);
        drop(live);
        assert_eq!(f.content.ingests().unwrap().len(), 1);
        let keep = GcOptions {
            roots: HashSet::new(),
            stale_ingests: Some(Duration::from_secs(3600)),
        };
        assert!(collect(&f.content, &f.meta, &keep)
            .unwrap()
            .ingests_removed
            .is_empty());
    }
}
