//! [`ImageService::save`]: images as one tar archive that both dockerd 20.10's loader
//! (`manifest.json`) and OCI loaders (docker 25+, containerd, skopeo: `index.json`) read.
//!
//! ```text
//! blobs/sha256/<diff id hex>     every layer once, as the uncompressed tar (its digest is the
//!                                diff ID); stored gzip or zstd blobs are decompressed on the way
//! blobs/sha256/<config hex>      the config, byte for byte (its digest is the image id)
//! blobs/sha256/<manifest hex>    an OCI manifest per image, naming the layers by diff ID
//! <v1 id>/VERSION, json          dockerd 20.10's per-layer directory ("1.0", the v1 json)
//! <v1 id>/layer.tar              a symlink to ../blobs/sha256/<diff id hex> (dockerd itself
//!                                links a repeated layer the same way)
//! <config hex>.json              the config again, where manifest.json points
//! index.json, oci-layout         the OCI layout: one descriptor per tag, named with
//!                                io.containerd.image.name and org.opencontainers.image.ref.name
//! manifest.json, repositories    dockerd's: Config (`<hex>.json`), RepoTags, Layers (the
//!                                `blobs/sha256/<diff id hex>` files, as docker 25 names them);
//!                                repo -> tag -> v1 id
//! ```
//!
//! Names are resolved as dockerd's `docker save` does: `repo` alone means every tag of the
//! repository, `repo:tag` that tag (`reference does not exist` when missing), an id or id prefix
//! the image without names. The blobs are held by a lease while the archive is written, so a
//! concurrent `rmi` cannot collect them; each layer is checked against its diff ID before its
//! header is written (a first decompression counts its size), so the archive never carries a
//! layer that would not load.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};

use berth_image::ImageConfig;
use berth_oci::media_type as mt;
use berth_oci::{Digest, DigestWriter, Reference};
use berth_snapshot::{Compression, Decompressor};
use serde_json::{json, Map, Value};

use super::pull::LeaseGuard;
use super::ImageService;
use crate::error::EngineError;

/// What [`ImageService::save`] will write: the images, resolved and leased.
pub struct SavePlan {
    images: Vec<SaveImage>,
    _lease: LeaseGuard,
}

