//! The engine's error type and the small set of kinds the API maps to status codes.
//!
//! Each variant says what failed and carries the path or name involved. Errors of the crates the
//! engine drives (images, snapshots, registries) join as variants wrapping their own error, and
//! [`EngineError::kind`] forwards their kind, so the API edge needs one match only.

use std::io;
use std::path::PathBuf;

/// Transport-neutral error classes; the API layer turns them into HTTP status codes
/// (404, 409, 400, 503/500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object named in the request does not exist.
    NotFound,
    /// The request clashes with the current state (name in use, object in use).
    Conflict,
    /// The request itself is wrong (bad reference, bad parameter).
    InvalidInput,
    /// A peer or resource the engine needs cannot be reached right now.
    Unavailable,
    /// Anything else: the host or the filesystem refused.
    Internal,
}

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A file or directory of the daemon's state could not be read or written.
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// A state file did not hold what it should.
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// The host's cgroup hierarchy could not be read.
    #[error("cannot read the host's cgroup hierarchy: {0}")]
    Cgroups(#[from] berth_cgroups::CgroupError),
}

impl EngineError {
    /// The class of the failure, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        // The daemon's own state failing is never the client's fault, even when a file is
        // missing: these are all 500s. Image and container variants bring the other kinds.
        match self {
            EngineError::Io { .. } | EngineError::Corrupt { .. } | EngineError::Cgroups(_) => {
                ErrorKind::Internal
            }
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
