//! Namespace probes on the host side, and a process that holds new namespaces for a test to join.

use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The kernel's names for namespace kinds as they appear under `/proc/<pid>/ns/`, keyed by the
/// OCI `linux.namespaces[].type`.
pub const OCI_TO_PROC: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("network", "net"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("mount", "mnt"),
    ("cgroup", "cgroup"),
    ("user", "user"),
    ("time", "time"),
];

/// The `/proc/<pid>/ns/` name of an OCI namespace type (`network` → `net`).
pub fn proc_name(oci_type: &str) -> &str {
    OCI_TO_PROC
        .iter()
        .find(|(o, _)| *o == oci_type)
        .map_or(oci_type, |(_, p)| p)
}

/// The link text of `/proc/<pid>/ns/<name>` (e.g. `net:[4026531833]`); `pid` may be `"self"`.
pub fn link(pid: &str, name: &str) -> io::Result<String> {
    Ok(fs::read_link(format!("/proc/{pid}/ns/{name}"))?
        .to_string_lossy()
        .into_owned())
}

/// The link text of this (host) process's namespace `name`.
pub fn host_link(name: &str) -> io::Result<String> {
    link("self", name)
}

/// A host process (`unshare <flags> sleep`) that holds fresh namespaces until dropped.
#[derive(Debug)]
pub struct NsHolder {
    child: Child,
}

impl NsHolder {
    /// Starts `unshare <flags> sleep 3600` (e.g. `&["--net"]`) and waits until the namespace for
    /// `probe` (a `/proc/<pid>/ns/` name such as `net`) differs from this process's.
    pub fn new(flags: &[&str], probe: &str) -> io::Result<Self> {
        let mut cmd = Command::new("unshare");
        cmd.args(flags)
            .args(["sleep", "3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        crate::command::die_with_parent(&mut cmd, libc::SIGKILL);
        let child = cmd.spawn()?;
        let holder = Self { child };
        let host = host_link(probe)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(l) = link(&holder.pid().to_string(), probe) {
                if l != host {
                    return Ok(holder);
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "unshare did not create the namespace",
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// The holder's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `/proc/<pid>/ns/<name>` of the holder, for `linux.namespaces[].path`.
    pub fn path(&self, name: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{name}", self.pid()))
    }

    /// The link text of the holder's namespace `name`.
    pub fn link(&self, name: &str) -> io::Result<String> {
        link(&self.pid().to_string(), name)
    }
}

impl Drop for NsHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
