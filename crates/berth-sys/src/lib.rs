//! The one seam between berth and the raw Linux syscalls that no safe crate wraps.
//!
//! Everything here is small on purpose: each function performs one syscall (or one
//! tightly coupled sequence), documents why its `unsafe` block holds, and returns
//! `std::io::Result`. Higher layers decide *what* to do; this crate only does it.
//! Where `rustix` already offers a safe wrapper, callers use rustix directly.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod bpf;
pub mod caps;
pub mod fd;
pub mod keyring;
pub mod mm;
pub mod mount;
pub mod ns;
pub mod process;
pub mod seccomp;
pub mod signal;

/// Converts a `-1` return value into the thread's `errno` as an [`std::io::Error`].
fn cvt(ret: libc::c_long) -> std::io::Result<libc::c_long> {
    if ret == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
