//! The engine's error type and the small set of kinds the API maps to status codes.
//!
//! Each variant says what failed and carries the path or name involved. Errors of the crates the
//! engine drives (images, snapshots, registries) join as variants wrapping their own error, and
//! [`EngineError::kind`] forwards their kind, so the API edge needs one match only.

use std::io;
use std::path::PathBuf;

/// Transport-neutral error classes; the API layer turns them into HTTP status codes
/// (404, 409, 400, 401, 503/500).
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
    /// A registry refused the credentials (a login that failed).
    Unauthorized,
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
    /// The image store refused or failed (its messages are docker's: `No such image: x`,
    /// `invalid reference format`).
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    /// The layer store refused or failed.
    #[error(transparent)]
    Snapshot(#[from] berth_snapshot::SnapshotError),
    /// The registry refused or could not be reached; the message carries the whole chain
    /// (`...: error sending request ...: client error (Connect): tcp connect error:
    /// Connection refused (os error 111)`), since the docker CLI shows only this one line.
    #[error("{}", with_sources(.0))]
    Registry(#[from] berth_registry::RegistryError),
    /// A tag or digest the registry does not have (dockerd's wording).
    #[error("manifest for {reference} not found: manifest unknown: {message}")]
    ManifestUnknown { reference: String, message: String },
    /// The registry refused access to a repository (dockerd's wording).
    #[error(
        "pull access denied for {repository}, repository does not exist or may require \
         'docker login': {message}"
    )]
    AccessDenied { repository: String, message: String },
    /// A delete that needs `force` (dockerd's wording).
    #[error("conflict: unable to delete {id} (must be forced) - {reason}")]
    DeleteConflict { id: String, reason: &'static str },
    /// A parameter the engine cannot use (a platform, a filter).
    #[error("{0}")]
    InvalidParameter(String),
    /// A layer's uncompressed bytes do not match the config's diff id, or the manifest and
    /// config disagree.
    #[error("image {reference}: {reason}")]
    BadImage { reference: String, reason: String },
    /// A push of a repository that has no name here at all (dockerd's wording).
    #[error("An image does not exist locally with the tag: {name}")]
    NoSuchRepository { name: String },
    /// A push of a tag the repository does not have here (dockerd's wording).
    #[error("tag does not exist: {name}")]
    NoSuchTag { name: String },
    /// The registry refused a push's credentials, or wanted some and had none
    /// (`no basic auth credentials`, `unauthorized: authentication required`, as dockerd).
    #[error("{message}")]
    PushDenied { message: String },
    /// A login's credentials were refused by the registry (dockerd's wording:
    /// `login attempt to http://host/v2/ failed with status: 401 Unauthorized`).
    #[error("login attempt to {url} failed with status: {status}")]
    LoginRefused { url: String, status: String },
    /// A login could not reach the registry; `message` is dockerd's wording where it has one
    /// (`Get "http://host/v2/": dial tcp host: connect: connection refused`).
    #[error("{message}")]
    LoginUnreachable { message: String },
    /// A blocking task of the engine panicked or was cancelled.
    #[error("internal error: {0}")]
    Task(String),
    /// A tar given to load or import is malformed or hostile (a missing index, a path that
    /// leaves the archive, a blob whose digest is not its name, a truncated stream).
    #[error("{reason}")]
    InvalidArchive { reason: String },
    /// `docker save NAME:TAG` of a tag no image has (dockerd's wording).
    #[error("reference does not exist")]
    NoSuchReference { reference: String },
    /// No container has this id, id prefix or name (dockerd's wording).
    #[error("No such container: {name}")]
    NoSuchContainer { name: String },
    /// No exec instance has this id (dockerd's wording).
    #[error("No such exec instance: {id}")]
    NoSuchExec { id: String },
    /// A request that clashes with the container's state or another container (a name in use,
    /// removing a running container): dockerd's message.
    #[error("{0}")]
    ContainerConflict(String),
    /// The container's configuration cannot be turned into a spec (a setting berth does not
    /// support, a value that makes no sense).
    #[error(transparent)]
    Spec(#[from] berth_spec::SpecError),
    /// The container's process could not be started (the program is missing or cannot be
    /// run): dockerd's 400, whose message the docker CLI reads for its exit code.
    #[error("failed to create task for container: OCI runtime create failed: {0}: unknown")]
    StartFailed(String),
    /// The container's shim failed or could not be reached.
    #[error("container {id}: {source}")]
    Shim {
        id: String,
        source: berth_shim_proto::ProtoError,
    },
    /// The shim binary could not be started.
    #[error("cannot start the shim {path}: {reason}")]
    ShimSpawn { path: PathBuf, reason: String },
}

impl EngineError {
    /// The class of the failure, for the API's status code.
    pub fn kind(&self) -> ErrorKind {
        // The daemon's own state failing is never the client's fault, even when a file is
        // missing: these are all 500s. Image and container variants bring the other kinds.
        match self {
            EngineError::Io { .. }
            | EngineError::Corrupt { .. }
            | EngineError::Cgroups(_)
            | EngineError::Task(_) => ErrorKind::Internal,
            EngineError::Image(e) => match e.kind() {
                berth_image::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_image::ErrorKind::Conflict => ErrorKind::Conflict,
                berth_image::ErrorKind::InvalidInput | berth_image::ErrorKind::Unsupported => {
                    ErrorKind::InvalidInput
                }
                berth_image::ErrorKind::Corrupt | berth_image::ErrorKind::Io => ErrorKind::Internal,
            },
            EngineError::Snapshot(e) => match e.kind() {
                berth_snapshot::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_snapshot::ErrorKind::Conflict => ErrorKind::Conflict,
                berth_snapshot::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                berth_snapshot::ErrorKind::Unsupported | berth_snapshot::ErrorKind::Io => {
                    ErrorKind::Internal
                }
            },
            EngineError::Registry(e) => match e.kind() {
                berth_registry::ErrorKind::NotFound => ErrorKind::NotFound,
                // dockerd's "pull access denied" is a 404.
                berth_registry::ErrorKind::Unauthorized => ErrorKind::NotFound,
                berth_registry::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                // dockerd answers a registry it cannot reach with a 500 (errdefs.Unknown).
                berth_registry::ErrorKind::Unavailable | berth_registry::ErrorKind::Corrupt => {
                    ErrorKind::Internal
                }
            },
            EngineError::ManifestUnknown { .. } => ErrorKind::NotFound,
            EngineError::AccessDenied { .. } => ErrorKind::NotFound,
            EngineError::NoSuchRepository { .. } | EngineError::NoSuchTag { .. } => {
                ErrorKind::NotFound
            }
            EngineError::PushDenied { .. } | EngineError::LoginRefused { .. } => {
                ErrorKind::Unauthorized
            }
            // dockerd answers an unreachable registry with a 500 (errdefs.Unknown).
            EngineError::LoginUnreachable { .. } => ErrorKind::Internal,
            EngineError::DeleteConflict { .. } => ErrorKind::Conflict,
            EngineError::InvalidParameter(_) => ErrorKind::InvalidInput,
            EngineError::BadImage { .. } => ErrorKind::InvalidInput,
            EngineError::InvalidArchive { .. } => ErrorKind::InvalidInput,
            EngineError::NoSuchReference { .. } => ErrorKind::NotFound,
            EngineError::NoSuchContainer { .. } | EngineError::NoSuchExec { .. } => {
                ErrorKind::NotFound
            }
            EngineError::ContainerConflict(_) => ErrorKind::Conflict,
            EngineError::Spec(_) | EngineError::StartFailed(_) => ErrorKind::InvalidInput,
            EngineError::Shim { source, .. } => match source.kind() {
                berth_shim_proto::ErrorKind::NotFound => ErrorKind::NotFound,
                berth_shim_proto::ErrorKind::Conflict => ErrorKind::Conflict,
                berth_shim_proto::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
                berth_shim_proto::ErrorKind::Unavailable
                | berth_shim_proto::ErrorKind::Internal => ErrorKind::Internal,
            },
            EngineError::ShimSpawn { .. } => ErrorKind::Internal,
        }
    }

    /// Wraps an image-store error.
    pub(crate) fn image(e: impl Into<berth_image::Error>) -> Self {
        EngineError::Image(e.into())
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        EngineError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

/// `e` and each of its sources not already part of the text, joined with `: `.
pub(crate) fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        next = cause.source();
    }
    text
}

impl From<berth_image::MetadataError> for EngineError {
    fn from(e: berth_image::MetadataError) -> Self {
        EngineError::Image(e.into())
    }
}

impl From<berth_image::ContentError> for EngineError {
    fn from(e: berth_image::ContentError) -> Self {
        EngineError::Image(e.into())
    }
}
