//! [`Registry`]: the client for one registry host.
//!
//! * Endpoints: `docker.io` (and `index.docker.io`) is served by
//!   `https://registry-1.docker.io`, after the configured mirrors, which
//!   are tried first for pulls (never for pushes). Loopback hosts
//!   (`localhost`, 127.0.0.0/8, ::1) and the `insecure_registries` (host,
//!   host:port or CIDR) are spoken to over plain HTTP, every other host
//!   over HTTPS with the system's roots plus `/etc/docker/certs.d/<host>/*.crt`.
//! * Every request goes through [`Registry::send`]: it adds the
//!   Authorization the registry's last challenge asked for (see auth.rs),
//!   answers a 401 by reading the new challenge and retrying once, and
//!   retries connection errors, 5xx and 429 with exponential backoff, a
//!   bounded number of times, for the requests that may be repeated.
//! * Pulls: [`Registry::get_manifest`] / [`Registry::head_manifest`] with
//!   the Accept list of every manifest type, [`Registry::fetch_blob`]
//!   streaming into the caller's sink, resuming with `Range` after a cut,
//!   verifying size and digest, at most `max_concurrent_downloads` at once.
//! * Pushes: [`Registry::blob_exists`], [`Registry::mount_blob`],
//!   [`Registry::upload_blob`] (POST, PATCH chunks, PUT ?digest=),
//!   [`Registry::put_manifest`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::Semaphore;

use crate::auth::{parse_challenges, repo_scope, Challenge, Credentials, TokenCache};
use crate::digest::{Digest, Digester};
use crate::error::{parse_remote, ErrorCode, RegistryError};
use crate::media_type;

/// The canonical name of Docker Hub.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ENDPOINT: &str = "https://registry-1.docker.io";
/// Manifests larger than this are refused (containerd's limit too).
const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// True for the names of Docker Hub.
pub(crate) fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// How a [`Registry`] retries failed requests.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries of one request in all (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles at each retry.
    pub base_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

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

/// A fetched manifest: its bytes as the registry sent them, its media type
/// and its (verified) digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

/// What a HEAD of a manifest tells: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// One base URL requests are sent to.
#[derive(Debug, Clone)]
struct Endpoint {
    base: Url,
}

impl Endpoint {
    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        // Mirrors may have a path prefix; keep it.
        let mut base = self.base.clone();
        let prefix = base.path().trim_end_matches('/').to_owned();
        base.set_path(&format!("{prefix}{path}"));
        Ok(base)
    }

    fn key(&self) -> String {
        self.base.as_str().to_owned()
    }
}

/// A manifest as the manifest requests name it.
struct ManifestTarget {
    /// The repository's path on the registry (`library/busybox`).
    repo: String,
    /// The reference's digest when it is one (else it is a tag).
    by_digest: Option<Digest>,
    /// `/v2/REPO/manifests/REFERENCE`.
    path: String,
    /// The token scope a manifest request needs: pull on the repository.
    scopes: [String; 1],
    /// `manifest REFERENCE`, the object errors name.
    object: String,
}

