//! [`ImageService::pull`]: registry to content store to snapshots.
//!
//! 1. The manifest (or index) for the tag or digest is fetched; a lease is taken before
//!    anything is written, and every digest is added to it before it is committed, so that a
//!    garbage collection running meanwhile keeps it (berth-image's rule).
//! 2. An index is narrowed to the platform's manifest; the manifest and config are committed.
//! 3. Every layer is downloaded and unpacked at once: the registry client streams the blob
//!    into an in-memory pipe whose reader, on a blocking thread of its own, appends each
//!    chunk to the layer's content-store ingest and feeds it to the decompressor and tar
//!    unpacker of the snapshotter, which checks the config's diff ID. Downloads are bounded by
//!    the registry's permits (3 per registry); unpacking runs in parallel (overlay) or in layer
//!    order (vfs, whose snapshots copy their parent). A partial ingest from an earlier pull is
//!    resumed from its offset: its bytes are replayed to the unpacker and only the rest is
//!    downloaded.
//! 4. The image and its tag are registered, and the lease is dropped.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use berth_image::{ImageConfig, ImageRecord, Manifest, ResolvedImage, Writer};
use berth_oci::media_type::is_index;
use berth_oci::{Descriptor, Digest, Digester, Platform, Reference};
use berth_registry::{Credentials, ErrorCode, Registry, RegistryError};
use berth_snapshot::{Compression, Driver, UnpackOptions};
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::runtime::Handle;

use super::progress::{send, LayerStatus, ProgressSender, PullProgress};
use super::{chain_ids, ImageService};
use crate::error::EngineError;

/// Bytes buffered between a download and its unpacker.
const PIPE_BUFFER: usize = 256 << 10;

/// How often a layer's download progress is reported at most.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The image (`busybox`, `127.0.0.1:5000/x:tag`, `x@sha256:...`); a name without tag or
    /// digest means `:latest`.
    pub reference: String,
    /// `os/arch[/variant]`; `None` is the host's.
    pub platform: Option<String>,
    pub credentials: Option<Credentials>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullOutcome {
    pub image: ImageRecord,
    /// The name pulled, normalised (`docker.io/library/busybox:latest`).
    pub reference: Reference,
    /// The digest the name resolved to (an index or a manifest).
    pub digest: Digest,
    /// The name already pointed at this digest and image.
    pub up_to_date: bool,
}

/// The parts of a pull every layer task needs.
struct LayerJob {
    reference: Reference,
    registry: Registry,
    repo: String,
    lease: String,
    layer: Descriptor,
    diff_id: Digest,
    chain_id: Digest,
    parent: Option<Digest>,
    progress: Option<ProgressSender>,
}

/// Deletes the lease of a pull (or push, load, import, save) when it ends, however it ends,
/// while the daemon lives; one that dies leaves it for the next start to end (recover.rs).
pub(crate) struct LeaseGuard {
    pub(crate) service: ImageService,
    pub(crate) id: String,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        let inner = self.service.inner.clone();
        let id = std::mem::take(&mut self.id);
        // A tiny SQLite write; off the async threads when there is a runtime.
        match Handle::try_current() {
            Ok(h) => {
                h.spawn_blocking(move || {
                    let _ = inner.store.metadata().delete_lease(&id);
                });
            }
            Err(_) => {
                let _ = inner.store.metadata().delete_lease(&id);
            }
        }
    }
}

/// A new lease's id: `PURPOSE-PID-UNIQUE` (`pull-…`, `push-…`), unique on this machine.
pub(crate) fn lease_id(purpose: &str) -> String {
    format!("{purpose}-{}-{}", std::process::id(), unique())
}

impl ImageService {
    /// Creates a lease for `purpose` (`pull`, `load`...): its id, and the guard that deletes
    /// it when dropped.
    pub(crate) async fn new_lease(
        &self,
        purpose: &str,
    ) -> Result<(String, LeaseGuard), EngineError> {
        let lease = lease_id(purpose);
        {
            let lease = lease.clone();
            self.blocking(move |s| Ok(s.store.metadata().create_lease(&lease)?))
                .await?;
        }
        let guard = LeaseGuard {
            service: self.clone(),
            id: lease.clone(),
        };
        Ok((lease, guard))
    }

