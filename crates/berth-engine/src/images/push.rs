//! [`ImageService::push`]: stored images to a registry repository, with dockerd's progress.
//!
//! 1. The name is resolved to the tags to push: the one tag asked for, or every tag of the
//!    repository (dockerd's errors when there is none: `An image does not exist locally with
//!    the tag: NAME`, `tag does not exist: NAME:TAG`).
//! 2. For each tag, what goes up is what is stored, byte for byte, so the digest the registry
//!    gives is the digest the image was pulled with: the tag's manifest, or its index when
//!    every entry of the index is stored with all its blobs (else the platform manifest the
//!    image was made from, as dockerd 20.10 pushes one platform). An image whose manifest is
//!    not in the content store gets a Docker schema 2 manifest made from its record.
//! 3. A lease holds every blob of the push, so that a garbage collection meanwhile keeps them.
//! 4. Layers, topmost first in the progress (`Preparing`), up to [`MAX_CONCURRENT_UPLOADS`] at
//!    once (`Waiting` for the others): a HEAD in the target repository (`Layer already
//!    exists`), else a cross-repository mount from a repository of the same registry that a
//!    local name says holds the blob (`Mounted from team/app`), else an upload of the
//!    compressed blob from the content store (`Pushing` with its byte count, `Pushed`).
//!    Layers with a non-distributable media type are not pushed.
//! 5. The config (and an index's other manifests) without progress lines, then the manifest
//!    under the tag; `TAG: digest: sha256:... size: N` ends the tag, and the name
//!    `repo@digest` is recorded (docker's RepoDigests), as dockerd does.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use berth_image::{ImageManifest, ImageRecord, Manifest, RefRecord};
use berth_oci::media_type::{self as media_types, is_index, is_manifest};
use berth_oci::{Descriptor, Digest, Reference};
use berth_registry::{Credentials, ErrorCode, Registry, RegistryError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::Semaphore;

use super::pull::{lease_id, short, LeaseGuard};
use super::ImageService;
use crate::error::EngineError;

/// Layer uploads one push runs at once (dockerd's `max-concurrent-uploads` default).
pub const MAX_CONCURRENT_UPLOADS: usize = 5;

/// How often a layer's upload progress is reported at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// Registries to try a cross-repository mount from, per layer (dockerd's `maxMountAttempts`).
const MAX_MOUNT_ATTEMPTS: usize = 3;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The repository (`127.0.0.1:5000/team/app`, `user/app`), possibly with a tag.
    pub name: String,
    /// The tag to push; `None` (and no tag in `name`) pushes every tag of the repository.
    pub tag: Option<String>,
    pub credentials: Option<Credentials>,
}

/// One progress event of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushProgress {
    /// A line without a layer: `The push refers to repository [127.0.0.1:5000/x]`.
    Status(String),
    /// A layer's state; `id` is the first 12 hex digits of its diff id, as dockerd shows it.
    Layer { id: String, status: PushLayerStatus },
    /// A tag is pushed: dockerd's `TAG: digest: DIGEST size: N` line and its `aux` record.
    Tagged(PushedTag),
}

/// The states of one layer in a push, as dockerd names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushLayerStatus {
    Preparing,
    Waiting,
    Pushing {
        current: u64,
        total: u64,
    },
    Pushed,
    AlreadyExists,
    /// Mounted from this repository of the same registry (its path, `team/app`).
    MountedFrom(String),
}

impl PushLayerStatus {
    /// dockerd's text for the state.
    pub fn text(&self) -> String {
        match self {
            PushLayerStatus::Preparing => "Preparing".into(),
            PushLayerStatus::Waiting => "Waiting".into(),
            PushLayerStatus::Pushing { .. } => "Pushing".into(),
            PushLayerStatus::Pushed => "Pushed".into(),
            PushLayerStatus::AlreadyExists => "Layer already exists".into(),
            PushLayerStatus::MountedFrom(repo) => format!("Mounted from {repo}"),
        }
    }

    /// `(current, total)` for the state with a progress bar.
    pub fn progress(&self) -> Option<(u64, u64)> {
        match *self {
            PushLayerStatus::Pushing { current, total } => Some((current, total)),
            _ => None,
        }
    }
}