impl std::fmt::Debug for SavePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavePlan")
            .field(
                "images",
                &self.images.iter().map(|i| &i.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

struct SaveImage {
    id: Digest,
    raw_config: Vec<u8>,
    config: ImageConfig,
    /// Tags, normalised (`docker.io/library/busybox:latest`).
    tags: Vec<Reference>,
    layers: Vec<SaveLayer>,
}

#[derive(Clone)]
struct SaveLayer {
    diff_id: Digest,
    blob: Digest,
    compression: Option<Compression>,
}

impl ImageService {
    /// Resolves `names` as `docker save` does and takes a lease on everything the archive
    /// needs. Errors here (an unknown name) come before any byte of the archive.
    pub async fn save_plan(&self, names: Vec<String>) -> Result<SavePlan, EngineError> {
        let (lease, guard) = self.new_lease("save").await?;
        let images = self
            .blocking(move |s| {
                let md = s.store.metadata();
                // (image id, tags) in the order first named.
                let mut wanted: Vec<(Digest, Vec<Reference>)> = Vec::new();
                let mut add = |id: Digest, tag: Option<Reference>| {
                    let pos = match wanted.iter().position(|(i, _)| *i == id) {
                        Some(p) => p,
                        None => {
                            wanted.push((id, Vec::new()));
                            wanted.len() - 1
                        }
                    };
                    if let Some(t) = tag {
                        if !wanted[pos].1.contains(&t) {
                            wanted[pos].1.push(t);
                        }
                    }
                };
                for name in &names {
                    let parsed = Reference::parse_normalized(name).ok();
                    let is_id = Digest::parse(name).is_ok() || Digest::from_hex(name).is_ok();
                    match parsed {
                        Some(r) if !is_id && r.tag().is_none() && r.digest().is_none() => {
                            let mut found = false;
                            for rec in md.refs()? {
                                if rec.reference.tag().is_some()
                                    && rec.reference.repository() == r.repository()
                                {
                                    add(rec.image_id.clone(), Some(rec.reference.clone()));
                                    found = true;
                                }
                            }
                            if !found {
                                // dockerd names the image as typed.
                                let image = s.store.lookup(name).map_err(|e| {
                                    if e.kind() == berth_image::ErrorKind::NotFound {
                                        EngineError::image(
                                            berth_image::MetadataError::NoSuchImage {
                                                image: name.clone(),
                                            },
                                        )
                                    } else {
                                        EngineError::image(e)
                                    }
                                })?;
                                add(image.id, None);
                            }
                        }
                        Some(r) if !is_id => {
                            let Some(rec) = md.get_ref(&r)? else {
                                return Err(EngineError::NoSuchReference {
                                    reference: r.familiar(),
                                });
                            };
                            add(rec.image_id, r.tag().is_some().then_some(r));
                        }
                        _ => add(s.store.lookup(name)?.id, None),
                    }
                }
                let mut out = Vec::new();
                for (id, tags) in wanted {
                    let image = md.image(&id)?.ok_or_else(|| {
                        EngineError::image(berth_image::MetadataError::NoSuchImage {
                            image: id.to_string(),
                        })
                    })?;
                    let raw_config = s
                        .store
                        .content()
                        .read_blob(&id, berth_image::MAX_DOCUMENT)
                        .map_err(EngineError::image)?;
                    let config =
                        ImageConfig::parse(&raw_config, id.as_str()).map_err(EngineError::image)?;
                    if config.rootfs.diff_ids.is_empty() {
                        return Err(EngineError::InvalidParameter(
                            "empty export - not implemented".into(),
                        ));
                    }
                    md.lease_add(&lease, &id)?;
                    let mut layers = Vec::new();
                    for l in &image.layers {
                        md.lease_add(&lease, &l.blob)?;
                        if !s.store.content().exists(&l.blob) {
                            return Err(EngineError::BadImage {
                                reference: id.to_string(),
                                reason: format!("layer blob {} is missing", l.blob),
                            });
                        }
                        layers.push(SaveLayer {
                            diff_id: l.diff_id.clone(),
                            blob: l.blob.clone(),
                            compression: Compression::from_media_type(&l.media_type),
                        });
                    }
                    out.push(SaveImage {
                        id,
                        raw_config,
                        config,
                        tags,
                        layers,
                    });
                }
                Ok(out)
            })
            .await?;
        Ok(SavePlan {
            images,
            _lease: guard,
        })
    }

    /// Writes the archive of `plan` to `out` (on the blocking pool). A failed write (the
    /// client went away) ends it with an error.
    pub async fn save(
        &self,
        plan: SavePlan,
        out: impl Write + Send + 'static,
    ) -> Result<(), EngineError> {
        self.blocking(move |s| {
            let mut w = ArchiveWriter::new(out);
            write_archive(s, &plan.images, &mut w)?;
            w.finish()
        })
        .await
    }
}

/// The tar stream, with every I/O error named after what was being written.
struct ArchiveWriter<W: Write> {
    builder: tar::Builder<W>,
}

fn werr(what: &str, e: io::Error) -> EngineError {
    EngineError::io("write the archive entry", what.to_owned(), e)
}

impl<W: Write> ArchiveWriter<W> {
    fn new(out: W) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        ArchiveWriter { builder }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_uid(0);
        h.set_gid(0);
        let _ = h.set_username("root");
        let _ = h.set_groupname("root");
        h
    }

    fn dir(&mut self, path: &str, mtime: u64) -> Result<(), EngineError> {
        let mut h = Self::header(tar::EntryType::Directory, 0, 0o755, mtime);
        self.builder
            .append_data(&mut h, path, io::empty())
            .map_err(|e| werr(path, e))
    }

    fn file(&mut self, path: &str, data: &[u8], mtime: u64) -> Result<(), EngineError> {
        let mut h = Self::header(tar::EntryType::Regular, data.len() as u64, 0o644, mtime);
        self.builder
            .append_data(&mut h, path, data)
            .map_err(|e| werr(path, e))
    }

    fn stream(
        &mut self,
        path: &str,
        size: u64,
        data: impl Read,
        mtime: u64,
    ) -> Result<(), EngineError> {
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644, mtime);
        let exact = Exact {
            inner: data.take(size),
            left: size,
        };
        self.builder
            .append_data(&mut h, path, exact)
            .map_err(|e| werr(path, e))
    }

    fn symlink(&mut self, path: &str, target: &str, mtime: u64) -> Result<(), EngineError> {
        let mut h = Self::header(tar::EntryType::Symlink, 0, 0o777, mtime);
        self.builder
            .append_link(&mut h, path, target)
            .map_err(|e| werr(path, e))
    }

    fn finish(mut self) -> Result<(), EngineError> {
        self.builder.finish().map_err(|e| werr("end", e))?;
        let mut out = self.builder.into_inner().map_err(|e| werr("end", e))?;
        out.flush().map_err(|e| werr("end", e))
    }
}

