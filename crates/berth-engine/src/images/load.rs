//! [`ImageService::load`]: a docker-archive (`manifest.json`, what `docker save` writes) or an
//! OCI image layout (`index.json`, what skopeo's `oci-archive:` and docker 25+ write) read from
//! a tar stream into the content store, the snapshotter and the metadata.
//!
//! 1. A lease is taken. Every regular file of the tar is streamed into the content store as it
//!    arrives (nothing is kept in memory or unpacked to a temporary tree): its digest is added
//!    to the lease before it is committed, and a file under `blobs/<alg>/<hex>` must hash to
//!    its name. Symlinks and hard links are recorded as aliases of the paths they name; no
//!    entry may leave the archive (`..` above the top, an absolute name).
//! 2. The index (`manifest.json` first, as dockerd 20.10, else `index.json`) names, for each
//!    image, its config and layers by path (docker-archive) or digest (OCI: entries for other
//!    platforms skipped when one is for the host's, a nested index narrowed to it). Paths are resolved inside the archive; one that leaves it is
//!    refused. The config must list as many diff IDs as there are layers.
//! 3. Every layer is applied from its blob (uncompressed, gzip or zstd) with the snapshotter's
//!    safe unpack, its uncompressed digest checked against the config's diff ID.
//! 4. Only when every image is complete are they registered and tagged; a tag taken from
//!    another image leaves that one dangling, as dockerd says. On any failure before that,
//!    the layers this load created are removed, nothing is registered, and the lease is ended
//!    and garbage collected at once, so no blob of the archive stays behind.

use std::collections::HashMap;
use std::io::{self, Read};

use berth_image::{ImageConfig, ImageRecord, LayerRecord, Manifest, MAX_DOCUMENT};
use berth_oci::media_type::{self as mt, is_index};
use berth_oci::{Digest, Platform, Reference};
use berth_snapshot::{Compression, UnpackOptions};
use serde::Deserialize;
use serde_json::json;

use super::pull::short;
use super::{chain_ids, ImageService, Inner};
use crate::error::EngineError;

/// Most entries a loaded archive may have.
const MAX_ENTRIES: u64 = 100_000;

/// How many links are followed to find a file.
const MAX_LINK_HOPS: usize = 16;

/// What a load reports as it goes, in dockerd's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadEvent {
    /// A layer applied: `id` is the first 12 hex digits of its diff ID (dockerd's
    /// `Loading layer` line, sent only when the client did not ask for quiet).
    Layer {
        id: String,
        current: u64,
        total: u64,
    },
    /// A line of text: `Loaded image: busybox:latest\n`, `Loaded image ID: sha256:...\n`, or
    /// that a tag moved (`The image x:y already exists, renaming the old one ...`).
    Message(String),
}

/// Where a load sends its events.
pub type LoadSender = tokio::sync::mpsc::UnboundedSender<LoadEvent>;

/// One image a load registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    pub id: Digest,
    /// Familiar names (`busybox:latest`).
    pub tags: Vec<String>,
}

/// The files of the archive once ingested: regular files by path, and links.
#[derive(Default)]
struct Entries {
    files: HashMap<String, (Digest, u64)>,
    /// Link path to the (normalised) path it names; `None` when it names something outside.
    links: HashMap<String, Option<String>>,
}

/// Normalises an archive path: `./a//b/` is `a/b`; `..` goes up, and `None` means it went
/// above the archive's top.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl Entries {
    /// The file at `path`, following links inside the archive.
    fn resolve(&self, path: &str, what: &str) -> Result<(Digest, u64), EngineError> {
        let bad = |reason: String| EngineError::InvalidArchive { reason };
        let mut p = normalize(path).ok_or_else(|| {
            bad(format!(
                "invalid {what} path {path:?}: it leaves the archive"
            ))
        })?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&p) {
                return Ok(f.clone());
            }
            match self.links.get(&p) {
                Some(Some(target)) => p = target.clone(),
                Some(None) => {
                    return Err(bad(format!(
                        "invalid {what} path {path:?}: a link that leaves the archive"
                    )))
                }
                None => break,
            }
        }
        Err(bad(format!("{what} {path:?} is not in the archive")))
    }

    fn blob(&self, digest: &Digest, what: &str) -> Result<(Digest, u64), EngineError> {
        self.resolve(
            &format!("blobs/{}/{}", digest.algorithm(), digest.hex()),
            what,
        )
    }
}

