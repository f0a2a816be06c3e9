//! One container's cgroup: a directory in every hierarchy.

use std::collections::BTreeMap;
use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;
use crate::freezer::FreezerState;
use crate::hierarchy::{CgroupPath, Hierarchy, Mode};

/// The container's directory in one hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dir {
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// v1 controllers (`cpu`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    pub path: PathBuf,
}

impl Dir {
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    pub(crate) fn is_v2(&self) -> bool {
        self.fstype == "cgroup2"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    pub(crate) mode: Mode,
    pub(crate) dirs: Vec<Dir>,
}

/// How one hierarchy appears under a container's /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyMount {
    /// Directory under the cgroup mount (the host mount point's name), or empty
    /// on a v2-only host where the hierarchy is the mount itself.
    pub name: String,
    pub fstype: String,
    /// Mount data for a fresh mount inside a cgroup namespace.
    pub options: String,
    /// The container's cgroup on the host, for bind mounts.
    pub host_path: PathBuf,
}

pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

/// One write(2) of `value` to an existing cgroup file. Unlike
/// `std::fs::write` it never tries to create the file, so a controller file
/// that does not exist fails with ENOENT rather than EPERM.
pub(crate) fn write_file(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)?;
    f.write_all(value.as_bytes())
}

/// Writes `value` to `dir/file`; a refusal names the spec `field`.
pub(crate) fn write_field(
    dir: &Path,
    file: &str,
    value: &str,
    field: &'static str,
) -> Result<(), CgroupError> {
    write_file(&dir.join(file), value).map_err(|e| CgroupError::Write {
        field,
        file: file.to_string(),
        value: value.to_string(),
        dir: dir.to_path_buf(),
        error: e,
    })
}

/// Whether a failed rmdir means "something is still inside".
fn is_busy(e: &CgroupError) -> bool {
    matches!(e, CgroupError::Io { error: source, .. }
        if matches!(source.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)))
}

/// How long destroy waits for killed processes to leave the cgroup.
const DESTROY_TIMEOUT: Duration = Duration::from_secs(5);

