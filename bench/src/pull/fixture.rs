//! The benchmark images, built once and cached in a directory: a
//! small-file-heavy one ([`ensure`], the layout below) and one of large
//! incompressible files ([`ensure_large`], in `DIR/large`: a busybox rootfs,
//! files of 64 MiB, 30 MB and 10 MB of random data, one layer each, and 200
//! small text files).
//!
//! ```text
//! DIR/rootfs/        debootstrap --variant=minbase bookworm, apt caches emptied (as Debian's
//!                    official images are)
//! DIR/oci/           OCI image layout, tag `bench`, each layer `tar --format=pax | gzip -n`:
//!                      1. the rootfs                          (/)
//!                      2. 64 MiB of random data                (/opt/bench-random)
//!                      3. 13,000 small text files of 1-8 KiB   (/opt/bench-small)
//!                      4. a whiteout of /usr/share/doc
//! DIR/fixture.json   written last: the manifest digest and the sizes; the fixture is reused
//!                    when this file names the manifest that oci/index.json tags `bench` and
//!                    every blob is there with its size
//! ```
//!
//! A build verifies every layer once (compressed digest and diff ID) and records the sizes.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use sha2::{Digest as _, Sha256};

/// The OCI layout tag of the image.
pub(crate) const TAG: &str = "bench";

/// Bumped when the recipe changes, so an old cache is rebuilt.
const RECIPE: u64 = 3;

const RANDOM_FILES: usize = 8;
const RANDOM_FILE_BYTES: usize = 8 << 20;
const SMALL_FILES: usize = 13_000;

/// A complete fixture.
#[derive(Debug, Clone)]
pub(crate) struct Fixture {
    /// The OCI layout (`DIR/oci`).
    pub layout: PathBuf,
    pub manifest: String,
    pub layers: usize,
    /// Sum of the compressed layer blobs.
    pub compressed: u64,
    /// Sum of the uncompressed layer tars.
    pub unpacked: u64,
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn run(cmd: &mut Command) -> Result<()> {
    let st = cmd
        .status()
        .with_context(|| format!("spawn {:?}", cmd.get_program()))?;
    if !st.success() {
        bail!("{cmd:?} failed ({st})");
    }
    Ok(())
}

/// The Debian mirror the host's apt sources name (deb822 or one-line
/// format), else deb.debian.org.
fn debian_mirror() -> String {
    let mut texts = Vec::new();
    for p in [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ] {
        if let Ok(t) = fs::read_to_string(p) {
            texts.push(t);
        }
    }
    for t in &texts {
        for line in t.lines().map(str::trim) {
            if let Some(uris) = line.strip_prefix("URIs:") {
                if let Some(u) = uris.split_whitespace().find(|u| !u.contains("security")) {
                    return u.to_string();
                }
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 3
                && f[0] == "deb"
                && f[2].starts_with("bookworm")
                && !f[1].contains("security")
            {
                return f[1].to_string();
            }
        }
    }
    "http://deb.debian.org/debian".into()
}

/// splitmix64: enough randomness for incompressible bytes, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() ^ (u64::from(d.subsec_nanos()) << 32))
        .unwrap_or(1)
}

fn write_random(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    let mut rng = Rng(seed());
    for i in 0..RANDOM_FILES {
        write_random_file(
            &mut rng,
            &dir.join(format!("blob-{i}.bin")),
            RANDOM_FILE_BYTES,
        )?;
    }
    Ok(())
}

/// One file of `len` incompressible bytes.
fn write_random_file(rng: &mut Rng, path: &Path, len: usize) -> Result<()> {
    let mut buf = vec![0u8; len];
    for chunk in buf.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, &buf).with_context(|| format!("write {}", path.display()))
}

