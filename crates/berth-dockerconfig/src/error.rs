//! The crate's error: the config file, or a credential helper, failed.

use std::path::PathBuf;

/// A failure reading or writing docker's config or running a credential helper.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The docker config file could not be read, parsed or written.
    #[error("docker config {path}: {reason}")]
    Config { path: PathBuf, reason: String },
    /// A `docker-credential-<name>` helper failed.
    #[error("credential helper docker-credential-{helper} {action} for {registry}: {reason}")]
    CredentialHelper {
        helper: String,
        action: &'static str,
        registry: String,
        reason: String,
    },
}
