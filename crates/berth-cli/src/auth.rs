//! Registry credentials: read from and written to docker's `config.json` (through
//! `berth_dockerconfig::DockerConfig`, so credential helpers work too), and sent to the daemon as
//! docker sends them, in `X-Registry-Auth` (base64url of the `AuthConfig` JSON).

use base64::Engine as _;
use berth_dockerconfig::{auth_key, Credentials, DockerConfig};
use serde::Serialize;

use crate::error::CliError;

/// The header name.
pub const REGISTRY_AUTH_HEADER: &str = "X-Registry-Auth";

/// Docker's `AuthConfig`, every field omitted when empty.
#[derive(Debug, Default, Serialize)]
pub struct AuthConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(rename = "serveraddress", skip_serializing_if = "String::is_empty")]
    pub server_address: String,
    #[serde(rename = "identitytoken", skip_serializing_if = "String::is_empty")]
    pub identity_token: String,
}

impl AuthConfig {
    /// base64url of the JSON, the `X-Registry-Auth` value.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        base64::engine::general_purpose::URL_SAFE.encode(json)
    }
}

/// The server address docker uses for a registry domain (Docker Hub's v1 URL for docker.io).
pub fn server_address(domain: &str) -> String {
    auth_key(domain)
}

/// The user's config file.
pub fn load_config() -> Result<DockerConfig, CliError> {
    Ok(DockerConfig::load_default()?)
}

/// The `X-Registry-Auth` value for images on `domain`: the stored credentials, or `{}`.
/// A credential helper runs to its end here (the CLI has nothing else to do meanwhile).
pub fn registry_auth(domain: &str) -> Result<String, CliError> {
    let config = load_config()?;
    let mut auth = AuthConfig {
        server_address: server_address(domain),
        ..AuthConfig::default()
    };
    match config.credentials(domain)? {
        Some(Credentials::Basic { username, password }) => {
            auth.username = username;
            auth.password = password;
        }
        Some(Credentials::IdentityToken { token }) => auth.identity_token = token,
        None => return Ok(AuthConfig::default().encode()),
    }
    Ok(auth.encode())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_docker() {
        assert_eq!(AuthConfig::default().encode(), "e30=");
        let a = AuthConfig {
            username: "u".into(),
            password: "p?>".into(),
            server_address: "127.0.0.1:5000".into(),
            ..AuthConfig::default()
        };
        let raw = base64::engine::general_purpose::URL_SAFE
            .decode(a.encode())
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            r#"{"username":"u","password":"p?>","serveraddress":"127.0.0.1:5000"}"#
        );
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
    }
}
