//! File-descriptor hygiene: nothing the runtime holds may leak into a container
//! (CVE-2024-21626).

use std::io;

/// Marks every descriptor numbered `first` and above close-on-exec
/// (`close_range(first, ~0, CLOSE_RANGE_CLOEXEC)`), so that only 0..first reach
/// the container's program.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range only changes descriptor flags; no memory is passed.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    crate::cvt(ret).map(|_| ())
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
pub unsafe fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes integers only; ownership is the caller's contract (above).
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    crate::cvt(ret).map(|_| ())
}
