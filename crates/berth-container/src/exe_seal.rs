//! Protection against CVE-2019-5736: a container process must never be able to
//! reach the host's runtime binary through `/proc/PID/exe` and overwrite it.
//! Before it starts any container process, the runtime re-executes itself from
//! a read-only view of its binary, so the executable behind every process it
//! forks cannot be written through: a private, detached, read-only overlayfs
//! over the binary's directory (no copy, ~0.1 ms), or where overlayfs is not
//! available, a write-sealed memfd copy (the approach of runc 1.1).

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{MemfdFlags, SealFlags};

use crate::error::{ContainerError, Result};

const SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Whether the running executable cannot be written through: a write-sealed
/// memfd, or a file on a read-only mount.
pub fn is_sealed() -> bool {
    let Ok(f) = File::open("/proc/self/exe") else {
        return false;
    };
    if rustix::fs::fcntl_get_seals(&f).is_ok_and(|s| s.contains(SEALS)) {
        return true;
    }
    rustix::fs::fstatvfs(&f)
        .is_ok_and(|st| st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// Opens our binary through a detached read-only overlayfs whose layers are
/// the binary's directory and an empty detached tmpfs (overlayfs needs two
/// lower layers when it has no upper one). The mount exists only as long as
/// the returned file (and the process executing it) holds it.
fn open_readonly_view() -> std::io::Result<File> {
    use rustix::mount::{
        fsconfig_create, fsconfig_set_string, fsmount, fsopen, FsMountFlags, FsOpenFlags,
        MountAttrFlags,
    };
    let exe = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (exe.parent(), exe.file_name()) else {
        return Err(std::io::ErrorKind::InvalidInput.into());
    };
    let tmp = fsopen("tmpfs", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_create(&tmp)?;
    let empty = fsmount(
        &tmp,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY,
    )?;
    let ovl = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    let layers = format!(
        "{}:/proc/self/fd/{}",
        dir.display(),
        std::os::fd::AsRawFd::as_raw_fd(&empty)
    );
    fsconfig_set_string(&ovl, "lowerdir", layers.as_str())?;
    fsconfig_create(&ovl)?;
    let mnt = fsmount(
        &ovl,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )?;
    let fd = rustix::fs::openat(
        &mnt,
        name,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    Ok(File::from(fd))
}

/// Re-executes the current process from a read-only view (or a sealed copy)
/// of its executable, with the same arguments and environment. Returns only
/// on failure.
pub fn reexec_sealed() -> Result<std::convert::Infallible> {
    if let Ok(view) = open_readonly_view() {
        let err = berth_sys::process::execve_fd(view.as_fd(), &args(), &environ());
        return Err(ContainerError::sys("re-exec from read-only view", err));
    }
    let mut exe = File::open("/proc/self/exe")
        .map_err(|e| ContainerError::io("open", "/proc/self/exe", e))?;
    let memfd = rustix::fs::memfd_create(
        "berth-runtime",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )
    .map_err(|e| ContainerError::sys("memfd_create", e.into()))?;
    let mut copy = File::from(memfd);
    std::io::copy(&mut exe, &mut copy)
        .map_err(|e| ContainerError::io("copy", "/proc/self/exe", e))?;
    rustix::fs::fcntl_add_seals(&copy, SEALS)
        .map_err(|e| ContainerError::sys("seal memfd", e.into()))?;
    let err = berth_sys::process::execve_fd(copy.as_fd(), &args(), &environ());
    Err(ContainerError::sys("re-exec from sealed copy", err))
}

fn args() -> Vec<CString> {
    std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect()
}

fn environ() -> Vec<CString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).unwrap_or_default()
        })
        .collect()
}

/// Makes sure the process runs from a sealed copy, re-executing if needed.
pub fn ensure_sealed() -> Result<()> {
    if is_sealed() {
        return Ok(());
    }
    match reexec_sealed()? {}
}

/// Everything a process that starts container processes does first: become
/// non-dumpable (container processes cannot open our /proc entries while we
/// set up; exec resets it for the container's program) and run sealed.
pub fn harden() -> Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| ContainerError::sys("prctl(PR_SET_DUMPABLE)", e.into()))?;
    ensure_sealed()
}
