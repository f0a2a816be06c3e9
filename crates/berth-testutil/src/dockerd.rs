//! A private dockerd (Debian's docker.io 20.10) for tests that drive berth-runtime through
//! Docker: its own data, exec and cgroup roots, inside a new network namespace and a private
//! mount namespace, so it never touches the host's network, its /run or /etc/docker.

use std::fs;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::cgroup;
use crate::command::{run_command, run_or_panic, Output};
use crate::ids::unique_name;
use crate::rootfs::busybox_rootfs;

/// How long a docker CLI call may take.
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// How long dockerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs in the new namespaces before dockerd: joins the tracking cgroup (so that dockerd,
/// containerd and the shims can all be found and killed later), mounts a tmpfs on /run to hide
/// the host's /run from the daemon (dockerd creates /run/docker/plugins and containerd
/// /run/containerd/s there), and bind-mounts over /etc/docker to catch the key.json that dockerd
/// 20.10 writes.
const PRELUDE: &str = r#"set -e
d="$1"; cg="$2"; shift 2
if [ -n "$cg" ]; then echo $$ > "$cg/cgroup.procs"; fi
mount -t tmpfs -o mode=755 berth-test-run /run
if [ -d /etc/docker ]; then mount --bind "$d/etc-docker" /etc/docker; fi
exec "$@"
"#;

/// A running private dockerd; dropping it removes its containers, stops it, kills whatever is
/// left of its processes, removes its cgroups and deletes its directory.
#[derive(Debug)]
pub struct Dockerd {
    child: Child,
    dir: TempDir,
    cgroup_parent: String,
    /// A cgroup holding dockerd and everything it starts outside of containers (containerd,
    /// shims). Namespace inodes get reused once a namespace dies, so membership of a cgroup of
    /// our own is the safe way to find leftovers.
    tracker: Option<PathBuf>,
}

/// Creates the tracking cgroup in the pids hierarchy (or name=systemd, or cgroup2).
fn tracking_cgroup() -> io::Result<Option<PathBuf>> {
    let hierarchies = cgroup::hierarchies()?;
    let pick = hierarchies
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "pids"))
        .or_else(|| {
            hierarchies
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == "name=systemd"))
        })
        .or_else(|| hierarchies.iter().find(|h| h.unified));
    let Some(h) = pick else { return Ok(None) };
    let dir = h.mount.join(unique_name("berth-test-dockerd"));
    fs::create_dir(&dir)?;
    Ok(Some(dir))
}

impl Dockerd {
    /// Whether `dockerd`, `docker` and `unshare` are installed.
    pub fn available() -> bool {
        ["dockerd", "docker", "unshare"]
            .iter()
            .all(|b| which(b).is_some())
    }

