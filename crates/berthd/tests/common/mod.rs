//! A private berthd for one test: its own temp root, exec root, socket and pidfile; killed and
//! removed in Drop even when the test fails.

#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub mod registry;

use berth_testutil::{run_command, Output};
use tempfile::TempDir;

/// How long a command (docker, curl, berth) may run.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The berthd binary under test.
pub fn berthd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berthd"))
}

/// The berth CLI, next to berthd. `make test` builds it; when only this package was built, it
/// is built here (a no-op once it is up to date).
pub fn berth_bin() -> PathBuf {
    let p = berthd_bin().with_file_name("berth");
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "berth-cli", "--bin", "berth"]);
        run_command(&mut cmd, None, Duration::from_secs(600))
            .unwrap()
            .assert_success();
    }
    assert!(
        p.exists(),
        "{} is missing: cargo build -p berth-cli",
        p.display()
    );
    p
}

/// berth-shim, next to berthd (berthd finds it there); built here when only this package was
/// built.
pub fn shim_bin() -> PathBuf {
    let p = berthd_bin().with_file_name("berth-shim");
    if !p.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "berth-shim", "--bin", "berth-shim"]);
        run_command(&mut cmd, None, Duration::from_secs(600))
            .unwrap()
            .assert_success();
    }
    assert!(
        p.exists(),
        "{} is missing: cargo build -p berth-shim",
        p.display()
    );
    p
}

#[derive(Debug)]
pub struct Berthd {
    pub child: Option<Child>,
    pub dir: TempDir,
}

impl Berthd {
    /// Starts berthd in a new temp dir and waits until its socket accepts connections.
    pub fn start() -> Berthd {
        Self::start_with(&[])
    }

    /// Starts berthd inside the network namespace `netns` (a `/proc/PID/ns/net` path), with
    /// `nsenter`, so that it reaches a registry on that namespace's loopback. Its socket is a
    /// file: the docker CLI reaches it from anywhere.
    pub fn start_in_netns(netns: &Path) -> Berthd {
        let dir = tempfile::Builder::new()
            .prefix("berthd-")
            .tempdir()
            .unwrap();
        let mut d = Berthd { child: None, dir };
        d.spawn_in_netns(netns);
        d
    }

    /// Starts berthd again on the same root, socket and log (after [`Berthd::kill`]), inside
    /// `netns`.
    pub fn spawn_in_netns(&mut self, netns: &Path) {
        assert!(self.child.is_none(), "berthd is running");
        let d = self;
        let inner = d.command(&[]);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.dir.path().join("berthd.log"))
            .unwrap();
        let mut cmd = Command::new("nsenter");
        // nsenter execs berthd: the child's pid is berthd's.
        cmd.arg(format!("--net={}", netns.display()))
            .arg("--")
            .arg(inner.get_program())
            .args(inner.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        d.child = Some(cmd.spawn().unwrap());
        d.wait_ready();
    }

