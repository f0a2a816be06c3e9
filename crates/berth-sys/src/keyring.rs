//! Kernel keyrings: a container gets a session keyring of its own so that it
//! cannot read the keys of the host session.

use std::ffi::CStr;
use std::io;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Creates a new session keyring named `name` and joins it.
pub fn join_new_session_keyring(name: &CStr) -> io::Result<()> {
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, name) reads a NUL-terminated
    // string that lives for the duration of the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    crate::cvt(ret).map(|_| ())
}
