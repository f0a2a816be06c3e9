//! The errors of the crate. [`UnpackError`] names the layer and the tar
//! entry that failed ("cannot unpack layer sha256:ab..: entry
//! \"../../etc/x\": path escapes the layer root"); [`SnapshotError`] names the
//! snapshot key, the path or the mount target involved.

use std::io;
use std::path::PathBuf;

/// Broad classes of failure, for callers that map errors to API codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A snapshot (or its parent) does not exist.
    NotFound,
    /// A snapshot exists already, is in the wrong state, or has children.
    Conflict,
    /// The input is wrong: a hostile or corrupt layer, a bad key, a diff ID
    /// that does not match.
    InvalidInput,
    /// The host cannot do it (no overlayfs, a kernel too old for many layers).
    Unsupported,
    /// Anything else the kernel or the filesystem refused.
    Io,
}

/// Why one layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
#[error("cannot unpack layer {layer}{}: {cause}", entry_suffix(.entry))]
pub struct UnpackError {
    /// The layer's label as given in [`crate::UnpackOptions::label`] (its digest).
    pub layer: String,
    /// The tar entry being processed, if any.
    pub entry: Option<String>,
    /// Part of the message, not a chained source, so `{:#}` prints it once.
    pub cause: UnpackCause,
}

fn entry_suffix(entry: &Option<String>) -> String {
    match entry {
        Some(e) => format!(": entry {e:?}"),
        None => String::new(),
    }
}

/// What went wrong in an unpack.
#[derive(Debug, thiserror::Error)]
pub enum UnpackCause {
    /// A name or link that `..` would take outside the layer root (docker's
    /// "breakout" error).
    #[error("{path:?} is outside of the layer root")]
    Breakout { path: String },
    /// The uncompressed stream's digest is not the expected diff ID.
    #[error("diff ID mismatch: expected {expected}, got {actual}")]
    DiffIdMismatch { expected: String, actual: String },
    /// The layer is larger than a configured limit.
    #[error("layer exceeds the limit of {limit} {what}")]
    LimitExceeded { what: &'static str, limit: u64 },
    /// A PAX or GNU long-name header larger than allowed.
    #[error("{what} header of {size} bytes exceeds the limit of {limit} bytes")]
    HeaderTooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
    },
    /// A tar feature the unpacker refuses.
    #[error("unsupported: {what}")]
    Unsupported { what: String },
    /// The tar stream is corrupt or truncated.
    #[error("corrupt tar stream: {0}")]
    Tar(io::Error),
    /// The compressed stream is corrupt or truncated.
    #[error("cannot read layer stream: {0}")]
    Read(io::Error),
    /// A filesystem operation on an entry failed.
    #[error("cannot {op}: {error}")]
    Io { op: &'static str, error: io::Error },
}

impl UnpackError {
    pub fn kind(&self) -> ErrorKind {
        match &self.cause {
            UnpackCause::Io { error, .. } if error.kind() == io::ErrorKind::NotFound => {
                // A hardlink to a file the layer does not hold.
                ErrorKind::InvalidInput
            }
            UnpackCause::Io { .. } => ErrorKind::Io,
            UnpackCause::Read(_) => ErrorKind::Io,
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// Why a snapshotter or mount operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// A filesystem operation in the snapshot store failed.
    #[error("cannot {op} {path}: {error}")]
    Io {
        op: &'static str,
        path: PathBuf,
        error: io::Error,
    },
    #[error("snapshot {key:?} does not exist")]
    NotFound { key: String },
    #[error("snapshot {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("invalid snapshot key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The operation needs an active (writable) or a committed snapshot.
    #[error("snapshot {key:?} is {state}, expected {expected}")]
    WrongState {
        key: String,
        state: &'static str,
        expected: &'static str,
    },
    #[error("snapshot {key:?} has children {children:?}")]
    HasChildren { key: String, children: Vec<String> },
    /// Another process has the store open.
    #[error("snapshot store {path} is in use by another process")]
    InUse { path: PathBuf },
    /// The snapshot store's metadata on disk is not what this crate writes.
    #[error("corrupt snapshot metadata in {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// Mounting or unmounting failed.
    #[error("cannot {op} on {target}: {error}")]
    Mount {
        op: &'static str,
        target: PathBuf,
        error: io::Error,
    },
    /// The host cannot do what was asked.
    #[error("{what}")]
    Unsupported { what: String },
}

impl SnapshotError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SnapshotError::NotFound { .. } => ErrorKind::NotFound,
            SnapshotError::AlreadyExists { .. }
            | SnapshotError::WrongState { .. }
            | SnapshotError::HasChildren { .. }
            | SnapshotError::InUse { .. } => ErrorKind::Conflict,
            SnapshotError::InvalidKey { .. } => ErrorKind::InvalidInput,
            SnapshotError::Unpack(e) => e.kind(),
            SnapshotError::Unsupported { .. } => ErrorKind::Unsupported,
            SnapshotError::Io { error, .. } if error.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            SnapshotError::Io { .. }
            | SnapshotError::Corrupt { .. }
            | SnapshotError::Mount { .. } => ErrorKind::Io,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, error: io::Error) -> Self {
        SnapshotError::Io {
            op,
            path: path.into(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_layer_and_entry() {
        let e = UnpackError {
            layer: "sha256:abc".into(),
            entry: Some("../../etc/x".into()),
            cause: UnpackCause::Breakout {
                path: "../../etc/x".into(),
            },
        };
        let msg = e.to_string();
        assert!(
            msg.contains("sha256:abc") && msg.contains("\"../../etc/x\""),
            "{msg}"
        );
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        use std::error::Error;
        assert!(
            e.source().is_none(),
            "the cause is in the message, not chained"
        );
        let io = SnapshotError::io("read", "/x", io::Error::from_raw_os_error(libc::ENOENT));
        assert!(io.source().is_none());
        assert_eq!(io.to_string().matches("No such file").count(), 1, "{io}");
        assert_eq!(io.kind(), ErrorKind::NotFound);
        let s = SnapshotError::from(e);
        assert_eq!(s.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            SnapshotError::HasChildren {
                key: "a".into(),
                children: vec!["b".into()]
            }
            .kind(),
            ErrorKind::Conflict
        );
    }
}
