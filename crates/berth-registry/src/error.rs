//! The one error type of the crate. Every variant names the registry host
//! and, where there is one, the repository and digest or tag involved, so
//! that "registry 127.0.0.1:5000: blob sha256:ab.. in library/busybox not
//! found (BLOB_UNKNOWN: blob unknown to registry)" needs no more context.

use std::fmt;
use std::io;

/// Broad classes of registry failure, for callers that map errors to codes
/// (the daemon maps them to HTTP statuses at its edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The repository, manifest or blob does not exist (404, or an error
    /// body saying `NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, `BLOB_UNKNOWN`).
    NotFound,
    /// The registry refused the credentials (401) or the access (403).
    Unauthorized,
    /// The request was wrong: a malformed reference, digest, host or
    /// config file, or the registry answered 400 to it.
    InvalidInput,
    /// The registry could not be reached or kept failing (connection
    /// errors, 5xx, 429) after the bounded retries.
    Unavailable,
    /// The registry sent content that does not match its digest or size.
    Corrupt,
}

/// An error code from a registry's JSON errors body
/// (`{"errors":[{"code":"BLOB_UNKNOWN","message":...}]}`), as the
/// distribution spec lists them. Codes berth does not know are kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TooManyRequests,
    Other(String),
}

impl ErrorCode {
    pub(crate) fn parse(code: &str) -> Self {
        match code {
            "BLOB_UNKNOWN" => Self::BlobUnknown,
            "BLOB_UPLOAD_INVALID" => Self::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => Self::BlobUploadUnknown,
            "DIGEST_INVALID" => Self::DigestInvalid,
            "MANIFEST_BLOB_UNKNOWN" => Self::ManifestBlobUnknown,
            "MANIFEST_INVALID" => Self::ManifestInvalid,
            "MANIFEST_UNKNOWN" => Self::ManifestUnknown,
            "NAME_INVALID" => Self::NameInvalid,
            "NAME_UNKNOWN" => Self::NameUnknown,
            "SIZE_INVALID" => Self::SizeInvalid,
            "UNAUTHORIZED" => Self::Unauthorized,
            "DENIED" => Self::Denied,
            "UNSUPPORTED" => Self::Unsupported,
            "TOOMANYREQUESTS" => Self::TooManyRequests,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The code as the registry spelled it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported => "UNSUPPORTED",
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the registry said in its errors body: the first error's code and
/// message, or the bare HTTP status when the body had none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub status: u16,
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) if self.message.is_empty() => write!(f, "{code}"),
            Some(code) => write!(f, "{code}: {}", self.message),
            None if self.message.is_empty() => write!(f, "HTTP {}", self.status),
            None => write!(f, "HTTP {}: {}", self.status, self.message),
        }
    }
}