    /// Pulls `options.reference`, reporting progress to `progress`. A second pull of the same
    /// name and platform while one runs waits for it and shares its result.
    pub async fn pull(
        &self,
        options: PullOptions,
        progress: Option<ProgressSender>,
    ) -> Result<PullOutcome, EngineError> {
        let reference = parse_pull_reference(&options.reference)?;
        let platform = match &options.platform {
            Some(p) if !p.trim().is_empty() => Platform::parse(p)
                .map_err(|e| EngineError::InvalidParameter(e.to_string()))?
                .normalize(),
            _ => Platform::host(),
        };
        let tag_or_digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        let key = format!("{} {}", reference.name_with_suffix(), platform);
        let this = self.clone();
        let progress2 = progress.clone();
        let r2 = reference.clone();
        let mut shared = true;
        let outcome = self
            .inner
            .pulls
            .run(key, || {
                shared = false;
                async move {
                    this.pull_once(r2, platform, options.credentials, progress2)
                        .await
                }
            })
            .await?;
        if shared {
            // Another pull did the work; this one only reports its end.
            send(
                progress.as_ref(),
                PullProgress::Status {
                    id: Some(tag_or_digest),
                    status: format!("Pulling from {}", reference.path()),
                },
            );
        }
        send(
            progress.as_ref(),
            PullProgress::Status {
                id: None,
                status: format!("Digest: {}", outcome.digest),
            },
        );
        let verdict = if outcome.up_to_date || shared {
            "Image is up to date for"
        } else {
            "Downloaded newer image for"
        };
        send(
            progress.as_ref(),
            PullProgress::Status {
                id: None,
                status: format!("Status: {verdict} {}", outcome.reference.familiar()),
            },
        );
        Ok(outcome)
    }