/// One image of the archive, complete in the content store.
struct Candidate {
    id: Digest,
    config: ImageConfig,
    /// The manifest that names it (the archive's own, or one made for a docker-archive).
    manifest: Digest,
    manifest_media_type: String,
    /// Layer blobs with their size and media type, bottom first.
    layers: Vec<(Digest, u64, String)>,
    tags: Vec<Reference>,
}

#[derive(Deserialize)]
struct ManifestItem {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

impl ImageService {
    /// Loads the tar archive read from `archive` (a blocking reader: the request body).
    /// Returns the images registered; `progress` receives dockerd's lines as they happen.
    pub async fn load(
        &self,
        archive: Box<dyn Read + Send>,
        progress: Option<LoadSender>,
    ) -> Result<Vec<LoadedImage>, EngineError> {
        let (lease, _guard) = self.new_lease("load").await?;
        self.blocking(move |s| {
            let mut archive = archive;
            let result = load(s, &lease, &mut archive, progress.as_ref());
            if result.is_err() {
                discard(s, &lease);
                // Read what the client still sends, so that it gets the answer rather than
                // a broken pipe.
                drain(&mut archive);
            }
            result
        })
        .await
    }
}

/// Most bytes read and dropped from a request whose load or import failed.
const MAX_DRAIN: u64 = 1 << 30;

/// Reads and drops the rest of `r` (at most [`MAX_DRAIN`] bytes), so that a client still
/// sending the body of a failed request reads its answer instead of meeting a closed socket.
pub(crate) fn drain(r: &mut dyn Read) {
    let _ = io::copy(&mut r.take(MAX_DRAIN), &mut io::sink());
}

/// After a failed load or import: ends its lease at once and collects what it stored, so that
/// no blob of it stays behind (the lease guard's later delete finds nothing).
pub(crate) fn discard(s: &Inner, lease: &str) {
    if let Err(e) = s.store.metadata().delete_lease(lease) {
        tracing::warn!("lease {lease}: {e}");
        return;
    }
    if let Err(e) = s.store.gc(&berth_image::GcOptions::default()) {
        tracing::warn!("garbage collection after a failed load: {e}");
    }
}

fn send(tx: Option<&LoadSender>, e: LoadEvent) {
    if let Some(tx) = tx {
        let _ = tx.send(e);
    }
}

fn tar_error(e: &io::Error) -> EngineError {
    EngineError::InvalidArchive {
        reason: format!("Error processing tar file: {e}"),
    }
}

/// Streams every file of the archive into the content store under `lease`.
fn ingest(s: &Inner, lease: &str, archive: impl Read) -> Result<Entries, EngineError> {
    let content = s.store.content();
    let md = s.store.metadata();
    let mut tar = tar::Archive::new(archive);
    let mut entries = Entries::default();
    let mut count = 0u64;
    let mut buf = vec![0u8; 256 << 10];
    for entry in tar.entries().map_err(|e| tar_error(&e))? {
        let mut entry = entry.map_err(|e| tar_error(&e))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(EngineError::InvalidArchive {
                reason: format!("the archive has more than {MAX_ENTRIES} entries"),
            });
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = match normalize(&raw) {
            Some(p) if !raw.starts_with('/') => p,
            _ => {
                return Err(EngineError::InvalidArchive {
                    reason: format!("invalid archive entry {raw:?}: it leaves the archive"),
                })
            }
        };
        let kind = entry.header().entry_type();
        match kind {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let resolved = if kind == tar::EntryType::Link || target.starts_with('/') {
                    // Hard links name an archive path; absolute symlinks stay in scope.
                    normalize(&target)
                } else {
                    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
                    normalize(&format!("{dir}/{target}"))
                };
                entries.links.insert(path, resolved);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let reference = format!("{lease}-{count}");
                md.lease_add_ingest(lease, &reference)?;
                let mut writer = content.writer(&reference).map_err(EngineError::image)?;
                if writer.offset() > 0 {
                    writer.reset().map_err(EngineError::image)?;
                }
                let copied = (|| -> Result<u64, EngineError> {
                    let mut n = 0u64;
                    loop {
                        let k = entry.read(&mut buf).map_err(|e| tar_error(&e))?;
                        if k == 0 {
                            return Ok(n);
                        }
                        io::Write::write_all(&mut writer, &buf[..k])
                            .map_err(|e| EngineError::io("write", content.root(), e))?;
                        n += k as u64;
                    }
                })();
                let size = match copied {
                    Ok(n) => n,
                    Err(e) => {
                        drop(writer);
                        let _ = content.abort(&reference);
                        return Err(e);
                    }
                };
                let digest = writer.digest();
                let named = path
                    .strip_prefix("blobs/")
                    .and_then(|r| r.split_once('/'))
                    .and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok());
                if let Some(want) = named.filter(|w| *w != digest) {
                    drop(writer);
                    let _ = content.abort(&reference);
                    return Err(EngineError::InvalidArchive {
                        reason: format!(
                            "invalid archive: {path} holds content of digest {digest}, not {want}"
                        ),
                    });
                }
                md.lease_add(lease, &digest)?;
                writer.commit(&digest, size).map_err(EngineError::image)?;
                entries.files.insert(path, (digest, size));
            }
            // Directories hold nothing to load; devices, fifos and the rest are ignored.
            _ => {}
        }
    }
    Ok(entries)
}