/// A reader that fails unless it yields exactly `left` bytes (a layer that changed between
/// the size count and the copy would otherwise corrupt the archive).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the layer ended early",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A sink that hashes and counts.
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The uncompressed tar of a stored layer blob.
fn layer_reader(
    s: &super::Inner,
    layer: &SaveLayer,
) -> Result<Decompressor<io::BufReader<std::fs::File>>, EngineError> {
    let f = s
        .store
        .content()
        .open_blob(&layer.blob)
        .map_err(EngineError::image)?;
    Decompressor::new(io::BufReader::with_capacity(1 << 20, f), layer.compression)
        .map_err(|e| EngineError::io("read", s.store.content().blob_path(&layer.blob), e))
}

/// The size of a layer's uncompressed tar, checked against its diff ID. A blob stored
/// uncompressed whose digest is the diff ID was verified when it was committed: its size is
/// the blob's; any other is decompressed once to count and hash it.
fn layer_size(s: &super::Inner, layer: &SaveLayer) -> Result<u64, EngineError> {
    if layer.blob == layer.diff_id && layer.compression == Some(Compression::None) {
        return Ok(s
            .store
            .content()
            .info(&layer.blob)
            .map_err(EngineError::image)?
            .size);
    }
    let mut r = layer_reader(s, layer)?;
    let mut hashing = DigestWriter::new(Sink);
    io::copy(&mut r, &mut hashing)
        .map_err(|e| EngineError::io("read", s.store.content().blob_path(&layer.blob), e))?;
    let (_, (digest, size)) = hashing.finish();
    if digest != layer.diff_id {
        return Err(EngineError::BadImage {
            reference: layer.blob.to_string(),
            reason: format!(
                "the layer's uncompressed digest is {digest}, not its diff ID {}",
                layer.diff_id
            ),
        });
    }
    Ok(size)
}

/// Unix seconds of an RFC 3339 time, 0 when absent.
fn mtime_of(created: Option<&str>) -> u64 {
    created
        .and_then(berth_api_types::time::parse_rfc3339)
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0)
}

