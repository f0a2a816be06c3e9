//! Blob downloads into the caller's sink: resumed with `Range` after a cut
//! (also from a partial ingest the caller already holds), size and digest
//! verified, bounded in number per registry.

use futures_util::StreamExt as _;
use reqwest::header;
use reqwest::StatusCode;
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use berth_oci::{Digest, Digester};

use super::endpoint::Endpoint;
use super::transport::{header_str, Retry};
use super::Registry;
use crate::auth::repo_scope;
use crate::error::RegistryError;

/// What a download feeds the bytes it receives to.
enum Fed {
    /// Hashed, and the digest checked at the end.
    Hashing(Digester),
    /// Counted only: the sink verifies the digest ([`Registry::fetch_blob_unverified`]).
    Counting(u64),
}

impl Fed {
    fn len(&self) -> u64 {
        match self {
            Fed::Hashing(d) => d.len(),
            Fed::Counting(n) => *n,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Fed::Hashing(d) => d.update(data),
            Fed::Counting(n) => *n += data.len() as u64,
        }
    }
}

impl Registry {
    /// Downloads blob `digest` of `repo` into `sink`, from the offset
    /// `digester.len()`: pass a fresh [`Digester`] to start at byte 0, or
    /// one fed with the first N bytes of a partial ingest to resume it.
    /// `size` is the descriptor's size when known (a blob that ends short
    /// of it is resumed, one that goes past it is refused).
    ///
    /// A cut connection is resumed with `Range: bytes=N-` (a registry that
    /// ignores Range and answers 200 has its first N bytes skipped);
    /// `progress` is called with the bytes so far after every chunk. At the
    /// end the whole blob's size and digest are checked: on a mismatch the
    /// bytes in the sink are wrong and the caller must discard them.
    /// Returns the blob's size. At most `max_concurrent_downloads` run at
    /// once per [`Registry`]; the others wait here.
    pub async fn fetch_blob<W>(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        digester: Digester,
        sink: &mut W,
        progress: impl FnMut(u64) + Send,
    ) -> Result<u64, RegistryError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        self.fetch(repo, digest, size, Fed::Hashing(digester), sink, progress)
            .await
    }

    /// [`Registry::fetch_blob`] for a sink that hashes what it receives and
    /// checks the digest itself (berth's content store does at commit):
    /// the bytes are counted, not hashed a second time. Starts at `offset`
    /// (the bytes of a partial ingest the sink holds already); the size is
    /// still checked.
    pub async fn fetch_blob_unverified<W>(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        offset: u64,
        sink: &mut W,
        progress: impl FnMut(u64) + Send,
    ) -> Result<u64, RegistryError>
    where
        W: AsyncWrite + Unpin + Send + ?Sized,
    {
        self.fetch(repo, digest, size, Fed::Counting(offset), sink, progress)
            .await
    }

    async fn fetch<W>(
        &self,
        repo: &str,
        digest: &Digest,
        size: Option<u64>,
        digester: Fed,
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
                    let Fed::Hashing(hashed) = digester else {
                        return Ok(got);
                    };
                    let actual = hashed.finish();
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
        digester: &mut Fed,
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
}

/// `bytes START-END/TOTAL` (TOTAL may be `*`).
pub(super) fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("bytes 10-99/100"),
            Some((10, Some(100)))
        );
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, None)));
        assert_eq!(parse_content_range("bytes 9-1/100"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }
}
