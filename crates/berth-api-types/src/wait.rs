//! The answer of `POST /containers/{id}/wait`.

use serde::{Deserialize, Serialize};

/// How a container ended: its exit status, and the daemon's error when waiting failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWaitResponse {
    pub status_code: i64,
    pub error: Option<WaitExitError>,
}

/// The error of a wait.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WaitExitError {
    pub message: String,
}