    async fn pull_once(
        &self,
        reference: Reference,
        platform: Platform,
        creds: Option<Credentials>,
        progress: Option<ProgressSender>,
    ) -> Result<PullOutcome, EngineError> {
        // Snapshots removed before this pull are deleted after it (berth-snapshot's trash).
        let _busy = self.inner.snapshots.activity();
        let registry = self.registry(reference.domain(), creds)?;
        let repo = reference.path().to_owned();
        let tag_or_digest = match (reference.digest(), reference.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_owned(),
            (None, None) => "latest".to_owned(),
        };
        let top = registry
            .get_manifest(&repo, &tag_or_digest)
            .await
            .map_err(|e| pull_error(e, &reference))?;
        let top_digest = Digest::parse(top.digest.as_str()).map_err(EngineError::image)?;
        let before = {
            let r = reference.clone();
            self.blocking(move |s| Ok(s.store.metadata().get_ref(&r)?))
                .await?
        };

        // The lease first: nothing is written before it exists.
        let (lease, _lease) = self.new_lease("pull").await?;
        self.commit_document(&lease, &top_digest, top.bytes.to_vec())
            .await?;
        send(
            progress.as_ref(),
            PullProgress::Status {
                id: Some(tag_or_digest.clone()),
                status: format!("Pulling from {repo}"),
            },
        );

        // An index: the platform's manifest.
        let matcher = platform.matcher();
        let mut manifest_bytes = top.bytes.to_vec();
        let mut manifest_type = top.media_type.clone();
        let mut manifest_digest = top_digest.clone();
        for _ in 0..4 {
            if !is_index(&manifest_type) {
                break;
            }
            let chosen = match Manifest::parse(
                Some(&manifest_type),
                &manifest_bytes,
                manifest_digest.as_str(),
            )
            .map_err(EngineError::image)?
            {
                Manifest::Index { index, .. } => matcher
                    .select(&index.manifests)
                    .map_err(EngineError::image)?
                    .clone(),
                Manifest::Image { .. } => break,
            };
            let m = registry
                .get_manifest(&repo, chosen.digest.as_str())
                .await
                .map_err(|e| pull_error(e, &reference))?;
            manifest_digest = chosen.digest.clone();
            manifest_type = m.media_type.clone();
            manifest_bytes = m.bytes.to_vec();
            self.commit_document(&lease, &manifest_digest, manifest_bytes.clone())
                .await?;
        }
        let manifest = match Manifest::parse(
            Some(&manifest_type),
            &manifest_bytes,
            manifest_digest.as_str(),
        )
        .map_err(EngineError::image)?
        {
            Manifest::Image { manifest, .. } => manifest,
            Manifest::Index { .. } => {
                return Err(EngineError::BadImage {
                    reference: reference.familiar(),
                    reason: "indexes nested too deep".into(),
                })
            }
        };

        // The config, small: into memory, then the store. As large as the store reads back
        // (what load allows too), or the image could be pulled and never read again.
        let config_digest = manifest.config.digest.clone();
        if manifest.config.size > berth_image::MAX_DOCUMENT {
            return Err(EngineError::BadImage {
                reference: reference.familiar(),
                reason: format!(
                    "its config {config_digest} is {} bytes, more than the {} bytes allowed",
                    manifest.config.size,
                    berth_image::MAX_DOCUMENT
                ),
            });
        }
        let config_bytes = if self.inner.store.content().exists(&config_digest) {
            let d = config_digest.clone();
            self.blocking(move |s| {
                Ok(s.store.content().read_blob(&d, berth_image::MAX_DOCUMENT)?)
            })
            .await?
        } else {
            let mut buf: Vec<u8> = Vec::new();
            registry
                .fetch_blob(
                    &repo,
                    &config_digest,
                    Some(manifest.config.size),
                    Digester::new(),
                    &mut buf,
                    |_| {},
                )
                .await
                .map_err(|e| pull_error(e, &reference))?;
            buf
        };
        self.commit_document(&lease, &config_digest, config_bytes.clone())
            .await?;
        let config = ImageConfig::parse(&config_bytes, &format!("image config {config_digest}"))
            .map_err(EngineError::image)?;
        let resolved = ResolvedImage {
            manifest_digest: manifest_digest.clone(),
            manifest_media_type: manifest_type.clone(),
            manifest: manifest.clone(),
            config_digest: config_digest.clone(),
            config: config.clone(),
        };
        resolved
            .ensure_platform(&reference.familiar(), &matcher)
            .map_err(EngineError::image)?;
        let mut record = resolved.record().map_err(EngineError::image)?;

        // The layers, unless the image is here already with all of them (then dockerd
        // reports no layer at all).
        let diff_ids = config.rootfs.diff_ids.clone();
        let chains = chain_ids(&diff_ids);
        let existing = {
            let (id, chains) = (config_digest.clone(), chains.clone());
            self.blocking(move |s| {
                let Some(image) = s.store.metadata().image(&id)? else {
                    return Ok(None);
                };
                let complete = chains.iter().all(|c| s.snapshots.stat(c.as_str()).is_ok())
                    && image
                        .layers
                        .iter()
                        .all(|l| s.store.content().exists(&l.blob));
                Ok(complete.then_some(image))
            })
            .await?
        };
        if let Some(image) = existing {
            record = image;
        } else {
            record.size = self
                .pull_layers(
                    &manifest,
                    &diff_ids,
                    &chains,
                    &reference,
                    &registry,
                    &lease,
                    progress.as_ref(),
                )
                .await?;
        }

        // Register the image and its name.
        let up_to_date = before
            .as_ref()
            .is_some_and(|b| b.target == top_digest && b.image_id == config_digest);
        let name = reference.clone();
        let target = top_digest.clone();
        let target_type = top.media_type.clone();
        let image = self
            .blocking(move |s| {
                let md = s.store.metadata();
                let stored = md.put_image(&record)?;
                md.set_ref(&name, &stored.id, &target, &target_type)?;
                // As dockerd: a pull by tag also records `repo@digest` (RepoDigests), unless
                // that digest already names another image.
                if name.tag().is_some() {
                    let by_digest = name.repository().with_digest(target.clone());
                    if md.get_ref(&by_digest)?.is_none() {
                        md.set_ref(&by_digest, &stored.id, &target, &target_type)?;
                    }
                }
                Ok(stored)
            })
            .await?;
        Ok(PullOutcome {
            image,
            reference,
            digest: top_digest,
            up_to_date,
        })
    }

