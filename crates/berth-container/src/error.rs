//! The runtime library's error type. Each variant names what failed and the
//! id, path or field involved; [`ErrorKind`] is the small transport-neutral set
//! that callers (the CLI, later the daemon) map to exit codes or HTTP statuses.

use std::io;
use std::path::PathBuf;

/// Broad classes of failure, independent of how they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidInput,
    Unsupported,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("container with id exists: {0}")]
    Exists(String),
    #[error("container does not exist: {0}")]
    NotFound(String),
    #[error("cannot load {path}: {reason}")]
    LoadConfig { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The io::Error is part of the message, not a chained source, so that
    /// `{:#}` prints it once.
    #[error("{op} {path}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{op}: {error}")]
    Sys { op: &'static str, error: io::Error },
    #[error("unable to start container process: {0}")]
    Init(String),
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    Hook(String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Cgroup(#[from] berth_cgroups::CgroupError),
    #[error(transparent)]
    Seccomp(#[from] berth_seccomp::SeccompError),
    #[error("corrupt state of container {id}: {reason}")]
    CorruptState { id: String, reason: String },
}

impl ContainerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::NotFound(_) => ErrorKind::NotFound,
            ContainerError::Exists(_) | ContainerError::WrongState(_) => ErrorKind::Conflict,
            ContainerError::InvalidId { .. }
            | ContainerError::LoadConfig { .. }
            | ContainerError::InvalidConfig(_)
            | ContainerError::Seccomp(_) => ErrorKind::InvalidInput,
            ContainerError::Unsupported(_) => ErrorKind::Unsupported,
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ContainerError::Io {
            op,
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn sys(op: &'static str, source: io::Error) -> Self {
        ContainerError::Sys { op, error: source }
    }
}

pub type Result<T, E = ContainerError> = std::result::Result<T, E>;
