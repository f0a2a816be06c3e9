//! [`ImageService::import`]: a root filesystem tar (plain, gzip or zstd) as a one-layer image,
//! as `docker import` makes it.
//!
//! The body is streamed once into the content store (the blob, as sent) while it is
//! decompressed and hashed: the digest of the whole uncompressed stream is the layer's diff ID,
//! as in dockerd, so importing the same tar into both gives the same layer. The layer is then
//! applied from the blob with the snapshotter's safe unpack (diff ID checked), and a config is
//! written like dockerd's: the host's architecture and os, the `changes` applied to an empty
//! container config, the message as the comment (`Imported from -` without one) and as the
//! one history entry. Everything is under a lease until the image is registered.

use std::io::{self, Read, Write};

use berth_image::{ImageRecord, LayerRecord};
use berth_oci::media_type as mt;
use berth_oci::{Digest, DigestWriter, Platform, Reference};
use berth_snapshot::{Compression, Decompressor, UnpackOptions};
use serde_json::{json, Value};

use super::changes;
use super::{ImageService, Inner};
use crate::error::EngineError;

/// What to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo` or `repo:tag` to name the image; `None` leaves it untagged.
    pub reference: Option<String>,
    /// The comment (`docker import -m`); empty means `Imported from <source>`.
    pub message: String,
    /// Dockerfile instructions (`docker import -c`).
    pub changes: Vec<String>,
    /// Where the tar came from, for the default message (`-` for the request body).
    pub source: String,
}

/// Passes reads through, appending every byte read to `sink`.
struct Tee<R, W> {
    inner: R,
    sink: W,
    error: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.sink.write_all(&buf[..n]) {
            let kind = e.kind();
            self.error = Some(e);
            return Err(io::Error::new(kind, "cannot store the imported tar"));
        }
        Ok(n)
    }
}

struct Discard;

impl Write for Discard {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ImageService {
    /// Imports the tar read from `tar` (a blocking reader: the request body); returns the new
    /// image's id.
    pub async fn import(
        &self,
        tar: Box<dyn Read + Send>,
        options: ImportOptions,
    ) -> Result<Digest, EngineError> {
        let mut tar = tar;
        let result = self.import_inner(&mut tar, options).await;
        if result.is_err() {
            // Read what the client still sends, so that it gets the answer rather than a
            // broken pipe.
            let _ = tokio::task::spawn_blocking(move || super::load::drain(&mut tar)).await;
        }
        result
    }

    async fn import_inner(
        &self,
        tar: &mut Box<dyn Read + Send>,
        options: ImportOptions,
    ) -> Result<Digest, EngineError> {
        // Refuse a bad name or change before reading the body.
        let name = options
            .reference
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| {
                let r = Reference::parse_normalized(r).map_err(EngineError::image)?;
                if r.digest().is_some() {
                    return Err(EngineError::InvalidParameter(
                        "cannot import with a digest reference".into(),
                    ));
                }
                Ok(r.with_default_tag())
            })
            .transpose()?;
        let mut run_config = changes::empty_config();
        changes::apply(&mut run_config, &options.changes)?;

        let (lease, _guard) = self.new_lease("import").await?;
        // The reader goes to the blocking pool and comes back for the caller to drain.
        let mut owned: Box<dyn Read + Send> = Box::new(io::empty());
        std::mem::swap(&mut owned, tar);
        let (result, back) = self
            .blocking(move |s| {
                let mut owned = owned;
                let result = import(s, &lease, &mut owned, name, run_config, &options);
                if result.is_err() {
                    super::load::discard(s, &lease);
                }
                Ok((result, owned))
            })
            .await?;
        *tar = back;
        result
    }
}

