//! One container's cgroup: a directory in every hierarchy.

use std::io::ErrorKind as IoKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manager {
    pub(crate) mode: Mode,
    pub(crate) dirs: Vec<Dir>,
}

/// Freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
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

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e))
}

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|e| CgroupError::Write {
        field: file.to_string(),
        value: value.to_string(),
        path: dir.to_path_buf(),
        source: e,
    })
}

impl Manager {
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

    /// The container's directories, one per hierarchy.
    pub fn paths(&self) -> Vec<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).collect()
    }

    /// Creates the directories (idempotent). A new v1 cpuset cgroup gets its
    /// parent's cpus and mems, without which it could not hold a task.
    pub fn create(&self) -> Result<(), CgroupError> {
        for d in &self.dirs {
            if d.has("cpuset") {
                create_cpuset(&d.mountpoint, &d.path)?;
                continue;
            }
            std::fs::create_dir_all(&d.path)
                .map_err(|e| CgroupError::io("create cgroup", &d.path, e))?;
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        for d in &self.dirs {
            write(&d.path, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The directory whose process list is authoritative.
    fn main_dir(&self) -> Option<&Dir> {
        self.dirs
            .iter()
            .find(|d| d.has("pids"))
            .or_else(|| {
                self.dirs
                    .iter()
                    .find(|d| d.fstype == "cgroup2" && self.mode == Mode::V2)
            })
            .or_else(|| self.dirs.iter().find(|d| d.has("freezer")))
            .or(self.dirs.first())
    }

    /// Every process in the cgroup, sub-cgroups included.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut out = Vec::new();
        if let Some(d) = self.main_dir() {
            collect_pids(&d.path, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    fn freezer(&self) -> Option<&Dir> {
        self.dirs.iter().find(|d| d.has("freezer")).or_else(|| {
            self.dirs
                .iter()
                .find(|d| self.mode == Mode::V2 && d.fstype == "cgroup2")
        })
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(true)
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(false)
    }

    fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        let d = self
            .freezer()
            .ok_or_else(|| CgroupError::Unsupported("no freezer cgroup on this host".into()))?;
        if d.fstype == "cgroup2" {
            write(&d.path, "cgroup.freeze", if frozen { "1" } else { "0" })?;
        } else {
            write(
                &d.path,
                "freezer.state",
                if frozen { "FROZEN" } else { "THAWED" },
            )?;
        }
        let want = if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        };
        for _ in 0..1000 {
            if self.state()? == want {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(CgroupError::Unsupported(format!(
            "cgroup {} did not become {want:?}",
            d.path.display()
        )))
    }

    pub fn state(&self) -> Result<FreezerState, CgroupError> {
        let Some(d) = self.freezer() else {
            return Ok(FreezerState::Thawed);
        };
        if d.fstype == "cgroup2" {
            let events = match std::fs::read_to_string(d.path.join("cgroup.events")) {
                Ok(e) => e,
                Err(e) if e.kind() == IoKind::NotFound => return Ok(FreezerState::Thawed),
                Err(e) => return Err(CgroupError::io("read", d.path.join("cgroup.events"), e)),
            };
            let frozen = events.lines().any(|l| l.trim() == "frozen 1");
            return Ok(if frozen {
                FreezerState::Frozen
            } else {
                FreezerState::Thawed
            });
        }
        match std::fs::read_to_string(d.path.join("freezer.state")) {
            Ok(s) if s.trim() == "FROZEN" => Ok(FreezerState::Frozen),
            Ok(_) => Ok(FreezerState::Thawed),
            Err(e) if e.kind() == IoKind::NotFound => Ok(FreezerState::Thawed),
            Err(e) => Err(CgroupError::io("read", d.path.join("freezer.state"), e)),
        }
    }

    /// Sends `sig` to every process of the cgroup.
    pub fn kill_all(&self, sig: i32) -> Result<(), CgroupError> {
        for pid in self.pids()? {
            // A process may exit between listing and signalling: not an error.
            let _ = rustix::process::Pid::from_raw(pid).map(|p| kill(p, sig));
        }
        Ok(())
    }

    /// Removes every directory, children first. Processes still inside (also
    /// ones that escaped into sub-cgroups) are killed first.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        let _ = self.thaw_if_frozen();
        for attempt in 0..200 {
            let mut busy = None;
            for d in &self.dirs {
                if let Err(e) = remove_tree(&d.path) {
                    busy = Some(e);
                }
            }
            match busy {
                None => return Ok(()),
                Some(e) if attempt == 199 => return Err(e),
                Some(_) => {
                    self.kill_all(libc::SIGKILL)?;
                    std::thread::sleep(Duration::from_millis(if attempt < 10 { 1 } else { 10 }));
                }
            }
        }
        Ok(())
    }

    fn thaw_if_frozen(&self) -> Result<(), CgroupError> {
        if self.state()? == FreezerState::Frozen {
            self.thaw()?;
        }
        Ok(())
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

fn kill(pid: rustix::process::Pid, sig: i32) {
    if let Some(s) = rustix::process::Signal::from_named_raw(sig) {
        let _ = rustix::process::kill_process(pid, s);
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(p) => p,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("read", dir.join("cgroup.procs"), e)),
    };
    out.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("read", dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_pids(&entry.path(), out)?;
        }
    }
    Ok(())
}

/// rmdir of a cgroup tree, deepest first. ENOENT is success.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("read", dir, e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == IoKind::NotFound => Ok(()),
        Err(e) => Err(CgroupError::io("remove cgroup", dir, e)),
    }
}

/// Creates a v1 cpuset cgroup level by level, copying cpus and mems down.
fn create_cpuset(mountpoint: &Path, path: &Path) -> Result<(), CgroupError> {
    let rel = path.strip_prefix(mountpoint).unwrap_or(Path::new(""));
    let mut cur = mountpoint.to_path_buf();
    for c in rel.components() {
        let parent = cur.clone();
        cur.push(c);
        match std::fs::create_dir(&cur) {
            Ok(()) => {}
            Err(e) if e.kind() == IoKind::AlreadyExists => {}
            Err(e) => return Err(CgroupError::io("create cgroup", &cur, e)),
        }
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if read(&cur.join(file))?.trim().is_empty() {
                write(&cur, file, read(&parent.join(file))?.trim())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Root tests use a uniquely named cgroup on the real host and remove it.
    fn host() -> Option<Hierarchy> {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return None;
        }
        Hierarchy::detect().ok()
    }

    struct Guard(Manager);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = self.0.destroy();
            for d in &self.0.dirs {
                if let Some(p) = d.path.parent() {
                    let _ = std::fs::remove_dir(p);
                }
            }
        }
    }

    #[test]
    fn place_list_freeze_destroy() {
        let Some(h) = host() else { return };
        let name = format!("/berth-test-cg-{}/c1", std::process::id());
        let m = Manager::new(
            &h,
            &CgroupPath::parse(Some(Path::new(&name)), "c1").expect("path"),
        );
        let g = Guard(m.clone());
        m.create().expect("create");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        m.add_process(pid).expect("add");
        assert_eq!(m.pids().expect("pids"), vec![pid]);
        if m.freezer().is_some() {
            m.freeze().expect("freeze");
            assert_eq!(m.state().expect("state"), FreezerState::Frozen);
            m.thaw().expect("thaw");
            assert_eq!(m.state().expect("state"), FreezerState::Thawed);
        }
        m.destroy().expect("destroy kills and removes");
        let _ = child.wait();
        for p in m.paths() {
            assert!(!p.exists(), "{} left behind", p.display());
        }
        drop(g);
    }

    #[test]
    fn serde_roundtrip() {
        let m = Manager {
            mode: Mode::Hybrid,
            dirs: vec![Dir {
                fstype: "cgroup".into(),
                controllers: vec!["pids".into()],
                mountpoint: "/m".into(),
                path: "/m/x".into(),
            }],
        };
        let s = serde_json::to_string(&m).expect("ser");
        assert_eq!(serde_json::from_str::<Manager>(&s).expect("de"), m);
    }
}
