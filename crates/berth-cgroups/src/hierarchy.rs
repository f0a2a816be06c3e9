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
            // Most lines are not cgroups: skip them before splitting.
            let Some((left, right)) = line.split_once(" - cgroup") else {
                continue;
            };
            let mut r = right.split(' ');
            let fstype = match r.next() {
                Some("") => "cgroup",
                Some("2") => "cgroup2",
                _ => continue,
            };
            let mut l = left.split(' ').skip(3);
            let (Some(root), Some(mountpoint), Some(super_opts)) = (l.next(), l.next(), r.nth(1))
            else {
                continue;
            };
            let root = PathBuf::from(unescape(root));
            let mountpoint = PathBuf::from(unescape(mountpoint));
            let (controllers, own) = if fstype == "cgroup" {
                let ctrls: Vec<String> = super_opts
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

/// A container's `linux.cgroupsPath`, read as runc's cgroupfs driver reads it.
///
/// * The path is first cleaned lexically as runc's `CleanPath` does: `..`
///   cannot climb above the root, so `/a/../../b` is `/b` and `../b` is `b`.
/// * An absolute path starts at each hierarchy's root (`/sys/fs/cgroup/<ctrl>/<path>`).
/// * A relative path starts at the runtime's *own* cgroup in each hierarchy,
///   taken from /proc/self/cgroup (so on a host where this process's memory
///   cgroup is `/process_api/x`, the memory directory is
///   `/sys/fs/cgroup/memory/process_api/x/<path>` while the cpu one is
///   `/sys/fs/cgroup/cpu/<path>`), as runc's `GetOwnCgroupPath` does.
/// * An empty path means the container id, relative: runc's specconv sets the
///   cgroup's `Name` to the id and leaves `Parent` empty, which its cgroupfs
///   driver joins into the relative path `<id>`.
/// * `slice:prefix:name` is the systemd driver's syntax and is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupPath {
    pub(crate) path: PathBuf,
    pub(crate) absolute: bool,
}

impl CgroupPath {
    /// Parses `linux.cgroupsPath` (`None` or empty for the default) for the
    /// container `id`.
    pub fn parse(spec_path: Option<&Path>, id: &str) -> Result<CgroupPath, CgroupError> {
        let raw = spec_path
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if raw.is_empty() {
            let clean = clean_relative(Path::new(id));
            if clean.as_os_str().is_empty() || clean.components().count() != 1 {
                return Err(CgroupError::InvalidPath {
                    path: id.to_string(),
                    reason: "the container id is not a valid cgroup name",
                });
            }
            return Ok(CgroupPath {
                path: clean,
                absolute: false,
            });
        }
        if is_systemd_form(&raw) {
            return Err(CgroupError::SystemdPath { path: raw });
        }
        let absolute = raw.starts_with('/');
        let clean = clean_relative(Path::new(&raw));
        if clean.as_os_str().is_empty() {
            return Err(CgroupError::InvalidPath {
                path: raw,
                reason: if absolute {
                    "it names the root cgroup, which a container cannot own"
                } else {
                    "it names the runtime's own cgroup, which a container cannot own"
                },
            });
        }
        Ok(CgroupPath {
            path: clean,
            absolute,
        })
    }

    /// The cleaned path, without a leading `/`.
    pub fn as_path(&self) -> &Path {
        &self.path
    }

    /// Whether the path starts at the hierarchy roots (else at the runtime's own cgroup).
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    /// The directory of this cgroup in hierarchy `m`.
    pub(crate) fn dir_in(&self, m: &Mounted) -> PathBuf {
        let mut dir = m.mountpoint.clone();
        if !self.absolute {
            // Our own cgroup, relative to the mount's root (a bind mount of a
            // sub-tree shows that sub-tree at the mount point).
            if let Ok(rel) = m.own.strip_prefix(&m.root) {
                dir.extend(
                    rel.components()
                        .filter(|c| matches!(c, Component::Normal(_))),
                );
            }
        }
        dir.push(&self.path);
        dir
    }
}