fn read_document(s: &Inner, digest: &Digest) -> Result<Vec<u8>, EngineError> {
    s.store
        .content()
        .read_blob(digest, MAX_DOCUMENT)
        .map_err(EngineError::image)
}

fn parse_config(s: &Inner, digest: &Digest) -> Result<ImageConfig, EngineError> {
    let raw = read_document(s, digest)?;
    ImageConfig::parse(&raw, &format!("image config {digest}")).map_err(EngineError::image)
}

/// The media type for a layer blob, from its first bytes.
fn layer_media_type(s: &Inner, blob: &Digest) -> Result<String, EngineError> {
    let mut f = s
        .store
        .content()
        .open_blob(blob)
        .map_err(EngineError::image)?;
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => {
                return Err(EngineError::io(
                    "read",
                    s.store.content().blob_path(blob),
                    e,
                ))
            }
        }
    }
    Ok(match Compression::detect(&head[..n]) {
        Compression::None => mt::OCI_LAYER,
        Compression::Gzip => mt::OCI_LAYER_GZIP,
        Compression::Zstd => mt::OCI_LAYER_ZSTD,
    }
    .to_owned())
}

fn parse_tag(name: &str) -> Result<Reference, EngineError> {
    let r = Reference::parse_normalized(name).map_err(EngineError::image)?;
    if r.digest().is_some() {
        return Err(EngineError::InvalidArchive {
            reason: format!("invalid tag {name:?}: a digest reference"),
        });
    }
    Ok(r.with_default_tag())
}

fn check_layers(id: &Digest, config: &ImageConfig, layers: usize) -> Result<(), EngineError> {
    let diff_ids = config.rootfs.diff_ids.len();
    if diff_ids != layers {
        return Err(EngineError::InvalidArchive {
            reason: format!(
                "invalid manifest, layers length mismatch: expected {diff_ids}, got {layers} \
                 (image {id})"
            ),
        });
    }
    Ok(())
}

