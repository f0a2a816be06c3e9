//! `docker login`: check credentials against the registry, then store them.

use berth_dockerconfig::{Credentials, DockerConfig};

use crate::client::{Registry, RegistryOptions};
use crate::error::RegistryError;

/// Checks `username`/`password` against `registry`'s `/v2/` as docker
/// does (answering its Basic or Bearer challenge, where a token server that
/// refuses them fails the login), then stores them in `config` (its
/// credential helper if it has one, else `auths`) and saves it.
/// Nothing is stored when the check fails. The config is written (and a
/// helper run) on tokio's blocking pool.
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
    let mut updated = config.clone();
    let name = client.name().to_owned();
    let stored =
        tokio::task::spawn_blocking(move || updated.store(&name, &creds).map(|()| updated))
            .await
            .map_err(|e| RegistryError::Task {
                registry: client.name().to_owned(),
                op: "store the credentials",
                reason: e.to_string(),
            })??;
    *config = stored;
    Ok(())
}