    /// Downloads and unpacks every layer; returns their unpacked size.
    #[allow(clippy::too_many_arguments)]
    async fn pull_layers(
        &self,
        manifest: &berth_image::ImageManifest,
        diff_ids: &[Digest],
        chains: &[Digest],
        reference: &Reference,
        registry: &Registry,
        lease: &str,
        progress: Option<&ProgressSender>,
    ) -> Result<u64, EngineError> {
        let repo = reference.path().to_owned();
        let jobs: Vec<LayerJob> = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| LayerJob {
                reference: reference.clone(),
                registry: registry.clone(),
                repo: repo.clone(),
                lease: lease.to_owned(),
                layer: layer.clone(),
                diff_id: diff_ids[i].clone(),
                chain_id: chains[i].clone(),
                parent: i.checked_sub(1).map(|p| chains[p].clone()),
                progress: progress.cloned(),
            })
            .collect();
        for j in &jobs {
            send(
                j.progress.as_ref(),
                PullProgress::Layer {
                    id: short(&j.layer.digest),
                    status: LayerStatus::PullingFsLayer,
                },
            );
        }
        let sizes: Vec<u64> = if self.inner.snapshots.driver() == Driver::Vfs {
            // vfs snapshots copy their parent: one layer after the other.
            let mut sizes = Vec::new();
            for j in jobs {
                sizes.push(self.pull_layer(j).await?);
            }
            sizes
        } else {
            futures_util::future::try_join_all(jobs.into_iter().map(|j| self.pull_layer(j))).await?
        };
        Ok(sizes.iter().sum())
    }

    /// Adds `digest` to the lease, then commits `data` under it (verified).
    async fn commit_document(
        &self,
        lease: &str,
        digest: &Digest,
        data: Vec<u8>,
    ) -> Result<(), EngineError> {
        let lease = lease.to_owned();
        let digest = digest.clone();
        self.blocking(move |s| {
            s.store.metadata().lease_add(&lease, &digest)?;
            if !s.store.content().exists(&digest) {
                s.store
                    .content()
                    .write_blob(&data, Some(&digest))
                    .map_err(EngineError::image)?;
            }
            Ok(())
        })
        .await
    }

    /// Makes one layer present: its blob in the content store and its snapshot. Returns the
    /// unpacked size.
    async fn pull_layer(&self, job: LayerJob) -> Result<u64, EngineError> {
        let id = short(&job.layer.digest);
        let report = |status| {
            send(
                job.progress.as_ref(),
                PullProgress::Layer {
                    id: id.clone(),
                    status,
                },
            )
        };
        let (blob, lease) = (job.layer.digest.clone(), job.lease.clone());
        let name = job.chain_id.to_string();
        let (have_snapshot, have_blob) = self
            .blocking(move |s| {
                s.store.metadata().lease_add(&lease, &blob)?;
                Ok((
                    s.snapshots.stat(&name).is_ok(),
                    s.store.content().exists(&blob),
                ))
            })
            .await?;
        if have_snapshot && have_blob {
            report(LayerStatus::AlreadyExists);
            return self.snapshot_size(&job).await;
        }
        if !have_blob {
            let this = self.clone();
            let key = job.layer.digest.clone();
            self.inner
                .layers
                .run(key, || this.download_layer(&job, !have_snapshot))
                .await?;
        }
        // The blob is here; the snapshot may still be missing (a blob kept from an image
        // removed earlier, or another pull downloaded it into a different chain).
        let total = job.layer.size;
        report(LayerStatus::Extracting {
            current: total,
            total,
        });
        let size = self.unpack_from_blob(&job).await?;
        report(LayerStatus::PullComplete);
        Ok(size)
    }

    async fn snapshot_size(&self, job: &LayerJob) -> Result<u64, EngineError> {
        let name = job.chain_id.to_string();
        self.blocking(move |s| Ok(s.snapshots.stat(&name)?.size.unwrap_or(0)))
            .await
    }

    /// Applies the committed blob of `job` (nothing is read when the snapshot exists).
    async fn unpack_from_blob(&self, job: &LayerJob) -> Result<u64, EngineError> {
        let blob = job.layer.digest.clone();
        let opts = unpack_options(job);
        let (name, parent) = (
            job.chain_id.to_string(),
            job.parent.as_ref().map(|p| p.to_string()),
        );
        self.blocking(move |s| {
            let file = s
                .store
                .content()
                .open_blob(&blob)
                .map_err(EngineError::image)?;
            let applied = s.snapshots.apply_layer(
                &name,
                parent.as_deref(),
                io::BufReader::new(file),
                &opts,
            )?;
            Ok(applied.info.size.unwrap_or(0))
        })
        .await
    }

    /// Downloads the blob of `job` into its ingest and, with `unpack`, into its snapshot at the
    /// same time; commits the blob.
    async fn download_layer(&self, job: &LayerJob, unpack: bool) -> Result<(), EngineError> {
        let id = short(&job.layer.digest);
        let total = job.layer.size;
        let reference = format!("layer-{}", job.layer.digest);
        let lease = job.lease.clone();
        // Open (or resume) the ingest. The lease names it first, so that it goes with the lease
        // if this daemon dies. The content store hashes every byte it ingests and checks the
        // digest at commit, so the download only counts them (one sha256 pass over the blob,
        // not two).
        let (writer, offset) = self
            .blocking(move |s| {
                s.store.metadata().lease_add_ingest(&lease, &reference)?;
                let mut writer = s
                    .store
                    .content()
                    .writer(&reference)
                    .map_err(EngineError::image)?;
                if writer.offset() > total {
                    writer.reset().map_err(EngineError::image)?;
                }
                let offset = writer.offset();
                Ok((writer, offset))
            })
            .await?;
        let (mut pipe_in, pipe_out) = tokio::io::duplex(PIPE_BUFFER);
        let handle = Handle::current();
        let opts = unpack_options(job);
        let (name, parent) = (
            job.chain_id.to_string(),
            job.parent.as_ref().map(|p| p.to_string()),
        );
        let digest = job.layer.digest.clone();
        let inner = self.inner.clone();
        let unpacker = tokio::task::spawn_blocking(move || -> Result<(), EngineError> {
            let prefix = if offset > 0 {
                Some(writer.read_back().map_err(EngineError::image)?.take(offset))
            } else {
                None
            };
            let mut tee = Tee {
                prefix,
                pipe: BlockingPipe {
                    handle,
                    pipe: pipe_out,
                },
                ingest: writer,
                write_error: None,
            };
            if unpack {
                let applied =
                    inner
                        .snapshots
                        .apply_layer(&name, parent.as_deref(), &mut tee, &opts);
                if let Some(e) = tee.write_error.take() {
                    return Err(EngineError::io("write", inner.store.content().root(), e));
                }
                applied?;
            }
            // Whatever the unpacker left (the end of a compressed stream) goes to the ingest.
            io::copy(&mut tee, &mut io::sink())
                .map_err(|e| EngineError::io("write", inner.store.content().root(), e))?;
            if let Some(e) = tee.write_error.take() {
                return Err(EngineError::io("write", inner.store.content().root(), e));
            }
            tee.ingest
                .commit(&digest, total)
                .map_err(EngineError::image)?;
            Ok(())
        });

        let progress = job.progress.clone();
        let mut last = Instant::now();
        let pid = id.clone();
        let fetched = job
            .registry
            .fetch_blob_unverified(
                &job.repo,
                &job.layer.digest,
                Some(total),
                offset,
                &mut pipe_in,
                move |current| {
                    if last.elapsed() >= PROGRESS_INTERVAL || current == total {
                        last = Instant::now();
                        send(
                            progress.as_ref(),
                            PullProgress::Layer {
                                id: pid.clone(),
                                status: LayerStatus::Downloading { current, total },
                            },
                        );
                    }
                },
            )
            .await;
        // End of stream for the unpacker (or a cut, which it reports as a short stream).
        drop(pipe_in);
        let unpacked = unpacker
            .await
            .map_err(|e| EngineError::Task(format!("layer unpack: {e}")));
        let failure = match (fetched, unpacked) {
            (Ok(_), Ok(Ok(()))) => None,
            // The pipe closed under the download: the unpacker stopped, and says why.
            (Err(RegistryError::Io { .. }), Ok(Err(e)) | Err(e)) => Some((e, false)),
            // A cut connection (after the client's retries): the bytes so far are good and
            // stay in the ingest for the next pull to resume.
            (Err(e), _) if e.kind() == berth_registry::ErrorKind::Unavailable => {
                Some((pull_error(e, &job.reference), true))
            }
            (Err(e), _) => Some((pull_error(e, &job.reference), false)),
            (Ok(_), Ok(Err(e)) | Err(e)) => Some((e, false)),
        };
        if let Some((error, resumable)) = failure {
            if !resumable {
                // Wrong bytes (a digest or diff id mismatch, a corrupt stream): resuming them
                // could never succeed.
                let reference = format!("layer-{}", job.layer.digest);
                let _ = self
                    .blocking(move |s| Ok(s.store.content().abort(&reference)))
                    .await;
            }
            return Err(error);
        }
        send(
            job.progress.as_ref(),
            PullProgress::Layer {
                id: id.clone(),
                status: LayerStatus::VerifyingChecksum,
            },
        );
        send(
            job.progress.as_ref(),
            PullProgress::Layer {
                id,
                status: LayerStatus::DownloadComplete,
            },
        );
        Ok(())
    }
}