fn to_json(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The keys of a config that dockerd copies into the top layer's v1 json, in its order.
const V1_KEYS: &[&str] = &[
    "comment",
    "created",
    "container",
    "container_config",
    "docker_version",
    "author",
    "config",
    "architecture",
    "variant",
    "os",
];

/// The v1 json of layer `index` of `image` (without `id`/`parent`), dockerd's shape: the
/// image's own fields for the top layer, an epoch creation time for the others.
fn v1_json(image: &SaveImage, index: usize) -> Map<String, Value> {
    let mut m = Map::new();
    if index + 1 == image.layers.len() {
        if let Ok(Value::Object(cfg)) = serde_json::from_slice::<Value>(&image.raw_config) {
            for k in V1_KEYS {
                if let Some(v) = cfg.get(*k) {
                    m.insert((*k).to_owned(), v.clone());
                }
            }
        }
    } else {
        m.insert("created".into(), json!("1970-01-01T00:00:00Z"));
        m.insert(
            "container_config".into(),
            Value::Object(super::changes::empty_config()),
        );
        m.insert("os".into(), json!(image.config.os));
    }
    m
}

fn write_archive<W: Write>(
    s: &super::Inner,
    images: &[SaveImage],
    w: &mut ArchiveWriter<W>,
) -> Result<(), EngineError> {
    w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0)?;
    w.dir("blobs/", 0)?;
    w.dir("blobs/sha256/", 0)?;

    // Layers, each once.
    let mut sizes: BTreeMap<Digest, u64> = BTreeMap::new();
    for image in images {
        let mtime = mtime_of(image.config.created.as_deref());
        for layer in &image.layers {
            if sizes.contains_key(&layer.diff_id) {
                continue;
            }
            let size = layer_size(s, layer)?;
            let path = format!("blobs/sha256/{}", layer.diff_id.hex());
            w.stream(&path, size, layer_reader(s, layer)?, mtime)?;
            sizes.insert(layer.diff_id.clone(), size);
        }
    }

    let mut legacy_manifest = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written_dirs = HashSet::new();
    for image in images {
        let mtime = mtime_of(image.config.created.as_deref());
        w.file(
            &format!("blobs/sha256/{}", image.id.hex()),
            &image.raw_config,
            mtime,
        )?;
        let layers: Vec<Value> = image
            .layers
            .iter()
            .map(|l| {
                json!({
                    "mediaType": mt::OCI_LAYER,
                    "digest": l.diff_id,
                    "size": sizes.get(&l.diff_id).copied().unwrap_or(0),
                })
            })
            .collect();
        let manifest = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": mt::OCI_MANIFEST,
            "config": {
                "mediaType": mt::OCI_CONFIG,
                "digest": image.id,
                "size": image.raw_config.len(),
            },
            "layers": layers,
        }));
        let manifest_digest = Digest::of(&manifest);
        w.file(
            &format!("blobs/sha256/{}", manifest_digest.hex()),
            &manifest,
            0,
        )?;
        let descriptor = |annotations: Option<Value>| {
            let mut d = json!({
                "mediaType": mt::OCI_MANIFEST,
                "digest": manifest_digest,
                "size": manifest.len(),
                "platform": {"architecture": image.config.architecture, "os": image.config.os},
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if image.tags.is_empty() {
            index.push(descriptor(None));
        }
        for t in &image.tags {
            index.push(descriptor(Some(json!({
                "io.containerd.image.name": t.to_string(),
                "org.opencontainers.image.ref.name": t.tag().unwrap_or("latest"),
            }))));
        }

        // dockerd 20.10's per-layer directories.
        let chains = super::chain_ids(
            &image
                .layers
                .iter()
                .map(|l| l.diff_id.clone())
                .collect::<Vec<_>>(),
        );
        let mut parent: Option<String> = None;
        let mut legacy_layers = Vec::new();
        for (i, layer) in image.layers.iter().enumerate() {
            let mut v1 = v1_json(image, i);
            let mut id_input = v1.clone();
            id_input.insert("layer_id".into(), json!(chains[i]));
            if let Some(p) = &parent {
                id_input.insert("parent".into(), json!(format!("sha256:{p}")));
            }
            let v1_id = Digest::of(&to_json(&Value::Object(id_input)))
                .hex()
                .to_owned();
            let mut out = Map::new();
            out.insert("id".into(), json!(v1_id));
            if let Some(p) = &parent {
                out.insert("parent".into(), json!(p));
            }
            out.append(&mut v1);
            if written_dirs.insert(v1_id.clone()) {
                w.dir(&format!("{v1_id}/"), mtime)?;
                w.file(&format!("{v1_id}/VERSION"), b"1.0", mtime)?;
                w.file(
                    &format!("{v1_id}/json"),
                    &to_json(&Value::Object(out)),
                    mtime,
                )?;
                w.symlink(
                    &format!("{v1_id}/layer.tar"),
                    &format!("../blobs/sha256/{}", layer.diff_id.hex()),
                    mtime,
                )?;
            }
            // manifest.json names the layer's regular file, as docker 25 does: readers that
            // do not follow symlinks in the tar (skopeo's docker-archive, containerd's
            // importer) find it there; dockerd 20.10 reads any path.
            legacy_layers.push(format!("blobs/sha256/{}", layer.diff_id.hex()));
            parent = Some(v1_id);
        }
        w.file(
            &format!("{}.json", image.id.hex()),
            &image.raw_config,
            mtime,
        )?;
        let tags: Vec<String> = image.tags.iter().map(Reference::familiar).collect();
        for t in &image.tags {
            if let (Some(tag), Some(top)) = (t.tag(), &parent) {
                repositories
                    .entry(t.familiar_name())
                    .or_default()
                    .insert(tag.to_owned(), top.clone());
            }
        }
        legacy_manifest.push(json!({
            "Config": format!("{}.json", image.id.hex()),
            "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
            "Layers": legacy_layers,
        }));
    }
    let index = to_json(&json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_INDEX,
        "manifests": index,
    }));
    w.file("index.json", &index, 0)?;
    let mut manifest = to_json(&Value::Array(legacy_manifest));
    manifest.push(b'\n');
    w.file("manifest.json", &manifest, 0)?;
    if !repositories.is_empty() {
        let mut repos = to_json(&json!(repositories));
        repos.push(b'\n');
        w.file("repositories", &repos, 0)?;
    }
    Ok(())
}
