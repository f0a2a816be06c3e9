//! "berth library pull (no daemon)": a pull made of berth's library crates,
//! standing in for `POST /images/create` until berthd serves it.
//!
//! The manifest and config are fetched with a small blocking HTTP client
//! (ureq) and committed to the [`ContentStore`]; then every layer is pulled
//! on a thread of its own, the response body streamed at once into a
//! content-store ingest (committed with digest and size checked) and into
//! [`Snapshotter::apply_layer`] (decompressed, diff ID verified, unpacked
//! as the layer's chain ID: the overlay driver takes the layers in any
//! order). Last, the image is registered under its name.
//!
//! No auth, no retries, no resume, no progress: the loopback registry of
//! the benchmark needs none of them, and a real pull will add them.

use std::io::{self, Read, Write};

use anyhow::{bail, Context, Result};
use berth_image::manifest::media_types;
use berth_image::{ContentStore, Digest, ImageStore, Manifest, Platform, Reference, Writer};
use berth_snapshot::{Compression, Snapshotter, UnpackOptions};
use sha2::{Digest as _, Sha256};

/// What one pull did.
#[derive(Debug, Clone)]
pub(crate) struct Pulled {
    pub layers: usize,
    /// Compressed bytes downloaded.
    pub bytes: u64,
    /// Uncompressed tar bytes unpacked.
    pub unpacked: u64,
}

/// The chain IDs of `diff_ids`, bottom first (OCI image spec).
fn chain_ids(diff_ids: &[Digest]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.to_string(),
            Some(parent) => format!(
                "sha256:{}",
                hex::encode(Sha256::digest(format!("{parent} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

fn get(url: &str, accept: Option<&str>) -> Result<ureq::Response> {
    let mut req = ureq::get(url);
    if let Some(a) = accept {
        req = req.set("Accept", a);
    }
    req.call().with_context(|| format!("GET {url}"))
}

/// Reads a small document (manifest, config), at most `MAX_DOCUMENT`.
fn get_document(url: &str, accept: Option<&str>) -> Result<(Option<String>, Vec<u8>)> {
    let resp = get(url, accept)?;
    let media_type = resp.header("Content-Type").map(str::to_owned);
    let mut data = Vec::new();
    resp.into_reader()
        .take(berth_image::MAX_DOCUMENT + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("read {url}"))?;
    if data.len() as u64 > berth_image::MAX_DOCUMENT {
        bail!(
            "{url}: document larger than {} bytes",
            berth_image::MAX_DOCUMENT
        );
    }
    Ok((media_type, data))
}

/// Copies what is read into the content-store ingest as well.
struct Tee<R> {
    source: R,
    sink: Writer,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Downloads one layer into the content store and the snapshotter at once.
fn pull_layer(
    base: &str,
    content: &ContentStore,
    snapshots: &Snapshotter,
    layer: &berth_image::Descriptor,
    diff_id: &Digest,
    chain_id: &str,
    parent: Option<&str>,
) -> Result<u64> {
    let url = format!("{base}/blobs/{}", layer.digest);
    let body = get(&url, None)?.into_reader();
    let sink = content
        .writer(layer.digest.as_str())
        .with_context(|| format!("ingest {}", layer.digest))?;
    let mut tee = Tee { source: body, sink };
    let mut opts = UnpackOptions::new(layer.digest.as_str());
    opts.compression = Compression::from_media_type(&layer.media_type);
    opts.expected_diff_id = Some(diff_id.to_string());
    let t = std::time::Instant::now();
    let applied = snapshots
        .apply_layer(chain_id, parent, &mut tee, &opts)
        .with_context(|| format!("unpack {}", layer.digest))?;
    // The tar ends before the compressed stream does (padding, gzip
    // trailer): the rest still belongs to the blob.
    io::copy(&mut tee, &mut io::sink()).with_context(|| format!("read {url}"))?;
    let unpacked_at = t.elapsed();
    tee.sink
        .commit(&layer.digest, layer.size)
        .with_context(|| format!("commit {}", layer.digest))?;
    if std::env::var_os("BERTH_BENCH_VERBOSE").is_some() {
        eprintln!(
            "  layer {} ({} bytes): download+unpack {:.3} s, commit (fsync) {:.3} s",
            layer.digest.short(),
            layer.size,
            unpacked_at.as_secs_f64(),
            (t.elapsed() - unpacked_at).as_secs_f64()
        );
    }
    Ok(applied.unpacked.map_or(0, |u| u.tar_size))
}

/// Pulls `http://REGISTRY/v2/REPO` tag `tag` into `store` and `snapshots`,
/// and names it `REGISTRY/REPO:TAG`.
pub(crate) fn pull(
    store: &ImageStore,
    snapshots: &Snapshotter,
    registry: &str,
    repo: &str,
    tag: &str,
) -> Result<Pulled> {
    let base = format!("http://{registry}/v2/{repo}");
    let platform = Platform::host().matcher();
    let accept = media_types::ACCEPT.join(", ");
    let content = store.content().clone();
    let (mut media_type, mut data) =
        get_document(&format!("{base}/manifests/{tag}"), Some(&accept))?;
    let target = content.write_blob(&data, None)?;
    let mut doc = Manifest::parse(media_type.as_deref(), &data, repo)?;
    let target_media_type = doc.media_type().to_owned();
    // Follow an index to the host's manifest.
    let manifest = loop {
        match doc {
            Manifest::Index { index, .. } => {
                let chosen = platform.select(&index.manifests)?;
                let url = format!("{base}/manifests/{}", chosen.digest);
                (media_type, data) = get_document(&url, Some(&accept))?;
                content.write_blob(&data, Some(&chosen.digest))?;
                doc = Manifest::parse(media_type.as_deref(), &data, chosen.digest.as_str())?;
            }
            Manifest::Image { manifest, .. } => break manifest,
        }
    };
    let (_, config) = get_document(&format!("{base}/blobs/{}", manifest.config.digest), None)?;
    content.write_blob(&config, Some(&manifest.config.digest))?;
    let config = berth_image::ImageConfig::parse(&config, manifest.config.digest.as_str())?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        bail!(
            "{repo}: {} layers but {} diff_ids",
            manifest.layers.len(),
            diff_ids.len()
        );
    }
    let chains = chain_ids(diff_ids);
    let unpacked = std::thread::scope(|s| -> Result<u64> {
        let handles: Vec<_> = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let (content, base) = (&content, &base);
                let (diff_id, chain) = (&diff_ids[i], &chains[i]);
                let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                s.spawn(move || pull_layer(base, content, snapshots, layer, diff_id, chain, parent))
            })
            .collect();
        let mut total = 0;
        for h in handles {
            match h.join() {
                Ok(r) => total += r?,
                Err(_) => bail!("a layer thread panicked"),
            }
        }
        Ok(total)
    })?;
    let name = Reference::parse_normalized(&format!("{registry}/{repo}:{tag}"))?;
    store.register(&name, &target.digest, &target_media_type, &platform)?;
    Ok(Pulled {
        layers: manifest.layers.len(),
        bytes: manifest.layers.iter().map(|l| l.size).sum(),
        unpacked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_as_the_image_spec() {
        // Reference values from `printf '%s %s' A B | sha256sum`.
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(
            a.as_str(),
            "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
        );
        let chains = chain_ids(&[a.clone(), b]);
        assert_eq!(chains[0], a.to_string());
        assert_eq!(
            chains[1],
            "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
        );
    }
}
