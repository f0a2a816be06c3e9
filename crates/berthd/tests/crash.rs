//! Crash safety of the store: berthd is killed with SIGKILL in the middle of a pull, a push,
//! a `docker load` and a `docker import`, started again on the same root, and the store must
//! hold exactly what it held before (directory listings of the content store and of the
//! snapshots compared), with no lease left, and the same operation must then succeed.
//!
//! The registry and berthd run in a network namespace of the test's own, whose loopback is
//! slowed with a token bucket (`tc qdisc ... tbf`) while the kill has to land mid-transfer;
//! a load or an import is fed through a pipe the test writes, so the kill lands after half
//! of the archive. Every test checks, on the dead daemon's root, that the kill did land in
//! the middle (a lease held, some layers there and not all). Needs docker.io (the CLI),
//! docker-registry, skopeo, umoci, busybox-static, iproute2 (`tc`, `ip`); runs as root.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use berth_testutil::ns::NsHolder;
use berth_testutil::{add_busybox, run_command, Umoci};
use common::registry::{run, RegistryServer};
use common::{Berthd, TIMEOUT};

/// How fast the namespace's loopback goes while a kill must land mid-transfer: 4 MB/s.
const SLOW_RATE: &str = "32mbit";

/// The sizes of the two big layers over the busybox one: the small one lands first, the big
/// one is still on its way (about 10 s at [`SLOW_RATE`]).
const BIG_LAYERS: [usize; 2] = [6 << 20, 40 << 20];

/// How long a kill may wait for the moment it is meant to land in.
const WAIT: Duration = Duration::from_secs(90);

/// A network namespace with its loopback up, where the registry and berthd run.
struct Netns {
    holder: NsHolder,
}

impl Netns {
    fn new() -> Netns {
        let holder = NsHolder::new(&["--net"], "net").unwrap();
        let n = Netns { holder };
        n.run(&["ip", "link", "set", "lo", "up"]);
        n
    }

    fn path(&self) -> PathBuf {
        self.holder.path("net")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        run(&mut self.command(args))
    }

    /// Slows the loopback down (tbf: a token bucket), or back to full speed.
    fn slow(&self, on: bool) {
        if on {
            self.run(&[
                "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", SLOW_RATE, "burst",
                "256kb", "latency", "1s",
            ]);
        } else {
            self.run(&["tc", "qdisc", "del", "dev", "lo", "root"]);
        }
    }
}

/// The images of these tests, built with umoci: `base` is busybox alone; `big` is `base`
/// plus two layers of random bytes (they do not compress), the base layer shared.
struct Images {
    _dir: tempfile::TempDir,
    base: PathBuf,
    big: PathBuf,
}

fn random_file(path: &Path, size: usize) -> std::io::Result<()> {
    let mut out = fs::File::create(path)?;
    let mut urandom = fs::File::open("/dev/urandom")?.take(size as u64);
    std::io::copy(&mut urandom, &mut out)?;
    Ok(())
}

impl Images {
    fn build() -> Images {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base");
        let u = Umoci::init(&base).unwrap();
        u.layer(
            &dir.path().join("b0"),
            Some("COPY busybox /bin/"),
            add_busybox,
        )
        .unwrap();
        u.config(&[
            "--config.cmd",
            "sh",
            "--architecture",
            "amd64",
            "--os",
            "linux",
        ])
        .unwrap();
        let big = dir.path().join("big");
        run(Command::new("cp").arg("-a").arg(&base).arg(&big));
        let u = Umoci::open(&big);
        for (i, size) in BIG_LAYERS.iter().enumerate() {
            u.layer(
                &dir.path().join(format!("b{}", i + 1)),
                Some("COPY random /"),
                |root| random_file(&root.join(format!("random-{i}")), *size),
            )
            .unwrap();
        }
        Images {
            _dir: dir,
            base,
            big,
        }
    }

    /// `skopeo copy` of a layout to `HOST/REPO:TAG` (Docker schema 2), from inside `ns`.
    fn push(ns: &Netns, layout: &Path, host: &str, repo_tag: &str) {
        ns.run(&[
            "skopeo",
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            &format!("oci:{}:latest", layout.display()),
            &format!("docker://{host}/{repo_tag}"),
        ]);
    }
}

/// Every path under the content store and the snapshot store, with the size of files (what
/// a crash could leave behind: blobs, ingests, snapshot and temporary directories).
fn listing(d: &Berthd) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for top in ["image/content", "snapshots"] {
        walk(&d.root(), &d.root().join(top), &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let md = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if md.is_dir() {
            out.insert(format!("{rel}/"));
            // Removed snapshots wait in the snapshotter's trash until it is idle: gone from
            // the store, not yet from the disk.
            if e.file_name() == "trash" && rel.starts_with("snapshots/") {
                continue;
            }
            walk(root, &p, out);
        } else {
            out.insert(format!("{rel} {}", md.len()));
        }
    }
}

