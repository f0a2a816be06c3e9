//! Namespace probes on the host side, a process that holds new namespaces for a test to join,
//! and a network namespace of the test's own for the calling thread ([`enter_private_net`]).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::command::run_command;
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

/// Moves the calling thread into a new network namespace whose only interface is `lo`, up.
///
/// Network namespaces belong to threads: the test harness's other threads stay where they are,
/// and every thread and process the calling thread starts afterwards (a registry, berthd,
/// skopeo, curl, the worker threads of a tokio runtime built after this call) shares the new
/// namespace. A test that serves something on 127.0.0.1 calls this first, so that it can use
/// any port without racing other tests for the host's. Nothing is left to clean up: the
/// namespace goes away with the last thread or process in it. Needs `CAP_SYS_ADMIN` (root).
pub fn enter_private_net() -> io::Result<()> {
    // SAFETY: unshare(2) takes only flags and affects the calling thread's namespaces;
    // CLONE_NEWNET has no requirement on the process's thread count.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::other(format!(
            "unshare(CLONE_NEWNET): {} (needs root)",
            io::Error::last_os_error()
        )));
    }
    let out = run_command(
        Command::new("ip").args(["link", "set", "lo", "up"]),
        None,
        Duration::from_secs(10),
    )?;
    if !out.success() {
        return Err(io::Error::other(format!("ip link set lo up:\n{out}")));
    }
    Ok(())
}

/// Whether the calling thread still shares the network namespace of the process's main thread,
/// which is the host's (or whatever the suite was started in): [`enter_private_net`] was not
/// called on this thread. (pid 1's namespace cannot be the reference: it may be unreadable.)
pub fn in_host_net() -> io::Result<bool> {
    Ok(fs::read_link("/proc/thread-self/ns/net")? == fs::read_link("/proc/self/ns/net")?)
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
        // The child starts in the calling thread's namespaces, which differ from the main
        // thread's after `enter_private_net`: it is ready when it differs from both.
        let host = host_link(probe)?;
        let caller = link("thread-self", probe)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(l) = link(&holder.pid().to_string(), probe) {
                if l != host && l != caller {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_net_has_only_lo_and_leaves_the_other_threads_alone() -> io::Result<()> {
        if !crate::require_root() {
            return Ok(());
        }
        let outside = thread::spawn(|| fs::read_link("/proc/thread-self/ns/net"));
        assert!(in_host_net()?);
        enter_private_net()?;
        assert!(!in_host_net()?);
        let other = outside
            .join()
            .map_err(|_| io::Error::other("probe thread panicked"))??;
        assert_eq!(other, fs::read_link("/proc/self/ns/net")?);
        // Threads started afterwards share the private namespace.
        let child = thread::spawn(|| fs::read_link("/proc/thread-self/ns/net"))
            .join()
            .map_err(|_| io::Error::other("probe thread panicked"))??;
        assert_eq!(child, fs::read_link("/proc/thread-self/ns/net")?);
        let out = run_command(
            Command::new("ip").args(["-o", "link"]),
            None,
            Duration::from_secs(10),
        )?;
        assert!(out.success(), "{out}");
        assert_eq!(out.stdout.lines().count(), 1, "{out}");
        assert!(out.stdout.contains("lo: <LOOPBACK,UP"), "{out}");
        Ok(())
    }
}
