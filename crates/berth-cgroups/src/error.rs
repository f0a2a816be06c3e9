use std::io;
use std::path::PathBuf;

/// Broad classes of cgroup failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    InvalidInput,
    Unsupported,
    Io,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot set {field} to {value:?} in {path}: {source}")]
    Write {
        field: String,
        value: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("no cgroup hierarchy is mounted on this host")]
    NoHierarchy,
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error("{0}")]
    Unsupported(String),
    #[error("cgroup {path} still has processes after they were killed")]
    Busy { path: PathBuf },
}

impl CgroupError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CgroupError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            CgroupError::InvalidPath { .. } | CgroupError::Write { .. } => ErrorKind::InvalidInput,
            CgroupError::Unsupported(_) | CgroupError::NoHierarchy => ErrorKind::Unsupported,
            _ => ErrorKind::Io,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        CgroupError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
