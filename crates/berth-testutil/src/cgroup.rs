//! Host-side cgroup probes and cleanup: where a cgroup path lives in every mounted hierarchy
//! (v1 controllers and the v2 unified tree of a hybrid host), which cgroups a process is in, and
//! removal of leftovers.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mount: PathBuf,
    /// The v1 controllers (and `name=` entries) it carries; empty for cgroup2.
    pub controllers: Vec<String>,
    /// Whether it is the cgroup2 (unified) hierarchy.
    pub unified: bool,
}

/// The cgroup hierarchies mounted in this process's mount namespace, from `/proc/self/mountinfo`.
pub fn hierarchies() -> io::Result<Vec<Hierarchy>> {
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        let (Some(mount), Some(fstype), Some(superopts)) = (pre.get(4), post.first(), post.get(2))
        else {
            continue;
        };
        let unified = *fstype == "cgroup2";
        if !unified && *fstype != "cgroup" {
            continue;
        }
        let controllers = if unified {
            Vec::new()
        } else {
            superopts
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro")
                        && !o.starts_with("relatime")
                        && !o.contains("noprefix")
                })
                .filter(|o| {
                    !matches!(
                        *o,
                        "nosuid" | "nodev" | "noexec" | "clone_children" | "xattr"
                    )
                })
                .filter(|o| !o.starts_with("release_agent"))
                .map(str::to_string)
                .collect()
        };
        let h = Hierarchy {
            mount: PathBuf::from(mount),
            controllers,
            unified,
        };
        if !out.iter().any(|o: &Hierarchy| o.mount == h.mount) {
            out.push(h);
        }
    }
    Ok(out)
}

/// `path` (a `linux.cgroupsPath` such as `/berth-test-1-0`) below every hierarchy's mount point,
/// whether or not the directory exists. A relative path is taken, as runc does, relative to this
/// process's own cgroup in each hierarchy.
pub fn paths_in_all(path: &str) -> io::Result<Vec<PathBuf>> {
    let own = memberships(std::process::id())?;
    Ok(hierarchies()?
        .into_iter()
        .map(|h| {
            let mut dir = h.mount.clone();
            if !path.starts_with('/') {
                if let Some(m) = own.iter().find(|m| h.matches(m)) {
                    dir.push(m.path.trim_start_matches('/'));
                }
            }
            dir.join(path.trim_start_matches('/'))
        })
        .collect())
}

impl Hierarchy {
    /// Whether `m` (a line of `/proc/<pid>/cgroup`) is about this hierarchy.
    pub fn matches(&self, m: &Membership) -> bool {
        if self.unified {
            return m.id == 0 && m.controllers.is_empty();
        }
        let mut theirs: Vec<&str> = m.controllers.split(',').filter(|c| !c.is_empty()).collect();
        let mut ours: Vec<&str> = self.controllers.iter().map(String::as_str).collect();
        theirs.sort_unstable();
        ours.sort_unstable();
        !ours.is_empty() && theirs == ours
    }
}

/// The directories that exist for `path` in any hierarchy.
pub fn existing_dirs(path: &str) -> io::Result<Vec<PathBuf>> {
    Ok(paths_in_all(path)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect())
}

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The hierarchy id (0 for cgroup2).
    pub id: u32,
    /// Controllers of the hierarchy as the kernel lists them (`cpu,cpuacct`, `name=systemd`, or
    /// empty for cgroup2).
    pub controllers: String,
    /// The cgroup path within the hierarchy.
    pub path: String,
}

/// The cgroups `pid` is in.
pub fn memberships(pid: u32) -> io::Result<Vec<Membership>> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    parse_memberships(&text)
}

/// Parses the content of a `/proc/<pid>/cgroup` file.
pub fn parse_memberships(text: &str) -> io::Result<Vec<Membership>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(io::Error::other(format!("bad cgroup line {line:?}")));
            };
            let id = id
                .parse()
                .map_err(|_| io::Error::other(format!("bad cgroup id in {line:?}")))?;
            Ok(Membership {
                id,
                controllers: controllers.to_string(),
                path: path.to_string(),
            })
        })
        .collect()
}

/// The pids listed in `dir/cgroup.procs`.
pub fn procs(dir: &Path) -> io::Result<Vec<u32>> {
    Ok(fs::read_to_string(dir.join("cgroup.procs"))?
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect())
}

/// Kills every process in `dir` and its descendants, then removes the directories bottom-up.
/// Retries for a short while because killed processes leave their cgroup asynchronously.
pub fn remove_tree(dir: &Path) -> io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    let mut last = None;
    for _ in 0..200 {
        for pid in procs(dir).unwrap_or_default() {
            if let Ok(pid) = libc::pid_t::try_from(pid) {
                // SAFETY: kill(2) only takes integers; `pid` is a member of a test-owned cgroup.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(10));
    }
    Err(last.unwrap_or_else(|| io::Error::other(format!("cannot remove {}", dir.display()))))
}

/// Removes `path` from every hierarchy (see [`remove_tree`]); returns the directories that existed.
pub fn remove_everywhere(path: &str) -> io::Result<Vec<PathBuf>> {
    let existing = existing_dirs(path)?;
    for d in &existing {
        remove_tree(d)?;
    }
    Ok(existing)
}

/// Directories named `name` at most `max_depth` levels below any hierarchy's mount point.
pub fn find_named(name: &str, max_depth: usize) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, name: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for entry in rd.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = entry.path();
            if entry.file_name() == name {
                out.push(p);
            } else if depth > 1 {
                walk(&p, name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    for h in hierarchies()? {
        walk(&h.mount, name, max_depth, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_cgroup() -> io::Result<()> {
        let m = parse_memberships("9:name=systemd:/a\n1:cpu,cpuacct:/b/c\n0::/\n")?;
        assert_eq!(m.len(), 3);
        assert_eq!(
            m[1],
            Membership {
                id: 1,
                controllers: "cpu,cpuacct".into(),
                path: "/b/c".into()
            }
        );
        assert_eq!(m[2].controllers, "");
        Ok(())
    }

    #[test]
    fn finds_hierarchies_of_this_host() -> io::Result<()> {
        let h = hierarchies()?;
        // Every Linux host berth supports mounts cgroups: none means a broken host, not a skip.
        assert!(!h.is_empty(), "no cgroup hierarchy in /proc/self/mountinfo");
        assert!(
            h.iter().all(|h| h.unified || !h.controllers.is_empty()),
            "{h:?}"
        );
        Ok(())
    }
}