fn unpack_options(job: &LayerJob) -> UnpackOptions {
    let mut opts = UnpackOptions::new(job.layer.digest.to_string());
    opts.compression = Compression::from_media_type(&job.layer.media_type);
    opts.expected_diff_id = Some(job.diff_id.to_string());
    opts
}

/// A name docker's pull accepts: normalised, `:latest` when it has neither tag nor digest.
fn parse_pull_reference(input: &str) -> Result<Reference, EngineError> {
    let r = Reference::parse_normalized(input).map_err(EngineError::image)?;
    Ok(if r.digest().is_some() {
        r
    } else {
        r.with_default_tag()
    })
}

/// A registry error in dockerd's words where dockerd has words for it.
fn pull_error(e: RegistryError, reference: &Reference) -> EngineError {
    let message = |e: &RegistryError| match e {
        RegistryError::NotFound { remote, .. }
        | RegistryError::Unauthorized { remote, .. }
        | RegistryError::Status { remote, .. } => remote.message.clone(),
        other => other.to_string(),
    };
    match (&e, e.code()) {
        (RegistryError::NotFound { object, .. }, Some(ErrorCode::ManifestUnknown) | None)
            if object.starts_with("manifest") =>
        {
            EngineError::ManifestUnknown {
                reference: reference.familiar(),
                message: message(&e),
            }
        }
        (RegistryError::NotFound { .. }, Some(ErrorCode::NameUnknown))
        | (RegistryError::Unauthorized { .. }, _) => EngineError::AccessDenied {
            repository: reference.familiar_name(),
            message: message(&e),
        },
        _ => EngineError::Registry(e),
    }
}