    /// `kill -9`: berthd dies at once, with whatever it was doing unfinished.
    pub fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        signal(child.id(), libc::SIGKILL);
        child.wait().unwrap();
    }

    pub fn start_with(extra: &[&str]) -> Berthd {
        let dir = tempfile::Builder::new()
            .prefix("berthd-")
            .tempdir()
            .unwrap();
        let mut d = Berthd { child: None, dir };
        let child = d.command(extra).spawn().unwrap();
        d.child = Some(child);
        d.wait_ready();
        d
    }

    /// berthd's command line for this dir (root, exec root, socket, pidfile, log).
    pub fn command(&self, extra: &[&str]) -> Command {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("berthd.log"))
            .unwrap();
        let mut cmd = Command::new(berthd_bin());
        cmd.arg("-H")
            .arg(self.host())
            .arg("--root")
            .arg(self.root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.pidfile())
            .arg("--cgroup-parent")
            .arg(format!("/{}", self.cgroup_parent()))
            .args(["--log-level", "debug"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log));
        cmd
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("berthd exited ({status}):\n{}", self.log());
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not listen:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }
    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }
    pub fn pidfile(&self) -> PathBuf {
        self.exec_root().join("berthd.pid")
    }
    /// The cgroup this daemon's containers get theirs under (one per test daemon, so that
    /// Drop can remove it without racing another test), without its leading `/`.
    pub fn cgroup_parent(&self) -> String {
        let dir = self.dir.path().file_name().unwrap().to_string_lossy();
        format!("berth-test-{dir}")
    }
    /// The directories of container `id`'s cgroup, in every hierarchy mounted here.
    pub fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_roots()
            .into_iter()
            .map(|r| r.join(self.cgroup_parent()).join(id))
            .collect()
    }
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// The real docker CLI aimed at this daemon, with a config dir of its own.
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        cmd.env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-cli"))
            .args(args);
        run_command(&mut cmd, None, TIMEOUT).unwrap()
    }

    /// `curl --unix-socket` to this daemon; `-s` and a deadline always.
    pub fn curl(&self, args: &[&str]) -> Output {
        curl(&self.socket(), args)
    }

    /// The berth CLI with `-H` for this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(berth_bin());
        cmd.arg("-H").arg(self.host()).args(args);
        run_command(&mut cmd, None, TIMEOUT).unwrap()
    }

    /// Stops berthd (SIGTERM, which it must obey with exit 0) and starts it again on the same
    /// root, socket and log; returns once it listens.
    pub fn restart(&mut self) {
        let status = self.terminate();
        assert!(
            status.success(),
            "berthd exited with {status}:\n{}",
            self.log()
        );
        self.respawn(self.command(&[]));
    }

    /// Starts berthd with `cmd` (a [`Berthd::command`], changed) after [`Berthd::terminate`]
    /// or [`Berthd::kill`]; returns once it listens.
    pub fn respawn(&mut self, mut cmd: Command) {
        assert!(self.child.is_none(), "berthd is running");
        self.child = Some(cmd.spawn().unwrap());
        self.wait_ready();
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(child.id(), libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("berthd ignored SIGTERM:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Berthd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.remove_containers();
    }
}

impl Berthd {
    /// What a test that failed half-way left of its containers: their shims are killed (the
    /// containers die with them), the rootfs mounts undone, the cgroups removed.
    fn remove_containers(&self) {
        let Ok(dirs) = fs::read_dir(self.exec_root().join("c")) else {
            return;
        };
        let ids: Vec<(String, PathBuf)> = dirs
            .flatten()
            .map(|d| (d.file_name().to_string_lossy().into_owned(), d.path()))
            .collect();
        for (_, dir) in &ids {
            if let Ok(pid) = fs::read_to_string(dir.join("shim.pid")) {
                if let Ok(pid) = pid.trim().parse::<u32>() {
                    signal(pid, libc::SIGKILL);
                }
            }
        }
        thread::sleep(Duration::from_millis(200));
        for (id, dir) in &ids {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(dir.join("rootfs"))
                .status();
            for d in self.cgroup_dirs(id) {
                let _ = fs::remove_dir(d);
            }
        }
        // The daemon's own cgroup parent, in every hierarchy (empty once its containers'
        // cgroups are gone).
        for r in cgroup_roots() {
            let _ = fs::remove_dir(r.join(self.cgroup_parent()));
        }
    }
}

/// Imports `busybox:latest` offline into `d`: busybox-static's binary and its applet links,
/// with `docker import`.
pub fn import_busybox(d: &Berthd) {
    let rootfs = d.dir.path().join("bb");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    let tar = d.dir.path().join("bb.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    d.docker(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        tar.to_str().unwrap(),
        "busybox:latest",
    ])
    .assert_success();
}

/// The roots of the cgroup hierarchies mounted here: each v1 controller's directory under
/// /sys/fs/cgroup, and /sys/fs/cgroup itself (a v2-only host; on a v1 or hybrid host it holds
/// no cgroup of ours, and `unified` is among the subdirectories).
pub fn cgroup_roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(dirs) = fs::read_dir("/sys/fs/cgroup") {
        roots.extend(dirs.flatten().map(|d| d.path()).filter(|p| p.is_dir()));
    }
    roots
}

/// The network namespace of a private dockerd (`/proc/PID/ns/net`), its loopback up, where the
/// tests start the registry and berthd so that both daemons reach it on 127.0.0.1.
pub fn dockerd_netns(d: &berth_testutil::Dockerd) -> PathBuf {
    let pid = std::fs::read_to_string(d.dir().join("pid")).unwrap();
    let ns = PathBuf::from(format!("/proc/{}/ns/net", pid.trim()));
    let up = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(["--", "ip", "link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(up.success(), "bring lo up in {}", ns.display());
    ns
}

pub fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) takes integers only; `pid` is our child, not yet reaped.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

pub fn curl(socket: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.arg("-s")
        .arg("--max-time")
        .arg("10")
        .arg("--unix-socket")
        .arg(socket)
        .args(args);
    run_command(&mut cmd, None, TIMEOUT).unwrap()
}

/// Splits `curl -i` output into the status code, the headers (lower-cased names) and the body.
pub fn parse_response(raw: &str) -> (u16, Vec<(String, String)>, String) {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
