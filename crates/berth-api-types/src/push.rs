//! The shapes of `POST /images/{name}/push` and `POST /auth` (moby `api/swagger.yaml` v1.41):
//! the push stream's `JSONMessage` lines, which add an `aux` record (`{"Tag","Digest","Size"}`)
//! to the pull's, and the login's `AuthResponse`. `POST /auth`'s body is
//! [`crate::images::AuthConfig`].

use serde::{Deserialize, Serialize};

use crate::images::ProgressMessage;

/// One line of a push's progress stream: a pull's line and its `aux` record, with dockerd's
/// field order.
pub type PushMessage = ProgressMessage<PushResult>;

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