fn import(
    s: &Inner,
    lease: &str,
    tar: &mut Box<dyn Read + Send>,
    name: Option<Reference>,
    run_config: serde_json::Map<String, Value>,
    options: &ImportOptions,
) -> Result<Digest, EngineError> {
    let content = s.store.content();
    let md = s.store.metadata();
    let reference = format!("{lease}-layer");
    md.lease_add_ingest(lease, &reference)?;
    let writer = content.writer(&reference).map_err(EngineError::image)?;
    let mut tee = Tee {
        inner: tar,
        sink: writer,
        error: None,
    };
    let read_failed = |tee: &mut Tee<_, _>, e: io::Error| -> EngineError {
        match tee.error.take() {
            Some(w) => EngineError::io("write", content.root(), w),
            None => EngineError::InvalidArchive {
                reason: format!("cannot read the imported tar: {e}"),
            },
        }
    };
    // Decompress and hash; then keep whatever follows the compressed stream in the blob.
    let (diff_id, compression) = {
        let mut dec = match Decompressor::new(&mut tee, None) {
            Ok(d) => d,
            Err(e) => {
                let err = read_failed(&mut tee, e);
                let _ = content.abort(&reference);
                return Err(err);
            }
        };
        let compression = dec.compression();
        let mut hashing = DigestWriter::new(Discard);
        if let Err(e) = io::copy(&mut dec, &mut hashing) {
            drop(dec);
            let err = read_failed(&mut tee, e);
            let _ = content.abort(&reference);
            return Err(err);
        }
        let (_, (diff_id, _)) = hashing.finish();
        (diff_id, compression)
    };
    if let Err(e) = io::copy(&mut tee, &mut Discard) {
        let err = read_failed(&mut tee, e);
        let _ = content.abort(&reference);
        return Err(err);
    }
    let writer = tee.sink;
    let blob = writer.digest();
    md.lease_add(lease, &blob)?;
    let committed = writer.commit_unverified().map_err(EngineError::image)?;

    let media_type = match compression {
        Compression::None => mt::OCI_LAYER,
        Compression::Gzip => mt::OCI_LAYER_GZIP,
        Compression::Zstd => mt::OCI_LAYER_ZSTD,
    };
    let mut opts = UnpackOptions::new(blob.to_string());
    opts.compression = Some(compression);
    opts.expected_diff_id = Some(diff_id.to_string());
    let file = content.open_blob(&blob).map_err(EngineError::image)?;
    let applied = s.snapshots.apply_layer(
        diff_id.as_str(),
        None,
        io::BufReader::with_capacity(1 << 20, file),
        &opts,
    )?;

    let platform = Platform::host();
    let created = berth_api_types::time::rfc3339_nano_fixed(std::time::SystemTime::now());
    let message = if options.message.is_empty() {
        format!(
            "Imported from {}",
            if options.source.is_empty() {
                "-"
            } else {
                &options.source
            }
        )
    } else {
        options.message.clone()
    };
    let mut config = json!({
        "architecture": platform.architecture,
        "comment": message,
        "config": Value::Object(run_config),
        "container_config": Value::Object(changes::empty_config()),
        "created": created,
        "docker_version": crate::VERSION,
        "history": [{"created": created, "comment": message}],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let config = serde_json::to_vec(&config)
        .map_err(|e| EngineError::Task(format!("encode the image config: {e}")))?;
    let id = Digest::of(&config);
    md.lease_add(lease, &id)?;
    content
        .write_blob(&config, Some(&id))
        .map_err(EngineError::image)?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": mt::OCI_MANIFEST,
        "config": {"mediaType": mt::OCI_CONFIG, "digest": id, "size": config.len()},
        "layers": [{"mediaType": media_type, "digest": blob, "size": committed.size}],
    }))
    .map_err(|e| EngineError::Task(format!("encode a manifest: {e}")))?;
    let manifest_digest = Digest::of(&manifest);
    md.lease_add(lease, &manifest_digest)?;
    content
        .write_blob(&manifest, Some(&manifest_digest))
        .map_err(EngineError::image)?;

    let record = ImageRecord {
        id: id.clone(),
        manifest: manifest_digest.clone(),
        media_type: mt::OCI_MANIFEST.into(),
        created: Some(created),
        size: applied.info.size.unwrap_or(0),
        added: 0,
        layers: vec![LayerRecord {
            diff_id,
            blob,
            media_type: media_type.into(),
            size: committed.size,
        }],
    };
    md.put_image(&record)?;
    if let Some(n) = name {
        md.set_ref(&n, &id, &manifest_digest, mt::OCI_MANIFEST)?;
    }
    Ok(id)
}
