//! The shim's errors: what failed, and on which path or container.

use std::io;
use std::path::PathBuf;

use berth_shim_proto::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("read shim config {path}: {source}")]
    Config {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("another shim serves {0}")]
    Busy(PathBuf),
    #[error(transparent)]
    Container(#[from] berth_container::ContainerError),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl ShimError {
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> ShimError {
        ShimError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub fn sys(op: &'static str, source: impl Into<io::Error>) -> ShimError {
        ShimError::Sys {
            op,
            source: source.into(),
        }
    }

    /// The kind the daemon sees.
    pub fn kind(&self) -> ErrorKind {
        use berth_container::ErrorKind as C;
        match self {
            ShimError::Container(e) => match e.kind() {
                C::NotFound => ErrorKind::NotFound,
                C::Conflict => ErrorKind::Conflict,
                C::InvalidInput | C::Unsupported => ErrorKind::InvalidInput,
                C::Internal => ErrorKind::Internal,
            },
            ShimError::Conflict(_) | ShimError::Busy(_) => ErrorKind::Conflict,
            ShimError::NotFound(_) => ErrorKind::NotFound,
            ShimError::Invalid(_) | ShimError::Config { .. } => ErrorKind::InvalidInput,
            ShimError::Io { .. } | ShimError::Sys { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, ShimError>;
