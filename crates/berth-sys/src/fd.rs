//! File-descriptor hygiene: nothing the runtime holds may leak into a container
//! (CVE-2024-21626).

use std::io;

/// Marks every descriptor numbered `first` and above close-on-exec, so that
/// only 0..first reach the container's program.
///
/// One `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` does it; where that call
/// is missing (kernels before 5.11) or refused (a seccomp filter that does not
/// know it), the descriptors listed in /proc/self/fd are marked one by one, as
/// runc does.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    match crate::cvt(ret) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EPERM | libc::EINVAL)
            ) =>
        {
            cloexec_listed(first)
        }
        Err(e) => Err(e),
    }
}

/// The fallback of [`cloexec_from`]: every descriptor /proc/self/fd lists.
fn cloexec_listed(first: u32) -> io::Result<()> {
    let dir = std::fs::read_dir("/proc/self/fd")?;
    // The listing's own descriptor is close-on-exec already (std opens with O_CLOEXEC).
    let fds: Vec<std::os::fd::RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd: &std::os::fd::RawFd| u32::try_from(*fd).is_ok_and(|n| n >= first))
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD takes an integer flag and touches no memory; a descriptor closed
        // since the listing (the listing's own) fails with EBADF, which is ignored.
        let ret = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        if ret == -1 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EBADF) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Closes descriptor `fd` by number.
///
/// # Safety
///
/// Meant for a freshly forked child whose copy of the owning object will never
/// be used or dropped (the child execs or `_exit`s): the caller guarantees that
/// nothing else in the process refers to `fd` afterwards.
pub unsafe fn close_in_child(fd: std::os::fd::RawFd) {
    // SAFETY: upheld by the caller (see above); close takes an integer.
    unsafe { libc::close(fd) };
}

/// Closes every descriptor numbered `first` and above (`close_range(first, ~0, 0)`).
///
/// # Safety
///
/// No object in the process may own (or later use) one of these descriptors: meant for the
/// start of a program that drops what it inherited before it opens anything itself.
/// Without `close_range` (kernels before 5.9, or a seccomp filter that refuses it) the
/// descriptors /proc/self/fd lists are closed one by one.
pub unsafe fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes integers only; ownership is the caller's contract (above).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    match crate::cvt(ret) {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS | libc::EPERM | libc::EINVAL)
            ) =>
        {
            let fds: Vec<std::os::fd::RawFd> = std::fs::read_dir("/proc/self/fd")?
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|fd: &std::os::fd::RawFd| u32::try_from(*fd).is_ok_and(|n| n >= first))
                .collect();
            for fd in fds {
                // SAFETY: as above (the caller's contract); the listing's own descriptor,
                // closed since, fails with EBADF, which is ignored.
                unsafe { libc::close(fd) };
            }
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_listed_fallback_marks_descriptors() -> io::Result<()> {
        // A descriptor without FD_CLOEXEC (dup keeps none), high enough to be ours alone.
        let f = std::fs::File::open("/dev/null")?;
        // SAFETY: dup takes an integer; the new descriptor is wrapped and closed below.
        let raw = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_DUPFD, 900) };
        assert!(raw >= 900, "{}", io::Error::last_os_error());
        // SAFETY: `raw` is a fresh descriptor nothing else owns.
        let dup = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        // SAFETY: F_GETFD reads the flags of a descriptor we own; no memory is passed.
        let flags = || unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags() & libc::FD_CLOEXEC, 0);
        cloexec_listed(900)?;
        assert_eq!(flags() & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        Ok(())
    }
}
