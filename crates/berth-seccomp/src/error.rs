use std::io;

/// Why a seccomp profile could not be compiled or installed. Each variant names the
/// syscall, action, architecture or flag involved.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile names an architecture that the installed libseccomp cannot
    /// generate code for.
    #[error("seccomp architecture {arch} is not supported by libseccomp {version}")]
    UnsupportedArch {
        arch: String,
        version: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// An action used where it is not allowed, or one that this host cannot run.
    #[error("seccomp action {action} {reason}")]
    UnsupportedAction { action: String, reason: String },
    /// `errnoRet`/`defaultErrnoRet` does not fit in the 16 bits of `SECCOMP_RET_DATA`.
    #[error("seccomp action {action}: errnoRet {value} does not fit in 16 bits")]
    ErrnoOutOfRange { action: String, value: u32 },
    /// A syscall entry with an empty name.
    #[error("seccomp syscall entry {index}: empty string is not a valid syscall name")]
    EmptySyscallName { index: usize },
    /// An argument condition on an index syscalls do not have (0 to 5).
    #[error("seccomp rule for syscall {syscall}: argument index {index} is out of range (0-5)")]
    InvalidArgIndex { syscall: String, index: usize },
    /// libseccomp refused a rule.
    #[error("seccomp rule for syscall {syscall} with action {action} rejected by libseccomp")]
    AddRule {
        syscall: String,
        action: String,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// A filter flag the running kernel does not accept.
    #[error("seccomp flag {flag} is not supported by this kernel")]
    UnsupportedFlag { flag: String },
    /// A filter flag that needs something the profile lacks.
    #[error("seccomp flag {flag} {reason}")]
    InvalidFlag { flag: String, reason: &'static str },
    /// SCMP_ACT_NOTIFY rules without a `listenerPath` to hand the listener to.
    #[error(
        "seccomp profile uses SCMP_ACT_NOTIFY (syscall {syscall}) but listenerPath is not set"
    )]
    NotifyWithoutListener { syscall: String },
    /// Any other libseccomp failure, named after the step.
    #[error("libseccomp: {op}")]
    Libseccomp {
        op: &'static str,
        #[source]
        source: libseccomp::error::SeccompError,
    },
    /// Reading back the program libseccomp exported failed.
    #[error("reading the exported seccomp program")]
    Export(#[source] io::Error),
    /// libseccomp exported a byte count that is not a whole number of instructions.
    #[error("libseccomp exported {bytes} bytes, not a whole number of BPF instructions")]
    MalformedExport { bytes: usize },
    /// Building the `-ENOSYS` stub failed (an internal invariant, not input).
    #[error("assembling the -ENOSYS stub: {0}")]
    Assemble(&'static str),
    /// The program exceeds the kernel's limit of `BPF_MAXINSNS` instructions.
    #[error("seccomp program has {len} instructions, the kernel accepts at most {max}")]
    ProgramTooLong { len: usize, max: usize },
    /// `seccomp(SECCOMP_SET_MODE_FILTER)` failed: EACCES without no_new_privs or
    /// CAP_SYS_ADMIN, EINVAL for flags the kernel does not know, ESRCH/positive tid
    /// for TSYNC failures.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) with flags {flags:#x}")]
    Install {
        flags: u32,
        #[source]
        source: io::Error,
    },
}
