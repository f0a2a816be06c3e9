//! The container's mounts: dockerd's defaults (proc, /dev, devpts, sysfs, cgroup, mqueue,
//! /dev/shm sized by `ShmSize`), the generated /etc files, `--tmpfs` entries, the host's
//! /dev/shm for `--ipc host`, the init binary; read-only and privileged adjustments.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Mount;

use crate::error::SpecError;

/// A mount before it becomes oci-spec's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    pub destination: String,
    pub kind: &'static str,
    pub source: String,
    pub options: Vec<String>,
}

impl MountEntry {
    fn new(destination: &str, kind: &'static str, source: &str, options: &[&str]) -> Self {
        Self {
            destination: destination.to_owned(),
            kind,
            source: source.to_owned(),
            options: options.iter().map(|o| (*o).to_owned()).collect(),
        }
    }

    pub(crate) fn to_oci(&self) -> Mount {
        let mut m = Mount::default();
        m.set_destination(PathBuf::from(&self.destination));
        m.set_typ(Some(self.kind.to_owned()));
        m.set_source(Some(PathBuf::from(&self.source)));
        m.set_options(Some(self.options.clone()));
        m
    }
}

/// dockerd's default mounts, in its order (`/dev/shm` without its size).
fn defaults() -> Vec<MountEntry> {
    vec![
        MountEntry::new("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        MountEntry::new(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        MountEntry::new(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        MountEntry::new(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        ),
        MountEntry::new(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["ro", "nosuid", "noexec", "nodev"],
        ),
        MountEntry::new(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        MountEntry::new(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777"],
        ),
    ]
}

/// Mount flags that a later option of the same kind overrides, as in moby's
/// `MergeTmpfsOptions` (each pair sets or clears one flag; the propagation modes are one
/// slot).
const FLAG_GROUPS: &[&[&str]] = &[
    &["ro", "rw"],
    &["suid", "nosuid"],
    &["dev", "nodev"],
    &["exec", "noexec"],
    &["sync", "async"],
    &["dirsync"],
    &["remount"],
    &["mand", "nomand"],
    &["atime", "noatime"],
    &["diratime", "nodiratime"],
    &["bind"],
    &["rbind"],
    &["relatime", "norelatime"],
    &["strictatime", "nostrictatime"],
    &[
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
    ],
];

/// The `key=value` options a tmpfs takes.
const TMPFS_DATA: &[&str] = &[
    "size",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

/// Merges tmpfs options: the last of each flag group and of each `key=` wins, in the order
/// of the winners.
fn merge_tmpfs_options(options: &[String]) -> Result<Vec<String>, SpecError> {
    let mut taken_flags: Vec<usize> = Vec::new();
    let mut taken_keys: Vec<&str> = Vec::new();
    let mut out: Vec<String> = Vec::new();
    for opt in options.iter().rev() {
        if opt == "defaults" {
            continue;
        }
        if let Some(g) = FLAG_GROUPS.iter().position(|g| g.contains(&opt.as_str())) {
            if !taken_flags.contains(&g) {
                taken_flags.push(g);
                out.push(opt.clone());
            }
            continue;
        }
        match opt.split_once('=') {
            Some((k, _)) if TMPFS_DATA.contains(&k) => {
                if !taken_keys.contains(&k) {
                    taken_keys.push(k);
                    out.push(opt.clone());
                }
            }
            _ => {
                return Err(SpecError::invalid(
                    "HostConfig.Tmpfs",
                    format!("invalid tmpfs option {opt:?}"),
                ))
            }
        }
    }
    out.reverse();
    Ok(out)
}

/// dockerd's order for the mounts it adds: by depth of the destination (stable).
fn depth(dest: &str) -> usize {
    Path::new(dest)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// A destination must be absolute and not the root.
fn check_destination(field: &'static str, dest: &str) -> Result<(), SpecError> {
    if !dest.starts_with('/') {
        return Err(SpecError::invalid(
            field,
            format!("invalid mount path: {dest:?} mount path must be absolute"),
        ));
    }
    if depth(dest) == 0 {
        return Err(SpecError::invalid(
            field,
            format!("invalid mount path: {dest:?}"),
        ));
    }
    Ok(())
}

/// What decides the mounts.
#[derive(Debug)]
pub(crate) struct MountPlan<'a> {
    pub files: &'a crate::input::ContainerFiles,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub shm_size: i64,
    pub ipc_none: bool,
    /// The /dev/shm to bind-mount: the host's for `--ipc host`, a shared one for `shareable`
    /// and `container:NAME`.
    pub shm_bind: Option<&'a Path>,
    pub tmpfs: Vec<(&'a str, &'a str)>,
    pub init: Option<&'a Path>,
}

/// The spec's mounts, in dockerd's order.
pub(crate) fn mounts(plan: &MountPlan<'_>) -> Result<Vec<MountEntry>, SpecError> {
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let bind_opts = |writable: bool| {
        let mut o = vec!["rbind".to_owned()];
        if !writable {
            o.push("ro".to_owned());
        }
        o.push("rprivate".to_owned());
        o
    };
    // The mounts dockerd calls the user's: the /etc files, the shared /dev/shm, tmpfs.
    let mut user = vec![
        MountEntry {
            destination: "/etc/resolv.conf".into(),
            kind: "bind",
            source: path(&plan.files.resolv_conf),
            options: bind_opts(!plan.readonly_rootfs),
        },
        MountEntry {
            destination: "/etc/hostname".into(),
            kind: "bind",
            source: path(&plan.files.hostname),
            options: bind_opts(!plan.readonly_rootfs),
        },
        MountEntry {
            destination: "/etc/hosts".into(),
            kind: "bind",
            source: path(&plan.files.hosts),
            options: bind_opts(!plan.readonly_rootfs),
        },
    ];
    if let Some(shm) = plan.shm_bind {
        user.push(MountEntry {
            destination: "/dev/shm".into(),
            kind: "bind",
            source: path(shm),
            options: bind_opts(true),
        });
    }
    for (dest, data) in &plan.tmpfs {
        check_destination("HostConfig.Tmpfs", dest)?;
        let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if !data.is_empty() {
            opts.extend(data.split(',').map(str::to_owned));
        }
        user.push(MountEntry {
            destination: (*dest).to_owned(),
            kind: "tmpfs",
            source: "tmpfs".into(),
            options: merge_tmpfs_options(&opts)?,
        });
    }
    user.sort_by_key(|m| depth(&m.destination));
    let is_user = |dest: &str| user.iter().any(|m| m.destination == dest);
    let user_dev = is_user("/dev");

    let mut out: Vec<MountEntry> = Vec::new();
    for mut m in defaults() {
        if is_user(&m.destination) || (user_dev && m.destination.starts_with("/dev/")) {
            continue;
        }
        if m.destination == "/dev/shm" {
            if plan.ipc_none {
                continue;
            }
            m.options.push(format!("size={}", plan.shm_size));
        }
        out.push(m);
    }
    // dockerd adds the init's mount before the user's mounts (and it is not one of them).
    if let Some(init) = plan.init {
        out.push(MountEntry {
            destination: crate::INIT_PATH.into(),
            kind: "bind",
            source: path(init),
            options: vec!["bind".into(), "ro".into()],
        });
    }
    out.extend(user.iter().cloned());
    if plan.readonly_rootfs {
        for m in &mut out {
            if matches!(
                m.destination.as_str(),
                "/proc" | "/dev/pts" | "/dev/shm" | "/dev/mqueue" | "/dev"
            ) || is_user(&m.destination)
            {
                continue;
            }
            if !m.options.iter().any(|o| o == "ro") {
                m.options.push("ro".into());
            }
        }
    }
    if plan.privileged {
        for m in &mut out {
            if m.destination == "/sys" || m.kind == "cgroup" {
                m.options.retain(|o| o != "ro");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::ContainerFiles;

    fn files() -> ContainerFiles {
        ContainerFiles {
            hosts: "/c/hosts".into(),
            hostname: "/c/hostname".into(),
            resolv_conf: "/c/resolv.conf".into(),
            shm: None,
        }
    }

    fn plan(files: &ContainerFiles) -> MountPlan<'_> {
        MountPlan {
            files,
            readonly_rootfs: false,
            privileged: false,
            shm_size: 64 << 20,
            ipc_none: false,
            shm_bind: None,
            tmpfs: Vec::new(),
            init: None,
        }
    }

    fn dests(ms: &[MountEntry]) -> Vec<&str> {
        ms.iter().map(|m| m.destination.as_str()).collect()
    }

    fn find<'a>(ms: &'a [MountEntry], d: &str) -> &'a MountEntry {
        ms.iter().find(|m| m.destination == d).unwrap()
    }

    #[test]
    fn defaults_as_dockerd() {
        let f = files();
        let ms = mounts(&plan(&f)).unwrap();
        assert_eq!(
            dests(&ms),
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/sys",
                "/sys/fs/cgroup",
                "/dev/mqueue",
                "/dev/shm",
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts"
            ]
        );
        assert_eq!(
            find(&ms, "/dev/shm").options,
            ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
        );
        assert_eq!(find(&ms, "/etc/hosts").options, ["rbind", "rprivate"]);
        assert_eq!(find(&ms, "/etc/hosts").source, "/c/hosts");
    }

    #[test]
    fn read_only_privileged_ipc() {
        let f = files();
        let mut p = plan(&f);
        p.readonly_rootfs = true;
        p.tmpfs = vec![("/run", "")];
        let ms = mounts(&p).unwrap();
        assert_eq!(find(&ms, "/etc/hosts").options, ["rbind", "ro", "rprivate"]);
        assert_eq!(
            find(&ms, "/dev/mqueue").options,
            ["nosuid", "noexec", "nodev"]
        );
        assert!(find(&ms, "/sys/fs/cgroup")
            .options
            .contains(&"ro".to_owned()));
        assert_eq!(
            find(&ms, "/run").options,
            ["noexec", "nosuid", "nodev", "rprivate"]
        );
        // Depth order: /run (1) before /etc/... (2).
        assert_eq!(dests(&ms)[7], "/run");

        let mut p = plan(&f);
        p.privileged = true;
        let ms = mounts(&p).unwrap();
        assert!(!find(&ms, "/sys").options.contains(&"ro".to_owned()));
        assert!(!find(&ms, "/sys/fs/cgroup")
            .options
            .contains(&"ro".to_owned()));

        let mut p = plan(&f);
        p.ipc_none = true;
        assert!(!dests(&mounts(&p).unwrap()).contains(&"/dev/shm"));
        let mut p = plan(&f);
        p.shm_bind = Some(Path::new("/dev/shm"));
        let ms = mounts(&p).unwrap();
        assert_eq!(find(&ms, "/dev/shm").kind, "bind");
        assert_eq!(ms.iter().filter(|m| m.destination == "/dev/shm").count(), 1);
    }

    #[test]
    fn tmpfs_options_merge() {
        let f = files();
        let mut p = plan(&f);
        p.tmpfs = vec![("/tmp", "exec,size=1m,size=2m,mode=700,ro")];
        let ms = mounts(&p).unwrap();
        assert_eq!(
            find(&ms, "/tmp").options,
            ["nosuid", "nodev", "rprivate", "exec", "size=2m", "mode=700", "ro"]
        );
        p.tmpfs = vec![("/tmp", "bogus")];
        assert!(mounts(&p).is_err());
        p.tmpfs = vec![("relative", "")];
        assert!(mounts(&p).is_err());
        // A tmpfs on /dev replaces every default mount under it.
        p.tmpfs = vec![("/dev", "")];
        let ms = mounts(&p).unwrap();
        assert!(!dests(&ms).iter().any(|d| d.starts_with("/dev/")));
    }
}