/// A tag the registry now has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedTag {
    pub tag: String,
    /// The digest of the manifest (or index) put under the tag.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// Where a push sends its events; as for a pull, sending never blocks and events sent after
/// the receiver is gone are dropped.
pub type PushProgressSender = tokio::sync::mpsc::UnboundedSender<PushProgress>;

fn send(tx: Option<&PushProgressSender>, event: PushProgress) {
    if let Some(tx) = tx {
        let _ = tx.send(event);
    }
}

/// A stored document (manifest or index) to put.
#[derive(Debug, Clone)]
struct Document {
    digest: Digest,
    media_type: String,
    bytes: Vec<u8>,
}

/// One layer blob to push.
#[derive(Debug, Clone)]
struct LayerPlan {
    descriptor: Descriptor,
    /// The short diff id docker shows.
    id: String,
    /// Repositories of the same registry to mount it from.
    mount_from: Vec<String>,
}

/// Everything one tag's push sends, worked out from the stores.
#[derive(Debug, Clone)]
struct Plan {
    /// Layers in manifest order (base first).
    layers: Vec<LayerPlan>,
    /// Configs of the manifests.
    configs: Vec<Descriptor>,
    /// An index's manifests, put by digest before it.
    children: Vec<Document>,
    /// What the tag points at.
    top: Document,
}

