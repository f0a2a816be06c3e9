//! Sending a request: authorization, the 401 challenge dance and retries
//! with backoff; turning a non-2xx answer into its typed error; the small
//! helpers every request shares (headers, bounded bodies, Location).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt as _;
use reqwest::header::{self, HeaderMap};
use reqwest::{StatusCode, Url};

use super::endpoint::Endpoint;
use super::Registry;
use crate::error::{parse_remote, ErrorCode, RegistryError};

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
    pub(super) fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// A request-sending retry mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Retry {
    /// Safe to send again: GET, HEAD, the POST that starts an upload.
    Yes,
    /// Not safe (upload PATCH and PUT): only the 401 re-send happens.
    No,
}

impl Registry {
    /// Sends a request built by `build` (called again for every try),
    /// with authorization, the 401 challenge dance and retries.
    pub(super) async fn send(
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
                if self.learn_challenge(ep, &resp, &mut scopes, &mut scope_key) {
                    continue;
                }
                return Ok(resp);
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
    pub(super) async fn check(
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

    pub(super) fn location(
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
}

/// `Retry-After` in seconds, when the registry sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_str(headers, "retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads a whole (small) body, refusing one longer than `limit`.
pub(super) async fn read_limited(resp: reqwest::Response, limit: usize) -> Result<Bytes, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff() {
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
