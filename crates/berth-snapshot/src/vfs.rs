//! The vfs driver's part: every snapshot is a full copy of its parent, so
//! its mount is a plain bind mount. For hosts without overlayfs.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Gid, Mode, Timespec, Timestamps, Uid};

use crate::error::SnapshotError;
use crate::mount::Mount;
use crate::snapshotter::{Info, Kind, Snapshotter};

pub(crate) fn mounts(s: &Snapshotter, info: &Info) -> Result<Vec<Mount>, SnapshotError> {
    let (source, ro) = match (info.kind, &info.parent) {
        // A view needs no copy: committed parents never change.
        (Kind::View, Some(p)) => (s.diff_of(p)?, true),
        (kind, _) => (s.diff_of(&info.name)?, kind == Kind::View),
    };
    Ok(vec![Mount {
        kind: "bind".into(),
        source,
        target: "".into(),
        options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
    }])
}

/// Copies the contents of `src` into the existing directory `dst`,
/// keeping owners, modes, times, xattrs, symlinks, devices and hardlinks,
/// and never following a symlink. `src` is the store's own committed layer.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<(), SnapshotError> {
    let mut links = HashMap::new();
    copy_dir_contents(src, dst, &mut links)?;
    let md = fs::symlink_metadata(src).map_err(|e| SnapshotError::io("stat", src, e))?;
    copy_meta(src, dst, &md)
}

fn copy_dir_contents(
    src: &Path,
    dst: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SnapshotError> {
    for e in fs::read_dir(src).map_err(|e| SnapshotError::io("list", src, e))? {
        let e = e.map_err(|e| SnapshotError::io("list", src, e))?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let md = fs::symlink_metadata(&from).map_err(|e| SnapshotError::io("stat", &from, e))?;
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                fs::hard_link(first, &to).map_err(|e| SnapshotError::io("link", &to, e))?;
                continue;
            }
            links.insert((md.dev(), md.ino()), to.clone());
        }
        if ft.is_dir() {
            fs::create_dir(&to).map_err(|e| SnapshotError::io("create", &to, e))?;
            copy_dir_contents(&from, &to, links)?;
        } else if ft.is_file() {
            fs::copy(&from, &to).map_err(|e| SnapshotError::io("copy", &from, e))?;
        } else if ft.is_symlink() {
            let target =
                fs::read_link(&from).map_err(|e| SnapshotError::io("readlink", &from, e))?;
            std::os::unix::fs::symlink(target, &to)
                .map_err(|e| SnapshotError::io("symlink", &to, e))?;
        } else {
            let kind = if ft.is_char_device() {
                FileType::CharacterDevice
            } else if ft.is_block_device() {
                FileType::BlockDevice
            } else if ft.is_fifo() {
                FileType::Fifo
            } else {
                FileType::Socket
            };
            rfs::mknodat(rfs::CWD, &to, kind, Mode::from_raw_mode(0o600), md.rdev())
                .map_err(|e| SnapshotError::io("mknod", &to, e.into()))?;
        }
        copy_meta(&from, &to, &md)?;
    }
    Ok(())
}

/// Owner, xattrs, mode, times, in that order (chown clears setuid bits).
fn copy_meta(from: &Path, to: &Path, md: &fs::Metadata) -> Result<(), SnapshotError> {
    let err = |op| move |e: rustix::io::Errno| SnapshotError::io(op, to, io::Error::from(e));
    let is_link = md.file_type().is_symlink();
    rfs::chownat(
        rfs::CWD,
        to,
        Some(Uid::from_raw(md.uid())),
        Some(Gid::from_raw(md.gid())),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(err("chown"))?;
    if !is_link {
        copy_xattrs(from, to)?;
        rfs::chmodat(
            rfs::CWD,
            to,
            Mode::from_raw_mode(md.mode() & 0o7777),
            AtFlags::empty(),
        )
        .map_err(err("chmod"))?;
    }
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec(),
        },
        last_modification: Timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec(),
        },
    };
    rfs::utimensat(rfs::CWD, to, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(err("set times"))
}

fn copy_xattrs(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let mut names = vec![0u8; 4096];
    let n = loop {
        match rfs::llistxattr(from, &mut names[..]) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) if names.len() < (1 << 20) => {
                names.resize(names.len() * 4, 0)
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(()),
            Err(e) => return Err(SnapshotError::io("list xattrs", from, e.into())),
        }
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; 4096];
        let len = loop {
            match rfs::lgetxattr(from, name, &mut value[..]) {
                Ok(len) => break len,
                Err(rustix::io::Errno::RANGE) if value.len() < (1 << 20) => {
                    value.resize(value.len() * 4, 0)
                }
                Err(e) => return Err(SnapshotError::io("read xattr", from, e.into())),
            }
        };
        match rfs::lsetxattr(to, name, &value[..len], rfs::XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM) => {}
            Err(e) => return Err(SnapshotError::io("set xattr", to, e.into())),
        }
    }
    Ok(())
}