impl ImageService {
    /// Pushes `options.name` (one tag, or every tag of the repository) to its registry,
    /// reporting progress to `progress`. Returns the tags pushed, in order.
    pub async fn push(
        &self,
        options: PushOptions,
        progress: Option<PushProgressSender>,
    ) -> Result<Vec<PushedTag>, EngineError> {
        let mut reference =
            Reference::parse_normalized(&options.name).map_err(EngineError::image)?;
        if let Some(tag) = options.tag.as_deref().filter(|t| !t.is_empty()) {
            reference = reference.with_tag(tag).map_err(EngineError::image)?;
        }
        let repository = reference.repository();
        send(
            progress.as_ref(),
            PushProgress::Status(format!(
                "The push refers to repository [{}]",
                repository.name()
            )),
        );
        if reference.digest().is_some() {
            return Err(EngineError::InvalidParameter(
                "cannot push a digest reference".into(),
            ));
        }
        let refs = {
            let (repository, reference) = (repository.clone(), reference.clone());
            self.blocking(move |s| {
                let all: Vec<RefRecord> = s
                    .store
                    .metadata()
                    .refs()?
                    .into_iter()
                    .filter(|r| r.reference.name() == repository.name())
                    .collect();
                if all.is_empty() {
                    return Err(EngineError::NoSuchRepository {
                        name: repository.familiar_name(),
                    });
                }
                let tagged: Vec<RefRecord> = all
                    .into_iter()
                    .filter(|r| match (r.reference.tag(), reference.tag()) {
                        (Some(have), Some(want)) => have == want,
                        (Some(_), None) => true,
                        (None, _) => false,
                    })
                    .collect();
                match (tagged.is_empty(), reference.tag()) {
                    (true, Some(_)) => Err(EngineError::NoSuchTag {
                        name: reference.familiar(),
                    }),
                    (true, None) => Err(EngineError::InvalidParameter(format!(
                        "no tags to push for {}",
                        repository.familiar_name()
                    ))),
                    (false, _) => Ok(tagged),
                }
            })
            .await?
        };
        let has_creds = options.credentials.is_some();
        let registry = self.registry(repository.domain(), options.credentials)?;
        let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_UPLOADS));
        let mut pushed = Vec::with_capacity(refs.len());
        for record in refs {
            let tagged = self
                .push_tag(
                    &registry,
                    &repository,
                    record,
                    &permits,
                    has_creds,
                    progress.as_ref(),
                )
                .await?;
            send(progress.as_ref(), PushProgress::Tagged(tagged.clone()));
            pushed.push(tagged);
        }
        Ok(pushed)
    }

    async fn push_tag(
        &self,
        registry: &Registry,
        repository: &Reference,
        record: RefRecord,
        permits: &Arc<Semaphore>,
        has_creds: bool,
        progress: Option<&PushProgressSender>,
    ) -> Result<PushedTag, EngineError> {
        let tag = record.reference.tag().unwrap_or("latest").to_owned();
        let image_id = record.image_id.clone();
        let repo = repository.path().to_owned();

        // The lease first, then the plan: every blob it names is held until the push ends.
        let lease = lease_id("push");
        let plan = {
            let (lease, repository) = (lease.clone(), repository.clone());
            self.blocking(move |s| {
                s.store.metadata().create_lease(&lease)?;
                let plan = plan(s, &record, &repository)?;
                let md = s.store.metadata();
                for d in plan
                    .layers
                    .iter()
                    .map(|l| &l.descriptor.digest)
                    .chain(plan.configs.iter().map(|c| &c.digest))
                    .chain(plan.children.iter().map(|c| &c.digest))
                    .chain(std::iter::once(&plan.top.digest))
                {
                    md.lease_add(&lease, d)?;
                }
                Ok(plan)
            })
            .await
        };
        let _lease = LeaseGuard {
            service: self.clone(),
            id: lease,
        };
        let plan = plan?;

        for l in plan.layers.iter().rev() {
            send(
                progress,
                PushProgress::Layer {
                    id: l.id.clone(),
                    status: PushLayerStatus::Preparing,
                },
            );
        }
        let uploads = plan
            .layers
            .iter()
            .rev()
            .map(|l| self.push_layer(registry, &repo, l, permits.clone(), has_creds, progress));
        futures_util::future::try_join_all(uploads).await?;

        for config in &plan.configs {
            let digest = &config.digest;
            let present = registry
                .blob_exists(&repo, digest)
                .await
                .map_err(|e| push_error(e, has_creds))?;
            if present.is_none() {
                self.upload(registry, &repo, config, has_creds, |_| {})
                    .await?;
            }
        }
        for child in &plan.children {
            registry
                .put_manifest(
                    &repo,
                    child.digest.as_str(),
                    child.bytes.clone().into(),
                    &child.media_type,
                )
                .await
                .map_err(|e| push_error(e, has_creds))?;
        }
        let size = plan.top.bytes.len() as u64;
        let media_type = plan.top.media_type.clone();
        let digest = registry
            .put_manifest(&repo, &tag, plan.top.bytes.into(), &media_type)
            .await
            .map_err(|e| push_error(e, has_creds))?;
        let digest = Digest::parse(digest.as_str()).map_err(EngineError::image)?;
        // As dockerd: the pushed name's `repo@digest` (RepoDigests), unless that digest
        // already names an image here.
        {
            let (by_digest, target) = (repository.with_digest(digest.clone()), digest.clone());
            self.blocking(move |s| {
                let md = s.store.metadata();
                if md.get_ref(&by_digest)?.is_none() {
                    md.set_ref(&by_digest, &image_id, &target, &media_type)?;
                }
                Ok(())
            })
            .await?;
        }
        Ok(PushedTag { tag, digest, size })
    }

    /// Makes one layer present in `repo`: there already, mounted, or uploaded.
    async fn push_layer(
        &self,
        registry: &Registry,
        repo: &str,
        layer: &LayerPlan,
        permits: Arc<Semaphore>,
        has_creds: bool,
        progress: Option<&PushProgressSender>,
    ) -> Result<(), EngineError> {
        let report = |status| {
            send(
                progress,
                PushProgress::Layer {
                    id: layer.id.clone(),
                    status,
                },
            )
        };
        let _permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                report(PushLayerStatus::Waiting);
                permits
                    .acquire_owned()
                    .await
                    .map_err(|e| EngineError::Task(format!("upload permits: {e}")))?
            }
        };
        let digest = &layer.descriptor.digest;
        if registry
            .blob_exists(repo, digest)
            .await
            .map_err(|e| push_error(e, has_creds))?
            .is_some()
        {
            report(PushLayerStatus::AlreadyExists);
            return Ok(());
        }
        for from in &layer.mount_from {
            // A refused or failed mount is no failure: the upload follows.
            if let Ok(true) = registry.mount_blob(repo, digest, from).await {
                report(PushLayerStatus::MountedFrom(from.clone()));
                return Ok(());
            }
        }
        let total = layer.descriptor.size;
        let mut last: Option<Instant> = None;
        self.upload(registry, repo, &layer.descriptor, has_creds, |current| {
            if last.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) || current >= total {
                last = Some(Instant::now());
                report(PushLayerStatus::Pushing { current, total });
            }
        })
        .await?;
        report(PushLayerStatus::Pushed);
        Ok(())
    }

    /// Uploads blob `blob` from the content store, calling `on_read` with the bytes sent.
    async fn upload(
        &self,
        registry: &Registry,
        repo: &str,
        blob: &Descriptor,
        has_creds: bool,
        on_read: impl FnMut(u64) + Send + Unpin,
    ) -> Result<(), EngineError> {
        let file = {
            let d = blob.digest.clone();
            self.blocking(move |s| s.store.content().open_blob(&d).map_err(EngineError::image))
                .await?
        };
        let mut reader = Counting {
            inner: tokio::fs::File::from_std(file),
            read: 0,
            on_read,
        };
        registry
            .upload_blob(repo, &blob.digest, blob.size, &mut reader)
            .await
            .map_err(|e| push_error(e, has_creds))
    }
}

