//! [`ImageStore`]: the content store and the metadata database under one
//! root, and the operations that need both: resolving a stored target to
//! the image for a platform, registering an image under a name, garbage
//! collection and a whole-store check.

use std::path::{Path, PathBuf};

use crate::config::ImageConfig;
use crate::content::{ContentStore, FsckReport};
use crate::digest::Digest;
use crate::error::{ContentError, Error, ManifestError, MetadataError};
use crate::gc::{self, GcOptions, GcReport};
use crate::manifest::{ImageManifest, Manifest};
use crate::metadata::{ImageRecord, LayerRecord, Metadata};
use crate::platform::Matcher;
use crate::reference::Reference;
use berth_oci::PlatformError;

/// The largest manifest, index or config read into memory.
pub const MAX_DOCUMENT: u64 = 4 << 20;

/// Indexes nested deeper than this are refused (a loop of indexes cannot be
/// built from digests, but a very deep chain can).
const MAX_DEPTH: usize = 8;

/// Content and metadata of images under one directory:
/// `ROOT/content/` (see [`ContentStore`]) and `ROOT/metadata.db`.
#[derive(Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
    metadata: Metadata,
}

/// A single-platform image found from a target digest.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedImage {
    /// The platform manifest.
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest: ImageManifest,
    /// The config digest: the image id.
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl ResolvedImage {
    /// Checks that the image's config is for a platform `platform` runs
    /// (an image pushed without an index can be for anything); `reference`
    /// names the image in the error, as docker's message does.
    pub fn ensure_platform(
        &self,
        reference: &str,
        platform: &Matcher,
    ) -> Result<(), PlatformError> {
        let actual = self.config.platform();
        if platform.matches(&actual) {
            Ok(())
        } else {
            Err(PlatformError::Mismatch {
                reference: reference.into(),
                wanted: platform.wanted().to_string(),
                actual: actual.to_string(),
            })
        }
    }

    /// The metadata row for this image: layers paired with the config's
    /// diff ids; size is the layer blobs plus the config.
    pub fn record(&self) -> Result<ImageRecord, ManifestError> {
        let diff_ids = &self.config.rootfs.diff_ids;
        if diff_ids.len() != self.manifest.layers.len() {
            return Err(ManifestError::LayerCount {
                what: self.manifest_digest.to_string(),
                layers: self.manifest.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let layers: Vec<LayerRecord> = self
            .manifest
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(l, diff_id)| LayerRecord {
                diff_id: diff_id.clone(),
                blob: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
            })
            .collect();
        Ok(ImageRecord {
            id: self.config_digest.clone(),
            manifest: self.manifest_digest.clone(),
            media_type: self.manifest_media_type.clone(),
            created: self.config.created.clone(),
            size: layers.iter().map(|l| l.size).sum::<u64>() + self.manifest.config.size,
            added: 0,
            layers,
        })
    }
}

/// What [`ImageStore::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub content: FsckReport,
    /// Blobs the metadata needs that are not in the content store, with
    /// what needs them.
    pub missing: Vec<(Digest, String)>,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.content.is_clean() && self.missing.is_empty()
    }
}

