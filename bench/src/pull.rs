//! `berth-bench pull`: the time to pull a multi-layer image from a
//! loopback registry, berth side by side with `docker pull` and
//! `podman pull`, and `skopeo copy` to a directory as the floor (download
//! and verify only, no unpack).
//!
//! The image (fixture.rs) is a debootstrap minbase rootfs, a layer of
//! random data, a layer of small files and a whiteout layer, cached in
//! `--fixture-dir`. The benchmark starts a private Distribution registry on
//! a random 127.0.0.1 port and pushes the image with skopeo, a private
//! dockerd and podman with private directories (daemons.rs). Each run
//! removes the image from every puller first (untimed, and checked: no
//! layer directory left), syncs, drops the page cache (on this VM's
//! journal-less ext4 a pull right after a big removal pays seconds in the
//! inode allocator, see daemons::settle_filesystem) and reads the
//! registry's blobs back into it, then times one pull per puller,
//! interleaved; each pull is checked afterwards (all layers there).
//! After one warm-up round come `--runs` measured rounds.
//!
//! berth's row is a private berthd (the `berthd` beside this binary, or
//! `--berthd PATH`) driven by the same docker CLI as dockerd, its image
//! removed with `docker rmi` and `image prune -a` and checked gone (no
//! snapshot, no blob left). `--library` times the image store and
//! snapshotter crates driven in-process instead (library.rs), and
//! `--berth-cmd CMD` times `sh -c CMD` (the image reference in
//! `$BENCH_IMAGE`; `--berth-rm-cmd CMD` removes it between runs).
//!
//! Everything the benchmark starts is stopped, and its directories (under
//! /var/tmp) removed with any mount left in them; it fails if
//! /proc/self/mountinfo still shows one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_image::ImageStore;
use berth_snapshot::Snapshotter;

pub(crate) mod daemons;
mod fixture;
mod library;

use daemons::{Berthd, Dockerd, Podman, Registry};

const REPO: &str = "bench/image";
const TAG: &str = "latest";

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench pull [--runs N] [--fixture-dir DIR] [--berthd PATH | --library | --berth-cmd CMD [--berth-rm-cmd CMD]]"
    );
    std::process::exit(2)
}

/// The berth store of the library pull, made afresh for every run.
#[derive(Debug)]
struct LibraryStores {
    root: PathBuf,
    stores: Option<(ImageStore, Snapshotter)>,
}

impl LibraryStores {
    /// Empties the stores (untimed, as a daemon's would be open already).
    fn reset(&mut self) -> Result<()> {
        self.stores = None;
        daemons::remove_dir(&self.root);
        std::fs::create_dir_all(&self.root)?;
        let images = ImageStore::open(self.root.join("image"))?;
        let snaps = Snapshotter::open(&self.root.join("snapshots"), None)?;
        self.stores = Some((images, snaps));
        Ok(())
    }
}

enum Kind {
    Docker(Dockerd),
    Podman(Podman),
    Skopeo(PathBuf),
    Library(LibraryStores),
    Berthd(Berthd),
    Command {
        pull: String,
        remove: Option<String>,
    },
}

struct Puller {
    name: &'static str,
    kind: Kind,
    times: Vec<Duration>,
}

fn sh(cmd: &str, image: &str) -> Result<()> {
    let st = Command::new("sh")
        .args(["-c", cmd])
        .env("BENCH_IMAGE", image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("spawn sh -c {cmd:?}"))?;
    if !st.success() {
        bail!("sh -c {cmd:?} failed ({st})");
    }
    Ok(())
}

