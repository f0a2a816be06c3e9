//! `berth-bench pull`: the time to pull a multi-layer image from a
//! loopback registry, berth side by side with `docker pull` and
//! `podman pull`, and `skopeo copy` to a directory as the floor (download
//! and verify only, no unpack).
//!
//! Two images (fixture.rs), cached in `--fixture-dir`: `debian`, heavy in
//! small files (a debootstrap minbase rootfs, a layer of random data, a
//! layer of 13,000 small files and a whiteout layer), and `large`, of large
//! incompressible files (busybox, 64 MiB, 30 MB and 10 MB of random data,
//! 200 small files). The benchmark starts a private Distribution registry
//! on a random 127.0.0.1 port and pushes both with skopeo, a private
//! dockerd and podman with private directories (daemons.rs).
//!
//! Each image is pulled in two cases, every puller in turn, one warm-up
//! round then `--runs` measured rounds:
//!
//! * `cold`: the image is removed (untimed, and checked: no layer
//!   directory left), then the host syncs, drops the page cache and reads
//!   the registry's blobs back in, and the pull is timed. This stands for a
//!   pull long after any removal: on this VM's journal-less ext4 a file
//!   created within 60 s of an inode's deletion (300 s while the inode's
//!   table block is dirty) makes the allocator skip that inode with one
//!   buffer-cache lookup, every allocation again (`recently_deleted()` in
//!   fs/ext4/ialloc.c), and a dropped cache ends that window at once, as
//!   70 s (or 5 minutes) of waiting would (daemons::settle_filesystem).
//! * `after-rm`: the host settles first, then the image is removed and the
//!   pull timed right after: `docker rmi x && docker pull x`, with the page
//!   cache warm and the removed inodes fresh, as users meet it.
//!
//! berth's row is a private berthd (the `berthd` beside this binary, or
//! `--berthd PATH`) driven by the same docker CLI as dockerd, its image
//! removed with `docker rmi` and `image prune -a` and checked gone (no
//! snapshot, no blob left); berthd frees removed snapshots in the
//! background once idle (their files truncated after 5 s, their inodes
//! deleted after 5 minutes), and the benchmark waits for the first step to
//! end before the next puller's turn (and, in the cold case, before the
//! settle), so that its work never lands in another's time. `--library` times the image
//! store and snapshotter crates driven in-process instead (library.rs), and
//! `--berth-cmd CMD` times `sh -c CMD` (the image reference in
//! `$BENCH_IMAGE`; `--berth-rm-cmd CMD` removes it between runs).
//! `--fixture debian|large|both` and `--case cold|after-rm|both` narrow the
//! run.
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

const TAG: &str = "latest";

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench pull [--runs N] [--fixture-dir DIR] [--fixture debian|large|both] [--case cold|after-rm|both]\n       \
         [--berthd PATH | --library | --berth-cmd CMD [--berth-rm-cmd CMD]]"
    );
    std::process::exit(2)
}

/// The berth store of the library pull, made afresh for every run.
#[derive(Debug)]
struct LibraryStores {
    root: PathBuf,
    /// Boxed: a store with its reaper thread is large beside the other kinds.
    stores: Option<Box<(ImageStore, Snapshotter)>>,
}