/// What differs between two listings, for failure messages.
fn diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> String {
    let gone: Vec<_> = a.difference(b).collect();
    let new: Vec<_> = b.difference(a).collect();
    format!("missing: {gone:?}\nextra: {new:?}")
}

fn assert_same(before: &BTreeSet<String>, after: &BTreeSet<String>, what: &str) {
    assert!(before == after, "{what}:\n{}", diff(before, after));
}

/// The leases in the (stopped) daemon's metadata, with their owners.
fn leases(d: &Berthd) -> Vec<(String, String)> {
    berth_image::Metadata::open(d.root().join("image/metadata.db"))
        .unwrap()
        .lease_records()
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.owner))
        .collect()
}

fn blob(d: &Berthd, digest: &str) -> PathBuf {
    d.root()
        .join("image/content/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The ingests on disk: their references and how many bytes they hold.
fn ingests(d: &Berthd) -> Vec<(String, u64)> {
    let dir = d.root().join("image/content/ingest");
    let mut out: Vec<(String, u64)> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let r = fs::read_to_string(p.join("ref")).unwrap_or_default();
            let n = fs::metadata(p.join("data")).map(|m| m.len()).unwrap_or(0);
            (r, n)
        })
        .collect();
    out.sort();
    out
}

/// The layer snapshots on disk (chain IDs, as their directories name them).
fn snapshots(d: &Berthd) -> Vec<String> {
    let dir = d.root().join("snapshots/overlay/snapshots");
    let dir = if dir.exists() {
        dir
    } else {
        d.root().join("snapshots/vfs/snapshots")
    };
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Polls `ready` until it holds (then returns), failing the test after [`WAIT`].
fn wait_until(what: &str, d: &Berthd, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ready() {
        assert!(Instant::now() < deadline, "never saw {what}:\n{}", d.log());
        thread::sleep(Duration::from_millis(20));
    }
}

/// The docker CLI for `d`, started and left running (its berthd is about to be killed).
fn docker_spawn(d: &Berthd, args: &[&str], stdin: Stdio) -> Child {
    Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-cli"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The layer blob digests of `name` in the registry, as skopeo sees them from `ns`.
fn registry_layers(ns: &Netns, name: &str) -> Vec<String> {
    let out = ns.run(&[
        "skopeo",
        "inspect",
        "--tls-verify=false",
        &format!("docker://{name}"),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// After a restart: berthd says what it recovered, no lease is left.
fn assert_recovered(d: &Berthd, lease_prefix: &str) {
    let log = d.log();
    let line = log
        .lines()
        .find(|l| l.contains("recovered after an unclean stop"))
        .unwrap_or_else(|| panic!("no recovery in the log:\n{log}"));
    assert!(line.contains(lease_prefix), "{line}");
    assert_eq!(leases(d), vec![], "leases left after recovery");
}

/// Checks `name` in `d` is whole: inspected with `layers` layers, saved, and the archive loads
/// into a fresh berthd (which verifies every blob and diff ID) as the same image.
fn assert_whole(d: &Berthd, name: &str, layers: usize) {
    let out = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}} {{len .RootFS.Layers}}",
        name,
    ]);
    let text = out.assert_success().stdout_trimmed().to_owned();
    let (id, n) = text.split_once(' ').unwrap();
    assert_eq!(n, layers.to_string(), "{text}");
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("saved.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), name])
        .assert_success();
    let other = Berthd::start();
    other
        .docker(&["load", "-i", saved.to_str().unwrap()])
        .assert_success();
    let loaded = other.docker(&["image", "inspect", "-f", "{{.Id}}", name]);
    assert_eq!(loaded.assert_success().stdout_trimmed(), id);
}

/// A registry with `base:1` and `big:1` (sharing the base layer) and a berthd that has pulled
/// `base:1`, both in a namespace of their own.
struct Setup {
    // Dropped in this order: berthd and the registry before the namespace.
    daemon: Berthd,
    registry: RegistryServer,
    _images: Images,
    ns: Netns,
    /// The listing of the empty store, before `base:1` was pulled.
    empty: BTreeSet<String>,
}

impl Setup {
    /// `None` (a skip) when a tool is missing and neither CI nor BERTH_TEST_STRICT is set.
    fn new() -> Option<Setup> {
        let tools = [
            common::registry::REGISTRY_BIN,
            "/usr/bin/skopeo",
            "/usr/bin/umoci",
            "/bin/busybox",
            "/usr/bin/docker",
            "/usr/sbin/tc",
            "/usr/bin/nsenter",
        ];
        if !berth_testutil::require_root()
            || !berth_testutil::require_files(
                &tools,
                "docker-registry skopeo umoci busybox-static docker.io iproute2 util-linux",
            )
        {
            return None;
        }
        let ns = Netns::new();
        let registry = RegistryServer::start_in(Some(&ns.path()));
        let images = Images::build();
        Images::push(&ns, &images.base, &registry.host(), "base:1");
        Images::push(&ns, &images.big, &registry.host(), "big:1");
        let daemon = Berthd::start_in_netns(&ns.path());
        let empty = listing(&daemon);
        let s = Setup {
            daemon,
            registry,
            _images: images,
            ns,
            empty,
        };
        s.daemon
            .docker(&["pull", &s.name("base:1")])
            .assert_success();
        Some(s)
    }

    fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.registry.host())
    }

    /// Kills berthd, checks what `landed` says about its root, and starts it again.
    fn kill_and_restart(&mut self, client: &mut Child, landed: impl FnOnce(&Berthd)) {
        self.daemon.kill();
        let status = client.wait().unwrap();
        assert!(!status.success(), "the client saw its daemon die");
        landed(&self.daemon);
        self.daemon.spawn_in_netns(&self.ns.path());
    }
}