fn skopeo(args: &[&str]) -> Result<()> {
    let out = Command::new("skopeo")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("spawn skopeo")?;
    if !out.status.success() {
        bail!(
            "skopeo {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Puller {
    /// Removes the image so that the next pull fetches and unpacks it all.
    fn remove(&mut self, image: &str) -> Result<()> {
        match &mut self.kind {
            Kind::Docker(d) => {
                if d.docker(&["image", "inspect", image]).is_ok() {
                    d.docker(&["rmi", image])?;
                }
                d.docker(&["image", "prune", "--all", "--force"])?;
                let (images, layers) = (d.docker(&["images", "-aq"])?, d.layer_dirs());
                if !images.trim().is_empty() || layers != 0 {
                    bail!("docker still has images {images:?} or {layers} layer dirs");
                }
            }
            Kind::Podman(p) => {
                p.podman(&["rmi", "--all", "--force"])?;
                if p.layer_dirs() != 0 {
                    bail!("podman still has {} layer dirs", p.layer_dirs());
                }
            }
            Kind::Skopeo(dir) => daemons::remove_dir(dir),
            Kind::Library(l) => l.reset()?,
            Kind::Berthd(b) => {
                if b.docker(&["image", "inspect", image]).is_ok() {
                    b.docker(&["rmi", image])?;
                }
                b.docker(&["image", "prune", "--all", "--force"])?;
                let (images, layers, blobs) =
                    (b.docker(&["images", "-aq"])?, b.layer_dirs(), b.blobs());
                if !images.trim().is_empty() || layers != 0 || blobs != 0 {
                    bail!("berthd still has images {images:?}, {layers} snapshots, {blobs} blobs");
                }
            }
            Kind::Command { remove, .. } => {
                if let Some(cmd) = remove {
                    sh(cmd, image)?;
                }
            }
        }
        Ok(())
    }

    /// One pull (timed by the caller), checked afterwards.
    fn pull(&mut self, image: &str, registry: &str, fix: &fixture::Fixture) -> Result<()> {
        match &mut self.kind {
            Kind::Docker(d) => {
                d.docker(&["pull", "--quiet", image])?;
            }
            Kind::Podman(p) => {
                p.podman(&["pull", "--quiet", "--tls-verify=false", image])?;
            }
            Kind::Skopeo(dir) => {
                let dest = format!("dir:{}", dir.display());
                skopeo(&[
                    "copy",
                    "--quiet",
                    "--src-tls-verify=false",
                    &format!("docker://{image}"),
                    &dest,
                ])?;
            }
            Kind::Library(l) => {
                let Some((images, snaps)) = &l.stores else {
                    bail!("library stores not open");
                };
                let got = library::pull(images, snaps, registry, REPO, TAG)?;
                if got.layers != fix.layers
                    || got.unpacked != fix.unpacked
                    || got.bytes != fix.compressed
                {
                    bail!(
                        "library pull got {} layers, {} bytes, {} unpacked; the fixture has {}, {}, {}",
                        got.layers,
                        got.bytes,
                        got.unpacked,
                        fix.layers,
                        fix.compressed,
                        fix.unpacked
                    );
                }
            }
            Kind::Berthd(b) => {
                b.docker(&["pull", "--quiet", image])?;
            }
            Kind::Command { pull, .. } => sh(pull, image)?,
        }
        Ok(())
    }

    /// Checks the pull left the whole image (untimed).
    fn check(&self, image: &str, fix: &fixture::Fixture) -> Result<()> {
        let (what, layers) = match &self.kind {
            Kind::Docker(d) => {
                d.docker(&["image", "inspect", image])?;
                ("docker layer dirs", d.layer_dirs())
            }
            Kind::Podman(p) => ("podman layer dirs", p.layer_dirs()),
            Kind::Skopeo(dir) => {
                // manifest.json, version, config and the layer blobs.
                let n = std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0);
                ("skopeo dir blobs", n.saturating_sub(3))
            }
            Kind::Library(l) => {
                let Some((images, _)) = &l.stores else {
                    bail!("library stores not open");
                };
                images.lookup(image)?;
                return Ok(());
            }
            Kind::Berthd(b) => {
                b.docker(&["image", "inspect", image])?;
                ("berthd snapshots", b.layer_dirs())
            }
            Kind::Command { .. } => return Ok(()),
        };
        if layers != fix.layers {
            bail!("{what}: {layers}, expected {}", fix.layers);
        }
        Ok(())
    }
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 5usize;
    let mut fixture_dir = PathBuf::from("/var/tmp/berth-bench-fixture");
    let (mut berth_cmd, mut berth_rm) = (None, None);
    // berthd beside this binary (target/release), unless told otherwise.
    let mut berthd = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("berthd")))
        .filter(|p| p.is_file());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        match a.as_str() {
            "--runs" => runs = value().parse().unwrap_or_else(|_| usage()),
            "--fixture-dir" => fixture_dir = PathBuf::from(value()),
            "--berth-cmd" => berth_cmd = Some(value()),
            "--berth-rm-cmd" => berth_rm = Some(value()),
            "--berthd" => berthd = Some(PathBuf::from(value())),
            "--library" => berthd = None,
            _ => usage(),
        }
    }
    for bin in [
        "docker-registry",
        "skopeo",
        "debootstrap",
        "tar",
        "gzip",
        "dockerd",
        "docker",
        "podman",
        "unshare",
    ] {
        if !which(bin) {
            bail!("{bin} not found: run scripts/install-deps.sh");
        }
    }
    let fix = fixture::ensure(&fixture_dir)?;
    println!(
        "image: {} layers, {:.1} MB compressed, {:.1} MB unpacked (tar), manifest {}",
        fix.layers,
        fix.compressed as f64 / 1e6,
        fix.unpacked as f64 / 1e6,
        fix.manifest
    );
    let base = tempfile::Builder::new()
        .prefix("berth-bench-pull-")
        .tempdir_in("/var/tmp")?;
    let result = measure(base.path(), &fix, runs, berth_cmd, berth_rm, berthd);
    // Pullers and daemons were dropped inside measure(): check the host.
    let left = daemons::mounts_under(base.path());
    daemons::remove_dir(base.path());
    if !left.is_empty() {
        bail!("mounts left behind: {left:?}");
    }
    result
}

