//! The one error type of the crate. Every variant names what it was doing
//! and the path, controller or spec field involved, so that a message like
//! "cannot set linux.resources.memory.limit (memory.limit_in_bytes = 10) in
//! /sys/fs/cgroup/memory/c1: Device or resource busy" needs no more context.

use std::io;
use std::path::PathBuf;

/// Broad classes of cgroup failure, for callers that map errors to codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A cgroup, file or process that should exist does not.
    NotFound,
    /// The request (a path or a resource value) is wrong.
    InvalidInput,
    /// The host cannot do what was asked (missing controller, systemd driver, ...).
    Unsupported,
    /// Anything else the kernel or the filesystem refused.
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A filesystem operation on a cgroup directory or file failed.
    /// The io::Error is part of the message, not a chained source, so that
    /// `{:#}` prints it once (likewise in `Write`).
    #[error("cannot {op} {path}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    /// The kernel refused a value written for a spec field.
    #[error("cannot set {field} ({file} = {value:?}) in {dir}: {error}")]
    Write {
        /// The OCI field (`linux.resources.memory.limit`) or the operation.
        field: &'static str,
        /// The cgroup file written.
        file: String,
        value: String,
        dir: PathBuf,
        error: io::Error,
    },
    /// A resource value that no kernel would accept.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidValue {
        field: &'static str,
        value: String,
        reason: String,
    },
    /// A cgroup file did not hold what its format promises.
    #[error("cannot parse {path}: unexpected content {content:?}")]
    Parse { path: PathBuf, content: String },
    #[error("no cgroup hierarchy is mounted (read /proc/self/mountinfo)")]
    NoHierarchy,
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error(
        "cgroupsPath {path:?} is in the systemd driver's slice:prefix:name form; \
         berth supports the cgroupfs driver only (use a path such as /berth/<id>)"
    )]
    SystemdPath { path: String },
    /// A spec field needs a controller the host has not mounted.
    #[error("{field} is set but the host has no {controller} cgroup controller")]
    MissingController {
        field: &'static str,
        controller: &'static str,
    },
    /// The host could do it in principle, but berth does not (yet).
    #[error("{field}: {reason}")]
    Unsupported {
        field: &'static str,
        reason: &'static str,
    },
    /// Processes were still in the cgroup after being killed.
    #[error("cgroup {path} still has processes {pids:?} after SIGKILL")]
    Busy { path: PathBuf, pids: Vec<i32> },
    /// The freezer did not reach the requested state in time.
    #[error("cgroup {path} did not become {state} in time")]
    FreezeTimeout { path: PathBuf, state: &'static str },
}

impl CgroupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CgroupError::Io { error: source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            CgroupError::Write { error: source, .. } => match source.raw_os_error() {
                Some(libc::EINVAL | libc::ERANGE | libc::EBUSY | libc::EOVERFLOW) => {
                    ErrorKind::InvalidInput
                }
                Some(libc::ENOENT) => ErrorKind::Unsupported,
                _ => ErrorKind::Io,
            },
            CgroupError::InvalidPath { .. } | CgroupError::InvalidValue { .. } => {
                ErrorKind::InvalidInput
            }
            CgroupError::SystemdPath { .. }
            | CgroupError::MissingController { .. }
            | CgroupError::Unsupported { .. }
            | CgroupError::NoHierarchy => ErrorKind::Unsupported,
            CgroupError::Io { .. }
            | CgroupError::Parse { .. }
            | CgroupError::Busy { .. }
            | CgroupError::FreezeTimeout { .. } => ErrorKind::Io,
        }
    }

    /// Whether the kernel refused for lack of permission (a non-root caller
    /// without a delegated cgroup).
    pub fn is_permission_denied(&self) -> bool {
        let errno = match self {
            CgroupError::Io { error, .. } | CgroupError::Write { error, .. } => {
                error.raw_os_error()
            }
            _ => None,
        };
        matches!(errno, Some(libc::EACCES | libc::EPERM | libc::EROFS))
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        CgroupError::Io {
            op,
            path: path.into(),
            error: source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let w = |errno| CgroupError::Write {
            field: "linux.resources.memory.limit",
            file: "memory.limit_in_bytes".into(),
            value: "1".into(),
            dir: "/x".into(),
            error: io::Error::from_raw_os_error(errno),
        };
        assert_eq!(w(libc::EINVAL).kind(), ErrorKind::InvalidInput);
        assert_eq!(w(libc::ENOENT).kind(), ErrorKind::Unsupported);
        assert_eq!(w(libc::EACCES).kind(), ErrorKind::Io);
        let gone = CgroupError::io("read", "/x", io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        let msg = w(libc::EBUSY).to_string();
        assert!(msg.contains("linux.resources.memory.limit"), "{msg}");
        assert!(msg.contains("memory.limit_in_bytes"), "{msg}");
        assert_eq!(
            CgroupError::SystemdPath {
                path: "a:b:c".into()
            }
            .kind(),
            ErrorKind::Unsupported
        );
    }
}