/// A busybox rootfs: the static binary from Debian's busybox-static and a
/// symlink for each of its applets, as busybox's official image has.
fn busybox_rootfs(root: &Path) -> Result<()> {
    let bin = root.join("bin");
    fs::create_dir_all(&bin)?;
    fs::copy("/bin/busybox", bin.join("busybox"))
        .context("copy /bin/busybox (apt-get install busybox-static)")?;
    let out = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .context("busybox --list")?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", bin.join(applet))?;
    }
    for d in ["etc", "tmp", "root", "var", "usr"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(root.join("etc/group"), "root:x:0:\n")?;
    Ok(())
}

/// Bumped when the large recipe changes.
const LARGE_RECIPE: u64 = 1;

/// The fixture of large incompressible files in `DIR/large`, built unless
/// cached.
pub(crate) fn ensure_large(dir: &Path) -> Result<Fixture> {
    let dir = dir.join("large");
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    match load(&dir, LARGE_RECIPE) {
        Ok(f) => return Ok(f),
        Err(e) if dir.join("fixture.json").exists() => {
            eprintln!("fixture: cached large one is not usable ({e:#}); rebuilding");
        }
        Err(_) => {}
    }
    let _ = fs::remove_file(dir.join("fixture.json"));
    let work = dir.join("work");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    eprintln!("fixture: generating the large-file layers...");
    busybox_rootfs(&work.join("busybox"))?;
    let mut rng = Rng(seed());
    let sizes = [
        ("random64", 64 << 20),
        ("random30", 30_000_000),
        ("random10", 10_000_000),
    ];
    for (name, len) in sizes {
        write_random_file(
            &mut rng,
            &work.join(name).join(format!("opt/{name}.bin")),
            len,
        )?;
    }
    write_small_n(&work.join("small/etc/bench"), 200)?;
    let layout = dir.join("oci");
    if layout.exists() {
        fs::remove_dir_all(&layout)?;
    }
    eprintln!("fixture: writing the large OCI layout (tar | gzip)...");
    let mut layers = vec![layer_blob(&layout, &work.join("busybox"), &["."])?];
    for (name, _) in sizes {
        let rel = format!("opt/{name}.bin");
        layers.push(layer_blob(&layout, &work.join(name), &[rel.as_str()])?);
    }
    layers.push(layer_blob(&layout, &work.join("small"), &["etc/bench"])?);
    let history = [
        "busybox rootfs",
        "64 MiB of random data",
        "30 MB of random data",
        "10 MB of random data",
        "200 small text files in /etc/bench",
    ];
    write_layout(&layout, &layers, &history)?;
    fs::remove_dir_all(&work)?;
    record(&dir, &layout, LARGE_RECIPE)
}

/// Small text files that compress about 5:1, like source trees and configs.
fn write_small(dir: &Path) -> Result<()> {
    write_small_n(dir, SMALL_FILES)
}

/// `n` small text files (a multiple of 250 for more than 250), 250 to a
/// directory.
fn write_small_n(dir: &Path, n: usize) -> Result<()> {
    const WORDS: &[&str] = &[
        "container",
        "image",
        "layer",
        "digest",
        "manifest",
        "config",
        "runtime",
        "mount",
        "overlay",
        "snapshot",
        "registry",
        "blob",
        "tag",
        "pull",
        "push",
        "network",
        "volume",
        "cgroup",
        "namespace",
        "seccomp",
        "capability",
        "process",
        "signal",
        "socket",
        "daemon",
        "shim",
        "state",
        "bundle",
        "rootfs",
        "whiteout",
        "opaque",
        "chain",
    ];
    let mut rng = Rng(seed() ^ 0x5555);
    for d in 0..n.div_ceil(250) {
        let sub = dir.join(format!("d{d:03}"));
        fs::create_dir_all(&sub)?;
        for f in 0..n.min(250) {
            let want = 1024 + rng.below(7 * 1024);
            let mut text = String::with_capacity(want + 64);
            let mut line = 0;
            while text.len() < want {
                line += 1;
                text.push_str(&format!("{line:04} {:08x}", rng.next() >> 32));
                for _ in 0..8 {
                    text.push(' ');
                    text.push_str(WORDS[rng.below(WORDS.len())]);
                }
                text.push('\n');
            }
            fs::write(sub.join(format!("f{f:03}.txt")), text)?;
        }
    }
    Ok(())
}