    /// Starts dockerd with `runtimes` registered (`--add-runtime NAME=PATH`) and waits until it
    /// answers.
    pub fn start(runtimes: &[(&str, &Path)]) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-dockerd-")
            .tempdir()?;
        let d = dir.path();
        for sub in ["etc-docker", "cli", "root", "exec", "tmp"] {
            fs::create_dir_all(d.join(sub))?;
        }
        fs::write(d.join("daemon.json"), "{}\n")?;
        let cgroup_parent = unique_name("berth-test-docker");
        let log = fs::File::create(d.join("dockerd.log"))?;
        let tracker = tracking_cgroup()?;
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--net",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            PRELUDE,
            "sh",
        ])
        .arg(d)
        .arg(tracker.as_deref().unwrap_or(Path::new("")))
        .arg("dockerd")
        .arg("--config-file")
        .arg(d.join("daemon.json"))
        .arg("--data-root")
        .arg(d.join("root"))
        .arg("--exec-root")
        .arg(d.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", d.join("docker.sock").display()))
        .arg("--pidfile")
        .arg(d.join("pid"))
        .args([
            "--bridge",
            "none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
        ])
        .args(["--shutdown-timeout", "2"])
        .args(["--cgroup-parent", &cgroup_parent]);
        for (name, path) in runtimes {
            cmd.arg("--add-runtime")
                .arg(format!("{name}={}", path.display()));
        }
        // containerd dumps goroutine stacks into TMPDIR when signalled during shutdown.
        cmd.env("TMPDIR", d.join("tmp"));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .process_group(0);
        crate::command::die_with_parent(&mut cmd, libc::SIGTERM);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                if let Some(t) = &tracker {
                    let _ = fs::remove_dir(t);
                }
                return Err(e);
            }
        };
        let mut daemon = Self {
            child,
            dir,
            cgroup_parent,
            tracker,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "dockerd exited ({status}):\n{}",
                    self.log_tail()
                )));
            }
            if self.socket().exists() {
                let out = run_command(
                    &mut self.docker_command(&["version", "--format", "{{.Server.Version}}"]),
                    None,
                    DOCKER_TIMEOUT,
                )?;
                if out.success() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("dockerd did not answer:\n{}", self.log_tail()),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The daemon's directory (data root, exec root, socket, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// `DOCKER_HOST` for this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The `--cgroup-parent` given to dockerd.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// The last lines of dockerd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A `docker` CLI command aimed at this daemon (with its own `DOCKER_CONFIG`), for callers
    /// that need their own stdio such as a pty; prefer [`Dockerd::docker`].
    pub fn docker_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .args(args);
        cmd
    }

    /// Runs the docker CLI with `args` (60 s timeout) and returns its output.
    #[track_caller]
    pub fn docker(&self, args: &[&str]) -> Output {
        run_or_panic(&mut self.docker_command(args), None, DOCKER_TIMEOUT)
    }

    /// Imports a busybox rootfs as image `tag` with `CMD ["sh"]`, without any registry.
    #[track_caller]
    pub fn import_busybox(&self, tag: &str) {
        let d = self.dir.path();
        let rootfs = d.join(unique_name("busybox-rootfs"));
        let tar = rootfs.with_extension("tar");
        if let Err(e) = busybox_rootfs(&rootfs) {
            panic!("build busybox rootfs: {e}");
        }
        let mut tar_cmd = Command::new("tar");
        tar_cmd.arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".");
        run_or_panic(&mut tar_cmd, None, DOCKER_TIMEOUT).assert_success();
        let tar_path = tar.to_string_lossy().into_owned();
        self.docker(&["import", "--change", r#"CMD ["sh"]"#, &tar_path, tag])
            .assert_success();
        let _ = fs::remove_file(&tar);
        let _ = fs::remove_dir_all(&rootfs);
    }

    fn signal(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) takes integers only; `pid` is our child, not yet reaped.
            unsafe {
                libc::kill(pid, sig);
            }
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, so that dockerd does not wait for them on shutdown.
        if let Ok(out) = run_command(
            &mut self.docker_command(&["ps", "-aq"]),
            None,
            DOCKER_TIMEOUT,
        ) {
            let ids: Vec<&str> = out.stdout.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                let _ = run_command(&mut self.docker_command(&args), None, DOCKER_TIMEOUT);
            }
        }
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        crate::command::kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = &self.tracker {
            if let Err(e) = cgroup::remove_tree(t) {
                eprintln!("cleanup: cannot remove {}: {e}", t.display());
            }
        }
        if let Ok(dirs) = cgroup::find_named(&self.cgroup_parent, 4) {
            for d in dirs {
                if let Err(e) = cgroup::remove_tree(&d) {
                    eprintln!("cleanup: cannot remove {}: {e}", d.display());
                }
            }
        }
        // Mounts live in the private namespace, which is gone once its processes are; detach
        // any that reached this namespace all the same before removing the directory.
        let dir = self.dir.path().to_string_lossy().into_owned();
        if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
            let mut points: Vec<&str> = info
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|p| p.starts_with(&dir))
                .collect();
            points.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for p in points {
                if let Ok(c) = std::ffi::CString::new(p) {
                    // SAFETY: umount2 reads the NUL-terminated path, valid for the call.
                    unsafe {
                        libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                    }
                }
            }
        }
    }
}

/// The full path of `bin` in `PATH`.
fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}
