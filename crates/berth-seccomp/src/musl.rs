//! What a musl build of berth needs to link Debian's `libseccomp.a`.
//!
//! The release build of `berth-runtime` is a static musl binary (musl's start-up is ~1 ms
//! cheaper per exec than glibc's on this VM, where glibc's cache probing through `cpuid`
//! traps to the hypervisor, and the runtime is exec'd twice per container). Debian builds
//! libseccomp against glibc with `_FORTIFY_SOURCE`, so its text exporter (`gen_pfc.c`, behind
//! `seccomp_export_pfc`) calls glibc's `__fprintf_chk`, which musl does not have. Every other
//! libc function libseccomp calls exists in musl with the same ABI.
//!
//! berth never exports a filter as text, so the exporter is never reached; the stand-in below
//! only makes the link succeed, and fails (returns -1, as `fprintf` does on error) if it ever
//! were called.

use std::ffi::{c_char, c_int, c_void};

/// glibc's fortified `fprintf(stream, fmt, ...)` with a checking flag first; see the module
/// docs. The variadic arguments are never read.
#[no_mangle]
pub extern "C" fn __fprintf_chk(_stream: *mut c_void, _flag: c_int, _fmt: *const c_char) -> c_int {
    -1
}