/// `slice:prefix:name`, as runc's systemd driver expects (`system.slice:docker:abc`).
fn is_systemd_form(raw: &str) -> bool {
    !raw.starts_with('/') && raw.split(':').count() == 3
}

/// runc's `CleanPath` followed by stripping the root: the normal components
/// that remain after resolving `.` and `..` lexically with `/` as a floor.
fn clean_relative(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A systemd host in hybrid mode, with joined cpu,cpuacct.
    const HYBRID_MOUNTINFO: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
28 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
29 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,cpu,cpuacct
";
    const HYBRID_CGROUP: &str =
        "4:memory:/user/me\n3:cpu,cpuacct:/\n1:name=systemd:/user.slice\n0::/user.slice\n";

    /// This kind of build machine: separate v1 hierarchies, an empty cgroup2,
    /// and a memory cgroup that is not the root.
    const MACHINE_MOUNTINFO: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const MACHINE_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/5bae9f56f98cf77447884169e699e339
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    /// Inside a container without a cgroup namespace: the hierarchies are
    /// bind mounts of the container's own sub-tree.
    const NESTED_V1_MOUNTINFO: &str = "\
700 690 0:29 /docker/abc /sys/fs/cgroup/pids ro,nosuid - cgroup cgroup rw,pids
701 690 0:30 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
702 690 0:30 /docker/abc /sys/fs/cgroup/memory2 ro,nosuid - cgroup cgroup rw,memory
";
    const NESTED_V1_CGROUP: &str = "5:pids:/docker/abc\n4:memory:/docker/abc/sub\n";

    const V2_MOUNTINFO: &str =
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";

    fn mount<'a>(h: &'a Hierarchy, ctrl: &str) -> &'a Mounted {
        h.mounts
            .iter()
            .find(|m| {
                if ctrl.is_empty() {
                    m.fstype == "cgroup2"
                } else {
                    m.controllers.iter().any(|c| c == ctrl)
                }
            })
            .unwrap_or_else(|| panic!("no {ctrl:?} hierarchy"))
    }

    #[test]
    fn detects_hybrid() {
        let h = Hierarchy::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP).expect("parse");
        assert_eq!(h.mode(), Mode::Hybrid);
        assert_eq!(h.mounts.len(), 4);
        let cpu = mount(&h, "cpu");
        assert_eq!(cpu.controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(cpu.mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(mount(&h, "memory").own, Path::new("/user/me"));
        assert_eq!(mount(&h, "name=systemd").own, Path::new("/user.slice"));
        assert_eq!(mount(&h, "").own, Path::new("/user.slice"));
    }

    #[test]
    fn detects_this_kind_of_machine() {
        let h = Hierarchy::parse(MACHINE_MOUNTINFO, MACHINE_CGROUP).expect("parse");
        assert_eq!(h.mode(), Mode::Hybrid);
        assert_eq!(h.mounts.len(), 10);
        assert_eq!(
            mount(&h, "memory").own,
            Path::new("/process_api/5bae9f56f98cf77447884169e699e339")
        );
        assert_eq!(mount(&h, "cpu").own, Path::new("/"));
        assert_eq!(
            mount(&h, "").mountpoint,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn detects_v2_and_v1() {
        let v2 = Hierarchy::parse(V2_MOUNTINFO, "0::/user.slice/x.scope\n").expect("v2");
        assert_eq!(v2.mode(), Mode::V2);
        assert_eq!(v2.mounts.len(), 1);
        assert_eq!(mount(&v2, "").own, Path::new("/user.slice/x.scope"));
        let v1 = "28 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n";
        assert_eq!(
            Hierarchy::parse(v1, "1:pids:/\n").expect("v1").mode(),
            Mode::V1
        );
        assert!(matches!(
            Hierarchy::parse("1 1 0:1 / / rw - ext4 /dev/vda rw\n", ""),
            Err(CgroupError::NoHierarchy)
        ));
    }

    #[test]
    fn nested_bind_mounts_and_duplicates() {
        let h = Hierarchy::parse(NESTED_V1_MOUNTINFO, NESTED_V1_CGROUP).expect("parse");
        assert_eq!(h.mode(), Mode::V1);
        // The memory hierarchy mounted twice is kept once.
        assert_eq!(h.mounts.len(), 2);
        let rel = CgroupPath::parse(Some(Path::new("c1")), "c1").expect("rel");
        assert_eq!(
            rel.dir_in(mount(&h, "pids")),
            Path::new("/sys/fs/cgroup/pids/c1")
        );
        assert_eq!(
            rel.dir_in(mount(&h, "memory")),
            Path::new("/sys/fs/cgroup/memory/sub/c1")
        );
    }

    #[test]
    fn paths_as_runc_reads_them() {
        let h = Hierarchy::parse(MACHINE_MOUNTINFO, MACHINE_CGROUP).expect("parse");
        let (mem, cpu) = (mount(&h, "memory"), mount(&h, "cpu"));
        let abs = CgroupPath::parse(Some(Path::new("/berth/c1")), "c1").expect("abs");
        assert!(abs.is_absolute());
        assert_eq!(abs.dir_in(mem), Path::new("/sys/fs/cgroup/memory/berth/c1"));
        let rel = CgroupPath::parse(Some(Path::new("berth/c1")), "c1").expect("rel");
        assert_eq!(
            rel.dir_in(mem),
            Path::new(
                "/sys/fs/cgroup/memory/process_api/5bae9f56f98cf77447884169e699e339/berth/c1"
            )
        );
        assert_eq!(rel.dir_in(cpu), Path::new("/sys/fs/cgroup/cpu/berth/c1"));
        // Empty: the container id below our own cgroup.
        for empty in [None, Some(Path::new(""))] {
            let p = CgroupPath::parse(empty, "c9").expect("empty");
            assert!(!p.is_absolute());
            assert_eq!(p.dir_in(cpu), Path::new("/sys/fs/cgroup/cpu/c9"));
            assert_eq!(
                p.dir_in(mem),
                Path::new("/sys/fs/cgroup/memory/process_api/5bae9f56f98cf77447884169e699e339/c9")
            );
        }
    }

    #[test]
    fn cleans_like_runc() {
        let p = |s: &str| CgroupPath::parse(Some(Path::new(s)), "id");
        let abs = p("/a/../../etc//x/.").expect("clean");
        assert_eq!(
            (abs.as_path(), abs.is_absolute()),
            (Path::new("etc/x"), true)
        );
        let rel = p("../../b").expect("clean");
        assert_eq!((rel.as_path(), rel.is_absolute()), (Path::new("b"), false));
        assert!(matches!(p("/"), Err(CgroupError::InvalidPath { .. })));
        assert!(matches!(p("/a/.."), Err(CgroupError::InvalidPath { .. })));
        assert!(matches!(p("."), Err(CgroupError::InvalidPath { .. })));
        assert!(matches!(
            CgroupPath::parse(None, ".."),
            Err(CgroupError::InvalidPath { .. })
        ));
    }

    #[test]
    fn refuses_systemd_syntax() {
        let e = CgroupPath::parse(Some(Path::new("system.slice:docker:abc")), "x")
            .expect_err("systemd");
        assert_eq!(e.kind(), crate::ErrorKind::Unsupported);
        assert!(e.to_string().contains("systemd"), "{e}");
        // A colon in an absolute path is just a name.
        assert!(CgroupPath::parse(Some(Path::new("/a:b:c")), "x").is_ok());
    }

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        let mi = "1 1 0:9 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids\n";
        let h = Hierarchy::parse(mi, "").expect("parse");
        assert_eq!(h.mounts[0].mountpoint, Path::new("/sys/fs/cgroup/my pids"));
    }
}
