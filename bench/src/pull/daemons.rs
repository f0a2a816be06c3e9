//! The processes the pull benchmark starts and stops: a Distribution
//! registry on a random loopback port, a private dockerd, and the private
//! directories podman is run with. Each owns a temp directory under the
//! benchmark's base directory and undoes everything in `Drop`: processes
//! killed by pid, mounts under its directory detached, directory removed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::fixture::write_file;

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn signal(pid: u32, sig: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// Pids of the processes whose command line mentions `dir` (what a daemon
/// we started under `dir` left running: containerd, shims).
pub(crate) fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let mut out = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(cmdline) = fs::read(e.path().join("cmdline")) {
            if cmdline.windows(needle.len()).any(|w| w == needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// Mount points in this namespace at or under `dir`, deepest first.
pub(crate) fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        // mountinfo escapes spaces as \040; our paths have none.
        .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
        .map(PathBuf::from)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    points
}

/// Detaches every mount under `dir`, then removes it.
pub(crate) fn remove_dir(dir: &Path) {
    for p in mounts_under(dir) {
        if let Err(e) = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH) {
            eprintln!("cleanup: umount {}: {e}", p.display());
        }
    }
    if dir.exists() {
        if let Err(e) = fs::remove_dir_all(dir) {
            eprintln!("cleanup: remove {}: {e}", dir.display());
        }
    }
}

/// Kills `child` (TERM, then KILL after `grace`) and anything else whose
/// command line names `dir`.
fn stop(child: &mut Child, dir: &Path, grace: Duration) {
    signal(child.id(), rustix::process::Signal::TERM);
    let deadline = Instant::now() + grace;
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    // Leftovers (containerd outlives a killed dockerd for a moment).
    for _ in 0..50 {
        let left = processes_mentioning(dir);
        if left.is_empty() {
            break;
        }
        for pid in left {
            signal(pid, rustix::process::Signal::KILL);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `docker-registry serve` on 127.0.0.1 with its storage in a temp dir.
#[derive(Debug)]
pub(crate) struct Registry {
    child: Child,
    dir: PathBuf,
    pub port: u16,
}

impl Registry {
    pub(crate) fn start(base: &Path) -> Result<Self> {
        let dir = base.join("registry");
        fs::create_dir_all(dir.join("storage"))?;
        let port = free_port()?;
        let config = dir.join("config.yml");
        write_file(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.join("storage").display()
            ),
        )?;
        let log = fs::File::create(dir.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn docker-registry (apt-get install docker-registry)")?;
        let mut reg = Registry { child, dir, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = reg.child.try_wait()? {
                bail!(
                    "docker-registry exited ({st}): see {}",
                    reg.dir.join("registry.log").display()
                );
            }
            if ureq::get(&format!("http://127.0.0.1:{port}/v2/"))
                .call()
                .is_ok()
            {
                return Ok(reg);
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not answer on 127.0.0.1:{port}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Registry {
    /// Reads every file of the registry's storage, so that its blobs are in
    /// the page cache for whoever pulls next.
    pub(crate) fn warm(&self) -> Result<()> {
        fn walk(dir: &Path) -> Result<()> {
            for e in fs::read_dir(dir)? {
                let e = e?;
                if e.file_type()?.is_dir() {
                    walk(&e.path())?;
                } else {
                    std::io::copy(&mut fs::File::open(e.path())?, &mut std::io::sink())?;
                }
            }
            Ok(())
        }
        walk(&self.dir.join("storage"))
    }
}

/// Writes back everything dirty, then drops the page cache, dentries and
/// inodes. On this VM's ext4, which has no journal, a file created within
/// 60 s of an inode's deletion makes the allocator skip every
/// recently-deleted inode whose inode-table block is still cached
/// (`recently_deleted()` in fs/ext4/ialloc.c), one lookup each: a pull
/// right after removing the previous image (tens of thousands of inodes)
/// spends seconds there, whoever pulls. Dropping the cache between pulls
/// takes that out, for every puller alike. Returns whether it could.
pub(crate) fn settle_filesystem() -> bool {
    rustix::fs::sync();
    let dropped = fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok();
    // The clients every row runs (the same docker CLI for berthd and dockerd) are read back
    // in, as the registry's blobs are: a pull is timed from a warm client, not from disk.
    for bin in ["docker", "podman", "skopeo"] {
        if let Some(path) = std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        }) {
            if let Ok(mut f) = fs::File::open(path) {
                let _ = std::io::copy(&mut f, &mut std::io::sink());
            }
        }
    }
    dropped
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir, Duration::from_secs(5));
        remove_dir(&self.dir);
    }
}

/// Runs before dockerd inside its private mount namespace: a tmpfs on /run
/// hides the host's (dockerd and containerd create sockets there), and
/// /etc/docker is covered so dockerd's key.json lands in our directory.
const PRELUDE: &str = r#"set -e
d="$1"; shift
mount -t tmpfs -o mode=755 berth-bench-run /run
if [ -d /etc/docker ]; then mount --bind "$d/etc-docker" /etc/docker; fi
exec "$@"
"#;

/// A private dockerd. It stays in the host network namespace (it must
/// reach the registry on 127.0.0.1) but touches no host networking
/// (`--bridge none`, no iptables rules); it has its own mount namespace,
/// data root, exec root and socket.
#[derive(Debug)]
pub(crate) struct Dockerd {
    child: Child,
    dir: PathBuf,
    /// The `docker` cgroups (one per hierarchy) that existed before dockerd started: dockerd
    /// makes them and leaves them, so the others are removed with it.
    cgroups_before: Vec<PathBuf>,
    /// From the spawn to the first answered `/_ping`.
    pub ready_in: Duration,
}

/// `/sys/fs/cgroup/<hierarchy>/docker` for every mounted hierarchy (v1 and the unified one).
fn docker_cgroups() -> Vec<PathBuf> {
    fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("docker"))
        .collect()
}

impl Dockerd {
    pub(crate) fn start(base: &Path) -> Result<Self> {
        let dir = base.join("dockerd");
        for sub in ["etc-docker", "cli", "root", "exec", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        write_file(&dir.join("daemon.json"), "{}\n")?;
        let log = fs::File::create(dir.join("dockerd.log"))?;
        let cgroups_before: Vec<PathBuf> = docker_cgroups()
            .into_iter()
            .filter(|p| p.exists())
            .collect();
        let spawned = Instant::now();
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                PRELUDE,
                "sh",
            ])
            .arg(&dir)
            .arg("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args(["--ip-masq=false", "--storage-driver", "overlay2"])
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn unshare dockerd (apt-get install docker.io)")?;
        let mut d = Dockerd {
            child,
            dir,
            cgroups_before,
            ready_in: Duration::ZERO,
        };
        let sock = d.dir.join("docker.sock");
        d.ready_in = wait_answering("dockerd", &mut d.child, &sock, &d.dir.join("cli"), 60)?
            .duration_since(spawned);
        Ok(d)
    }

    /// The API socket.
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("docker.sock")
    }

    /// The daemon's directory (data root, exec root, socket, client config).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// dockerd's pid (`unshare` and `sh` exec it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs the docker CLI against this daemon; returns its stdout.
    pub(crate) fn docker(&self, args: &[&str]) -> Result<String> {
        docker_cli(&self.dir.join("docker.sock"), &self.dir.join("cli"), args)
    }

    /// The overlay2 layer directories in the data root (`l` excluded): none
    /// once every image is removed.
    pub(crate) fn layer_dirs(&self) -> usize {
        count_entries(&self.dir.join("root/overlay2"), &["l"])
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir, Duration::from_secs(20));
        remove_dir(&self.dir);
        for cg in docker_cgroups() {
            if !cg.exists() || self.cgroups_before.contains(&cg) {
                continue;
            }
            // Empty once dockerd is gone (it ran no container).
            if let Err(e) = fs::remove_dir(&cg) {
                eprintln!("cleanup: rmdir {}: {e}", cg.display());
            }
        }
    }
}

/// A private berthd (its own root, exec root and socket), driven by the
/// same docker CLI as dockerd so that both rows pay for the same client.
#[derive(Debug)]
pub(crate) struct Berthd {
    child: Child,
    dir: PathBuf,
    /// The exec root: `dir/exec`, or a directory of the caller's (kept
    /// short: berthd binds each shim's socket under it).
    exec: PathBuf,
    /// From the spawn to the first answered `/_ping`.
    pub ready_in: Duration,
}

impl Berthd {
    pub(crate) fn start(base: &Path, bin: &Path) -> Result<Self> {
        Self::start_with(base, bin, &[], None, &[])
    }

    /// Starts berthd with `env` added to its environment (`BERTH_SHIM`),
    /// its exec root in `exec` (an empty directory, removed with the
    /// daemon) instead of under `base`, and `flags` added to its own.
    pub(crate) fn start_with(
        base: &Path,
        bin: &Path,
        env: &[(&str, &Path)],
        exec: Option<&Path>,
        flags: &[String],
    ) -> Result<Self> {
        let dir = base.join("berthd");
        let exec = exec.map_or_else(|| dir.join("exec"), Path::to_path_buf);
        for d in [dir.join("cli"), dir.join("root"), exec.clone()] {
            fs::create_dir_all(d)?;
        }
        let log = fs::File::create(dir.join("berthd.log"))?;
        let spawned = Instant::now();
        let child = Command::new(bin)
            .envs(env.iter().copied())
            .arg("-H")
            .arg(format!("unix://{}", dir.join("berth.sock").display()))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--exec-root")
            .arg(&exec)
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {} (make release)", bin.display()))?;
        let mut d = Berthd {
            child,
            dir,
            exec,
            ready_in: Duration::ZERO,
        };
        let sock = d.dir.join("berth.sock");
        d.ready_in = wait_answering("berthd", &mut d.child, &sock, &d.dir.join("cli"), 20)?
            .duration_since(spawned);
        Ok(d)
    }

    /// The API socket.
    pub(crate) fn socket(&self) -> PathBuf {
        self.dir.join("berth.sock")
    }

    /// The daemon's directory (root, exec root, socket, client config).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its exec root (shim sockets and state).
    pub(crate) fn exec_root(&self) -> &Path {
        &self.exec
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs the docker CLI against berthd; returns its stdout.
    pub(crate) fn docker(&self, args: &[&str]) -> Result<String> {
        docker_cli(&self.dir.join("berth.sock"), &self.dir.join("cli"), args)
    }

    /// The overlay snapshot directories (one per layer): none once every
    /// image is removed.
    pub(crate) fn layer_dirs(&self) -> usize {
        count_entries(&self.dir.join("root/snapshots/overlay/snapshots"), &[])
    }

    /// Waits until berthd has freed the space of the snapshots it removed
    /// (it truncates their files in the background once idle for 5 s and
    /// marks them `-kept`; it deletes the inodes after 5 idle minutes,
    /// berth-snapshot's trash.rs).
    pub(crate) fn wait_trash_settled(&self, limit: Duration) -> Result<()> {
        let trash = self.dir.join("root/snapshots/overlay/trash");
        let deadline = Instant::now() + limit;
        let fresh = || {
            fs::read_dir(&trash)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| !e.file_name().as_encoded_bytes().ends_with(b"-kept"))
                .count()
        };
        while fresh() != 0 {
            if Instant::now() > deadline {
                bail!("berthd left {} in its trash for {limit:?}", trash.display());
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The content store's blobs (layers, configs, manifests).
    pub(crate) fn blobs(&self) -> usize {
        count_entries(&self.dir.join("root/image/content/blobs/sha256"), &[])
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        stop(&mut self.child, &self.dir, Duration::from_secs(20));
        for pid in processes_mentioning(&self.exec) {
            signal(pid, rustix::process::Signal::KILL);
        }
        remove_dir(&self.exec);
        remove_dir(&self.dir);
    }
}

/// Runs the docker CLI against the daemon on `sock` (with its own client
/// config dir); returns its stdout.
pub(crate) fn docker_cli(sock: &Path, config: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("spawn docker")?;
    if !out.status.success() {
        bail!(
            "docker {} ({}): {}",
            args.join(" "),
            sock.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the daemon on `sock` answers `GET /_ping` with 200 (a connection
/// the daemon has not started serving yet waits, up to 60 s, for its answer).
pub(crate) fn ping(sock: &Path) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(sock) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && head.ends_with(b" 200")
}

/// Waits until the daemon `child` answers `/_ping` on `sock` (polled every
/// millisecond), then `docker version`; fails if it exits first or after
/// `secs` seconds (its log is beside the socket). Returns when the first
/// ping was answered.
fn wait_answering(
    name: &str,
    child: &mut Child,
    sock: &Path,
    config: &Path,
    secs: u64,
) -> Result<Instant> {
    let log = sock.with_file_name(format!("{name}.log"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut answered = None;
    loop {
        if let Some(st) = child.try_wait()? {
            bail!("{name} exited ({st}): see {}", log.display());
        }
        if answered.is_none() && ping(sock) {
            answered = Some(Instant::now());
        }
        if let Some(at) = answered {
            if docker_cli(sock, config, &["version"]).is_ok() {
                return Ok(at);
            }
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer: see {}", log.display());
        }
        thread::sleep(Duration::from_millis(if answered.is_some() {
            20
        } else {
            1
        }));
    }
}

/// Entries of `dir` except `skip` and dot files (0 if it does not exist).
fn count_entries(dir: &Path, skip: &[&str]) -> usize {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !skip.iter().any(|s| e.file_name() == *s))
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .count()
}

/// podman with private root, runroot and tmpdir (it has no daemon).
#[derive(Debug)]
pub(crate) struct Podman {
    dir: PathBuf,
}

impl Podman {
    pub(crate) fn new(base: &Path) -> Result<Self> {
        let dir = base.join("podman");
        for sub in ["root", "run", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        Ok(Podman { dir })
    }

    /// Its directory (root, runroot, tmpdir).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.arg("--root")
            .arg(self.dir.join("root"))
            .arg("--runroot")
            .arg(self.dir.join("run"))
            .arg("--tmpdir")
            .arg(self.dir.join("tmp"))
            .args(["--cgroup-manager=cgroupfs", "--events-backend=file"])
            .args(["--storage-driver", "overlay"])
            .args(args)
            .env("TMPDIR", self.dir.join("tmp"))
            .stdin(Stdio::null());
        c
    }

    pub(crate) fn podman(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output().context("spawn podman")?;
        if !out.status.success() {
            bail!(
                "podman {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The overlay layer directories in the store (`l` excluded).
    pub(crate) fn layer_dirs(&self) -> usize {
        count_entries(&self.dir.join("root/overlay"), &["l"])
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rmi", "--all", "--force"]);
        for pid in processes_mentioning(&self.dir) {
            signal(pid, rustix::process::Signal::KILL);
        }
        remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_skip_dot_files_and_the_named_ones() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["l", ".has-mount-program", "abc", "def"] {
            fs::create_dir(dir.path().join(name)).unwrap();
        }
        assert_eq!(count_entries(dir.path(), &["l"]), 2);
        assert_eq!(count_entries(&dir.path().join("missing"), &[]), 0);
    }

    /// A one-connection server on `sock` that answers `reply` to a request.
    fn serve_once(sock: &Path, reply: &'static str) -> thread::JoinHandle<String> {
        use std::io::{Read, Write};
        let l = std::os::unix::net::UnixListener::bind(sock).unwrap();
        thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut req = [0u8; 256];
            let n = c.read(&mut req).unwrap();
            c.write_all(reply.as_bytes()).unwrap();
            String::from_utf8_lossy(&req[..n]).into_owned()
        })
    }

    #[test]
    fn ping_wants_a_200_to_get_ping() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("ok.sock");
        let server = serve_once(&ok, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
        assert!(ping(&ok));
        assert!(server
            .join()
            .unwrap()
            .starts_with("GET /_ping HTTP/1.0\r\n"));
        let bad = dir.path().join("bad.sock");
        let server = serve_once(&bad, "HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert!(!ping(&bad));
        server.join().unwrap();
        assert!(!ping(&dir.path().join("missing.sock")));
    }
}
