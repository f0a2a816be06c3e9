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

/// What [`spawn_in_new_group`] started.
#[derive(Debug)]
pub enum Spawned {
    /// The child is running the program (its `execve` succeeded).
    Running(i32),
    /// Every `execve` failed; the child has exited (status 127) and must still be reaped.
    ExecFailed {
        /// The child's pid.
        pid: i32,
        /// The error of the decisive `execve`, as `execvp(3)` picks it.
        error: io::Error,
    },
}

/// Starts a child that runs the first of `candidates` that the kernel executes, as an init
/// starts its one program (tini's way):
///
/// - the child leads a new process group, and makes that group the foreground of the terminal
///   on its stdin when there is one (errors ignored: no terminal is the common case);
/// - it gets `mask` as its signal mask and `SIGPIPE` back at its default disposition (Rust's
///   start-up ignores it, and an ignored signal survives `execve`);
/// - it tries each candidate path in order with `argv` and `envp`, and the search stops, as
///   `execvp(3)`'s does, at the first error that is not `ENOENT`, `ENOTDIR` or `EACCES`; the
///   error reported is that one, else `EACCES` if any candidate gave it, else the last.
///
/// The exec error travels back over a close-on-exec pipe, so the caller knows whether the
/// program started. Call it with every signal blocked ([`crate::signal::block_all`]): the child
/// then calls `tcsetpgrp` while `SIGTTOU` is blocked, which the kernel allows from a
/// background group.
pub fn spawn_in_new_group(
    candidates: &[CString],
    argv: &[CString],
    envp: &[CString],
    mask: &crate::signal::SignalMask,
) -> io::Result<Spawned> {
    use std::os::fd::AsFd;

    if candidates.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    // Everything the child touches is allocated here, before the fork: after it the child only
    // makes async-signal-safe calls (setpgid, tcsetpgrp, sigprocmask, sigaction, execve, write,
    // _exit), which holds even if the caller had other threads.
    let argv_ptrs = pointer_array(argv);
    let envp_ptrs = pointer_array(envp);
    let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;

    // SAFETY: the raw clone syscall with a null stack and only SIGCHLD is fork(2). The child
    // below runs only async-signal-safe calls on memory prepared above and ends in execve or
    // _exit, so no lock or allocator state of the parent is ever used in it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_int>(),
            std::ptr::null_mut::<libc::c_int>(),
            0 as libc::c_ulong,
        )
    };
    let pid = crate::cvt(ret)?;
    if pid == 0 {
        drop(reader);
        // SAFETY: setpgid(0, 0) takes integers only.
        unsafe { libc::setpgid(0, 0) };
        // SAFETY: tcsetpgrp and getpid take integers only; failure (no terminal) is ignored.
        unsafe { libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid()) };
        // SAFETY: installing SIG_DFL touches no memory of ours.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        // SAFETY: mask.0 is an initialised sigset_t; the old-mask pointer is null.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
        let mut errno = libc::ENOENT;
        let mut denied = false;
        for path in candidates {
            // SAFETY: path is NUL-terminated; argv_ptrs and envp_ptrs are NULL-terminated
            // arrays of pointers into CStrings the caller keeps alive; execve returns only on
            // failure.
            unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
            errno = io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOENT);
            match errno {
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR => {}
                _ => break,
            }
        }
        if denied && matches!(errno, libc::ENOENT | libc::ENOTDIR) {
            errno = libc::EACCES;
        }
        let bytes = errno.to_ne_bytes();
        // SAFETY: writes 4 bytes from a live stack buffer to the pipe we own; _exit takes an
        // integer and skips every destructor (they belong to the parent's copy).
        unsafe {
            libc::write(
                writer.as_fd().as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
            );
            libc::_exit(127)
        }
    }
    drop(writer);
    let pid = i32::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))?;
    // The parent sets the group too, so a signal sent to the group right after this returns
    // cannot miss a child that has not run yet (EACCES once it has exec'd: ignored).
    let _ = rustix::process::setpgid(
        rustix::process::Pid::from_raw(pid),
        rustix::process::Pid::from_raw(pid),
    );
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(&reader, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if got == buf.len() {
        Ok(Spawned::ExecFailed {
            pid,
            error: io::Error::from_raw_os_error(i32::from_ne_bytes(buf)),
        })
    } else {
        Ok(Spawned::Running(pid))
    }
}
