//! Compiles OCI seccomp profiles into BPF programs and installs them.
//!
//! The work is split across the fork that starts a container:
//!
//! * [`compile`] runs in the runtime's parent process. It builds the filter with
//!   libseccomp exactly as runc does, exports the BPF, prepends runc's `-ENOSYS`
//!   stub and checks the flags against the kernel.
//! * [`Program::install`] runs in the container's init just before `execve`, where
//!   only async-signal-safe work is allowed: it is one `seccomp(2)` call on memory
//!   that already exists, with no allocation and no libseccomp.
//! * [`ProgramCache`] keeps compiled programs on disk so that a profile is
//!   compiled once per host (libseccomp takes ~15 ms for Docker's default profile).
//!
//! # Semantics (those of runc's `libcontainer/seccomp`)
//!
//! * Actions: KILL and KILL_THREAD kill the thread, KILL_PROCESS the process; TRAP
//!   sends SIGSYS; ERRNO and TRACE carry `errnoRet` (`defaultErrnoRet` for the
//!   default action) and EPERM when it is absent; LOG, ALLOW; NOTIFY hands the
//!   syscall to the agent at `listenerPath` (not as the default action, not for
//!   `write`, and `listenerPath` must be set).
//! * A syscall name libseccomp does not know on any architecture is skipped (runc
//!   logs it at debug level): profiles carry names newer than the library. A name
//!   known on other architectures only is kept and resolved per architecture.
//! * An entry whose action equals the default action is skipped as redundant.
//! * Argument conditions of one entry are ANDed in one rule, unless two of them
//!   test the same argument index: then each condition becomes its own rule (ORed).
//! * Architectures are added to the filter; one that libseccomp cannot handle is an
//!   error naming it. libseccomp's bad-architecture action (KILL) applies to others.
//! * Flags: without a `flags` list SPEC_ALLOW is set when the kernel has it (runc's
//!   default); TSYNC, LOG, SPEC_ALLOW and WAIT_KILLABLE_RECV are checked against the
//!   kernel at compile time. Unlike runc, TSYNC is passed to the kernel (with
//!   TSYNC_ESRCH when a listener is requested, without which the kernel refuses it).
//! * More than 32 names turn on libseccomp's binary-tree layout, as current runc
//!   does (runc 1.1.5, Debian's, does not: its programs are longer to run but the
//!   same in effect).
//! * The `-ENOSYS` stub of runc's `patchbpf`: see the `enosys` module. Its layout
//!   is ours; its answers are runc's.
//!
//! `tests/runc_conformance.rs` (root, runc installed) reads back the filter runc
//! installs for the same profiles and checks that both programs answer alike on a
//! grid of architectures, syscall numbers and arguments, and that the libseccomp
//! parts are identical where neither uses the binary tree.

mod arch;
mod bpf;
mod cache;
mod compile;
mod enosys;
mod error;
#[cfg(target_env = "musl")]
mod musl;

use std::fmt;
use std::os::fd::OwnedFd;

pub use cache::ProgramCache;
pub use compile::compile;
pub use error::SeccompError;

/// A compiled seccomp filter: BPF instructions plus the `seccomp(2)` flags to load
/// them with. Built by [`compile`], installed by [`Program::install`].
#[derive(Clone)]
pub struct Program {
    instructions: Vec<libc::sock_filter>,
    flags: u32,
    wants_listener: bool,
}

impl Program {
    /// Installs the filter on the calling thread (all threads with TSYNC) with
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` and the program's flags.
    ///
    /// Async-signal-safe: no allocation, no locks, no libseccomp, so it may run
    /// between `fork`/`clone` and `execve`. Requires `no_new_privs` or
    /// CAP_SYS_ADMIN. Returns the user-notification listener when the profile has
    /// SCMP_ACT_NOTIFY rules; the caller hands it to the agent at `listenerPath`.
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let err = |source| SeccompError::Install {
            flags: self.flags,
            source,
        };
        let listener = berth_sys::seccomp::set_mode_filter(
            libc::c_ulong::from(self.flags),
            &self.instructions,
        )
        .map_err(err)?;
        match (self.wants_listener, listener) {
            (true, Some(fd)) => Ok(Some(fd)),
            // The flags and the listener wish disagree (a corrupt cache entry).
            (true, None) => Err(err(std::io::Error::from_raw_os_error(libc::EBADF))),
            (false, _) => Ok(None),
        }
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.instructions.len()
    }

    /// Whether the program has no instructions (never true for a compiled profile).
    pub fn is_empty(&self) -> bool {
        self.instructions.is_empty()
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits passed to `seccomp(2)`.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// The BPF instructions, as `seccomp(2)` receives them.
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.instructions
    }

    /// Whether [`Program::install`] returns a notification listener.
    pub fn wants_listener(&self) -> bool {
        self.wants_listener
    }
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.instructions.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("wants_listener", &self.wants_listener)
            .finish()
    }
}
