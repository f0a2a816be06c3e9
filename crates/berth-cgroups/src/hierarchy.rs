//! Which cgroup hierarchies the host has, where they are mounted, and where
//! the current process sits in each.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CgroupError;

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// Only the unified (v2) hierarchy.
    V2,
    /// v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified).
    Hybrid,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mounted {
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy (the 4th mountinfo field).
    pub root: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// v1 controllers of this hierarchy (`cpu`, `cpuacct`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    /// The current process's cgroup in this hierarchy (from /proc/self/cgroup).
    pub own: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub(crate) mode: Mode,
    pub(crate) mounts: Vec<Mounted>,
}

const V1_OPTIONS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "rdma",
    "misc",
];

impl Hierarchy {
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| CgroupError::io("read", "/proc/self/mountinfo", e))?;
        let cgroup = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| CgroupError::io("read", "/proc/self/cgroup", e))?;
        Hierarchy::parse(&mountinfo, &cgroup)
    }

    /// Builds the layout from the text of /proc/self/mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, cgroup: &str) -> Result<Hierarchy, CgroupError> {
        let mut own_v1: Vec<(Vec<String>, PathBuf)> = Vec::new();
        let mut own_v2 = PathBuf::from("/");
        for line in cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                own_v2 = PathBuf::from(path);
            } else {
                own_v1.push((
                    ctrls.split(',').map(String::from).collect(),
                    PathBuf::from(path),
                ));
            }
        }
        let mut mounts = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            let fstype = r[0];
            if fstype != "cgroup" && fstype != "cgroup2" {
                continue;
            }
            let root = PathBuf::from(unescape(l[3]));
            let mountpoint = PathBuf::from(unescape(l[4]));
            let (controllers, own) = if fstype == "cgroup" {
                let ctrls: Vec<String> = r[2]
                    .split(',')
                    .filter(|o| V1_OPTIONS.contains(o) || o.starts_with("name="))
                    .map(String::from)
                    .collect();
                let own = own_v1
                    .iter()
                    .find(|(c, _)| ctrls.iter().all(|x| c.contains(x)) && !ctrls.is_empty())
                    .map(|(_, p)| p.clone())
                    .unwrap_or_else(|| PathBuf::from("/"));
                (ctrls, own)
            } else {
                (Vec::new(), own_v2.clone())
            };
            if fstype == "cgroup" && controllers.is_empty() {
                continue;
            }
            // The same hierarchy may be mounted twice: keep the first.
            if mounts
                .iter()
                .any(|m: &Mounted| m.fstype == fstype && m.controllers == controllers)
            {
                continue;
            }
            mounts.push(Mounted {
                mountpoint,
                root,
                fstype: fstype.to_string(),
                controllers,
                own,
            });
        }
        let v1 = mounts.iter().any(|m| m.fstype == "cgroup");
        let v2 = mounts.iter().any(|m| m.fstype == "cgroup2");
        let mode = match (v1, v2) {
            (true, true) => Mode::Hybrid,
            (true, false) => Mode::V1,
            (false, true) => Mode::V2,
            (false, false) => return Err(CgroupError::NoHierarchy),
        };
        Ok(Hierarchy { mode, mounts })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A container's `linux.cgroupsPath`, read as runc's cgroupfs driver reads it:
/// absolute paths start at each hierarchy's root, relative ones below the
/// runtime's own cgroup, and an empty one means the container id (relative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPath {
    pub(crate) path: PathBuf,
    pub(crate) absolute: bool,
}

impl CgroupPath {
    pub fn parse(spec_path: Option<&Path>, id: &str) -> Result<CgroupPath, CgroupError> {
        let raw = spec_path
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if raw.is_empty() {
            return Ok(CgroupPath {
                path: PathBuf::from(id),
                absolute: false,
            });
        }
        if !raw.starts_with('/') && raw.matches(':').count() == 2 {
            return Err(CgroupError::Unsupported(format!(
                "cgroupsPath {raw:?} is in the systemd driver's slice:prefix:name form; berth-runtime supports the cgroupfs driver only"
            )));
        }
        let p = Path::new(&raw);
        let mut clean = PathBuf::new();
        for c in p.components() {
            match c {
                Component::Normal(n) => clean.push(n),
                Component::RootDir | Component::CurDir => {}
                Component::ParentDir | Component::Prefix(_) => {
                    return Err(CgroupError::InvalidPath {
                        path: raw.clone(),
                        reason: "it must not contain '..'",
                    })
                }
            }
        }
        if clean.as_os_str().is_empty() {
            return Err(CgroupError::InvalidPath {
                path: raw,
                reason: "it names the root cgroup",
            });
        }
        Ok(CgroupPath {
            path: clean,
            absolute: p.is_absolute(),
        })
    }

    /// The directory of this cgroup in hierarchy `m`.
    pub(crate) fn dir_in(&self, m: &Mounted) -> PathBuf {
        let base = if self.absolute {
            PathBuf::new()
        } else {
            // Our own cgroup, relative to the mount's root.
            m.own
                .strip_prefix(&m.root)
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        let mut dir = m.mountpoint.clone();
        for c in base.components().chain(self.path.components()) {
            if let Component::Normal(n) = c {
                dir.push(n);
            }
        }
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
28 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
";
    const HYBRID_CGROUP: &str =
        "4:memory:/user/me\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/user.slice\n";

    #[test]
    fn detects_hybrid() {
        let h = Hierarchy::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP).expect("parse");
        assert_eq!(h.mode(), Mode::Hybrid);
        assert_eq!(h.mounts.len(), 4);
        let cpu = h
            .mounts
            .iter()
            .find(|m| m.controllers.contains(&"cpu".to_string()))
            .expect("cpu");
        assert_eq!(cpu.controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(cpu.mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        let mem = h
            .mounts
            .iter()
            .find(|m| m.controllers == ["memory"])
            .expect("memory");
        assert_eq!(mem.own, Path::new("/user/me"));
    }

    #[test]
    fn detects_v2_and_v1() {
        let v2 = "30 1 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(
            Hierarchy::parse(v2, "0::/a\n").expect("v2").mode(),
            Mode::V2
        );
        let v1 = "28 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            Hierarchy::parse(v1, "1:pids:/\n").expect("v1").mode(),
            Mode::V1
        );
        assert!(Hierarchy::parse("1 1 0:1 / / rw - ext4 /dev/vda rw\n", "").is_err());
    }

    #[test]
    fn paths_as_runc_reads_them() {
        let h = Hierarchy::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP).expect("parse");
        let mem = h
            .mounts
            .iter()
            .find(|m| m.controllers == ["memory"])
            .expect("memory");
        let abs = CgroupPath::parse(Some(Path::new("/berth/c1")), "c1").expect("abs");
        assert_eq!(abs.dir_in(mem), Path::new("/sys/fs/cgroup/memory/berth/c1"));
        let rel = CgroupPath::parse(Some(Path::new("berth/c1")), "c1").expect("rel");
        assert_eq!(
            rel.dir_in(mem),
            Path::new("/sys/fs/cgroup/memory/user/me/berth/c1")
        );
        let empty = CgroupPath::parse(None, "c9").expect("empty");
        assert_eq!(
            empty.dir_in(mem),
            Path::new("/sys/fs/cgroup/memory/user/me/c9")
        );
        assert!(CgroupPath::parse(Some(Path::new("/a/../../etc")), "x").is_err());
        assert!(CgroupPath::parse(Some(Path::new("system.slice:docker:abc")), "x").is_err());
    }

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