/// The base rootfs, made by debootstrap unless present.
fn rootfs(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("rootfs");
    if root.join("etc/debian_version").is_file() {
        return Ok(root);
    }
    let tmp = dir.join("rootfs.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("remove {}", tmp.display()))?;
    }
    let mirror = debian_mirror();
    eprintln!("fixture: debootstrap --variant=minbase bookworm from {mirror} (a minute or two)...");
    let log = fs::File::create(dir.join("debootstrap.log"))?;
    run(Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(&tmp)
        .arg(&mirror)
        .stdout(log.try_clone()?)
        .stderr(log))
    .with_context(|| {
        format!(
            "debootstrap (log: {})",
            dir.join("debootstrap.log").display()
        )
    })?;
    // As Debian's official images: no package cache, no package lists.
    for sub in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let p = tmp.join(sub);
        for e in fs::read_dir(&p).with_context(|| format!("list {}", p.display()))? {
            let e = e?;
            if e.file_type()?.is_file() {
                fs::remove_file(e.path())?;
            }
        }
    }
    fs::rename(&tmp, &root)?;
    Ok(root)
}

/// Returns the cached fixture if it is complete, else builds it.
pub(crate) fn ensure(dir: &Path) -> Result<Fixture> {
    fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    match load(dir, RECIPE) {
        Ok(f) => return Ok(f),
        Err(e) if dir.join("fixture.json").exists() => {
            eprintln!("fixture: cached one is not usable ({e:#}); rebuilding");
        }
        Err(_) => {}
    }
    let _ = fs::remove_file(dir.join("fixture.json"));
    let root = rootfs(dir)?;
    let work = dir.join("work");
    if work.exists() {
        fs::remove_dir_all(&work)?;
    }
    eprintln!("fixture: generating the random and small-file layers...");
    write_random(&work.join("random/opt/bench-random"))?;
    write_small(&work.join("small/opt/bench-small"))?;
    let layout = dir.join("oci");
    if layout.exists() {
        fs::remove_dir_all(&layout)?;
    }
    eprintln!("fixture: writing the OCI layout (tar | gzip)...");
    let whiteout = work.join("whiteout");
    fs::create_dir_all(whiteout.join("usr/share"))?;
    fs::write(whiteout.join("usr/share/.wh.doc"), "")?;
    let layers = [
        layer_blob(&layout, &root, &["."])?,
        layer_blob(&layout, &work.join("random"), &["opt/bench-random"])?,
        layer_blob(&layout, &work.join("small"), &["opt/bench-small"])?,
        layer_blob(&layout, &whiteout, &["usr/share/.wh.doc"])?,
    ];
    let history = [
        "debootstrap --variant=minbase bookworm",
        "random data in /opt/bench-random",
        "small files in /opt/bench-small",
        "rm -rf /usr/share/doc",
    ];
    write_layout(&layout, &layers, &history)?;
    fs::remove_dir_all(&work)?;
    record(dir, &layout, RECIPE)
}

/// Verifies the layout's layers, writes `fixture.json` and loads it.
fn record(dir: &Path, layout: &Path, recipe: u64) -> Result<Fixture> {
    let (manifest, layers) = read_layout(layout)?;
    let (mut compressed, mut unpacked) = (0, 0);
    for l in &layers {
        let u = verify_layer(layout, l)?;
        compressed += l.size;
        unpacked += u;
    }
    let record = serde_json::json!({
        "recipe": recipe,
        "manifest": manifest,
        "layers": layers.len(),
        "compressed": compressed,
        "unpacked": unpacked,
    });
    fs::write(
        dir.join("fixture.json"),
        serde_json::to_vec_pretty(&record)?,
    )?;
    load(dir, recipe)
}

