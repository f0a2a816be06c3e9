//! [`ImageService::login`]: `docker login`'s check of credentials against a registry
//! (`POST /auth`), answered in dockerd's words.
//!
//! The registry's `/v2/` is fetched with the credentials (answering its Basic or Bearer
//! challenge, berth-registry's `Registry::ping`), once, without the pull's retries: a
//! refused login is `login attempt to http://HOST/v2/ failed with status: 401 Unauthorized`
//! (kind `Unauthorized`), a registry that cannot be reached `Get "http://HOST/v2/": dial tcp
//! HOST: connect: connection refused` (kind `Internal`, dockerd's 500). Nothing is stored: the
//! client keeps the credentials.

use std::error::Error as _;
use std::io;

use berth_registry::{Credentials, Registry, RegistryError};

use super::ImageService;
use crate::error::{with_sources, EngineError};

/// What `docker login` sends.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginOptions {
    /// The registry as the user named it: `127.0.0.1:5000`, `http://host:5000`,
    /// `https://index.docker.io/v1/`; empty means Docker Hub.
    pub server: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginOptions")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A login the registry accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOutcome {
    /// `Login Succeeded`.
    pub status: String,
    /// An identity token for the client to store instead of the password (empty: none).
    pub identity_token: String,
}

impl ImageService {
    /// Checks `options`' credentials against the registry.
    pub async fn login(&self, options: LoginOptions) -> Result<LoginOutcome, EngineError> {
        let host = registry_host(&options.server);
        let creds = if options.username.is_empty() && options.password.is_empty() {
            None
        } else {
            Some(Credentials::basic(options.username, options.password))
        };
        let mut registry_options = self.inner.registry_options.clone();
        // One try, as dockerd: a login is interactive.
        registry_options.retry.attempts = 1;
        let client = Registry::new(&host, creds, &registry_options)?;
        let url = client
            .endpoints()
            .last()
            .map(|base| format!("{}/v2/", base.as_str().trim_end_matches('/')))
            .unwrap_or_else(|| format!("https://{host}/v2/"));
        match client.ping().await {
            Ok(()) => Ok(LoginOutcome {
                status: "Login Succeeded".into(),
                identity_token: String::new(),
            }),
            Err(e) => Err(login_error(e, &url)),
        }
    }
}

/// The registry host of a server address: scheme, path and trailing slashes dropped, Docker
/// Hub's names as `docker.io`.
pub(crate) fn registry_host(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "" | "index.docker.io" | "registry-1.docker.io" => berth_registry::DOCKER_HUB.to_owned(),
        _ => host,
    }
}

fn login_error(e: RegistryError, url: &str) -> EngineError {
    match &e {
        RegistryError::Unauthorized { remote, .. } => EngineError::LoginRefused {
            url: url.to_owned(),
            status: status_line(remote.status),
        },
        RegistryError::Token {
            kind: berth_registry::ErrorKind::Unauthorized,
            ..
        } => EngineError::LoginRefused {
            url: url.to_owned(),
            status: status_line(401),
        },
        // Not a refusal of the credentials (a 404 from something that is no registry):
        // dockerd's 500 with the same sentence.
        RegistryError::Status { remote, .. } => EngineError::LoginUnreachable {
            message: format!(
                "login attempt to {url} failed with status: {}",
                status_line(remote.status)
            ),
        },
        RegistryError::Transport { source, .. } => {
            let mut refused = false;
            let mut next = source.source();
            while let Some(cause) = next {
                refused |= cause
                    .downcast_ref::<io::Error>()
                    .is_some_and(|io| io.kind() == io::ErrorKind::ConnectionRefused);
                next = cause.source();
            }
            let message = if refused {
                let addr = dial_addr(url);
                format!("Get \"{url}\": dial tcp {addr}: connect: connection refused")
            } else {
                format!("Get \"{url}\": {}", with_sources(source))
            };
            EngineError::LoginUnreachable { message }
        }
        _ => EngineError::Registry(e),
    }
}

/// `host:port` of an `http(s)://host[:port]/...` URL, the port defaulted by scheme.
fn dial_addr(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let authority = rest.split('/').next().unwrap_or("");
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    if has_port {
        authority.to_owned()
    } else if scheme == "http" {
        format!("{authority}:80")
    } else {
        format!("{authority}:443")
    }
}

/// `401 Unauthorized`, as Go's `http.StatusText` names the codes a registry answers.
fn status_line(code: u16) -> String {
    let text = match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    format!("{code} {text}").trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_to_hosts() {
        assert_eq!(registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(registry_host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(registry_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(registry_host(""), "docker.io");
        assert_eq!(
            registry_host("Registry.Example.com/v2/"),
            "registry.example.com"
        );
    }

    #[test]
    fn dockerds_texts() {
        assert_eq!(status_line(401), "401 Unauthorized");
        assert_eq!(status_line(299), "299");
        assert_eq!(dial_addr("http://127.0.0.1:5009/v2/"), "127.0.0.1:5009");
        assert_eq!(dial_addr("https://example.com/v2/"), "example.com:443");
        assert_eq!(dial_addr("http://[::1]/v2/"), "[::1]:80");
        let e = EngineError::LoginRefused {
            url: "http://127.0.0.1:5001/v2/".into(),
            status: status_line(401),
        };
        assert_eq!(
            e.to_string(),
            "login attempt to http://127.0.0.1:5001/v2/ failed with status: 401 Unauthorized"
        );
        assert_eq!(e.kind(), crate::ErrorKind::Unauthorized);
    }
}
