//! API errors: engine errors with their kind mapped to a status code (404, 409, 400, 401, 503,
//! 500), and the errors the HTTP layer itself produces (unknown route, bad version, bad
//! parameter). The body is always Docker's `{"message": "..."}`, which the docker CLI prints as
//! `Error response from daemon: <message>`.

use berth_engine::{EngineError, ErrorKind};
use hyper::StatusCode;

use crate::types::ErrorResponse;
use crate::{API_VERSION, MIN_API_VERSION};

/// Why a request failed, as the client will see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The engine refused or failed; its kind picks the status.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// No route has this path and method (dockerd's exact message).
    #[error("page not found")]
    PageNotFound,
    #[error(
        "client version {version} is too old. Minimum supported API version is {MIN_API_VERSION}, \
         please upgrade your client to a newer version"
    )]
    VersionTooOld { version: String },
    #[error("client version {version} is too new. Maximum supported API version is {API_VERSION}")]
    VersionTooNew { version: String },
    /// A query parameter or body the handler could not parse.
    #[error("{0}")]
    InvalidParameter(String),
    /// A blocking engine task panicked or was cancelled.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status dockerd gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Engine(e) => match e.kind() {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
                // dockerd answers errdefs.Unavailable with 503.
                ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                // A registry that refused a login's credentials (current dockerd's 401).
                ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::PageNotFound => StatusCode::NOT_FOUND,
            ApiError::VersionTooOld { .. }
            | ApiError::VersionTooNew { .. }
            | ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Docker's error body.
    pub fn body(&self) -> ErrorResponse {
        ErrorResponse {
            message: self.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_dockerds() {
        let e = ApiError::VersionTooNew {
            version: "1.99".into(),
        };
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "client version 1.99 is too new. Maximum supported API version is 1.41"
        );
        assert_eq!(ApiError::PageNotFound.status(), StatusCode::NOT_FOUND);
        let e = ApiError::Engine(EngineError::Corrupt {
            path: "/x".into(),
            reason: "r".into(),
        });
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