/// What the push of `record` sends (blocking: reads the stores).
fn plan(s: &super::Inner, record: &RefRecord, repository: &Reference) -> Result<Plan, EngineError> {
    let content = s.store.content();
    let md = s.store.metadata();
    let image = md
        .image(&record.image_id)?
        .ok_or_else(|| EngineError::NoSuchTag {
            name: record.reference.familiar(),
        })?;
    let mounts = mount_sources(s, repository)?;
    let mut plan = if is_index(&record.target_media_type) {
        index_plan(s, &record.target, &record.target_media_type)?
    } else {
        None
    }
    .map_or_else(|| single_plan(s, &image), Ok)?;
    for layer in &mut plan.layers {
        layer.mount_from = mounts
            .get(&layer.descriptor.digest)
            .cloned()
            .unwrap_or_default();
    }
    for d in plan
        .layers
        .iter()
        .map(|l| &l.descriptor)
        .chain(plan.configs.iter())
    {
        if !content.exists(&d.digest) {
            return Err(EngineError::BadImage {
                reference: record.reference.familiar(),
                reason: format!("blob {} is not in the content store", d.digest),
            });
        }
    }
    Ok(plan)
}

/// The plan for the platform manifest the image was made from.
fn single_plan(s: &super::Inner, image: &ImageRecord) -> Result<Plan, EngineError> {
    let content = s.store.content();
    let top = if content.exists(&image.manifest) {
        Document {
            digest: image.manifest.clone(),
            media_type: image.media_type.clone(),
            bytes: content
                .read_blob(&image.manifest, berth_image::MAX_DOCUMENT)
                .map_err(EngineError::image)?,
        }
    } else {
        made_manifest(s, image)?
    };
    let manifest = parse_manifest(&top)?;
    let mut plan = Plan {
        layers: Vec::new(),
        configs: Vec::new(),
        children: Vec::new(),
        top,
    };
    add_manifest(s, &mut plan, &manifest)?;
    Ok(plan)
}

/// The plan for a whole index, when every manifest it lists is stored with its blobs.
fn index_plan(
    s: &super::Inner,
    digest: &Digest,
    media_type: &str,
) -> Result<Option<Plan>, EngineError> {
    let content = s.store.content();
    if !content.exists(digest) {
        return Ok(None);
    }
    let bytes = content
        .read_blob(digest, berth_image::MAX_DOCUMENT)
        .map_err(EngineError::image)?;
    let index = match Manifest::parse(Some(media_type), &bytes, digest.as_str())
        .map_err(EngineError::image)?
    {
        Manifest::Index { index, .. } => index,
        Manifest::Image { .. } => return Ok(None),
    };
    let mut plan = Plan {
        layers: Vec::new(),
        configs: Vec::new(),
        children: Vec::new(),
        top: Document {
            digest: digest.clone(),
            media_type: media_type.to_owned(),
            bytes,
        },
    };
    for entry in &index.manifests {
        if !is_manifest(&entry.media_type) || !content.exists(&entry.digest) {
            return Ok(None);
        }
        let doc = Document {
            digest: entry.digest.clone(),
            media_type: entry.media_type.clone(),
            bytes: content
                .read_blob(&entry.digest, berth_image::MAX_DOCUMENT)
                .map_err(EngineError::image)?,
        };
        let manifest = parse_manifest(&doc)?;
        let complete = std::iter::once(&manifest.config)
            .chain(manifest.layers.iter())
            .all(|d| content.exists(&d.digest));
        if !complete {
            return Ok(None);
        }
        add_manifest(s, &mut plan, &manifest)?;
        plan.children.push(doc);
    }
    Ok(Some(plan))
}