#[derive(Debug)]
struct Layer {
    digest: String,
    size: u64,
    diff_id: String,
}

fn blob_path(layout: &Path, digest: &str) -> Result<PathBuf> {
    let hex = digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .with_context(|| format!("not a sha256 digest: {digest}"))?;
    Ok(layout.join("blobs/sha256").join(hex))
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let data = fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&data).with_context(|| format!("parse {}", path.display()))
}

/// The manifest digest tagged `bench` and its layers with their diff IDs.
fn read_layout(layout: &Path) -> Result<(String, Vec<Layer>)> {
    let index = read_json(&layout.join("index.json"))?;
    let manifest = index["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == TAG)
        .and_then(|m| m["digest"].as_str())
        .context("index.json tags no `bench` manifest")?
        .to_string();
    let mpath = blob_path(layout, &manifest)?;
    let mdata = fs::read(&mpath).with_context(|| format!("read {}", mpath.display()))?;
    if format!("sha256:{}", sha256_hex(&mdata)) != manifest {
        bail!("manifest blob {manifest} does not match its digest");
    }
    let m: serde_json::Value = serde_json::from_slice(&mdata)?;
    let config_digest = m["config"]["digest"]
        .as_str()
        .context("manifest has no config")?;
    let config = read_json(&blob_path(layout, config_digest)?)?;
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .context("config has no diff_ids")?;
    let descs = m["layers"].as_array().context("manifest has no layers")?;
    if descs.len() != diff_ids.len() {
        bail!(
            "manifest has {} layers, config {} diff_ids",
            descs.len(),
            diff_ids.len()
        );
    }
    let mut layers = Vec::new();
    for (d, id) in descs.iter().zip(diff_ids) {
        layers.push(Layer {
            digest: d["digest"].as_str().context("layer without digest")?.into(),
            size: d["size"].as_u64().context("layer without size")?,
            diff_id: id.as_str().context("diff_id not a string")?.into(),
        });
    }
    Ok((manifest, layers))
}

/// Tars `names` under `src` (GNU tar, pax format, numeric owners, xattrs),
/// gzips it into the layout's blobs and returns (digest, size, diff ID).
fn layer_blob(layout: &Path, src: &Path, names: &[&str]) -> Result<Layer> {
    let blobs = layout.join("blobs/sha256");
    fs::create_dir_all(&blobs)?;
    let tmp = blobs.join("layer.tmp");
    let mut tar = Command::new("tar")
        .args([
            "--format=pax",
            "--numeric-owner",
            "--xattrs",
            "--xattrs-include=*",
            "-C",
        ])
        .arg(src)
        .arg("-c")
        .args(names)
        .stdout(Stdio::piped())
        .spawn()
        .context("spawn tar")?;
    let mut gzip = Command::new("gzip")
        .args(["-n", "-6"])
        .stdin(Stdio::piped())
        .stdout(fs::File::create(&tmp)?)
        .spawn()
        .context("spawn gzip")?;
    let (Some(out), Some(mut gz_in)) = (tar.stdout.take(), gzip.stdin.take()) else {
        bail!("tar or gzip without a pipe");
    };
    let mut hashing = Hashing {
        inner: out,
        hash: Sha256::new(),
        count: 0,
    };
    io::copy(&mut hashing, &mut gz_in).context("tar | gzip")?;
    drop(gz_in);
    if !tar.wait()?.success() || !gzip.wait()?.success() {
        bail!("tar -C {} {names:?} | gzip failed", src.display());
    }
    let diff_id = format!("sha256:{}", hex::encode(hashing.hash.finalize()));
    let (digest, size) = {
        let mut f = Hashing {
            inner: fs::File::open(&tmp)?,
            hash: Sha256::new(),
            count: 0,
        };
        io::copy(&mut f, &mut io::sink())?;
        (
            format!("sha256:{}", hex::encode(f.hash.finalize())),
            f.count,
        )
    };
    fs::rename(&tmp, blob_path(layout, &digest)?)?;
    Ok(Layer {
        digest,
        size,
        diff_id,
    })
}

/// Writes a blob by its digest; returns (digest, size).
fn put_blob(layout: &Path, data: &[u8]) -> Result<(String, u64)> {
    let digest = format!("sha256:{}", sha256_hex(data));
    fs::write(blob_path(layout, &digest)?, data)?;
    Ok((digest, data.len() as u64))
}

/// The config, manifest, index.json and oci-layout of the image.
fn write_layout(layout: &Path, layers: &[Layer], history: &[&str]) -> Result<()> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let created = "2026-01-01T00:00:00Z";
    let config = serde_json::json!({
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| &l.diff_id).collect::<Vec<_>>()},
        "history": history.iter().map(|h| serde_json::json!({"created": created, "created_by": h})).collect::<Vec<_>>(),
    });
    let (config_digest, config_size) = put_blob(layout, &serde_json::to_vec(&config)?)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": layers.iter().map(|l| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": l.digest,
            "size": l.size,
        })).collect::<Vec<_>>(),
    });
    let (m_digest, m_size) = put_blob(layout, &serde_json::to_vec(&manifest)?)?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": m_digest,
            "size": m_size,
            "annotations": {"org.opencontainers.image.ref.name": TAG},
        }],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&index)?)?;
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    Ok(())
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    count: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// Checks a layer's blob digest and diff ID; returns its uncompressed size.
fn verify_layer(layout: &Path, l: &Layer) -> Result<u64> {
    let path = blob_path(layout, &l.digest)?;
    let file = fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
    let mut blob = Hashing {
        inner: io::BufReader::new(file),
        hash: Sha256::new(),
        count: 0,
    };
    let mut tar = Hashing {
        inner: flate2::read::MultiGzDecoder::new(&mut blob),
        hash: Sha256::new(),
        count: 0,
    };
    io::copy(&mut tar, &mut io::sink()).with_context(|| format!("gunzip {}", l.digest))?;
    let (diff_id, unpacked) = (
        format!("sha256:{}", hex::encode(tar.hash.finalize())),
        tar.count,
    );
    io::copy(&mut blob, &mut io::sink())?;
    let digest = format!("sha256:{}", hex::encode(blob.hash.finalize()));
    if digest != l.digest || blob.count != l.size {
        bail!(
            "layer {} reads as {digest} ({} bytes)",
            l.digest,
            blob.count
        );
    }
    if diff_id != l.diff_id {
        bail!(
            "layer {} has diff ID {diff_id}, the config says {}",
            l.digest,
            l.diff_id
        );
    }
    Ok(unpacked)
}

/// The cached fixture, if `fixture.json` matches the layout.
fn load(dir: &Path, recipe: u64) -> Result<Fixture> {
    let rec = read_json(&dir.join("fixture.json"))?;
    if rec["recipe"].as_u64() != Some(recipe) {
        bail!("made by another recipe");
    }
    let layout = dir.join("oci");
    let (manifest, layers) = read_layout(&layout)?;
    if rec["manifest"].as_str() != Some(manifest.as_str()) {
        bail!("fixture.json names another manifest than oci/index.json");
    }
    for l in &layers {
        let p = blob_path(&layout, &l.digest)?;
        let len = fs::metadata(&p)
            .with_context(|| format!("stat {}", p.display()))?
            .len();
        if len != l.size {
            bail!("{} has {len} bytes, expected {}", p.display(), l.size);
        }
    }
    Ok(Fixture {
        layout,
        manifest,
        layers: layers.len(),
        compressed: rec["compressed"].as_u64().context("no compressed size")?,
        unpacked: rec["unpacked"].as_u64().context("no unpacked size")?,
    })
}

/// Writes `text` to `path` (for small config files).
pub(crate) fn write_file(path: &Path, text: &str) -> Result<()> {
    let mut f = fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
