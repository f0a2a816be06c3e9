//! `seccomp(2)`: installing a filter (in the container's init, between `clone`
//! and `execve`) and probing which filter flags the kernel knows.
//!
//! [`set_mode_filter`] must stay async-signal-safe: one syscall, no allocation,
//! no locks, errno read without allocating.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)`: attaches `filter` to the calling
/// thread (or to all threads with `SECCOMP_FILTER_FLAG_TSYNC`). With
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER` in `flags` the kernel returns the
/// user-notification listener, handed back here as an owned fd; without it, `None`.
///
/// A positive return without NEW_LISTENER is the id of a thread TSYNC could not
/// synchronise (the filter was not installed): that is reported as `ESRCH`.
/// A program longer than the kernel's `u16` length is `E2BIG`.
///
/// Async-signal-safe: one syscall, errno read without allocating.
pub fn set_mode_filter(
    flags: libc::c_ulong,
    filter: &[libc::sock_filter],
) -> io::Result<Option<OwnedFd>> {
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
    let ret = crate::cvt(ret)?;
    let new_listener = libc::c_ulong::from(libc::SECCOMP_FILTER_FLAG_NEW_LISTENER);
    if flags & new_listener == 0 {
        return if ret == 0 {
            Ok(None)
        } else {
            Err(io::Error::from_raw_os_error(libc::ESRCH))
        };
    }
    let raw = libc::c_int::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER a successful call returns a fresh
    // fd that nothing else in this process owns, so taking ownership here is sound.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }))
}

/// Asks the kernel whether it accepts `flags` for `SECCOMP_SET_MODE_FILTER`, the way
/// libseccomp does: with a NULL program a kernel that knows the flags fails the copy
/// with `EFAULT`; one that does not rejects them with `EINVAL` first. Nothing is
/// installed either way.
pub fn filter_flags_supported(flags: libc::c_ulong) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_flags_without_installing() {
        // Every seccomp-capable kernel berth supports knows TSYNC (3.17+).
        assert!(filter_flags_supported(libc::c_ulong::from(
            libc::SECCOMP_FILTER_FLAG_TSYNC
        )));
        assert!(!filter_flags_supported(1 << 30));
    }

    #[test]
    fn refuses_a_program_too_long_for_the_kernel() {
        let insn = libc::sock_filter {
            code: 0,
            jt: 0,
            jf: 0,
            k: 0,
        };
        let long = vec![insn; usize::from(u16::MAX) + 1];
        let e = set_mode_filter(0, &long).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::E2BIG));
    }
}
