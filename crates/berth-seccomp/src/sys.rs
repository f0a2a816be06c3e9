//! The raw syscalls this crate needs: `seccomp(2)` to install and probe filters and
//! `memfd_create(2)` to receive libseccomp's exported program.
//!
//! `set_mode_filter` runs in the container's init between `clone` and `execve`: it
//! must stay async-signal-safe (no allocation, no locks, no libseccomp).

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: attaches `filter` to the calling
/// thread (or to all threads with `SECCOMP_FILTER_FLAG_TSYNC`). Returns the
/// syscall's non-negative result: the notification listener fd when `flags`
/// contains `SECCOMP_FILTER_FLAG_NEW_LISTENER`, otherwise 0 (or a thread id for
/// TSYNC failures, which the kernel reports as a positive return).
///
/// Async-signal-safe: one syscall, errno read without allocating.
pub(crate) fn set_mode_filter(
    flags: libc::c_ulong,
    filter: &[libc::sock_filter],
) -> io::Result<libc::c_long> {
    let len = u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads the program; the field is `*mut` for historical reasons.
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: `prog` is a valid `sock_fprog` whose `filter` points at `len`
    // initialized `sock_filter` records borrowed for the whole call; the kernel
    // copies the program before returning and never writes through the pointer.
    // The remaining arguments are plain integers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            std::ptr::from_ref(&prog),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Asks the kernel whether it accepts `flags` for `SECCOMP_SET_MODE_FILTER`, the way
/// libseccomp does: with a NULL program a kernel that knows the flags fails the copy
/// with `EFAULT`; one that does not rejects them with `EINVAL` first. Nothing is
/// installed either way.
pub(crate) fn filter_flags_supported(flags: libc::c_ulong) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced in user space; the kernel
    // validates the flags and then fails `copy_from_user` with EFAULT, so no filter
    // is attached and no memory of ours is touched.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::c_ulong::from(libc::SECCOMP_SET_MODE_FILTER),
            flags,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// Turns the non-negative result of [`set_mode_filter`] with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` into the listener fd it names.
pub(crate) fn listener_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    let raw = libc::c_int::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER the kernel returns a fresh fd
    // that nothing else in this process owns, so taking ownership here is sound.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// An anonymous, close-on-exec in-memory file (`memfd_create(2)`).
pub(crate) fn memfd(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call;
    // MFD_CLOEXEC is a valid flag.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