#[test]
fn a_pull_killed_midway_leaves_nothing_after_a_restart_and_then_succeeds() {
    let Some(mut s) = Setup::new() else {
        return;
    };
    let before = listing(&s.daemon);
    let big = s.name("big:1");
    let layers = registry_layers(&s.ns, &big);
    assert_eq!(layers.len(), 3);

    s.ns.slow(true);
    let mut pull = docker_spawn(&s.daemon, &["pull", &big], Stdio::null());
    // The moment: the small random layer is in (blob and snapshot), the big one on its way.
    wait_until("the second layer committed", &s.daemon, || {
        blob(&s.daemon, &layers[1]).exists() && snapshots(&s.daemon).len() == 2
    });
    s.kill_and_restart(&mut pull, |d| {
        let held = leases(d);
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0].0.starts_with("pull-"), "{held:?}");
        assert!(blob(d, &layers[1]).exists());
        assert!(!blob(d, &layers[2]).exists(), "the kill landed mid-pull");
        let partial = ingests(d);
        let want = format!("layer-{}", layers[2]);
        assert!(
            partial.iter().any(|(r, n)| *r == want && *n > 0),
            "the last layer half downloaded: {partial:?}"
        );
        assert_eq!(snapshots(d).len(), 2, "base and the small layer unpacked");
        let driver = fs::read_dir(d.root().join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.join("snapshots").is_dir())
            .unwrap();
        assert!(
            fs::read_dir(driver.join("tmp")).unwrap().next().is_some(),
            "the last layer half unpacked in tmp/"
        );
    });
    s.ns.slow(false);

    assert_recovered(&s.daemon, "pull-");
    assert_same(&before, &listing(&s.daemon), "the store after the restart");
    // prune -a takes base:1 too: back to the empty store.
    s.daemon
        .docker(&["image", "prune", "-a", "-f"])
        .assert_success();
    assert_same(&s.empty, &listing(&s.daemon), "the store after prune -a");

    s.daemon.docker(&["pull", &big]).assert_success();
    assert_whole(&s.daemon, &big, 3);
}

#[test]
fn a_push_killed_midway_changes_nothing_and_leaks_no_lease() {
    let Some(mut s) = Setup::new() else {
        return;
    };
    let big = s.name("big:1");
    let pushed = s.name("pushed:1");
    s.daemon.docker(&["pull", &big]).assert_success();
    s.daemon.docker(&["tag", &big, &pushed]).assert_success();
    // Without a name in big's repository, the random layers are uploaded, not mounted.
    s.daemon.docker(&["rmi", &big]).assert_success();
    let before = listing(&s.daemon);

    s.ns.slow(true);
    let mut push = docker_spawn(&s.daemon, &["push", &pushed], Stdio::null());
    let uploads = s
        .registry_storage()
        .join("docker/registry/v2/repositories/pushed/_uploads");
    wait_until("an upload in progress", &s.daemon, || {
        let mut size = 0;
        if let Ok(rd) = fs::read_dir(&uploads) {
            for e in rd.flatten() {
                size += fs::metadata(e.path().join("data")).map_or(0, |m| m.len());
            }
        }
        size > 1 << 20
    });
    s.kill_and_restart(&mut push, |d| {
        let held = leases(d);
        assert_eq!(held.len(), 1, "{held:?}");
        assert!(held[0].0.starts_with("push-"), "{held:?}");
    });
    s.ns.slow(false);
    // The registry got no manifest.
    let mut tag = s.ns.command(&[
        "skopeo",
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{pushed}"),
    ]);
    let out = run_command(&mut tag, None, TIMEOUT).unwrap();
    assert!(!out.success(), "no manifest yet: {out}");

    assert_recovered(&s.daemon, "push-");
    assert_same(&before, &listing(&s.daemon), "the store after the restart");
    s.daemon.docker(&["push", &pushed]).assert_success();
    // skopeo copy fetches and verifies every blob of what the registry now holds.
    let out = tempfile::tempdir().unwrap();
    s.ns.run(&[
        "skopeo",
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{pushed}"),
        &format!("dir:{}", out.path().join("x").display()),
    ]);
    assert_eq!(registry_layers(&s.ns, &pushed).len(), 3);
    assert_same(&before, &listing(&s.daemon), "a push changes no store");
}