fn measure(
    base: &Path,
    fix: &fixture::Fixture,
    runs: usize,
    berth_cmd: Option<String>,
    berth_rm: Option<String>,
    berthd: Option<PathBuf>,
) -> Result<()> {
    let registry = Registry::start(base)?;
    let reg = format!("127.0.0.1:{}", registry.port);
    let image = format!("{reg}/{REPO}:{TAG}");
    let t = Instant::now();
    skopeo(&[
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:{}", fix.layout.display(), fixture::TAG),
        &format!("docker://{image}"),
    ])?;
    eprintln!(
        "pushed {image} with skopeo in {:.2} s",
        t.elapsed().as_secs_f64()
    );

    let berth = match berth_cmd {
        Some(pull) => Puller {
            name: "berth (--berth-cmd)",
            kind: Kind::Command {
                pull,
                remove: berth_rm,
            },
            times: Vec::new(),
        },
        None if berthd.is_some() => Puller {
            name: "berth pull (berthd)",
            kind: Kind::Berthd(Berthd::start(
                base,
                berthd.as_deref().unwrap_or(Path::new("berthd")),
            )?),
            times: Vec::new(),
        },
        None => Puller {
            name: "berth library pull (no daemon)",
            kind: Kind::Library(LibraryStores {
                root: base.join("berth"),
                stores: None,
            }),
            times: Vec::new(),
        },
    };
    eprintln!("starting a private dockerd...");
    let mut pullers = vec![
        berth,
        Puller {
            name: "docker pull",
            kind: Kind::Docker(Dockerd::start(base)?),
            times: Vec::new(),
        },
        Puller {
            name: "podman pull",
            kind: Kind::Podman(Podman::new(base)?),
            times: Vec::new(),
        },
        Puller {
            name: "skopeo copy to dir (floor)",
            kind: Kind::Skopeo(base.join("skopeo")),
            times: Vec::new(),
        },
    ];
    for round in 0..=runs {
        for p in pullers.iter_mut() {
            p.remove(&image)
                .with_context(|| format!("{}: remove the image", p.name))?;
            // Write back what the removal and the previous pulls left dirty,
            // so that no pull pays for another's; drop the caches (see
            // settle_filesystem) and read the registry's blobs back in.
            if !daemons::settle_filesystem() {
                eprintln!("warning: cannot drop the page cache (not root?)");
            }
            registry.warm()?;
            let t = Instant::now();
            p.pull(&image, &reg, fix)
                .with_context(|| format!("{}: pull", p.name))?;
            let el = t.elapsed();
            p.check(&image, fix)
                .with_context(|| format!("{}: check", p.name))?;
            if round > 0 {
                p.times.push(el);
            }
            eprintln!(
                "{} {:<32} {:>7.3} s",
                if round == 0 { "warm-up" } else { "run    " },
                p.name,
                el.as_secs_f64()
            );
        }
    }
    println!(
        "pull of {image} from a loopback registry ({runs} runs each, interleaved, after one warm-up)"
    );
    println!(
        "{:<34} {:>8} {:>10} {:>8}",
        "puller", "mean s", "median s", "min s"
    );
    let secs = |t: &[Duration]| {
        let (mean, median, _) = crate::summary(t);
        let min = t.iter().min().map_or(0.0, Duration::as_secs_f64);
        (mean / 1000.0, median / 1000.0, min)
    };
    for p in &pullers {
        let (mean, median, min) = secs(&p.times);
        println!("{:<34} {mean:>8.3} {median:>10.3} {min:>8.3}", p.name);
    }
    let (b, bm, _) = secs(&pullers[0].times);
    for p in &pullers[1..3] {
        let (m, mm, _) = secs(&p.times);
        println!(
            "ratio {}/berth: {:.2}x (mean), {:.2}x (median)",
            p.name.split(' ').next().unwrap_or(p.name),
            m / b,
            mm / bm
        );
    }
    let (s, _, _) = secs(&pullers[3].times);
    println!(
        "berth mean is {:.2}x skopeo's floor (download only, no unpack)",
        b / s
    );
    drop(pullers);
    drop(registry);
    Ok(())
}