/// The images of a docker-archive.
fn docker_archive(
    s: &Inner,
    lease: &str,
    entries: &Entries,
    manifest: &Digest,
) -> Result<Vec<Candidate>, EngineError> {
    let raw = read_document(s, manifest)?;
    let items: Vec<ManifestItem> =
        serde_json::from_slice(&raw).map_err(|e| EngineError::InvalidArchive {
            reason: format!("invalid manifest.json: {e}"),
        })?;
    let mut out = Vec::new();
    for item in items {
        let (id, config_size) = entries.resolve(&item.config, "config")?;
        let config = parse_config(s, &id)?;
        check_layers(&id, &config, item.layers.len())?;
        let mut layers = Vec::new();
        for l in &item.layers {
            let (blob, size) = entries.resolve(l, "layer")?;
            layers.push((blob.clone(), size, layer_media_type(s, &blob)?));
        }
        let tags = item
            .repo_tags
            .unwrap_or_default()
            .iter()
            .map(|t| parse_tag(t))
            .collect::<Result<Vec<_>, _>>()?;
        // A manifest for the image, as a registry would have it.
        let doc = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {"mediaType": mt::OCI_CONFIG, "digest": id, "size": config_size},
            "layers": layers.iter().map(|(d, size, media_type)| json!({
                "mediaType": media_type, "digest": d, "size": size,
            })).collect::<Vec<_>>(),
        }))
        .map_err(|e| EngineError::Task(format!("encode a manifest: {e}")))?;
        let digest = Digest::of(&doc);
        s.store.metadata().lease_add(lease, &digest)?;
        s.store
            .content()
            .write_blob(&doc, Some(&digest))
            .map_err(EngineError::image)?;
        out.push(Candidate {
            id,
            config,
            manifest: digest,
            manifest_media_type: mt::OCI_MANIFEST.into(),
            layers,
            tags,
        });
    }
    Ok(out)
}