impl Setup {
    fn registry_storage(&self) -> PathBuf {
        self.registry.storage()
    }
}

/// Feeds `archive` to `docker CMD...` on its stdin: the first half at once, then waits until
/// berthd shows it has taken some of it (`started`), kills berthd and starts it again.
fn kill_mid_stream(
    s: &mut Setup,
    archive: &Path,
    cmd: &[&str],
    started: impl Fn(&Berthd) -> bool,
    landed: impl FnOnce(&Berthd),
) {
    let data = fs::read(archive).unwrap();
    let mut client = docker_spawn(&s.daemon, cmd, Stdio::piped());
    let mut stdin = client.stdin.take().unwrap();
    let half = data.len() / 2;
    let (done, wait_done) = std::sync::mpsc::channel::<()>();
    let writer = thread::spawn(move || {
        // Fails once berthd is gone: the rest is never sent.
        let _ = stdin.write_all(&data[..half]);
        // Held open until berthd is dead, so that it waits for the rest meanwhile.
        let _ = wait_done.recv();
        drop(stdin);
    });
    wait_until("berthd taking the archive", &s.daemon, || {
        started(&s.daemon)
    });
    // Let the first half arrive entirely; berthd waits for the rest.
    thread::sleep(Duration::from_millis(500));
    s.daemon.kill();
    drop(done);
    writer.join().unwrap();
    let status = client.wait().unwrap();
    assert!(!status.success(), "the client saw its daemon die");
    landed(&s.daemon);
    s.daemon.spawn_in_netns(&s.ns.path());
}

#[test]
fn a_load_killed_midway_leaves_nothing_after_a_restart_and_then_succeeds() {
    let Some(mut s) = Setup::new() else {
        return;
    };
    let big = s.name("big:1");
    // The archive: big:1 saved by a berthd of its own.
    let archive = {
        let other = Berthd::start_in_netns(&s.ns.path());
        other.docker(&["pull", &big]).assert_success();
        let f = s.daemon.dir.path().join("big.tar");
        other
            .docker(&["save", "-o", f.to_str().unwrap(), &big])
            .assert_success();
        f
    };
    let before = listing(&s.daemon);
    kill_mid_stream(
        &mut s,
        &archive,
        &["load"],
        |d| {
            ingests(d)
                .iter()
                .any(|(r, n)| r.starts_with("load-") && *n > 0)
        },
        |d| {
            let held = leases(d);
            assert_eq!(held.len(), 1, "{held:?}");
            assert!(held[0].0.starts_with("load-"), "{held:?}");
            assert!(
                ingests(d).iter().any(|(r, _)| r.starts_with("load-")),
                "a file of the archive half written"
            );
        },
    );
    assert_recovered(&s.daemon, "load-");
    assert_same(&before, &listing(&s.daemon), "the store after the restart");
    s.daemon
        .docker(&["load", "-i", archive.to_str().unwrap()])
        .assert_success();
    assert_whole(&s.daemon, &big, 3);
}

#[test]
fn an_import_killed_midway_leaves_nothing_after_a_restart_and_then_succeeds() {
    let Some(mut s) = Setup::new() else {
        return;
    };
    // A root filesystem tar of 40 MB of random bytes and busybox.
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    add_busybox(&rootfs).unwrap();
    random_file(&rootfs.join("random"), 40 << 20).unwrap();
    let tar = work.path().join("rootfs.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let before = listing(&s.daemon);
    kill_mid_stream(
        &mut s,
        &tar,
        &["import", "-", "imported:1"],
        |d| {
            ingests(d)
                .iter()
                .any(|(r, n)| r.starts_with("import-") && *n > 1 << 20)
        },
        |d| {
            let held = leases(d);
            assert_eq!(held.len(), 1, "{held:?}");
            assert!(held[0].0.starts_with("import-"), "{held:?}");
        },
    );
    assert_recovered(&s.daemon, "import-");
    assert_same(&before, &listing(&s.daemon), "the store after the restart");
    s.daemon
        .docker(&["import", tar.to_str().unwrap(), "imported:1"])
        .assert_success();
    assert_whole(&s.daemon, "imported:1", 1);
}
