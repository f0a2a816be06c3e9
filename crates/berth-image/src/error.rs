//! Errors, one enum per area (content, manifests, metadata; digests,
//! references and platforms are berth-oci's), each variant naming the digest, reference or path
//! involved, and one [`ErrorKind`] per error for callers that map errors to
//! HTTP codes. [`Error`] gathers them for operations that span areas.
//!
//! Digest and reference messages are docker's, word for word, because the
//! docker CLI shows them to users who may compare them with dockerd's.

use std::io;
use std::path::PathBuf;

use berth_oci::{Digest, DigestError, PlatformError, ReferenceError};

/// Broad classes of failure, mapped to HTTP status codes by the API layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A blob, image, tag or ingest that should exist does not (404).
    NotFound,
    /// The thing exists already or is in use (409).
    Conflict,
    /// The request is malformed: a bad reference, digest or document (400).
    InvalidInput,
    /// The content is valid but berth does not handle it (schema1, ...).
    Unsupported,
    /// Stored data failed verification (a wrong digest or size).
    Corrupt,
    /// The filesystem or the database failed.
    Io,
}

/// A failure of the content store.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("cannot {op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("content {digest} not found")]
    NotFound { digest: Digest },
    #[error("content {digest} already exists")]
    AlreadyExists { digest: Digest },
    #[error("ingest {reference:?} not found")]
    IngestNotFound { reference: String },
    #[error("ingest {reference:?} is locked by another writer")]
    IngestLocked { reference: String },
    #[error("invalid ingest reference {reference:?}: {reason}")]
    InvalidIngestRef {
        reference: String,
        reason: &'static str,
    },
    /// The committed data is not the expected number of bytes. A short
    /// ingest is kept, so that the download can be resumed from its offset;
    /// a long one is discarded.
    #[error("ingest {reference:?}: unexpected commit size {actual}, expected {expected}")]
    SizeMismatch {
        reference: String,
        expected: u64,
        actual: u64,
    },
    /// The committed data does not hash to the expected digest. The ingest is
    /// discarded: its bytes are wrong, resuming cannot fix them.
    #[error("ingest {reference:?}: unexpected commit digest {actual}, expected {expected}")]
    DigestMismatch {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("content {digest} is {size} bytes, more than the {limit} bytes allowed here")]
    TooLarge {
        digest: Digest,
        size: u64,
        limit: u64,
    },
}

impl ContentError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContentError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            ContentError::Io { .. } => ErrorKind::Io,
            ContentError::NotFound { .. } | ContentError::IngestNotFound { .. } => {
                ErrorKind::NotFound
            }
            ContentError::AlreadyExists { .. } | ContentError::IngestLocked { .. } => {
                ErrorKind::Conflict
            }
            ContentError::InvalidIngestRef { .. } | ContentError::TooLarge { .. } => {
                ErrorKind::InvalidInput
            }
            ContentError::SizeMismatch { .. } | ContentError::DigestMismatch { .. } => {
                ErrorKind::Corrupt
            }
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        ContentError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// A manifest, index or image config that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "{what} is a Docker image manifest version 2, schema 1 ({media_type}), which is not \
         supported: push the image again with a newer client (Docker 1.10 or later) to \
         store it as Docker schema 2 or OCI"
    )]
    Schema1 { what: String, media_type: String },
    #[error("{what}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { what: String, media_type: String },
    #[error(
        "{what}: cannot tell what kind of document this is (no mediaType, manifests or config)"
    )]
    Unrecognised { what: String },
    #[error("{what}: media type {declared:?} does not match the document's mediaType {found:?}")]
    MediaTypeMismatch {
        what: String,
        declared: String,
        found: String,
    },
    #[error("{what}: unsupported schemaVersion {version}, expected 2")]
    SchemaVersion { what: String, version: i64 },
    #[error("{what}: {layers} layers but the config lists {diff_ids} diff_ids")]
    LayerCount {
        what: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("{what}: indexes nested too deep")]
    TooDeep { what: String },
    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
}

impl ManifestError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManifestError::Schema1 { .. } | ManifestError::UnsupportedMediaType { .. } => {
                ErrorKind::Unsupported
            }
            _ => ErrorKind::InvalidInput,
        }
    }
}

/// A failure of the metadata database.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata database {path}: {op}: {source}")]
    Sqlite {
        op: &'static str,
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("metadata database {path} has schema version {found}, this berth knows {known}")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("metadata database {path}: corrupt value {value:?} in {column}")]
    BadValue {
        path: PathBuf,
        column: &'static str,
        value: String,
    },
    #[error("No such image: {image}")]
    NoSuchImage { image: String },
    #[error("image id prefix {prefix:?} matches more than one image")]
    AmbiguousId { prefix: String },
    #[error("reference {reference} does not exist")]
    NoSuchReference { reference: String },
    #[error("reference {reference} must have exactly one of a tag or a digest here")]
    BadReference { reference: String },
    #[error("lease {lease:?} does not exist")]
    NoSuchLease { lease: String },
    #[error("lease {lease:?} already exists")]
    LeaseExists { lease: String },
}

impl MetadataError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MetadataError::NoSuchImage { .. }
            | MetadataError::NoSuchReference { .. }
            | MetadataError::NoSuchLease { .. } => ErrorKind::NotFound,
            MetadataError::LeaseExists { .. } | MetadataError::AmbiguousId { .. } => {
                ErrorKind::Conflict
            }
            MetadataError::BadReference { .. } => ErrorKind::InvalidInput,
            MetadataError::BadValue { .. } => ErrorKind::Corrupt,
            MetadataError::Sqlite { .. }
            | MetadataError::Io { .. }
            | MetadataError::SchemaTooNew { .. } => ErrorKind::Io,
        }
    }
}

/// Any error of this crate, for operations that span areas (GC, the store).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Platform(#[from] PlatformError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Digest(_) | Error::Reference(_) => ErrorKind::InvalidInput,
            Error::Content(e) => e.kind(),
            Error::Manifest(e) => e.kind(),
            Error::Platform(e) if e.is_no_match() => ErrorKind::NotFound,
            Error::Platform(_) => ErrorKind::InvalidInput,
            Error::Metadata(e) => e.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let d = Digest::of(b"x");
        assert_eq!(
            Error::from(ContentError::NotFound { digest: d.clone() }).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            ContentError::AlreadyExists { digest: d.clone() }.kind(),
            ErrorKind::Conflict
        );
        let gone = ContentError::io("open", "/x", io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(gone.kind(), ErrorKind::NotFound);
        let m = ContentError::DigestMismatch {
            reference: "r".into(),
            expected: d.clone(),
            actual: Digest::of(b"y"),
        };
        assert_eq!(m.kind(), ErrorKind::Corrupt);
        assert!(m.to_string().contains(d.as_str()), "{m}");
        assert_eq!(
            ManifestError::Schema1 {
                what: "x".into(),
                media_type: "m".into()
            }
            .kind(),
            ErrorKind::Unsupported
        );
    }
}
