//! Signal masks and dispositions around process creation: the runtime blocks
//! signals to forward them to the container, and the container's init must start
//! its program with a clean mask and default handlers.

use std::io;
use std::mem::MaybeUninit;

/// A saved signal mask.
#[derive(Clone, Copy)]
pub struct SignalMask(pub(crate) libc::sigset_t);

impl std::fmt::Debug for SignalMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalMask")
    }
}

impl SignalMask {
    /// The empty mask (no signal blocked).
    pub fn empty() -> SignalMask {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it is given.
        unsafe { libc::sigemptyset(set.as_mut_ptr()) };
        // SAFETY: initialised just above.
        SignalMask(unsafe { set.assume_init() })
    }

    /// Whether `sig` is in the mask.
    pub fn contains(&self, sig: i32) -> bool {
        // SAFETY: self.0 is an initialised sigset_t.
        unsafe { libc::sigismember(&self.0, sig) == 1 }
    }
}

/// Blocks every signal in the calling thread and returns the previous mask.
pub fn block_all() -> io::Result<SignalMask> {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`; pthread_sigmask reads `all` and
    // initialises `old` on success, which we check before assuming it init.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        let ret = libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(SignalMask(old.assume_init()))
    }
}

/// Restores a mask saved by [`block_all`].
pub fn set_mask(mask: &SignalMask) -> io::Result<()> {
    // SAFETY: mask.0 is an initialised sigset_t; the old-mask pointer is null.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(())
}

/// Resets every catchable signal to its default disposition, as a freshly
/// exec'd program expects (ignored signals survive exec otherwise).
pub fn reset_dispositions() {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: installing SIG_DFL touches no memory of ours; errors for
        // signals the libc reserves (32, 33) are ignored on purpose.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Waits for one of the currently blocked signals and returns its number
/// (`sigwaitinfo(2)` over the full set). Interrupted waits are retried.
pub fn wait_blocked() -> io::Result<i32> {
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    loop {
        // SAFETY: `all` is initialised; a null siginfo pointer is allowed.
        let ret = unsafe { libc::sigwaitinfo(all.as_ptr(), std::ptr::null_mut()) };
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Creates a signalfd that reports every signal (they must be blocked first).
pub fn signalfd_all() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises `all`; signalfd(-1, ...) creates a new fd
    // which we take ownership of only when it is valid.
    unsafe {
        libc::sigfillset(all.as_mut_ptr());
        let fd = libc::signalfd(-1, all.as_ptr(), libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// Reads one pending signal number from a signalfd.
pub fn read_signalfd(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: we read at most `size` bytes into a buffer of that size.
    let n = unsafe { libc::read(fd.as_raw_fd(), info.as_mut_ptr().cast(), size) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(n).ok() != Some(size) {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    // SAFETY: the kernel filled the whole struct (checked above).
    let info = unsafe { info.assume_init() };
    Ok(i32::try_from(info.ssi_signo).unwrap_or(0))
}
