//! What can stop berth-init before its child's status is known.

use std::ffi::OsString;
use std::io;

/// Why berth-init could not run or watch its program.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The program could not be executed (not found, not executable...).
    #[error("exec {} failed: {}", .program.to_string_lossy(), plain(.source))]
    Exec {
        /// The program as given.
        program: OsString,
        /// The decisive execve error.
        source: io::Error,
    },
    /// An argument or environment entry holds a NUL byte.
    #[error("argument or environment entry with a NUL byte: {0:?}")]
    Nul(OsString),
    /// A system call of the init itself failed.
    #[error("{what}: {}", plain(.source))]
    Sys {
        /// The operation.
        what: &'static str,
        /// Its error.
        source: io::Error,
    },
}

impl InitError {
    /// The exit code for this error: 127/126 for an exec failure, as tini, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            InitError::Exec { source, .. } => crate::status::exec_failure_code(source),
            InitError::Nul(_) | InitError::Sys { .. } => 1,
        }
    }

    pub(crate) fn sys(what: &'static str) -> impl FnOnce(io::Error) -> InitError {
        move |source| InitError::Sys { what, source }
    }
}

/// The error's text without std's ` (os error N)` suffix: `No such file or directory`, as
/// strerror(3) and tini print it.
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let e = InitError::Exec {
            program: "nope".into(),
            source: io::Error::from_raw_os_error(2),
        };
        assert_eq!(e.to_string(), "exec nope failed: No such file or directory");
        assert_eq!(e.exit_code(), 127);
        let e = InitError::Exec {
            program: "/etc/passwd".into(),
            source: io::Error::from_raw_os_error(13),
        };
        assert_eq!(e.to_string(), "exec /etc/passwd failed: Permission denied");
        assert_eq!(e.exit_code(), 126);
    }
}
