//! `mount_setattr(2)`, which changes mount attributes (read-only, nosuid, ...)
//! on a whole subtree at once; the basis of recursive read-only mounts.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

pub const MOUNT_ATTR_RDONLY: u64 = 0x0000_0001;
pub const MOUNT_ATTR_NOSUID: u64 = 0x0000_0002;
pub const MOUNT_ATTR_NODEV: u64 = 0x0000_0004;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x0000_0008;
pub const MOUNT_ATTR__ATIME: u64 = 0x0000_0070;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0000_0000;
pub const MOUNT_ATTR_NOATIME: u64 = 0x0000_0010;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x0000_0020;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x0000_0080;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// The kernel's `struct mount_attr`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MountAttr {
    pub attr_set: u64,
    pub attr_clr: u64,
    pub propagation: u64,
    pub userns_fd: u64,
}

/// Applies `attr` to the mount at `dirfd`/`path`; with `recursive`, to every
/// mount below it too (`AT_RECURSIVE`).
pub fn mount_setattr(
    dirfd: BorrowedFd<'_>,
    path: &CStr,
    empty_path: bool,
    recursive: bool,
    attr: &MountAttr,
) -> io::Result<()> {
    let mut flags: libc::c_uint = 0;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    if empty_path {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: dirfd is a valid borrowed descriptor, path is NUL-terminated, and
    // attr points to a live, correctly laid out struct mount_attr whose size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd.as_raw_fd(),
            path.as_ptr(),
            flags,
            std::ptr::from_ref(attr),
            std::mem::size_of::<MountAttr>(),
        )
    };
    crate::cvt(ret).map(|_| ())
}
