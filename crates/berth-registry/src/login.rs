//! `docker login`: check credentials against the registry, then store them.

use crate::auth::Credentials;
use crate::client::{Registry, RegistryOptions};
use crate::config::DockerConfig;
use crate::error::RegistryError;

/// Checks `username`/`password` against `registry`'s `/v2/` as docker
/// does (answering its Basic or Bearer challenge, where a token server that
/// refuses them fails the login), then stores them in `config` (its
/// credential helper if it has one, else `auths`) and saves it.
/// Nothing is stored when the check fails.
pub async fn login(
    config: &mut DockerConfig,
    registry: &str,
    username: &str,
    password: &str,
    options: &RegistryOptions,
) -> Result<(), RegistryError> {
    let creds = Credentials::basic(username, password);
    let client = Registry::new(registry, Some(creds.clone()), options)?;
    client.ping().await?;
    config.store(client.name(), &creds).await
}
