//! Mounts as plain data, and the separate step that performs them.
//!
//! The snapshotter only computes [`Mount`]s (containerd's model); whoever
//! sets up a container's root calls [`mount_all`] on the mount point and
//! [`unmount`] when done.
//!
//! The kernel copies mount(2)'s option string into one page, which limits
//! how many lowerdirs an overlay can name. Options that fit are passed to
//! mount(2); longer ones go through the new mount API (`fsopen` and
//! `fsconfig`), adding each lower directory with its own `lowerdir+` call
//! (Linux 6.8 and later), which has no such limit. Older kernels get
//! docker's overlay2 method: lowerdirs relative to the store's `l/`
//! directory, mounted from a helper thread whose working directory is its
//! own (`unshare(CLONE_FS)`).

use std::path::{Component, Path, PathBuf};

use rustix::mount::{self as rmount, FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags};

use crate::error::SnapshotError;

/// Longest option string mount(2) accepts (one page, with its NUL).
const MOUNT_DATA_MAX: usize = 4095;

/// One mount to perform, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The filesystem type: `overlay` or `bind`.
    pub kind: String,
    /// What to mount: a directory for `bind`, `overlay` for overlays.
    pub source: PathBuf,
    /// Where, relative to the mount point (empty: the mount point itself).
    pub target: PathBuf,
    /// mount(8)-style options: `ro`, `rbind`, `lowerdir=...`, ...
    pub options: Vec<String>,
}

impl Mount {
    /// The options as mount(2) data (without `ro`/`rw`/`rbind`, which are flags).
    fn data(&self) -> String {
        self.options
            .iter()
            .filter(|o| !matches!(o.as_str(), "ro" | "rw" | "rbind" | "bind"))
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    }

    fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Performs `mounts` in order on `mount_point`. If one fails, those already
/// made are unmounted again.
pub fn mount_all(mounts: &[Mount], mount_point: &Path) -> Result<(), SnapshotError> {
    let mut done: Vec<PathBuf> = Vec::new();
    for m in mounts {
        let result = target_of(mount_point, m).and_then(|target| {
            mount_one(m, &target)?;
            Ok(target)
        });
        match result {
            Ok(target) => done.push(target),
            Err(e) => {
                for t in done.iter().rev() {
                    let _ = rmount::unmount(t, rmount::UnmountFlags::DETACH);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Unmounts the mount on `mount_point` (lazily if it is busy). Not being a
/// mount point is not an error, so cleanup can call it blindly.
pub fn unmount(mount_point: &Path) -> Result<(), SnapshotError> {
    let err = |e: rustix::io::Errno| SnapshotError::Mount {
        op: "unmount",
        target: mount_point.to_path_buf(),
        error: e.into(),
    };
    match rmount::unmount(mount_point, rmount::UnmountFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => {
            rmount::unmount(mount_point, rmount::UnmountFlags::DETACH).map_err(err)
        }
        Err(e) => Err(err(e)),
    }
}

fn target_of(mount_point: &Path, m: &Mount) -> Result<PathBuf, SnapshotError> {
    if m.target
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(SnapshotError::Unsupported {
            what: format!(
                "mount target {} is not relative to the mount point",
                m.target.display()
            ),
        });
    }
    Ok(mount_point.join(&m.target))
}

fn mount_one(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let err = |op: &'static str| {
        let target = target.to_path_buf();
        move |e: rustix::io::Errno| SnapshotError::Mount {
            op,
            target,
            error: e.into(),
        }
    };
    match m.kind.as_str() {
        "bind" => {
            if m.options.iter().any(|o| o == "rbind") {
                rmount::mount_bind_recursive(&m.source, target)
            } else {
                rmount::mount_bind(&m.source, target)
            }
            .map_err(err("bind mount"))?;
            if m.read_only() {
                if let Err(e) =
                    rmount::mount_remount(target, MountFlags::BIND | MountFlags::RDONLY, "")
                {
                    let _ = rmount::unmount(target, rmount::UnmountFlags::DETACH);
                    return Err(err("make the bind mount read-only")(e));
                }
            }
            Ok(())
        }
        "overlay" => {
            let data = m.data();
            let flags = if m.read_only() {
                MountFlags::RDONLY
            } else {
                MountFlags::empty()
            };
            if data.len() <= MOUNT_DATA_MAX {
                let data = cstring(data)?;
                rmount::mount(&m.source, target, "overlay", flags, data.as_c_str())
                    .map_err(err("mount overlay"))
            } else {
                match mount_overlay_fsconfig(m, target) {
                    // Before Linux 6.8 (no lowerdir+) or 5.2 (no fsopen).
                    Err(SnapshotError::Unsupported { .. }) => mount_overlay_relative(m, target),
                    other => other,
                }
            }
        }
        other => Err(SnapshotError::Unsupported {
            what: format!("mount type {other:?}"),
        }),
    }
}

fn cstring(data: String) -> Result<std::ffi::CString, SnapshotError> {
    std::ffi::CString::new(data).map_err(|_| SnapshotError::Unsupported {
        what: "mount options contain a NUL byte".into(),
    })
}

/// Mounts an overlay whose lowerdirs all sit in one directory (the store's
/// `l/`) with lowerdirs relative to it, as docker's overlay2 does: from a
/// helper thread with its own working directory (`unshare(CLONE_FS)`), so
/// no other thread's cwd moves. For kernels without `lowerdir+`.
pub(crate) fn mount_overlay_relative(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let unsupported = |what: &str| SnapshotError::Unsupported {
        what: format!("overlay options longer than one page: {what}"),
    };
    let target = std::path::absolute(target).map_err(|e| SnapshotError::Mount {
        op: "resolve the mount target",
        target: target.to_path_buf(),
        error: e,
    })?;
    let mut base: Option<PathBuf> = None;
    let mut options = Vec::with_capacity(m.options.len());
    for opt in &m.options {
        if matches!(opt.as_str(), "ro" | "rw") {
            continue;
        }
        let Some(dirs) = opt.strip_prefix("lowerdir=") else {
            options.push(opt.clone());
            continue;
        };
        let mut names = Vec::new();
        for dir in dirs.split(':') {
            let dir = Path::new(dir);
            let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
                return Err(unsupported("a lowerdir without a parent"));
            };
            match &base {
                None => base = Some(parent.to_path_buf()),
                Some(b) if b == parent => {}
                Some(_) => return Err(unsupported("lowerdirs in different directories")),
            }
            names.push(name.to_string_lossy().into_owned());
        }
        options.push(format!("lowerdir={}", names.join(":")));
    }
    let base = base.ok_or_else(|| unsupported("no lowerdir"))?;
    let data = options.join(",");
    if data.len() > MOUNT_DATA_MAX {
        return Err(unsupported("even with relative lowerdirs"));
    }
    let data = cstring(data)?;
    let flags = if m.read_only() {
        MountFlags::RDONLY
    } else {
        MountFlags::empty()
    };
    let err = |op: &'static str| {
        let target = target.clone();
        move |e: std::io::Error| SnapshotError::Mount {
            op,
            target,
            error: e,
        }
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| -> Result<(), SnapshotError> {
                berth_sys::ns::unshare_fs().map_err(err("unshare the mount thread's cwd"))?;
                rustix::process::chdir(&base)
                    .map_err(|e| err("chdir to the lowerdirs")(e.into()))?;
                rmount::mount(&m.source, &target, "overlay", flags, data.as_c_str())
                    .map_err(|e| err("mount overlay")(e.into()))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(SnapshotError::Unsupported {
                    what: "the mount thread panicked".into(),
                })
            })
    })
}