impl Manager {
    /// The container's cgroup in every hierarchy of `h`.
    pub fn new(h: &Hierarchy, path: &CgroupPath) -> Manager {
        let dirs = h
            .mounts
            .iter()
            .map(|m| Dir {
                fstype: m.fstype.clone(),
                controllers: m.controllers.clone(),
                mountpoint: m.mountpoint.clone(),
                path: path.dir_in(m),
            })
            .collect();
        Manager { mode: h.mode, dirs }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The container's directory per controller, keyed as runc's
    /// `GetPaths` keys them: each v1 controller (`cpu`, `cpuacct`,
    /// `name=systemd`) and `""` for the unified hierarchy.
    pub fn paths(&self) -> BTreeMap<String, PathBuf> {
        let mut out = BTreeMap::new();
        for d in &self.dirs {
            if d.is_v2() {
                out.insert(String::new(), d.path.clone());
            }
            for c in &d.controllers {
                out.insert(c.clone(), d.path.clone());
            }
        }
        out
    }

    /// Creates the directories, parents included (idempotent). A new v1
    /// cpuset cgroup gets its parent's cpus and mems, without which it could
    /// not hold a task; on a v2 host the controllers the root offers are
    /// enabled down to the new cgroup, as runc does.
    pub fn create(&self) -> Result<(), CgroupError> {
        for d in &self.dirs {
            if d.has("cpuset") {
                create_cpuset(&d.mountpoint, &d.path)?;
            } else if d.is_v2() && self.mode == Mode::V2 {
                create_v2(&d.mountpoint, &d.path)?;
            } else {
                std::fs::create_dir_all(&d.path)
                    .map_err(|e| CgroupError::io("create cgroup", &d.path, e))?;
            }
        }
        Ok(())
    }

    /// Moves the process `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        for d in &self.dirs {
            let mut tries = 0;
            loop {
                match write_field(&d.path, "cgroup.procs", &value, "add process") {
                    // EINVAL may mean the task is still TASK_NEW (just
                    // forked): runc retries, so do we.
                    Err(CgroupError::Write { error: source, .. })
                        if source.raw_os_error() == Some(libc::EINVAL) && tries < 5 =>
                    {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    other => {
                        other?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// The directory whose process list is authoritative.
    fn main_dir(&self) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| d.is_v2() && self.mode == Mode::V2)
            .or_else(|| self.dirs.iter().find(|d| d.has("pids")))
            .or_else(|| self.dirs.iter().find(|d| d.has("freezer")))
            .or(self.dirs.first())
    }

    /// Every process in the cgroup, sub-cgroups included, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        if let Some(d) = self.main_dir() {
            collect_pids(&d.path, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The v1 freezer, or else cgroup.freeze of the unified hierarchy.
    pub(crate) fn freezer(&self) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| d.has("freezer"))
            .or_else(|| self.dirs.iter().find(|d| d.is_v2()))
    }

    /// Sends `sig` to every process of the cgroup and its sub-cgroups.
    ///
    /// SIGKILL goes through `cgroup.kill` where the kernel has it (v2, 5.14+),
    /// which reaches every process at once. Otherwise the cgroup is frozen
    /// while the processes are listed and signalled, so none can fork behind
    /// the listing (as runc does), and thawed again unless it was frozen
    /// before.
    pub fn kill_all(&self, sig: i32) -> Result<(), CgroupError> {
        let signal =
            rustix::process::Signal::from_named_raw(sig).ok_or(CgroupError::InvalidValue {
                field: "signal",
                value: sig.to_string(),
                reason: "not a signal number".into(),
            })?;
        let killed = sig == libc::SIGKILL && self.cgroup_kill()?;
        if killed && self.mode == Mode::V2 {
            return Ok(());
        }
        // On a hybrid host cgroup.kill covers the unified hierarchy only: the
        // listing below catches a process that left it, and freezing first
        // is pointless once the kernel is killing everything anyway.
        let froze =
            !killed && self.state().ok() == Some(FreezerState::Thawed) && self.freeze().is_ok();
        let pids = self.pids();
        for pid in pids.iter().flatten() {
            if let Some(p) = rustix::process::Pid::from_raw(*pid) {
                // A process may exit between listing and signalling: not an error.
                let _ = rustix::process::kill_process(p, signal);
            }
        }
        if froze {
            self.thaw()?;
        }
        pids.map(drop)
    }

    /// Writes `cgroup.kill` in the unified hierarchy; false when the kernel
    /// or the host has none.
    fn cgroup_kill(&self) -> Result<bool, CgroupError> {
        let Some(d) = self.dirs.iter().find(|d| d.is_v2()) else {
            return Ok(false);
        };
        match write_file(&d.path.join("cgroup.kill"), "1") {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == IoKind::NotFound => Ok(false),
            Err(e) => Err(CgroupError::io("write", d.path.join("cgroup.kill"), e)),
        }
    }

    /// Removes every directory, children first; a cgroup that is already
    /// gone is fine. Processes still inside, also ones that moved into
    /// sub-cgroups, are killed with SIGKILL first, and their exit is awaited.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        // Usually the container has exited: a few rmdirs and done.
        match self.remove_all() {
            Ok(()) => return Ok(()),
            Err(e) if !is_busy(&e) => return Err(e),
            Err(_) => {}
        }
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        let mut last_kill = None::<Instant>;
        loop {
            if last_kill.is_none_or(|t| t.elapsed() > Duration::from_millis(200)) {
                self.kill_all(libc::SIGKILL)?;
                // Frozen v1 tasks only die once thawed.
                if self.state()? == FreezerState::Frozen {
                    self.thaw()?;
                }
                last_kill = Some(Instant::now());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
            match self.remove_all() {
                Ok(()) => return Ok(()),
                Err(e) if !is_busy(&e) => return Err(e),
                Err(e) if start.elapsed() > DESTROY_TIMEOUT => {
                    let pids = self.pids().unwrap_or_default();
                    return Err(match e {
                        CgroupError::Io { path, .. } => CgroupError::Busy { path, pids },
                        other => other,
                    });
                }
                Err(_) => {}
            }
        }
    }

    /// One removal pass over every hierarchy; the first error, if any.
    fn remove_all(&self) -> Result<(), CgroupError> {
        let mut first = Ok(());
        for d in &self.dirs {
            if let Err(e) = remove_tree(&d.path) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// The hierarchies as a container's /sys/fs/cgroup shows them. On a
    /// hybrid host that is the v1 hierarchies only, as with runc.
    pub fn mounts(&self) -> Vec<HierarchyMount> {
        self.dirs
            .iter()
            .filter(|d| self.mode != Mode::Hybrid || d.fstype == "cgroup")
            .map(|d| HierarchyMount {
                name: if self.mode == Mode::V2 {
                    String::new()
                } else {
                    d.mountpoint
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                },
                fstype: d.fstype.clone(),
                options: d.controllers.join(","),
                host_path: d.path.clone(),
            })
            .collect()
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(p) => p,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("read", dir.join("cgroup.procs"), e)),
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    for sub in sub_cgroups(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

/// The child cgroups of `dir` (none when it is gone).
fn sub_cgroups(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CgroupError::io("list", dir, e)),
    };
    Ok(entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect())
}

/// rmdir of a cgroup tree, deepest first. ENOENT is success.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // Usually there are no sub-cgroups: try the rmdir before listing.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in sub_cgroups(dir)? {
        remove_tree(&sub)?;
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(CgroupError::io("remove cgroup", dir, e)),
    }
}

/// mkdir that accepts an existing directory; true when it created one.
fn mkdir(dir: &Path) -> Result<bool, CgroupError> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == IoKind::AlreadyExists => Ok(false),
        Err(e) => Err(CgroupError::io("create cgroup", dir, e)),
    }
}