/// A failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered 404 (or an `*_UNKNOWN` code).
    #[error("registry {registry}: {object} in {repo} not found ({remote})")]
    NotFound {
        registry: String,
        repo: String,
        /// `manifest latest`, `blob sha256:...`, `repository`.
        object: String,
        remote: Box<Remote>,
    },
    /// The registry refused the credentials (401) or the access (403).
    #[error("registry {registry}: access to {scope} refused ({remote})")]
    Unauthorized {
        registry: String,
        /// The repository, or `/v2/` for a login check.
        scope: String,
        remote: Box<Remote>,
    },
    /// The token server of a bearer challenge refused or failed.
    #[error("registry {registry}: cannot get a token from {realm} for {scope}: {reason}")]
    Token {
        registry: String,
        realm: String,
        scope: String,
        reason: String,
        kind: ErrorKind,
    },
    /// The registry answered with a status the operation does not expect.
    #[error("registry {registry}: {op} {repo} failed ({remote})")]
    Status {
        registry: String,
        repo: String,
        op: &'static str,
        remote: Box<Remote>,
    },
    /// The connection failed (after retries, where the operation retries).
    #[error("registry {registry}: {op} {target} failed: {source}")]
    Transport {
        registry: String,
        op: &'static str,
        /// The repository, digest or URL being worked on.
        target: String,
        #[source]
        source: reqwest::Error,
    },
    /// Content fetched from the registry does not hash to its digest.
    #[error("registry {registry}: {object} in {repo} has digest {actual}, expected {expected}")]
    DigestMismatch {
        registry: String,
        repo: String,
        object: String,
        expected: String,
        actual: String,
    },
    /// A blob ended before (or went past) its announced size.
    #[error("registry {registry}: blob {digest} in {repo} has {got} bytes, expected {expected}")]
    SizeMismatch {
        registry: String,
        repo: String,
        digest: String,
        expected: u64,
        got: u64,
    },
    /// A blob download was cut and its resumes brought no more bytes.
    #[error(
        "registry {registry}: blob {digest} in {repo} stopped at byte {got}{} after {tries} tries",
        expected.map(|e| format!(" of {e}")).unwrap_or_default()
    )]
    Truncated {
        registry: String,
        repo: String,
        digest: String,
        got: u64,
        expected: Option<u64>,
        tries: u32,
    },
    /// The registry answered in a way the protocol does not allow
    /// (a missing Location header, a 206 for the wrong range, bad JSON...).
    #[error("registry {registry}: {op} {target}: {reason}")]
    Protocol {
        registry: String,
        op: &'static str,
        target: String,
        reason: String,
    },
    /// The caller's sink or source failed while a blob was moving.
    #[error("registry {registry}: {op} blob {digest} in {repo}: {source}")]
    Io {
        registry: String,
        repo: String,
        digest: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A malformed host, repository, reference, digest or option.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidInput {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// The docker config file, or its credential helper, failed (`login`).
    #[error(transparent)]
    DockerConfig(#[from] berth_dockerconfig::ConfigError),
    /// A blocking task (a credential helper's run) panicked or was cancelled.
    #[error("registry {registry}: {op}: {reason}")]
    Task {
        registry: String,
        op: &'static str,
        reason: String,
    },
}

impl RegistryError {
    /// The broad class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::Unauthorized { .. } => ErrorKind::Unauthorized,
            Self::Token { kind, .. } => *kind,
            Self::Status { remote, .. } => match remote.status {
                401 | 403 => ErrorKind::Unauthorized,
                404 => ErrorKind::NotFound,
                429 | 500..=599 => ErrorKind::Unavailable,
                _ => ErrorKind::InvalidInput,
            },
            Self::Transport { .. }
            | Self::Protocol { .. }
            | Self::Io { .. }
            | Self::Truncated { .. } => ErrorKind::Unavailable,
            Self::DigestMismatch { .. } | Self::SizeMismatch { .. } => ErrorKind::Corrupt,
            Self::InvalidInput { .. } => ErrorKind::InvalidInput,
            Self::DockerConfig(berth_dockerconfig::ConfigError::Config { .. }) => {
                ErrorKind::InvalidInput
            }
            Self::DockerConfig(berth_dockerconfig::ConfigError::CredentialHelper { .. })
            | Self::Task { .. } => ErrorKind::Unavailable,
        }
    }

    /// The registry's error code, when its answer carried one.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Self::NotFound { remote, .. }
            | Self::Unauthorized { remote, .. }
            | Self::Status { remote, .. } => remote.code.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidInput {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// A malformed digest (from the caller, or in a registry's header) is
/// invalid input naming the string, with go-digest's reason.
impl From<berth_oci::DigestError> for RegistryError {
    fn from(e: berth_oci::DigestError) -> Self {
        Self::invalid("digest", e.input(), e.to_string())
    }
}

/// Reads a registry's JSON errors body; a body that is not one gives the
/// status alone, with the first line of the body as the message.
pub(crate) fn parse_remote(status: u16, body: &[u8]) -> Remote {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    if let Ok(parsed) = serde_json::from_slice::<Body>(body) {
        if let Some(first) = parsed.errors.into_iter().next() {
            return Remote {
                status,
                code: (!first.code.is_empty()).then(|| ErrorCode::parse(&first.code)),
                message: first.message,
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or("").trim();
    Remote {
        status,
        code: None,
        message: line.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_body_gives_the_first_code() {
        let r = parse_remote(
            404,
            br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":"sha256:ab"}]}"#,
        );
        assert_eq!(r.code, Some(ErrorCode::BlobUnknown));
        assert_eq!(r.message, "blob unknown to registry");
        assert_eq!(r.to_string(), "BLOB_UNKNOWN: blob unknown to registry");
    }

    #[test]
    fn non_json_body_gives_the_status() {
        let r = parse_remote(502, b"<html>bad gateway</html>\nmore");
        assert_eq!(r.code, None);
        assert_eq!(r.to_string(), "HTTP 502: <html>bad gateway</html>");
        let r = parse_remote(500, b"");
        assert_eq!(r.to_string(), "HTTP 500");
        assert_eq!(ErrorCode::parse("WEIRD"), ErrorCode::Other("WEIRD".into()));
    }
}