/// A request-sending retry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Safe to send again: GET, HEAD, the POST that starts an upload.
    Yes,
    /// Not safe (upload PATCH and PUT): only the 401 re-send happens.
    No,
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

    /// Fetches a manifest by tag or digest, with the Accept list of Docker
    /// schema2, manifest lists, OCI manifests and indexes (and schema1, so
    /// that the caller can detect and refuse it). Content fetched by digest
    /// must hash to it; content fetched by tag must match the
    /// Docker-Content-Digest header when there is one.
    pub async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Manifest, RegistryError> {
        let target = self.manifest_target(repo, reference)?;
        let ManifestTarget {
            repo,
            by_digest,
            object,
            ..
        } = &target;
        let mut last = None;
        for ep in self.pull_endpoints() {
            let attempt = async {
                let resp = self
                    .request_manifest(ep, &target, Method::GET, "fetch")
                    .await?;
                let headers = resp.headers().clone();
                let bytes = read_limited(resp, MAX_MANIFEST_SIZE)
                    .await
                    .map_err(|reason| RegistryError::Protocol {
                        registry: self.inner.name.clone(),
                        op: "fetch",
                        target: format!("{repo} {object}"),
                        reason,
                    })?;
                let digest = Digest::of(&bytes);
                let expected = match &by_digest {
                    Some(d) => Some(d.clone()),
                    None => header_str(&headers, "docker-content-digest")
                        .map(Digest::parse)
                        .transpose()?,
                };
                if let Some(expected) = expected {
                    if expected != digest {
                        return Err(RegistryError::DigestMismatch {
                            registry: self.inner.name.clone(),
                            repo: repo.clone(),
                            object: object.clone(),
                            expected: expected.to_string(),
                            actual: digest.to_string(),
                        });
                    }
                }
                let media_type = media_type::detect(header_str(&headers, "content-type"), &bytes);
                Ok(Manifest {
                    bytes,
                    media_type,
                    digest,
                })
            };
            match attempt.await {
                Ok(m) => return Ok(m),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| self.no_endpoint()))
    }

    /// HEADs a manifest: its digest, size and media type without its body.
    /// A registry that gives no Docker-Content-Digest is asked with GET.
    pub async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Descriptor, RegistryError> {
        let target = self.manifest_target(repo, reference)?;
        let mut last = None;
        for ep in self.pull_endpoints() {
            let attempt = async {
                let resp = self
                    .request_manifest(ep, &target, Method::HEAD, "check")
                    .await?;
                let headers = resp.headers();
                let digest = match header_str(headers, "docker-content-digest") {
                    Some(d) => Some(Digest::parse(d)?),
                    None => target.by_digest.clone(),
                };
                let size = header_str(headers, "content-length").and_then(|l| l.parse().ok());
                let media_type = header_str(headers, "content-type")
                    .map(|t| t.split(';').next().unwrap_or("").trim().to_owned())
                    .filter(|t| !t.is_empty());
                Ok((digest, size, media_type))
            };
            match attempt.await {
                Ok((Some(digest), Some(size), Some(media_type))) => {
                    return Ok(Descriptor {
                        media_type,
                        digest,
                        size,
                    })
                }
                Ok(_) => {
                    let m = self.get_manifest(repo, reference).await?;
                    return Ok(Descriptor {
                        media_type: m.media_type,
                        size: m.bytes.len() as u64,
                        digest: m.digest,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| self.no_endpoint()))
    }

    /// Downloads blob `digest` of `repo` into `sink`, from the offset
    /// `digester.len()`: pass a fresh [`Digester`] to start at byte 0, or
    /// one fed with the first N bytes of a partial ingest to resume it.
    /// `size` is the descriptor's size when known (a blob that ends short
    /// of it is resumed, one that goes past it is refused).
    ///
    /// A cut connection is resumed with `Range: bytes=N-` (a registry that
    /// ignores Range and answers 200 has its first N bytes skipped);
    /// `progress` is called with the bytes so far after every chunk. At the
    /// end the whole blob's size and digest are checked (the digest only
    /// with a verifying digester, see [`Digester::unverified`]): on a
    /// mismatch the bytes in the sink are wrong and the caller must discard
    /// them.
    /// Returns the blob's size. At most `max_concurrent_downloads` run at
    /// once per [`Registry`]; the others wait here.
    pub async fn fetch_blob<W>(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        digester: Digester,
        sink: &mut W,
        mut progress: impl FnMut(u64) + Send,
    ) -> Result<u64, RegistryError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        let repo = self.repo_path(repo)?;
        let _permit = self
            .inner
            .downloads
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| self.no_endpoint())?;
        let mut digester = digester;
        let mut last = None;
        for ep in self.pull_endpoints() {
            let before = digester.len();
            match self
                .fetch_blob_from(ep, &repo, digest, size, &mut digester, sink, &mut progress)
                .await
            {
                Ok(()) => {
                    let got = digester.len();
                    // An unverified digester leaves the digest to the sink.
                    let Some(actual) = digester.finish() else {
                        return Ok(got);
                    };
                    if &actual != digest {
                        return Err(RegistryError::DigestMismatch {
                            registry: self.inner.name.clone(),
                            repo,
                            object: format!("blob {digest}"),
                            expected: digest.to_string(),
                            actual: actual.to_string(),
                        });
                    }
                    return Ok(got);
                }
                // Another endpoint may only take over if this one wrote nothing.
                Err(e) if digester.len() == before => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.no_endpoint()))
    }

    #[allow(clippy::too_many_arguments)]
    async fn fetch_blob_from<W>(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        digester: &mut Digester,
        sink: &mut W,
        progress: &mut (impl FnMut(u64) + Send),
    ) -> Result<(), RegistryError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        let url = ep.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let scopes = [repo_scope(repo, "pull")];
        let object = format!("blob {digest}");
        let size_error = |got: u64, expected: u64| RegistryError::SizeMismatch {
            registry: self.inner.name.clone(),
            repo: repo.to_owned(),
            digest: digest.to_string(),
            expected,
            got,
        };
        let protocol = |reason: String| RegistryError::Protocol {
            registry: self.inner.name.clone(),
            op: "fetch",
            target: format!("{repo} {object}"),
            reason,
        };
        let mut size = size;
        let mut failures = 0u32;
        loop {
            let offset = digester.len();
            if let Some(size) = size {
                if offset == size {
                    return Ok(());
                }
                if offset > size {
                    return Err(size_error(offset, size));
                }
            }
            let resp = self
                .send(ep, &scopes, "fetch", &object, Retry::Yes, |c| {
                    let r = c.get(url.clone());
                    if offset > 0 {
                        r.header(header::RANGE, format!("bytes={offset}-"))
                    } else {
                        r
                    }
                })
                .await?;
            if offset > 0 && resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
                return Err(protocol(format!(
                    "the registry refused the range bytes={offset}-"
                )));
            }
            let resp = self.check(resp, repo, "fetch", &object).await?;
            let mut skip = 0u64;
            let total = match resp.status() {
                StatusCode::PARTIAL_CONTENT => {
                    let range = header_str(resp.headers(), "content-range").unwrap_or("");
                    let (start, total) = parse_content_range(range)
                        .ok_or_else(|| protocol(format!("bad Content-Range {range:?}")))?;
                    if start != offset {
                        return Err(protocol(format!(
                            "asked for bytes={offset}- and got Content-Range {range:?}"
                        )));
                    }
                    total
                }
                _ => {
                    skip = offset;
                    resp.content_length()
                }
            };
            match (size, total) {
                (Some(size), Some(total)) if size != total => return Err(size_error(total, size)),
                (None, Some(total)) => size = Some(total),
                _ => {}
            }
            let before = digester.len();
            let mut stream = resp.bytes_stream();
            let mut cut = false;
            while let Some(chunk) = stream.next().await {
                let mut chunk = match chunk {
                    Ok(chunk) => chunk,
                    Err(_) => {
                        cut = true;
                        break;
                    }
                };
                if skip > 0 {
                    let n = skip.min(chunk.len() as u64);
                    // n <= chunk.len(), so this fits in usize.
                    let _ = chunk.split_to(usize::try_from(n).unwrap_or(chunk.len()));
                    skip -= n;
                    if chunk.is_empty() {
                        continue;
                    }
                }
                if let Some(size) = size {
                    if digester.len() + chunk.len() as u64 > size {
                        return Err(size_error(digester.len() + chunk.len() as u64, size));
                    }
                }
                sink.write_all(&chunk)
                    .await
                    .map_err(|e| RegistryError::Io {
                        registry: self.inner.name.clone(),
                        repo: repo.to_owned(),
                        digest: digest.to_string(),
                        op: "write",
                        source: e,
                    })?;
                digester.update(&chunk);
                progress(digester.len());
            }
            let complete = match size {
                Some(size) => digester.len() == size,
                None => !cut,
            };
            if complete {
                return sink.flush().await.map_err(|e| RegistryError::Io {
                    registry: self.inner.name.clone(),
                    repo: repo.to_owned(),
                    digest: digest.to_string(),
                    op: "flush",
                    source: e,
                });
            }
            // Cut short: resume. Attempts count only the tries that brought
            // nothing, so a long blob over a flaky link still completes.
            if digester.len() > before {
                failures = 0;
            } else {
                failures += 1;
            }
            if failures + 1 >= self.inner.retry.attempts {
                return Err(RegistryError::Truncated {
                    registry: self.inner.name.clone(),
                    repo: repo.to_owned(),
                    digest: digest.to_string(),
                    got: digester.len(),
                    expected: size,
                    tries: failures + 1,
                });
            }
            tokio::time::sleep(self.inner.retry.delay(failures)).await;
        }
    }

    /// Whether `repo` has blob `digest` (HEAD): its size if it does.
    pub async fn blob_exists(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let repo = self.repo_path(repo)?;
        let ep = self.push_endpoint();
        let url = ep.url(&format!("/v2/{repo}/blobs/{digest}"))?;
        let object = format!("blob {digest}");
        let resp = self
            .send(
                ep,
                &[repo_scope(&repo, "pull,push")],
                "check",
                &object,
                Retry::Yes,
                |c| c.head(url.clone()),
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = self.check(resp, &repo, "check", &object).await?;
        // A HEAD's body is empty: read the header, not the body's length.
        Ok(Some(
            header_str(resp.headers(), "content-length")
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0),
        ))
    }

    /// Asks the registry to mount blob `digest` from `from_repo` into
    /// `repo` (POST ?mount=&from=). Returns false when it did not (it
    /// answered 202, starting an upload instead, which is cancelled): the
    /// caller then uploads the blob with [`Registry::upload_blob`].
    pub async fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from_repo: &str,
    ) -> Result<bool, RegistryError> {
        let repo = self.repo_path(repo)?;
        let from = self.repo_path(from_repo)?;
        let ep = self.push_endpoint();
        let mut url = ep.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", &from);
        let scopes = [repo_scope(&repo, "pull,push"), repo_scope(&from, "pull")];
        let object = format!("blob {digest} from {from}");
        let resp = self
            .send(ep, &scopes, "mount", &object, Retry::Yes, |c| {
                c.post(url.clone()).header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        let resp = self.check(resp, &repo, "mount", &object).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Ok(session) = self.location(&resp, ep, &repo, "mount") {
                    let scopes = [repo_scope(&repo, "pull,push")];
                    // Best effort: an abandoned session expires on its own.
                    let _ = self
                        .send(ep, &scopes, "cancel", &object, Retry::No, |c| {
                            c.request(Method::DELETE, session.clone())
                        })
                        .await;
                }
                Ok(false)
            }
            other => Err(RegistryError::Protocol {
                registry: self.inner.name.clone(),
                op: "mount",
                target: format!("{repo} {object}"),
                reason: format!("unexpected status {other}"),
            }),
        }
    }

    /// Uploads blob `digest` of `size` bytes read from `source` to `repo`:
    /// POST to start, PATCH chunks of `upload_chunk_size` with their
    /// Content-Range, PUT ?digest= to finish, following each answer's
    /// Location (relative or absolute). What was read must have `size`
    /// bytes and hash to `digest`, else the upload is cancelled before it
    /// is committed. The chunks are not resent after a failure.
    pub async fn upload_blob<R>(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &mut R,
    ) -> Result<(), RegistryError>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
    {
        let repo = self.repo_path(repo)?;
        let ep = self.push_endpoint();
        let scopes = [repo_scope(&repo, "pull,push")];
        let object = format!("blob {digest}");
        let start = ep.url(&format!("/v2/{repo}/blobs/uploads/"))?;
        let resp = self
            .send(ep, &scopes, "upload", &object, Retry::Yes, |c| {
                c.post(start.clone()).header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        let resp = self.check(resp, &repo, "upload", &object).await?;
        let mut location = self.location(&resp, ep, &repo, "upload")?;
        let result = self
            .upload_chunks(
                ep,
                &repo,
                digest,
                size,
                source,
                &scopes,
                &object,
                &mut location,
            )
            .await;
        if result.is_err() {
            let _ = self
                .send(ep, &scopes, "cancel", &object, Retry::No, |c| {
                    c.request(Method::DELETE, location.clone())
                })
                .await;
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn upload_chunks<R>(
        &self,
        ep: &Endpoint,
        repo: &str,
        digest: &Digest,
        size: u64,
        source: &mut R,
        scopes: &[String],
        object: &str,
        location: &mut Url,
    ) -> Result<(), RegistryError>
    where
        R: AsyncRead + Unpin + Send + ?Sized,
    {
        let mut digester = Digester::new();
        let io = |op: &'static str, e: std::io::Error| RegistryError::Io {
            registry: self.inner.name.clone(),
            repo: repo.to_owned(),
            digest: digest.to_string(),
            op,
            source: e,
        };
        loop {
            let mut buf = BytesMut::with_capacity(self.inner.chunk_size.min(1 << 24));
            while buf.len() < self.inner.chunk_size {
                let mut limited = (&mut *source).take((self.inner.chunk_size - buf.len()) as u64);
                let n = limited
                    .read_buf(&mut buf)
                    .await
                    .map_err(|e| io("read", e))?;
                if n == 0 {
                    break;
                }
            }
            if buf.is_empty() {
                break;
            }
            let chunk: Bytes = buf.freeze();
            let first = digester.len();
            let last = first + chunk.len() as u64 - 1;
            if last >= size {
                return Err(RegistryError::SizeMismatch {
                    registry: self.inner.name.clone(),
                    repo: repo.to_owned(),
                    digest: digest.to_string(),
                    expected: size,
                    got: last + 1,
                });
            }
            digester.update(&chunk);
            let url = location.clone();
            let resp = self
                .send(ep, scopes, "upload", object, Retry::No, |c| {
                    c.patch(url.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .header(header::CONTENT_RANGE, format!("{first}-{last}"))
                        .header(header::CONTENT_LENGTH, chunk.len().to_string())
                        .body(chunk.clone())
                })
                .await?;
            let resp = self.check(resp, repo, "upload", object).await?;
            *location = self.location(&resp, ep, repo, "upload")?;
        }
        if digester.len() != size {
            return Err(RegistryError::SizeMismatch {
                registry: self.inner.name.clone(),
                repo: repo.to_owned(),
                digest: digest.to_string(),
                expected: size,
                got: digester.len(),
            });
        }
        let actual = digester.finish();
        if actual.as_ref() != Some(digest) {
            let actual = actual.map_or_else(String::new, |a| a.to_string());
            return Err(RegistryError::invalid(
                "blob upload",
                digest.to_string(),
                format!("the content read hashes to {actual}"),
            ));
        }
        let mut url = location.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let resp = self
            .send(ep, scopes, "upload", object, Retry::No, |c| {
                c.put(url.clone()).header(header::CONTENT_LENGTH, "0")
            })
            .await?;
        self.check(resp, repo, "upload", object).await.map(drop)
    }

    /// Pushes a manifest under `reference` (a tag or its digest) with its
    /// media type as Content-Type. Returns its digest.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: Bytes,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        let repo = self.repo_path(repo)?;
        parse_reference(reference)?;
        let digest = Digest::of(&bytes);
        let ep = self.push_endpoint();
        let url = ep.url(&format!("/v2/{repo}/manifests/{reference}"))?;
        let object = format!("manifest {reference}");
        let resp = self
            .send(
                ep,
                &[repo_scope(&repo, "pull,push")],
                "push",
                &object,
                Retry::Yes,
                |c| {
                    c.put(url.clone())
                        .header(header::CONTENT_TYPE, media_type)
                        .body(bytes.clone())
                },
            )
            .await?;
        let resp = self.check(resp, &repo, "push", &object).await?;
        if let Some(theirs) = header_str(resp.headers(), "docker-content-digest") {
            if theirs != digest.as_str() {
                return Err(RegistryError::DigestMismatch {
                    registry: self.inner.name.clone(),
                    repo,
                    object,
                    expected: digest.to_string(),
                    actual: theirs.to_owned(),
                });
            }
        }
        Ok(digest)
    }

    // ---- plumbing ----

    /// Manifest `reference` (a tag or a digest) of `repo`, named as both manifest requests
    /// name it.
    fn manifest_target(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<ManifestTarget, RegistryError> {
        let repo = self.repo_path(repo)?;
        let by_digest = parse_reference(reference)?;
        Ok(ManifestTarget {
            path: format!("/v2/{repo}/manifests/{reference}"),
            scopes: [repo_scope(&repo, "pull")],
            object: format!("manifest {reference}"),
            repo,
            by_digest,
        })
    }

    /// `method` (GET to fetch, HEAD to check; `op` says which in errors) on `target` at `ep`,
    /// with the Accept list of [`media_type::ACCEPT_MANIFESTS`]: the response once it is a
    /// success.
    async fn request_manifest(
        &self,
        ep: &Endpoint,
        target: &ManifestTarget,
        method: Method,
        op: &'static str,
    ) -> Result<reqwest::Response, RegistryError> {
        let url = ep.url(&target.path)?;
        let resp = self
            .send(ep, &target.scopes, op, &target.object, Retry::Yes, |c| {
                c.request(method.clone(), url.clone())
                    .header(header::ACCEPT, media_type::ACCEPT_MANIFESTS)
            })
            .await?;
        self.check(resp, &target.repo, op, &target.object).await
    }

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

    fn location(
        &self,
        resp: &reqwest::Response,
        ep: &Endpoint,
        repo: &str,
        op: &'static str,
    ) -> Result<Url, RegistryError> {
        let protocol = |reason: String| RegistryError::Protocol {
            registry: self.inner.name.clone(),
            op,
            target: repo.to_owned(),
            reason,
        };
        let loc = header_str(resp.headers(), "location")
            .ok_or_else(|| protocol("the answer has no Location header".into()))?;
        // Relative locations resolve against the URL that answered.
        let base = resp.url().clone();
        let url = base
            .join(loc)
            .or_else(|_| ep.base.join(loc))
            .map_err(|e| protocol(format!("bad Location {loc:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(protocol(format!("Location {loc:?} is not http(s)")));
        }
        Ok(url)
    }

    /// The Authorization value for `scopes` at `ep`, as its last challenge
    /// asked (none before the first challenge).
    async fn authorization(
        &self,
        ep: &Endpoint,
        scopes: &str,
    ) -> Result<Option<String>, RegistryError> {
        let challenge = {
            let challenges = self
                .inner
                .challenges
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            challenges.get(&ep.key()).cloned()
        };
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(self
                .inner
                .creds
                .as_ref()
                .and_then(Credentials::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = ep.key();
                if let Some(token) = self.inner.tokens.get(&key, scopes) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let token = self
                    .inner
                    .tokens
                    .fetch(
                        &self.inner.http,
                        &self.inner.name,
                        &key,
                        &realm,
                        service.as_deref(),
                        scopes,
                        self.inner.creds.as_ref(),
                    )
                    .await?;
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// Sends a request built by `build` (called again for every try),
    /// with authorization, the 401 challenge dance and retries.
    async fn send(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        op: &'static str,
        target: &str,
        retry: Retry,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut scopes: Vec<String> = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let mut scope_key = scopes.join(" ");
        let mut challenged = false;
        let mut tries = 0u32;
        let attempts = match retry {
            Retry::Yes => self.inner.retry.attempts,
            Retry::No => 1,
        };
        loop {
            let auth = self.authorization(ep, &scope_key).await?;
            let mut request = build(&self.inner.http);
            if let Some(auth) = auth {
                request = request.header(header::AUTHORIZATION, auth);
            }
            tries += 1;
            let resp = match request.send().await {
                Ok(resp) => resp,
                Err(e)
                    if tries < attempts && (e.is_connect() || e.is_timeout() || e.is_request()) =>
                {
                    tokio::time::sleep(self.inner.retry.delay(tries - 1)).await;
                    continue;
                }
                Err(e) => {
                    return Err(RegistryError::Transport {
                        registry: self.inner.name.clone(),
                        op,
                        target: target.to_owned(),
                        source: e,
                    })
                }
            };
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let header = resp
                    .headers()
                    .get_all(header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(", ");
                let challenge = parse_challenges(&header)
                    .into_iter()
                    .min_by_key(|c| matches!(c, Challenge::Basic { .. }));
                let Some(challenge) = challenge else {
                    return Ok(resp);
                };
                if let Challenge::Bearer {
                    scope: Some(extra), ..
                } = &challenge
                {
                    // Add what the challenge names for resources we did not
                    // ask about (our own actions win for those we did), so
                    // the cache key of the next request stays the same.
                    let resource = |s: &str| s.rsplit_once(':').map(|(r, _)| r.to_owned());
                    for s in extra.split(' ').filter(|s| !s.is_empty()) {
                        if !scopes.iter().any(|have| resource(have) == resource(s)) {
                            scopes.push(s.to_owned());
                        }
                    }
                    scopes.sort();
                    scope_key = scopes.join(" ");
                }
                if matches!(challenge, Challenge::Basic { .. }) && self.inner.creds.is_none() {
                    return Ok(resp);
                }
                self.inner.tokens.forget(&ep.key(), &scope_key);
                self.inner
                    .challenges
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(ep.key(), challenge);
                continue;
            }
            let transient = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if transient && tries < attempts {
                let wait = retry_after(resp.headers())
                    .unwrap_or_else(|| self.inner.retry.delay(tries - 1))
                    .min(self.inner.retry.max_delay);
                drop(resp);
                tokio::time::sleep(wait).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Turns a non-2xx answer into its typed error.
    async fn check(
        &self,
        resp: reqwest::Response,
        repo: &str,
        op: &'static str,
        object: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = read_limited(resp, 64 << 10).await.unwrap_or_default();
        let remote = Box::new(parse_remote(status.as_u16(), &body));
        let registry = self.inner.name.clone();
        let repo = repo.to_owned();
        let unknown = matches!(
            remote.code,
            Some(ErrorCode::BlobUnknown | ErrorCode::ManifestUnknown | ErrorCode::NameUnknown)
        );
        Err(match status.as_u16() {
            404 => RegistryError::NotFound {
                registry,
                repo,
                object: object.to_owned(),
                remote,
            },
            _ if unknown => RegistryError::NotFound {
                registry,
                repo,
                object: object.to_owned(),
                remote,
            },
            401 | 403 => RegistryError::Unauthorized {
                registry,
                scope: repo,
                remote,
            },
            _ => RegistryError::Status {
                registry,
                repo,
                op,
                remote,
            },
        })
    }
}

/// `Retry-After` in seconds, when the registry sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, "retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    if end < start {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((start, total))
}

/// Reads a whole (small) body, refusing one longer than `limit`.
async fn read_limited(resp: reqwest::Response, limit: usize) -> Result<Bytes, String> {
    if resp.content_length().is_some_and(|l| l > limit as u64) {
        return Err(format!("the body is larger than {limit} bytes"));
    }
    let mut out = BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {e}"))?;
        if out.len() + chunk.len() > limit {
            return Err(format!("the body is larger than {limit} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

/// A tag, or a digest (returned parsed).
fn parse_reference(reference: &str) -> Result<Option<Digest>, RegistryError> {
    if reference.contains(':') {
        return Digest::parse(reference).map(Some);
    }
    let ok = !reference.is_empty()
        && reference.len() <= 128
        && reference
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(None)
    } else {
        Err(RegistryError::invalid(
            "tag",
            reference,
            "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with . or -",
        ))
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

/// A registry host: `name[:port]` or `[v6]:port`, lowercase for DNS names.
fn validate_host(host: &str) -> Result<String, RegistryError> {
    let bad = |reason: &str| Err(RegistryError::invalid("registry host", host, reason));
    if host.is_empty() || host.len() > 255 {
        return bad("must be 1 to 255 characters");
    }
    if host.contains("://") || host.contains('/') {
        return bad("give the host (and port) only, without scheme or path");
    }
    let (name, port) = split_host_port(host);
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            return bad("the port is not a number below 65536");
        }
    }
    if name.parse::<IpAddr>().is_err()
        && !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
    {
        return bad("not a DNS name or IP address");
    }
    if is_docker_hub(host) {
        return Ok(DOCKER_HUB.to_owned());
    }
    Ok(host.to_ascii_lowercase())
}

/// `[::1]:5000` -> (`::1`, Some(`5000`)); `a:5000` -> (`a`, Some(`5000`)).
fn split_host_port(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        if let Some((addr, after)) = rest.split_once(']') {
            return (addr, after.strip_prefix(':'));
        }
        return (rest, None);
    }
    match host.rsplit_once(':') {
        // Bare IPv6 without brackets: no port.
        Some((name, _)) if name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// Whether `host` is spoken to over plain HTTP.
fn is_plain_http(host: &str, insecure: &[String]) -> bool {
    let (name, _) = split_host_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let ip = name.parse::<IpAddr>().ok();
    if ip.is_some_and(|ip| ip.is_loopback()) {
        return true;
    }
    insecure.iter().any(|entry| {
        let entry = entry.trim();
        if entry.eq_ignore_ascii_case(host)
            || (!entry.contains(':') && entry.eq_ignore_ascii_case(name))
        {
            return true;
        }
        match (ip, entry.split_once('/')) {
            (Some(ip), Some((net, bits))) => cidr_contains(net, bits, ip),
            _ => false,
        }
    })
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    let (a, b, width) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (a >> shift) == (b >> shift)
}

/// The pull endpoints (mirrors first) and the push endpoint.
fn resolve_endpoints(
    name: &str,
    options: &RegistryOptions,
) -> Result<(Vec<Endpoint>, Endpoint), RegistryError> {
    let mut endpoints = Vec::new();
    if name == DOCKER_HUB {
        for mirror in &options.mirrors {
            let mut url = Url::parse(mirror).map_err(|e| {
                RegistryError::invalid("registry mirror", mirror.clone(), e.to_string())
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(RegistryError::invalid(
                    "registry mirror",
                    mirror.clone(),
                    "must be an http(s) URL",
                ));
            }
            url.set_query(None);
            url.set_fragment(None);
            endpoints.push(Endpoint { base: url });
        }
        let base = Url::parse(DOCKER_HUB_ENDPOINT)
            .map_err(|e| RegistryError::invalid("registry", name, e.to_string()))?;
        let own = Endpoint { base };
        endpoints.push(own.clone());
        return Ok((endpoints, own));
    }
    let scheme = if is_plain_http(name, &options.insecure_registries) {
        "http"
    } else {
        "https"
    };
    let base = Url::parse(&format!("{scheme}://{name}/"))
        .map_err(|e| RegistryError::invalid("registry host", name, e.to_string()))?;
    let own = Endpoint { base };
    endpoints.push(own.clone());
    Ok((endpoints, own))
}

/// The CA certificates in `dir/*.crt`; unreadable ones are skipped (a
/// registry whose CA is missing then fails its TLS handshake, which names it).
fn load_certs(dir: &std::path::Path) -> Vec<reqwest::Certificate> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "crt"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|pem| reqwest::Certificate::from_pem(&pem).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_schemes() {
        let opts = RegistryOptions {
            insecure_registries: vec![
                "reg.lan:5000".into(),
                "10.0.0.0/8".into(),
                "plain.lan".into(),
            ],
            mirrors: vec![
                "http://127.0.0.1:5001".into(),
                "https://mirror.example/prefix/".into(),
            ],
            ..Default::default()
        };
        let urls = |host: &str| {
            Registry::new(host, None, &opts)
                .unwrap()
                .endpoints()
                .iter()
                .map(|u| u.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            urls("docker.io"),
            [
                "http://127.0.0.1:5001/",
                "https://mirror.example/prefix/",
                "https://registry-1.docker.io/"
            ]
        );
        assert_eq!(
            Registry::new("index.docker.io", None, &opts)
                .unwrap()
                .name(),
            "docker.io"
        );
        assert_eq!(urls("localhost:5000"), ["http://localhost:5000/"]);
        assert_eq!(urls("127.3.4.5:80"), ["http://127.3.4.5/"]);
        assert_eq!(urls("[::1]:5000"), ["http://[::1]:5000/"]);
        assert_eq!(urls("reg.lan:5000"), ["http://reg.lan:5000/"]);
        assert_eq!(urls("reg.lan:6000"), ["https://reg.lan:6000/"]);
        assert_eq!(urls("plain.lan:7000"), ["http://plain.lan:7000/"]);
        assert_eq!(urls("10.1.2.3:5000"), ["http://10.1.2.3:5000/"]);
        assert_eq!(urls("11.1.2.3:5000"), ["https://11.1.2.3:5000/"]);
        assert_eq!(urls("Quay.IO"), ["https://quay.io/"]);
        for bad in ["", "http://x", "x/y", "x:99999", "a b"] {
            assert!(Registry::new(bad, None, &opts).is_err(), "{bad}");
        }
        let ep = Endpoint {
            base: Url::parse("https://mirror.example/prefix/").unwrap(),
        };
        assert_eq!(
            ep.url("/v2/").unwrap().as_str(),
            "https://mirror.example/prefix/v2/"
        );
    }

    #[test]
    fn names_and_references() {
        for ok in ["busybox", "library/busybox", "a/b-c/d__e", "a.b_c"] {
            assert!(validate_repo(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Upper", "a//b", "-a", "a-", "a/b/", "a b"] {
            assert!(validate_repo(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_reference("latest").unwrap(), None);
        assert!(parse_reference(".hidden").is_err());
        assert!(parse_reference("sha256:abc").is_err());
        let d = Digest::of(b"x");
        assert_eq!(parse_reference(d.as_str()).unwrap(), Some(d));
        let hub = Registry::new("docker.io", None, &RegistryOptions::default()).unwrap();
        assert_eq!(hub.repo_path("busybox").unwrap(), "library/busybox");
        assert_eq!(hub.repo_path("me/app").unwrap(), "me/app");
    }

    #[test]
    fn content_range_and_backoff() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(parse_content_range("bytes 9-1/100"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
        let p = RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
        };
        assert_eq!(p.delay(0), Duration::from_millis(100));
        assert_eq!(p.delay(1), Duration::from_millis(200));
        assert_eq!(p.delay(2), Duration::from_millis(350));
        assert_eq!(p.delay(40), Duration::from_millis(350));
    }
}
