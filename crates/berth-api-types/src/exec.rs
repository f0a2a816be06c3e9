//! The exec endpoints' shapes: `POST /containers/{id}/exec`, `POST /exec/{id}/start`,
//! `GET /exec/{id}/json`.

use serde::{Deserialize, Serialize};

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecConfig {
    pub user: String,
    pub privileged: bool,
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
    pub attach_stdin: bool,
    pub attach_stderr: bool,
    pub attach_stdout: bool,
    pub detach: bool,
    pub detach_keys: String,
    pub env: Option<Vec<String>>,
    pub working_dir: String,
    pub cmd: Option<Vec<String>>,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartConfig {
    pub detach: bool,
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// An id answer (`POST /containers/{id}/exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// What the CLI reads of `GET /exec/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    #[serde(rename = "ID")]
    pub id: String,
    pub running: bool,
    pub exit_code: Option<i64>,
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    pub pid: i64,
}