/// What [`ImageStore::recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The leases of processes that are gone, ended.
    pub leases_expired: Vec<String>,
    /// Ingests discarded: those the expired leases wrote, and `write_blob`'s of other
    /// processes.
    pub ingests_removed: Vec<String>,
    /// The collection run because leases were ended; `None` when none was.
    pub gc: Option<GcReport>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        let content = ContentStore::open(root.join("content"))?;
        let metadata = Metadata::open(root.join("metadata.db"))?;
        Ok(ImageStore {
            root,
            content,
            metadata,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Reads and parses a stored manifest or index.
    pub fn manifest(&self, digest: &Digest, media_type: Option<&str>) -> Result<Manifest, Error> {
        let data = self.content.read_blob(digest, MAX_DOCUMENT)?;
        Ok(Manifest::parse(media_type, &data, digest.as_str())?)
    }

    /// Reads and parses a stored image config.
    pub fn config(&self, digest: &Digest) -> Result<ImageConfig, Error> {
        let data = self.content.read_blob(digest, MAX_DOCUMENT)?;
        Ok(ImageConfig::parse(&data, digest.as_str())?)
    }

    /// Follows a stored index (or manifest) `target` to the manifest for
    /// `platform` and reads its config. Every document on the way must be
    /// in the store.
    pub fn resolve(
        &self,
        target: &Digest,
        media_type: Option<&str>,
        platform: &Matcher,
    ) -> Result<ResolvedImage, Error> {
        let mut digest = target.clone();
        let mut media_type = media_type.map(str::to_owned);
        for _ in 0..MAX_DEPTH {
            match self.manifest(&digest, media_type.as_deref())? {
                Manifest::Index { index, .. } => {
                    let chosen = platform.select(&index.manifests)?;
                    digest = chosen.digest.clone();
                    media_type = Some(chosen.media_type.clone());
                }
                Manifest::Image {
                    media_type,
                    manifest,
                } => {
                    let config_digest = manifest.config.digest.clone();
                    let config = self.config(&config_digest)?;
                    return Ok(ResolvedImage {
                        manifest_digest: digest,
                        manifest_media_type: media_type,
                        manifest,
                        config_digest,
                        config,
                    });
                }
            }
        }
        Err(ManifestError::TooDeep {
            what: target.to_string(),
        }
        .into())
    }

    /// Records the image that `target` (stored, with everything it needs
    /// for `platform`) resolves to and names it `name` (a tag, or a digest
    /// reference). Returns the image.
    pub fn register(
        &self,
        name: &Reference,
        target: &Digest,
        target_media_type: &str,
        platform: &Matcher,
    ) -> Result<ImageRecord, Error> {
        let resolved = self.resolve(target, Some(target_media_type), platform)?;
        for layer in &resolved.manifest.layers {
            if !self.content.exists(&layer.digest) {
                return Err(ContentError::NotFound {
                    digest: layer.digest.clone(),
                }
                .into());
            }
        }
        let record = self.metadata.put_image(&resolved.record()?)?;
        self.metadata
            .set_ref(name, &record.id, target, target_media_type)?;
        Ok(record)
    }

    /// Finds an image as docker's `GetImage` does from what a user typed: a
    /// full id (`sha256:<hex>` or 64 hex digits), a name with tag or digest
    /// (`busybox` meaning `busybox:latest`), else a unique id prefix
    /// (`docker rmi 1a2b3c`).
    pub fn lookup(&self, input: &str) -> Result<ImageRecord, Error> {
        let no_such = |image: String| Error::from(MetadataError::NoSuchImage { image });
        let full_id = Digest::parse(input).or_else(|_| Digest::from_hex(input));
        if let Ok(id) = full_id {
            return self
                .metadata
                .image(&id)?
                .ok_or_else(|| no_such(input.into()));
        }
        let name = match Reference::parse_normalized(input) {
            Ok(r) => {
                // name:tag@digest is looked up by its digest, as docker does.
                let r = match r.digest().cloned() {
                    Some(d) => r.with_digest(d),
                    None => r.with_default_tag(),
                };
                if let Some(found) = self.metadata.get_ref(&r)? {
                    return self
                        .metadata
                        .image(&found.image_id)?
                        .ok_or_else(|| no_such(r.familiar()));
                }
                Some(r)
            }
            Err(_) => None,
        };
        let ids = self.metadata.image_ids_with_prefix(input)?;
        match ids.as_slice() {
            [id] => self
                .metadata
                .image(id)?
                .ok_or_else(|| no_such(input.into())),
            [] => Err(no_such(
                name.map_or_else(|| input.to_owned(), |r| r.familiar()),
            )),
            _ => Err(MetadataError::AmbiguousId {
                prefix: input.into(),
            }
            .into()),
        }
    }

    /// Garbage collection (see [`crate::gc`]).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, Error> {
        gc::collect(&self.content, &self.metadata, options)
    }

    /// Cleans up after a daemon that died (`kill -9`, a crash, a power cut) with operations
    /// in progress: ends every lease whose owner ([`crate::Owner`]) is not alive, discards the
    /// ingests those leases wrote and the `write_blob` ingests of other processes, and, if a
    /// lease was ended, collects the blobs nothing else keeps. Call it when opening the store,
    /// as its only user (berthd holds its root's lock), before any pull or load starts.
    ///
    /// Cheap when there is nothing to clean: one query and one listing of `content/ingest/`;
    /// the blobs are walked only when a lease was ended.
    pub fn recover(&self) -> Result<RecoveryReport, Error> {
        let mut report = RecoveryReport {
            ingests_removed: self.content.abort_stale_writes()?,
            ..RecoveryReport::default()
        };
        for lease in self.metadata.lease_records()? {
            let alive = crate::Owner::parse(&lease.owner).is_some_and(|o| o.is_alive());
            if alive {
                continue;
            }
            // Ingests first: a crash here leaves the lease, and the next run does it again.
            for reference in self.metadata.lease_ingests(&lease.id)? {
                match self.content.abort(&reference) {
                    Ok(()) => report.ingests_removed.push(reference),
                    Err(ContentError::IngestNotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            match self.metadata.delete_lease(&lease.id) {
                Ok(()) | Err(MetadataError::NoSuchLease { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            report.leases_expired.push(lease.id);
        }
        if !report.leases_expired.is_empty() {
            report.gc = Some(self.gc(&GcOptions::default())?);
        }
        Ok(report)
    }

    /// Re-hashes every blob ([`ContentStore::fsck`]) and checks that every
    /// image's manifest, config and layers are present.
    pub fn check(&self) -> Result<CheckReport, Error> {
        let content = self.content.fsck()?;
        let mut missing = Vec::new();
        for image in self.metadata.images()? {
            let what = format!("image {}", image.id);
            let needed = [&image.id, &image.manifest]
                .into_iter()
                .chain(image.layers.iter().map(|l| &l.blob));
            for d in needed {
                if !self.content.exists(d) {
                    missing.push((d.clone(), what.clone()));
                }
            }
        }
        Ok(CheckReport { content, missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::manifest::media_types as mt;
    use crate::platform::Platform;

    /// Stores a one-layer image and names it; returns its record.
    fn image(store: &ImageStore, name: &str, salt: &str) -> ImageRecord {
        let layer = store.content().write_blob(salt.as_bytes(), None).unwrap();
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux", "created": "2024-05-01T10:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        })
        .to_string();
        let config = store.content().write_blob(config.as_bytes(), None).unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": mt::OCI_LAYER, "digest": layer.digest, "size": layer.size}],
        })
        .to_string();
        let manifest = store
            .content()
            .write_blob(manifest.as_bytes(), None)
            .unwrap();
        let name = Reference::parse_docker_ref(name).unwrap();
        store
            .register(
                &name,
                &manifest.digest,
                mt::OCI_MANIFEST,
                &Platform::host().matcher(),
            )
            .unwrap()
    }

    #[test]
    fn lookup_as_docker() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let a = image(&store, "busybox", "a");
        let b = image(&store, "localhost:5000/app:v1", "b");
        assert_eq!(a.created.as_deref(), Some("2024-05-01T10:00:00Z"));
        assert_eq!(
            a.media_type,
            mt::OCI_MANIFEST,
            "sniffed when stored without mediaType"
        );

        let id = |s: &str| store.lookup(s).map(|r| r.id).map_err(|e| e.to_string());
        assert_eq!(id("busybox"), Ok(a.id.clone()));
        assert_eq!(id("busybox:latest"), Ok(a.id.clone()));
        assert_eq!(id("docker.io/library/busybox:latest"), Ok(a.id.clone()));
        assert_eq!(id("localhost:5000/app:v1"), Ok(b.id.clone()));
        assert_eq!(id(a.id.as_str()), Ok(a.id.clone()));
        assert_eq!(id(a.id.hex()), Ok(a.id.clone()));
        assert_eq!(id(&a.id.hex()[..12]), Ok(a.id.clone()));
        assert_eq!(
            id("busybox:1.36"),
            Err("No such image: busybox:1.36".into())
        );
        assert_eq!(
            id("localhost:5000/app"),
            Err("No such image: localhost:5000/app:latest".into())
        );
        let missing = Digest::of(b"nothing");
        assert_eq!(
            id(missing.as_str()),
            Err(format!("No such image: {missing}"))
        );
        assert_eq!(id("Not_A-Name!"), Err("No such image: Not_A-Name!".into()));

        // A digest reference, also with a (ignored) tag in front of it.
        let target = store
            .metadata()
            .get_ref(&Reference::parse_docker_ref("busybox").unwrap())
            .unwrap()
            .unwrap()
            .target;
        let by_digest = Reference::parse_normalized("busybox")
            .unwrap()
            .with_digest(target.clone());
        store
            .metadata()
            .set_ref(&by_digest, &a.id, &target, mt::OCI_MANIFEST)
            .unwrap();
        assert_eq!(id(&format!("busybox@{target}")), Ok(a.id.clone()));
        assert_eq!(id(&format!("busybox:whatever@{target}")), Ok(a.id.clone()));

        // A prefix shared by two ids is not unique.
        for last in ['1', '2'] {
            let mut rec = a.clone();
            rec.id = Digest::from_hex(&format!("{}{last}", "abc".repeat(21))).unwrap();
            store.metadata().put_image(&rec).unwrap();
        }
        let e = store.lookup("abcabc").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.to_string(),
            "image id prefix \"abcabc\" matches more than one image"
        );
        assert!(store.lookup(&format!("{}1", "abc".repeat(21))).is_ok());
    }

    #[test]
    fn recover_ends_the_leases_of_dead_owners_and_collects_what_they_held() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let kept = image(&store, "kept", "kept layer");
        // Nothing to do: no collection.
        assert_eq!(store.recover().unwrap(), RecoveryReport::default());

        let md = store.metadata();
        // A pull of a daemon that died: a committed blob, a half-written ingest.
        md.create_lease("pull-dead").unwrap();
        let done = Digest::of(b"committed by the dead pull");
        md.lease_add("pull-dead", &done).unwrap();
        store
            .content()
            .write_blob(b"committed by the dead pull", Some(&done))
            .unwrap();
        md.lease_add_ingest("pull-dead", "layer-half").unwrap();
        let mut w = store.content().writer("layer-half").unwrap();
        w.write_all(b"half").unwrap();
        drop(w);
        // A lease of an owner from before owners were recorded, and one of this process.
        md.create_lease("load-v1").unwrap();
        md.create_lease("load-live").unwrap();
        let live = Digest::of(b"held by a live lease");
        md.lease_add("load-live", &live).unwrap();
        store
            .content()
            .write_blob(b"held by a live lease", Some(&live))
            .unwrap();
        md.lease_add_ingest("load-live", "load-live-1").unwrap();
        drop(store.content().writer("load-live-1").unwrap());
        // An ingest nobody owns (a cut download, to resume) stays.
        drop(store.content().writer("layer-resumable").unwrap());
        let c = rusqlite::Connection::open(md.path()).unwrap();
        let me = crate::Owner::current().unwrap().to_string();
        let dead = format!("{}/{}", me.rsplit_once('/').unwrap().0, u64::MAX);
        c.execute(
            "UPDATE leases SET owner = ?1 WHERE id = 'pull-dead'",
            [&dead],
        )
        .unwrap();
        c.execute("UPDATE leases SET owner = '' WHERE id = 'load-v1'", [])
            .unwrap();

        let report = store.recover().unwrap();
        assert_eq!(report.leases_expired, ["load-v1", "pull-dead"]);
        assert_eq!(report.ingests_removed, ["layer-half"]);
        let gc = report.gc.unwrap();
        let removed: Vec<Digest> = gc.removed.iter().map(|i| i.digest.clone()).collect();
        assert_eq!(removed, vec![done.clone()]);
        assert!(store.content().exists(&live));
        assert!(store.content().exists(&kept.layers[0].blob));
        let ingests: Vec<String> = store
            .content()
            .ingests()
            .unwrap()
            .into_iter()
            .map(|i| i.reference)
            .collect();
        assert_eq!(ingests, ["layer-resumable", "load-live-1"]);
        let leases: Vec<String> = md.leases().unwrap().into_iter().map(|l| l.0).collect();
        assert_eq!(leases, ["load-live"]);
        assert!(store.check().unwrap().is_clean());
        // Done once: the next recovery finds nothing.
        assert_eq!(store.recover().unwrap(), RecoveryReport::default());
    }

    #[test]
    fn register_needs_every_layer_and_matching_diff_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path()).unwrap();
        let rec = image(&store, "x", "layer");
        store.metadata().delete_image(&rec.id).unwrap();
        store.content().delete(&rec.layers[0].blob).unwrap();
        let e = store
            .register(
                &Reference::parse_docker_ref("x").unwrap(),
                &rec.manifest,
                mt::OCI_MANIFEST,
                &Platform::host().matcher(),
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(store.metadata().images().unwrap().is_empty());

        let config = store
            .content()
            .write_blob(br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#, None)
            .unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": config.digest, "size": config.size},
            "layers": [{"mediaType": mt::OCI_LAYER, "digest": rec.layers[0].blob, "size": 5}],
        })
        .to_string();
        let m = store
            .content()
            .write_blob(manifest.as_bytes(), None)
            .unwrap();
        let e = store
            .resolve(&m.digest, None, &Platform::host().matcher())
            .unwrap()
            .record()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("1 layers but the config lists 0 diff_ids"),
            "{e}"
        );
        let check = store.check().unwrap();
        assert!(check.is_clean(), "{check:?}");
    }
}