/// The name an OCI index entry gives its image, if any: containerd's full name first, else
/// the OCI ref name when it is a whole reference (a bare tag names nothing).
fn oci_name(
    annotations: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Option<Reference>, EngineError> {
    let Some(a) = annotations else {
        return Ok(None);
    };
    if let Some(n) = a.get("io.containerd.image.name") {
        return parse_tag(n).map(Some);
    }
    match a.get("org.opencontainers.image.ref.name") {
        Some(n) if n.contains('/') || n.contains(':') => parse_tag(n).map(Some),
        _ => Ok(None),
    }
}

/// The images of an OCI layout.
fn oci_layout(s: &Inner, entries: &Entries, index: &Digest) -> Result<Vec<Candidate>, EngineError> {
    let raw = read_document(s, index)?;
    let index = match Manifest::parse(Some(mt::OCI_INDEX), &raw, "index.json")
        .map_err(EngineError::image)?
    {
        Manifest::Index { index, .. } => index,
        Manifest::Image { .. } => {
            return Err(EngineError::InvalidArchive {
                reason: "invalid index.json: not an image index".into(),
            })
        }
    };
    let matcher = Platform::host().matcher();
    let mut out: Vec<Candidate> = Vec::new();
    // Entries for other platforms (a multi-platform save) are skipped when some entry is for
    // this host's; an archive of only foreign images loads them all, as a pull by
    // `--platform` would have stored them.
    let for_host =
        |d: &&berth_oci::Descriptor| d.platform.as_ref().is_none_or(|p| matcher.matches(p));
    let entries_wanted: Vec<&berth_oci::Descriptor> =
        if index.manifests.iter().any(|d| for_host(&d)) {
            index.manifests.iter().filter(for_host).collect()
        } else {
            index.manifests.iter().collect()
        };
    for top in entries_wanted {
        let name = oci_name(top.annotations.as_ref())?;
        let mut desc = top.clone();
        let mut found = None;
        for _ in 0..4 {
            let (digest, _) = entries.blob(&desc.digest, "manifest")?;
            let doc = read_document(s, &digest)?;
            match Manifest::parse(Some(&desc.media_type), &doc, digest.as_str())
                .map_err(EngineError::image)?
            {
                Manifest::Index { index, .. } => {
                    desc = matcher
                        .select(&index.manifests)
                        .map_err(EngineError::image)?
                        .clone();
                }
                Manifest::Image {
                    media_type,
                    manifest,
                } => {
                    found = Some((digest, media_type, manifest));
                    break;
                }
            }
        }
        let Some((manifest_digest, media_type, manifest)) = found else {
            return Err(EngineError::InvalidArchive {
                reason: format!("index.json: {} nests indexes too deep", top.digest),
            });
        };
        if is_index(&media_type) {
            continue;
        }
        let (id, _) = entries.blob(&manifest.config.digest, "config")?;
        if let Some(c) = out.iter_mut().find(|c| c.id == id) {
            if let Some(n) = name {
                if !c.tags.contains(&n) {
                    c.tags.push(n);
                }
            }
            continue;
        }
        let config = parse_config(s, &id)?;
        check_layers(&id, &config, manifest.layers.len())?;
        let mut layers = Vec::new();
        for l in &manifest.layers {
            let (blob, size) = entries.blob(&l.digest, "layer")?;
            layers.push((blob, size, l.media_type.clone()));
        }
        out.push(Candidate {
            id,
            config,
            manifest: manifest_digest,
            manifest_media_type: media_type,
            layers,
            tags: name.into_iter().collect(),
        });
    }
    if out.is_empty() {
        return Err(EngineError::InvalidArchive {
            reason: "invalid index.json: it names no image".into(),
        });
    }
    Ok(out)
}

/// Applies every layer of `c`; returns the unpacked size. Snapshots made are pushed to
/// `created`.
fn unpack(
    s: &Inner,
    c: &Candidate,
    created: &mut Vec<String>,
    progress: Option<&LoadSender>,
) -> Result<u64, EngineError> {
    let chains = chain_ids(&c.config.rootfs.diff_ids);
    let mut size = 0;
    for (i, (blob, _, media_type)) in c.layers.iter().enumerate() {
        let diff_id = &c.config.rootfs.diff_ids[i];
        let mut opts = UnpackOptions::new(blob.to_string());
        opts.compression = Compression::from_media_type(media_type);
        opts.expected_diff_id = Some(diff_id.to_string());
        let parent = i.checked_sub(1).map(|p| chains[p].to_string());
        let file = s
            .store
            .content()
            .open_blob(blob)
            .map_err(EngineError::image)?;
        let applied = s.snapshots.apply_layer(
            chains[i].as_str(),
            parent.as_deref(),
            io::BufReader::with_capacity(1 << 20, file),
            &opts,
        )?;
        if let Some(u) = &applied.unpacked {
            created.push(chains[i].to_string());
            send(
                progress,
                LoadEvent::Layer {
                    id: short(diff_id),
                    current: u.tar_size,
                    total: u.tar_size,
                },
            );
        }
        size += applied.info.size.unwrap_or(0);
    }
    Ok(size)
}

/// Removes the snapshots a failed load made, unless an image uses them meanwhile.
fn roll_back(s: &Inner, created: &[String]) {
    let mut used = std::collections::HashSet::new();
    if let Ok(images) = s.store.metadata().images() {
        for other in images {
            let diff_ids: Vec<Digest> = other.layers.iter().map(|l| l.diff_id.clone()).collect();
            used.extend(chain_ids(&diff_ids).into_iter().map(|c| c.to_string()));
        }
    } else {
        return;
    }
    for name in created.iter().rev() {
        if used.contains(name) {
            continue;
        }
        if let Err(e) = s.snapshots.remove(name) {
            tracing::warn!("load: cannot remove layer {name}: {e}");
        }
    }
}

fn load(
    s: &Inner,
    lease: &str,
    archive: &mut Box<dyn Read + Send>,
    progress: Option<&LoadSender>,
) -> Result<Vec<LoadedImage>, EngineError> {
    let entries = ingest(s, lease, archive)?;
    let candidates = if let Some((m, _)) = entries.files.get("manifest.json") {
        docker_archive(s, lease, &entries, m)?
    } else if let Some((i, _)) = entries.files.get("index.json") {
        oci_layout(s, &entries, i)?
    } else {
        return Err(EngineError::InvalidArchive {
            reason: "invalid archive: it has neither manifest.json (docker save) nor \
                     index.json (an OCI layout)"
                .into(),
        });
    };
    let mut created = Vec::new();
    let mut sizes = Vec::new();
    for c in &candidates {
        match unpack(s, c, &mut created, progress) {
            Ok(n) => sizes.push(n),
            Err(e) => {
                roll_back(s, &created);
                return Err(e);
            }
        }
    }
    // Everything is here: register.
    let md = s.store.metadata();
    let mut loaded = Vec::new();
    for (c, size) in candidates.iter().zip(sizes) {
        let record = ImageRecord {
            id: c.id.clone(),
            manifest: c.manifest.clone(),
            media_type: c.manifest_media_type.clone(),
            created: c.config.created.clone(),
            size,
            added: 0,
            layers: c
                .layers
                .iter()
                .zip(&c.config.rootfs.diff_ids)
                .map(|((blob, size, media_type), diff_id)| LayerRecord {
                    diff_id: diff_id.clone(),
                    blob: blob.clone(),
                    media_type: media_type.clone(),
                    size: *size,
                })
                .collect(),
        };
        md.put_image(&record)?;
        let mut tags = Vec::new();
        for t in &c.tags {
            if let Some(old) = md.get_ref(t)? {
                if old.image_id != c.id {
                    send(
                        progress,
                        LoadEvent::Message(format!(
                            "The image {} already exists, renaming the old one with ID {} to \
                             empty string\n",
                            t.familiar(),
                            old.image_id
                        )),
                    );
                }
            }
            md.set_ref(t, &c.id, &c.manifest, &c.manifest_media_type)?;
            send(
                progress,
                LoadEvent::Message(format!("Loaded image: {}\n", t.familiar())),
            );
            tags.push(t.familiar());
        }
        if c.tags.is_empty() {
            send(
                progress,
                LoadEvent::Message(format!("Loaded image ID: {}\n", c.id)),
            );
        }
        loaded.push(LoadedImage {
            id: c.id.clone(),
            tags,
        });
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_archive() {
        assert_eq!(normalize("./a//b/").as_deref(), Some("a/b"));
        assert_eq!(normalize("a/../b").as_deref(), Some("b"));
        assert_eq!(normalize("../etc/passwd"), None);
        assert_eq!(normalize("a/../../b"), None);
    }

    #[test]
    fn links_resolve_inside_the_archive_only() {
        let mut e = Entries::default();
        let d = Digest::of(b"x");
        e.files.insert("blobs/sha256/x".into(), (d.clone(), 1));
        e.links
            .insert("l1/layer.tar".into(), normalize("l1/../blobs/sha256/x"));
        e.links
            .insert("l2/layer.tar".into(), Some("l1/layer.tar".into()));
        e.links.insert("bad".into(), normalize("../../etc"));
        assert_eq!(e.resolve("l2/layer.tar", "layer").unwrap().0, d);
        assert!(e
            .resolve("bad", "layer")
            .unwrap_err()
            .to_string()
            .contains("leaves the archive"));
        assert!(e
            .resolve("../../../etc/passwd", "layer")
            .unwrap_err()
            .to_string()
            .contains("leaves the archive"));
        e.links.insert("loop".into(), Some("loop".into()));
        assert!(e.resolve("loop", "layer").is_err());
    }
}