fn parse_manifest(doc: &Document) -> Result<ImageManifest, EngineError> {
    match Manifest::parse(Some(&doc.media_type), &doc.bytes, doc.digest.as_str())
        .map_err(EngineError::image)?
    {
        Manifest::Image { manifest, .. } => Ok(manifest),
        Manifest::Index { .. } => Err(EngineError::BadImage {
            reference: doc.digest.to_string(),
            reason: "an image's manifest is an index".into(),
        }),
    }
}

/// Adds the config and layers of `manifest` to `plan` (each blob once), the layers named by
/// their diff ids from the config.
fn add_manifest(
    s: &super::Inner,
    plan: &mut Plan,
    manifest: &ImageManifest,
) -> Result<(), EngineError> {
    let config = s.store.config(&manifest.config.digest)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(EngineError::BadImage {
            reference: manifest.config.digest.to_string(),
            reason: format!(
                "{} layers in the manifest, {} diff ids in the config",
                manifest.layers.len(),
                diff_ids.len()
            ),
        });
    }
    if !plan
        .configs
        .iter()
        .any(|c| c.digest == manifest.config.digest)
    {
        plan.configs.push(manifest.config.clone());
    }
    for (layer, diff_id) in manifest.layers.iter().zip(diff_ids) {
        if !distributable(&layer.media_type)
            || plan
                .layers
                .iter()
                .any(|l| l.descriptor.digest == layer.digest)
        {
            continue;
        }
        plan.layers.push(LayerPlan {
            descriptor: layer.clone(),
            id: short(diff_id),
            mount_from: Vec::new(),
        });
    }
    Ok(())
}

/// Whether a layer of this media type may be pushed (foreign and non-distributable layers
/// stay where their URLs say).
fn distributable(media_type: &str) -> bool {
    !matches!(
        media_type,
        media_types::DOCKER_FOREIGN_LAYER_GZIP
            | media_types::OCI_LAYER_NONDISTRIBUTABLE
            | media_types::OCI_LAYER_NONDISTRIBUTABLE_GZIP
    ) && !media_type.contains(".nondistributable.")
}

/// A Docker schema 2 manifest for an image whose manifest is not stored (made from its
/// record: the config blob and the layer blobs with their media types).
fn made_manifest(s: &super::Inner, image: &ImageRecord) -> Result<Document, EngineError> {
    let config_size = s
        .store
        .content()
        .info(&image.id)
        .map_err(EngineError::image)?
        .size;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(media_types::DOCKER_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_types::DOCKER_CONFIG, image.id.clone(), config_size),
        layers: image
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.blob.clone(), l.size))
            .collect(),
        subject: None,
        annotations: None,
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| EngineError::BadImage {
        reference: image.id.to_string(),
        reason: format!("cannot encode its manifest: {e}"),
    })?;
    Ok(Document {
        digest: Digest::of(&bytes),
        media_type: media_types::DOCKER_MANIFEST.into(),
        bytes,
    })
}

/// For each layer blob, the repositories of `target`'s registry (other than `target`) that a
/// local name says hold it: the most recently named first, at most [`MAX_MOUNT_ATTEMPTS`].
fn mount_sources(
    s: &super::Inner,
    target: &Reference,
) -> Result<HashMap<Digest, Vec<String>>, EngineError> {
    let md = s.store.metadata();
    let mut refs: Vec<RefRecord> = md
        .refs()?
        .into_iter()
        .filter(|r| r.reference.domain() == target.domain() && r.reference.path() != target.path())
        .collect();
    refs.sort_by_key(|r| std::cmp::Reverse(r.updated));
    let mut images: HashMap<Digest, BTreeSet<Digest>> = HashMap::new();
    let mut out: HashMap<Digest, Vec<String>> = HashMap::new();
    for r in refs {
        if !images.contains_key(&r.image_id) {
            let blobs = md
                .image(&r.image_id)?
                .map(|i| i.layers.into_iter().map(|l| l.blob).collect())
                .unwrap_or_default();
            images.insert(r.image_id.clone(), blobs);
        }
        let Some(blobs) = images.get(&r.image_id) else {
            continue;
        };
        for blob in blobs {
            let repos = out.entry(blob.clone()).or_default();
            let path = r.reference.path().to_owned();
            if repos.len() < MAX_MOUNT_ATTEMPTS && !repos.contains(&path) {
                repos.push(path);
            }
        }
    }
    Ok(out)
}