impl LibraryStores {
    /// Empties the stores (untimed, as a daemon's would be open already).
    fn reset(&mut self) -> Result<()> {
        self.stores = None;
        daemons::remove_dir(&self.root);
        std::fs::create_dir_all(&self.root)?;
        let images = ImageStore::open(self.root.join("image"))?;
        let snaps = Snapshotter::open(&self.root.join("snapshots"), None)?;
        self.stores = Some(Box::new((images, snaps)));
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
}

/// When a pull happens relative to the removal of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    /// Caches dropped after the removal: as long after it.
    Cold,
    /// Right after the removal, caches warm.
    AfterRemoval,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Cold => "cold",
            Case::AfterRemoval => "after-rm",
        }
    }
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
                let Some((images, snaps)) = l.stores.as_deref() else {
                    bail!("library stores not open");
                };
                let repo = image
                    .split_once('/')
                    .and_then(|(_, r)| r.rsplit_once(':'))
                    .map_or("", |(r, _)| r);
                let got = library::pull(images, snaps, registry, repo, TAG)?;
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

    /// Waits until the puller's background work is done (berthd deleting
    /// removed snapshots once idle).
    fn settle(&self) -> Result<()> {
        if let Kind::Berthd(b) = &self.kind {
            b.wait_trash_settled(Duration::from_secs(120))?;
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
                let Some((images, _)) = l.stores.as_deref() else {
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
    let (mut fixtures, mut cases) = (
        vec!["debian", "large"],
        vec![Case::Cold, Case::AfterRemoval],
    );
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
            "--fixture" => {
                fixtures = match value().as_str() {
                    "debian" => vec!["debian"],
                    "large" => vec!["large"],
                    "both" => vec!["debian", "large"],
                    _ => usage(),
                }
            }
            "--case" => {
                cases = match value().as_str() {
                    "cold" => vec![Case::Cold],
                    "after-rm" => vec![Case::AfterRemoval],
                    "both" => vec![Case::Cold, Case::AfterRemoval],
                    _ => usage(),
                }
            }
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
    let mut fixs = Vec::new();
    for name in &fixtures {
        let fix = match *name {
            "debian" => fixture::ensure(&fixture_dir)?,
            _ => fixture::ensure_large(&fixture_dir)?,
        };
        println!(
            "image {name}: {} layers, {:.1} MB compressed, {:.1} MB unpacked (tar), manifest {}",
            fix.layers,
            fix.compressed as f64 / 1e6,
            fix.unpacked as f64 / 1e6,
            fix.manifest
        );
        fixs.push((*name, fix));
    }
    let base = tempfile::Builder::new()
        .prefix("berth-bench-pull-")
        .tempdir_in("/var/tmp")?;
    let result = measure(
        base.path(),
        &fixs,
        &cases,
        runs,
        berth_cmd,
        berth_rm,
        berthd,
    );
    // Pullers and daemons were dropped inside measure(): check the host.
    let left = daemons::mounts_under(base.path());
    daemons::remove_dir(base.path());
    if !left.is_empty() {
        bail!("mounts left behind: {left:?}");
    }
    result
}

/// The times of every puller for one image and case.
struct Series {
    fixture: &'static str,
    case: Case,
    image: String,
    /// Per puller, in the order of `pullers`.
    times: Vec<Vec<Duration>>,
}

fn measure(
    base: &Path,
    fixs: &[(&'static str, fixture::Fixture)],
    cases: &[Case],
    runs: usize,
    berth_cmd: Option<String>,
    berth_rm: Option<String>,
    berthd: Option<PathBuf>,
) -> Result<()> {
    let registry = Registry::start(base)?;
    let reg = format!("127.0.0.1:{}", registry.port);
    for (name, fix) in fixs {
        let image = format!("{reg}/bench/{name}:{TAG}");
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
    }

    let berth = match berth_cmd {
        Some(pull) => Puller {
            name: "berth (--berth-cmd)",
            kind: Kind::Command {
                pull,
                remove: berth_rm,
            },
        },
        None if berthd.is_some() => Puller {
            name: "berth pull (berthd)",
            kind: Kind::Berthd(Berthd::start(
                base,
                berthd.as_deref().unwrap_or(Path::new("berthd")),
            )?),
        },
        None => Puller {
            name: "berth library pull (no daemon)",
            kind: Kind::Library(LibraryStores {
                root: base.join("berth"),
                stores: None,
            }),
        },
    };
    eprintln!("starting a private dockerd...");
    let mut pullers = vec![
        berth,
        Puller {
            name: "docker pull",
            kind: Kind::Docker(Dockerd::start(base)?),
        },
        Puller {
            name: "podman pull",
            kind: Kind::Podman(Podman::new(base)?),
        },
        Puller {
            name: "skopeo copy to dir (floor)",
            kind: Kind::Skopeo(base.join("skopeo")),
        },
    ];
    let mut all = Vec::new();
    for (name, fix) in fixs {
        let image = format!("{reg}/bench/{name}:{TAG}");
        for &case in cases {
            let mut times = vec![Vec::new(); pullers.len()];
            for round in 0..=runs {
                for (p, t) in pullers.iter_mut().zip(times.iter_mut()) {
                    let el = one_pull(p, &registry, &reg, &image, fix, case)?;
                    if round > 0 {
                        t.push(el);
                    }
                    eprintln!(
                        "{} {name:<6} {:<8} {:<28} {:>7.3} s",
                        if round == 0 { "warm-up" } else { "run    " },
                        case.name(),
                        p.name,
                        el.as_secs_f64()
                    );
                }
            }
            let series = Series {
                fixture: name,
                case,
                image: image.clone(),
                times,
            };
            print_series(&pullers, &series, runs);
            all.push(series);
        }
    }
    print_summary(&all);
    drop(pullers);
    drop(registry);
    Ok(())
}

/// Removes the image from `p` and pulls it again as `case` says; returns the
/// pull's time (checked afterwards, untimed).
fn one_pull(
    p: &mut Puller,
    registry: &Registry,
    reg: &str,
    image: &str,
    fix: &fixture::Fixture,
    case: Case,
) -> Result<Duration> {
    let settle = || -> Result<()> {
        // Write back what the removal and the previous pulls left dirty, so
        // that no pull pays for another's; drop the caches (see
        // settle_filesystem) and read the registry's blobs back in.
        if !daemons::settle_filesystem() {
            eprintln!("warning: cannot drop the page cache (not root?)");
        }
        registry.warm()
    };
    if case == Case::AfterRemoval {
        settle()?;
    }
    p.remove(image)
        .with_context(|| format!("{}: remove the image", p.name))?;
    if case == Case::Cold {
        // Long after the removal: whatever it left to do in the background
        // is done.
        p.settle()?;
        settle()?;
    }
    let t = Instant::now();
    p.pull(image, reg, fix)
        .with_context(|| format!("{}: pull", p.name))?;
    let el = t.elapsed();
    p.check(image, fix)
        .with_context(|| format!("{}: check", p.name))?;
    // Background work a removal left (berthd) ends before the next turn.
    p.settle()?;
    Ok(el)
}

fn secs(t: &[Duration]) -> (f64, f64, f64) {
    let (mean, median, _) = crate::summary(t);
    let min = t.iter().min().map_or(0.0, Duration::as_secs_f64);
    (mean / 1000.0, median / 1000.0, min)
}

fn print_series(pullers: &[Puller], s: &Series, runs: usize) {
    println!();
    println!(
        "{} / {}: pull of {} ({runs} runs each, interleaved, after one warm-up)",
        s.fixture,
        s.case.name(),
        s.image
    );
    println!(
        "{:<34} {:>8} {:>10} {:>8}",
        "puller", "mean s", "median s", "min s"
    );
    for (p, t) in pullers.iter().zip(&s.times) {
        let (mean, median, min) = secs(t);
        println!("{:<34} {mean:>8.3} {median:>10.3} {min:>8.3}", p.name);
    }
    let (b, bm, _) = secs(&s.times[0]);
    for (p, t) in pullers.iter().zip(&s.times).skip(1).take(2) {
        let (m, mm, _) = secs(t);
        println!(
            "ratio {}/berth: {:.2}x (mean), {:.2}x (median)",
            p.name.split(' ').next().unwrap_or(p.name),
            m / b,
            mm / bm
        );
    }
    let (f, _, _) = secs(&s.times[3]);
    println!(
        "berth mean is {:.2}x skopeo's floor (download only, no unpack)",
        b / f
    );
}

fn print_summary(all: &[Series]) {
    println!();
    println!("summary: mean seconds (ratio = peer / berth)");
    println!(
        "{:<8} {:<9} {:>8} {:>16} {:>16} {:>8}",
        "image", "case", "berth", "docker", "podman", "skopeo"
    );
    for s in all {
        let m: Vec<f64> = s.times.iter().map(|t| secs(t).0).collect();
        let ratio = |i: usize| m[i] / m[0];
        println!(
            "{:<8} {:<9} {:>8.3} {:>8.3} ({:>4.2}x) {:>8.3} ({:>4.2}x) {:>8.3}",
            s.fixture,
            s.case.name(),
            m[0],
            m[1],
            ratio(1),
            m[2],
            ratio(2),
            m[3]
        );
    }
}
