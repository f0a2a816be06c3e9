//! The shapes of `POST /images/{name}/push` and `POST /auth` (moby `api/swagger.yaml` v1.41):
//! the push stream's `JSONMessage` lines, which add an `aux` record (`{"Tag","Digest","Size"}`)
//! to the pull's, and the login's `AuthResponse`. `POST /auth`'s body is
//! [`super::images::AuthConfig`].

use serde::{Deserialize, Serialize};

use super::images::{ErrorDetail, ProgressDetail};

/// One line of a push's progress stream, with dockerd's field order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PushMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none")]
    pub progress_detail: Option<ProgressDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<PushResult>,
}

/// The `aux` record that ends each pushed tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PushResult {
    pub tag: String,
    pub digest: String,
    pub size: u64,
}

/// `POST /auth`'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AuthResponse {
    pub identity_token: String,
    pub status: String,
}