/// A registry error in dockerd's words where dockerd has words for it: a refused push says
/// `no basic auth credentials` when it had none, else the registry's own error
/// (`unauthorized: authentication required`).
fn push_error(e: RegistryError, has_creds: bool) -> EngineError {
    let RegistryError::Unauthorized { remote, .. } = &e else {
        return EngineError::Registry(e);
    };
    let message = if has_creds || remote.code == Some(ErrorCode::Denied) {
        registry_text(remote)
    } else {
        "no basic auth credentials".into()
    };
    EngineError::PushDenied { message }
}

/// A registry's error as docker's distribution client prints it: `code: message` in lower
/// case, the spec's message for the code when the answer had no body (a HEAD's).
fn registry_text(remote: &berth_registry::Remote) -> String {
    let code = match &remote.code {
        Some(c) => c.as_str().to_ascii_lowercase(),
        None if remote.status == 403 => "denied".into(),
        None => "unauthorized".into(),
    };
    let message = if remote.message.is_empty() {
        match code.as_str() {
            "denied" => "requested access to the resource is denied".to_owned(),
            _ => "authentication required".to_owned(),
        }
    } else {
        remote.message.clone()
    };
    format!("{code}: {message}")
}

/// A reader that counts what it reads and tells `on_read` the total so far.
struct Counting<R, F> {
    inner: R,
    read: u64,
    on_read: F,
}

impl<R: AsyncRead + Unpin, F: FnMut(u64) + Unpin> AsyncRead for Counting<R, F> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let n = buf.filled().len() - before;
            if n > 0 {
                this.read += n as u64;
                (this.on_read)(this.read);
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_registry::Remote;

    fn unauthorized(code: Option<ErrorCode>, message: &str, status: u16) -> RegistryError {
        RegistryError::Unauthorized {
            registry: "r".into(),
            scope: "x".into(),
            remote: Box::new(Remote {
                status,
                code,
                message: message.into(),
            }),
        }
    }

    #[test]
    fn refused_pushes_in_dockerds_words() {
        let e = push_error(unauthorized(None, "", 401), false);
        assert_eq!(e.to_string(), "no basic auth credentials");
        let e = push_error(unauthorized(None, "", 401), true);
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        let e = push_error(
            unauthorized(
                Some(ErrorCode::Unauthorized),
                "authentication required",
                401,
            ),
            true,
        );
        assert_eq!(e.to_string(), "unauthorized: authentication required");
        let e = push_error(
            unauthorized(
                Some(ErrorCode::Denied),
                "requested access to the resource is denied",
                403,
            ),
            false,
        );
        assert_eq!(
            e.to_string(),
            "denied: requested access to the resource is denied"
        );
        assert_eq!(e.kind(), crate::ErrorKind::Unauthorized);
    }

    #[test]
    fn layer_states_are_dockerds() {
        assert_eq!(
            PushLayerStatus::AlreadyExists.text(),
            "Layer already exists"
        );
        assert_eq!(
            PushLayerStatus::MountedFrom("library/bb".into()).text(),
            "Mounted from library/bb"
        );
        assert_eq!(
            PushLayerStatus::Pushing {
                current: 1,
                total: 2
            }
            .progress(),
            Some((1, 2))
        );
        assert_eq!(PushLayerStatus::Pushed.progress(), None);
    }

    #[test]
    fn foreign_layers_stay() {
        assert!(distributable(media_types::DOCKER_LAYER_GZIP));
        assert!(distributable(media_types::OCI_LAYER_ZSTD));
        assert!(!distributable(media_types::DOCKER_FOREIGN_LAYER_GZIP));
        assert!(!distributable(media_types::OCI_LAYER_NONDISTRIBUTABLE_GZIP));
    }
}
