//! Errors of the protocol and of the shim's answers.

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The transport-neutral kind of an error the shim reports; the daemon maps it
/// to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidInput,
    Unavailable,
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The socket is gone or nobody listens: the shim is not running.
    #[error("shim at {path} is not running: {source}")]
    NotRunning { path: PathBuf, source: io::Error },
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// The shim closed the connection before it answered (it died).
    #[error("the shim closed the connection before answering (did it die?)")]
    Closed,
    #[error("message of {0} bytes is larger than the limit")]
    TooLarge(u64),
    #[error("malformed message: {0}")]
    Decode(#[from] serde_json::Error),
    /// The shim understood the request and refused or failed it.
    #[error("{message}")]
    Shim { kind: ErrorKind, message: String },
    #[error("unexpected answer from the shim: {0}")]
    Unexpected(String),
}

impl ProtoError {
    pub fn io(op: &'static str, source: io::Error) -> ProtoError {
        ProtoError::Io { op, source }
    }

    /// The kind of the failure, for callers mapping it to a status.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ProtoError::Shim { kind, .. } => *kind,
            ProtoError::NotRunning { .. } | ProtoError::Closed => ErrorKind::Unavailable,
            ProtoError::TooLarge(_) | ProtoError::Decode(_) => ErrorKind::InvalidInput,
            ProtoError::Io { .. } | ProtoError::Unexpected(_) => ErrorKind::Internal,
        }
    }
}