/// Mounts an overlay through fsopen/fsconfig, one `lowerdir+` per layer.
fn mount_overlay_fsconfig(m: &Mount, target: &Path) -> Result<(), SnapshotError> {
    let err = |op: &'static str| {
        let target = target.to_path_buf();
        move |e: rustix::io::Errno| SnapshotError::Mount {
            op,
            target,
            error: e.into(),
        }
    };
    let fs = rmount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| {
        if e == rustix::io::Errno::NOSYS {
            SnapshotError::Unsupported {
                what: "this kernel has no fsopen (Linux 5.2)".into(),
            }
        } else {
            err("fsopen overlay")(e)
        }
    })?;
    rmount::fsconfig_set_string(&fs, "source", &m.source).map_err(err("fsconfig source"))?;
    for opt in &m.options {
        if matches!(opt.as_str(), "ro" | "rw") {
            continue;
        }
        match opt.split_once('=') {
            Some(("lowerdir", dirs)) => {
                for dir in dirs.split(':') {
                    rmount::fsconfig_set_string(&fs, "lowerdir+", dir).map_err(|e| {
                        if e == rustix::io::Errno::INVAL {
                            SnapshotError::Unsupported {
                                what: format!(
                                    "{} lower layers do not fit in one page of mount options \
                                     and this kernel has no lowerdir+ (Linux 6.8)",
                                    dirs.split(':').count()
                                ),
                            }
                        } else {
                            err("fsconfig lowerdir+")(e)
                        }
                    })?;
                }
            }
            Some((key, value)) => {
                rmount::fsconfig_set_string(&fs, key, value).map_err(err("fsconfig"))?
            }
            None => rmount::fsconfig_set_flag(&fs, opt.as_str()).map_err(err("fsconfig"))?,
        }
    }
    rmount::fsconfig_create(&fs).map_err(err("create the overlay"))?;
    let attrs = if m.read_only() {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = rmount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(err("fsmount"))?;
    rmount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        rmount::MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(err("move the overlay into place"))
}
