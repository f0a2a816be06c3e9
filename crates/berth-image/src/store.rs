//! [`ImageStore`]: the content store and the metadata database under one
//! root, and the operations that need both: resolving a stored target to
//! the image for a platform, registering an image under a name, garbage
//! collection and a whole-store check.

use std::path::{Path, PathBuf};

use crate::config::ImageConfig;
use crate::content::{ContentStore, FsckReport};
use crate::digest::Digest;
use crate::error::{ContentError, Error, ManifestError};
use crate::gc::{self, GcOptions, GcReport};
use crate::manifest::{ImageManifest, Manifest};
use crate::metadata::{ImageRecord, LayerRecord, Metadata};
use crate::platform::Matcher;
use crate::reference::Reference;

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

    /// Garbage collection (see [`crate::gc`]).
    pub fn gc(&self, options: &GcOptions) -> Result<GcReport, Error> {
        gc::collect(&self.content, &self.metadata, options)
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
