//! Namespace creation for the calling process.

use std::io;

/// Moves the calling process into new namespaces (`unshare(2)`), for the
/// namespace flags given (`CLONE_NEWNS`, `CLONE_NEWUSER`, ...).
///
/// Only namespace flags are accepted: `CLONE_FILES`/`CLONE_FS` sharing changes
/// would be unsound in a multithreaded caller, so they are refused here.
pub fn unshare_namespaces(flags: libc::c_int) -> io::Result<()> {
    const NAMESPACES: libc::c_int = libc::CLONE_NEWNS
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET
        | libc::CLONE_NEWCGROUP
        | 0x80; // CLONE_NEWTIME
    if flags & !NAMESPACES != 0 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: unshare with namespace flags only changes which namespaces the
    // calling thread belongs to; it does not unshare the fd table or fs struct,
    // so no other thread can observe a broken invariant.
    let ret = unsafe { libc::unshare(flags) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the calling thread its own filesystem context (`unshare(CLONE_FS)`):
/// from then on its working directory, root and umask are its own, so a
/// `chdir` in it does not move the other threads of the process. For a
/// short-lived helper thread that must work relative to a directory (an
/// overlay mount with relative lowerdirs).
pub fn unshare_fs() -> io::Result<()> {
    // SAFETY: CLONE_FS alone copies the calling thread's fs_struct (cwd, root,
    // umask) and detaches it from the other threads; no memory, descriptor or
    // namespace shared with other threads changes, so none can observe a
    // broken invariant. The kernel allows it in multithreaded processes.
    let ret = unsafe { libc::unshare(libc::CLONE_FS) };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread into the network namespace `fd` refers to
/// (`setns(fd, CLONE_NEWNET)`); `fd` is an open `/proc/PID/ns/net` or a
/// bind-mounted namespace file (`/run/netns/NAME`).
///
/// Only the calling thread moves, and it cannot move back cleanly while other
/// code relies on it: call this on a dedicated thread made for the work in
/// that namespace, never on a pooled or the caller's thread (berth-network's
/// `in_netns` does so). The kernel refuses a descriptor that is not a network
/// namespace.
pub fn enter_net_namespace(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    rustix::thread::move_into_link_name_space(fd, Some(rustix::thread::LinkNameSpaceType::Network))
        .map_err(io::Error::from)
}
