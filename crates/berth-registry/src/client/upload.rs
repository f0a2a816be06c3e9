//! Pushing blobs: the existence check, cross-repository mounts, and
//! chunked uploads (POST, PATCH chunks with their Content-Range, PUT
//! ?digest=), cancelled when what was read is not the blob announced.

use bytes::{Bytes, BytesMut};
use reqwest::header;
use reqwest::{Method, StatusCode, Url};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use berth_oci::{Digest, Digester};

use super::endpoint::Endpoint;
use super::transport::{header_str, Retry};
use super::Registry;
use crate::auth::repo_scope;
use crate::error::RegistryError;

impl Registry {
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
        if &actual != digest {
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
}
