//! [`Registry`]: the client for one registry host, one file per concern:
//!
//! * client/endpoint.rs: `docker.io` (and `index.docker.io`) is served by
//!   `https://registry-1.docker.io`, after the configured mirrors, which
//!   are tried first for pulls (never for pushes). Loopback hosts
//!   (`localhost`, 127.0.0.0/8, ::1) and the `insecure_registries` (host,
//!   host:port or CIDR) are spoken to over plain HTTP, every other host
//!   over HTTPS with the system's roots plus `/etc/docker/certs.d/<host>/*.crt`.
//! * client/transport.rs: every request goes through `Registry::send`: it
//!   adds the Authorization the registry's last challenge asked for,
//!   answers a 401 by reading the new challenge and retrying once, and
//!   retries connection errors, 5xx and 429 with exponential backoff, a
//!   bounded number of times, for the requests that may be repeated; a
//!   non-2xx answer becomes its typed error.
//! * client/authorize.rs: the Authorization of a request from the last
//!   challenge (Basic, or a Bearer token from the token cache or server,
//!   see auth.rs), and what a 401's challenge teaches.
//! * client/manifest.rs: [`Registry::get_manifest`] /
//!   [`Registry::head_manifest`] with the Accept list of every manifest
//!   type, [`Registry::put_manifest`].
//! * client/download.rs: [`Registry::fetch_blob`] streaming into the
//!   caller's sink, resuming with `Range` after a cut, verifying size and
//!   digest, at most `max_concurrent_downloads` at once.
//! * client/upload.rs: [`Registry::blob_exists`], [`Registry::mount_blob`],
//!   [`Registry::upload_blob`] (POST, PATCH chunks, PUT ?digest=).

mod authorize;
mod download;
mod endpoint;
mod manifest;
mod transport;
mod upload;

#[cfg(test)]
mod props;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Semaphore;

use crate::auth::{Challenge, Credentials, TokenCache};
use crate::error::RegistryError;

use endpoint::{load_certs, resolve_endpoints, validate_host, Endpoint};
pub use manifest::Manifest;
use transport::Retry;
pub use transport::RetryPolicy;

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";

/// Daemon-wide registry settings (dockerd's `insecure-registries`,
/// `registry-mirrors`, `max-concurrent-downloads`).
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts (`host`, `host:port`) or CIDRs spoken to over plain HTTP.
    pub insecure_registries: Vec<String>,
    /// Mirror URLs for Docker Hub, tried in order before it for pulls.
    pub mirrors: Vec<String>,
    /// Blob downloads one [`Registry`] runs at once (dockerd's default: 3).
    pub max_concurrent_downloads: usize,
    pub retry: RetryPolicy,
    /// Size of one PATCH of a chunked upload.
    pub upload_chunk_size: usize,
    /// A read that stalls this long counts as a cut connection.
    pub read_timeout: Duration,
    pub connect_timeout: Duration,
    /// Where per-registry CA certificates live (`<dir>/<host>/*.crt`).
    pub certs_dir: Option<std::path::PathBuf>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            max_concurrent_downloads: 3,
            retry: RetryPolicy::default(),
            upload_chunk_size: 8 << 20,
            read_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            certs_dir: Some("/etc/docker/certs.d".into()),
        }
    }
}

/// A client for one registry host. Cheap to clone (the clones share the
/// connection pool, token cache and download permits).
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    /// Pull order: mirrors first, the registry itself last.
    endpoints: Vec<Endpoint>,
    /// The registry itself, where pushes go.
    push: Endpoint,
    http: reqwest::Client,
    creds: Option<Credentials>,
    tokens: TokenCache,
    challenges: Mutex<HashMap<String, Challenge>>,
    downloads: Arc<Semaphore>,
    retry: RetryPolicy,
    chunk_size: usize,
}

impl Registry {
    /// A client for `host` (`docker.io`, `registry.example.com`,
    /// `127.0.0.1:5000`, `[::1]:5000`), with the credentials to use, if any.
    pub fn new(
        host: &str,
        creds: Option<Credentials>,
        options: &RegistryOptions,
    ) -> Result<Self, RegistryError> {
        let name = validate_host(host)?;
        let (endpoints, push) = resolve_endpoints(&name, options)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout);
        if let Some(dir) = &options.certs_dir {
            for cert in load_certs(&dir.join(&name)) {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().map_err(|e| RegistryError::Transport {
            registry: name.clone(),
            op: "set up a client for",
            target: name.clone(),
            source: e,
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                endpoints,
                push,
                http,
                creds,
                tokens: TokenCache::default(),
                challenges: Mutex::new(HashMap::new()),
                downloads: Arc::new(Semaphore::new(options.max_concurrent_downloads.max(1))),
                retry: RetryPolicy {
                    attempts: options.retry.attempts.max(1),
                    ..options.retry.clone()
                },
                chunk_size: options.upload_chunk_size.max(1),
            }),
        })
    }

    /// The registry's canonical host name (`docker.io` for Docker Hub).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The base URLs in the order pulls try them (mirrors first).
    pub fn endpoints(&self) -> Vec<Url> {
        self.inner
            .endpoints
            .iter()
            .map(|e| e.base.clone())
            .collect()
    }

    /// Checks access to `/v2/` with the client's credentials, as `docker
    /// login` does: a registry that answers 200 (possibly after a challenge
    /// and a token) accepts them.
    pub async fn ping(&self) -> Result<(), RegistryError> {
        let ep = self.push_endpoint();
        let url = ep.url("/v2/")?;
        let resp = self
            .send(ep, &[], "check", "/v2/", Retry::Yes, |c| c.get(url.clone()))
            .await?;
        self.check(resp, "/v2/", "check", "/v2/").await.map(drop)
    }

    // ---- shared by the concerns' files ----

    fn pull_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.inner.endpoints.iter()
    }

    fn push_endpoint(&self) -> &Endpoint {
        &self.inner.push
    }

    fn no_endpoint(&self) -> RegistryError {
        RegistryError::invalid("registry", self.inner.name.clone(), "no endpoint to try")
    }

    /// `library/` is implied for official images on Docker Hub.
    fn repo_path(&self, repo: &str) -> Result<String, RegistryError> {
        validate_repo(repo)?;
        if self.inner.name == DOCKER_HUB && !repo.contains('/') {
            Ok(format!("library/{repo}"))
        } else {
            Ok(repo.to_owned())
        }
    }
}

/// Repository names as the distribution spec defines them: lowercase
/// components of `[a-z0-9]` joined by `.`, `_`, `__` or `-`, separated by `/`.
fn validate_repo(repo: &str) -> Result<(), RegistryError> {
    let bad = |reason: &str| Err(RegistryError::invalid("repository", repo, reason));
    if repo.is_empty() || repo.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    for component in repo.split('/') {
        let b = component.as_bytes();
        if b.is_empty() {
            return bad("has an empty path component");
        }
        if !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
            return bad("path components start and end with [a-z0-9]");
        }
        if !b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        }) {
            return bad("only lowercase [a-z0-9] and the separators . _ - are allowed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names() {
        for ok in ["busybox", "library/busybox", "a/b-c/d__e", "a.b_c"] {
            assert!(validate_repo(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Upper", "a//b", "-a", "a-", "a/b/", "a b"] {
            assert!(validate_repo(bad).is_err(), "{bad}");
        }
        let hub = Registry::new("docker.io", None, &RegistryOptions::default()).unwrap();
        assert_eq!(hub.repo_path("busybox").unwrap(), "library/busybox");
        assert_eq!(hub.repo_path("me/app").unwrap(), "me/app");
    }
}