/// The 12 hex digits docker shows for a layer.
pub(crate) fn short(d: &Digest) -> String {
    d.hex().chars().take(12).collect()
}

pub(crate) fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{}", N.fetch_add(1, Ordering::Relaxed))
}

/// The read end of the download pipe, read from a blocking thread.
struct BlockingPipe {
    handle: Handle,
    pipe: DuplexStream,
}

impl Read for BlockingPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A blocking-pool thread may wait on the runtime.
        self.handle.block_on(self.pipe.read(buf))
    }
}

/// Reads a layer for the unpacker: first what a resumed ingest holds already, then the
/// download, appending every downloaded byte to the ingest.
struct Tee {
    prefix: Option<io::Take<File>>,
    pipe: BlockingPipe,
    ingest: Writer,
    /// Why the ingest refused bytes (the read that met it failed).
    write_error: Option<io::Error>,
}

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(p) = &mut self.prefix {
            let n = p.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.prefix = None;
        }
        let n = self.pipe.read(buf)?;
        if n > 0 {
            if let Err(e) = self.ingest.write_all(&buf[..n]) {
                let kind = e.kind();
                self.write_error = Some(e);
                return Err(io::Error::new(kind, "cannot write the layer to its ingest"));
            }
        }
        Ok(n)
    }
}

trait NameWithSuffix {
    fn name_with_suffix(&self) -> String;
}

impl NameWithSuffix for Reference {
    /// The whole normalised reference, for single-flight keys.
    fn name_with_suffix(&self) -> String {
        match (self.tag(), self.digest()) {
            (_, Some(d)) => format!("{}@{d}", self.name()),
            (Some(t), None) => format!("{}:{t}", self.name()),
            (None, None) => self.name(),
        }
    }
}
