//! Process creation and replacement: `clone` with namespace flags, `execve`,
//! `execveat` and `_exit`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// What [`clone_process`] returned in the calling process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneResult {
    /// We are the parent; the value is the child's pid.
    Parent(i32),
    /// We are the new child process.
    Child,
}

/// Creates a child process like `fork(2)`, but with extra `CLONE_*` flags
/// (namespaces, `CLONE_PARENT`). The child gets a copy-on-write copy of the
/// address space and continues on the same (copied) stack.
///
/// # Safety
///
/// The caller must be single-threaded: the child inherits only the calling
/// thread, so locks held by other threads (allocator, stdio) would stay locked
/// forever in the child. berth calls this only from its single-threaded runtime
/// process and from its own single-threaded children.
pub unsafe fn clone_process(flags: libc::c_ulong) -> io::Result<CloneResult> {
    // SAFETY: the raw clone syscall with a null stack behaves like fork(2): the
    // child runs on a copy of the parent's stack. No pointers are passed (the
    // tid arguments are null), and the caller guarantees single-threadedness.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    match crate::cvt(ret)? {
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(i32::try_from(pid).unwrap_or(i32::MAX))),
    }
}

/// Ends the calling process at once, without running destructors, atexit
/// handlers or flushing stdio buffers (which belong to the parent's copy).
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and takes no pointers.
    unsafe { libc::_exit(code) }
}

fn pointer_array(items: &[CString]) -> Vec<*const libc::c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// Replaces the process image with `path`. Returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv = pointer_array(argv);
    let envp = pointer_array(envp);
    // SAFETY: path is NUL-terminated; argv and envp are NULL-terminated arrays of
    // pointers into CStrings that outlive the call (the call only returns on error).
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// Replaces the process image with the program open at `fd`
/// (`execveat(fd, "", ..., AT_EMPTY_PATH)`). Returns only on failure.
pub fn execve_fd(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv = pointer_array(argv);
    let envp = pointer_array(envp);
    // SAFETY: fd is a valid open descriptor borrowed for the call; the empty path
    // is a static NUL-terminated string; argv/envp as in `execve`.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    io::Error::last_os_error()
}

/// Sets the process execution domain (`personality(2)`).
pub fn set_personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes a plain integer and touches no memory of ours.
    let ret = unsafe { libc::personality(persona) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends signal `sig` (any number, real-time signals included) to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends signal `sig` to the process behind a pidfd, which cannot be a
/// recycled pid (`pidfd_send_signal(2)`).
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: pidfd is a valid borrowed descriptor; a null siginfo is allowed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    crate::cvt(ret).map(|_| ())
}

/// The kernel's `struct clone_args` (clone3), up to the `cgroup` field.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`clone_process`], but the child starts in the cgroup v2 directory
/// `cgroup` (`clone3` with `CLONE_INTO_CGROUP`), which costs no cgroup
/// migration. Fails with `ENOSYS`/`E2BIG`/`EINVAL` on kernels without it.
///
/// # Safety
///
/// As for [`clone_process`]: the caller must be single-threaded.
pub unsafe fn clone_into_cgroup(
    flags: libc::c_ulong,
    cgroup: BorrowedFd<'_>,
) -> io::Result<CloneResult> {
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: u64::try_from(cgroup.as_raw_fd()).unwrap_or(u64::MAX),
        ..CloneArgs::default()
    };
    // SAFETY: clone3 reads `args` (size passed) for the duration of the call;
    // a zero stack makes the child continue on a copy of our stack like fork;
    // no tid or pidfd pointers are given. Single-threadedness is the caller's.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::from_ref(&args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match crate::cvt(ret)? {
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(i32::try_from(pid).unwrap_or(i32::MAX))),
    }
}