/// The levels from the mount point (exclusive) down to `path`.
fn levels(mountpoint: &Path, path: &Path) -> Vec<PathBuf> {
    let rel = path.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut cur = mountpoint.to_path_buf();
    rel.components()
        .map(|c| {
            cur.push(c);
            cur.clone()
        })
        .collect()
}

/// Creates a v1 cpuset cgroup level by level, copying cpus and mems down
/// where a level has none (a fresh cpuset cgroup starts empty).
fn create_cpuset(mountpoint: &Path, path: &Path) -> Result<(), CgroupError> {
    let mut parent = mountpoint.to_path_buf();
    for cur in levels(mountpoint, path) {
        mkdir(&cur)?;
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read(&cur.join(file))?.trim().is_empty() {
                let inherited = read(&parent.join(file))?;
                write_field(&cur, file, inherited.trim(), "copy the parent's cpuset")?;
            }
        }
        parent = cur;
    }
    Ok(())
}

/// Creates a cgroup on a v2 host, enabling in every ancestor's
/// `cgroup.subtree_control` the controllers the root offers, as runc's fs2
/// driver does. A level that refuses (it holds processes, or the controllers
/// were not delegated) is left as it is: the resource writes that need a
/// missing controller then fail with the field named.
fn create_v2(mountpoint: &Path, path: &Path) -> Result<(), CgroupError> {
    let available = read(&mountpoint.join("cgroup.controllers")).unwrap_or_default();
    let enable: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    let enable_all = enable.join(" ");
    let mut parent = mountpoint.to_path_buf();
    for cur in levels(mountpoint, path) {
        if !enable.is_empty() {
            let control = parent.join("cgroup.subtree_control");
            if write_file(&control, &enable_all).is_err() {
                for one in &enable {
                    let _ = write_file(&control, one);
                }
            }
        }
        mkdir(&cur)?;
        parent = cur;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    const CGROUP: &str = "4:memory:/own\n3:cpu,cpuacct:/\n1:name=systemd:/\n0::/\n";

    fn manager() -> Manager {
        let h = Hierarchy::parse(MOUNTINFO, CGROUP).expect("parse");
        Manager::new(&h, &CgroupPath::parse(None, "c1").expect("path"))
    }

    #[test]
    fn paths_are_keyed_as_runc_keys_them() {
        let p = manager().paths();
        let keys: Vec<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(keys, ["", "cpu", "cpuacct", "memory", "name=systemd"]);
        assert_eq!(p["cpu"], Path::new("/sys/fs/cgroup/cpu,cpuacct/c1"));
        assert_eq!(p["cpuacct"], p["cpu"]);
        assert_eq!(p["memory"], Path::new("/sys/fs/cgroup/memory/own/c1"));
        assert_eq!(p[""], Path::new("/sys/fs/cgroup/unified/c1"));
    }

    #[test]
    fn serde_roundtrip() {
        let m = manager();
        let s = serde_json::to_string(&m).expect("ser");
        assert_eq!(serde_json::from_str::<Manager>(&s).expect("de"), m);
    }

    #[test]
    fn container_view_on_hybrid_is_v1_only() {
        let mounts = manager().mounts();
        let names: Vec<&str> = mounts.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "memory", "systemd"]);
        assert_eq!(mounts[0].options, "cpu,cpuacct");
    }

    #[test]
    fn levels_below_the_mount() {
        assert_eq!(
            levels(Path::new("/m"), Path::new("/m/a/b")),
            [PathBuf::from("/m/a"), PathBuf::from("/m/a/b")]
        );
    }
}
