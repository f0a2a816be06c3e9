//! Manifests: fetched by tag or digest (verified against the digest asked
//! for or the registry's Docker-Content-Digest), checked with HEAD, pushed.

use bytes::Bytes;
use reqwest::header;
use reqwest::Method;

use berth_oci::{Descriptor, Digest};

use super::endpoint::Endpoint;
use super::transport::{header_str, read_limited, Retry};
use super::Registry;
use crate::auth::repo_scope;
use crate::error::RegistryError;
use crate::media_type;

/// Manifests larger than this are refused (containerd's limit too).
const MAX_MANIFEST_SIZE: usize = 4 << 20;

/// A fetched manifest: its bytes as the registry sent them, its media type
/// and its (verified) digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
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

impl Registry {
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
                    return Ok(Descriptor::new(&media_type, digest, size))
                }
                Ok(_) => {
                    let m = self.get_manifest(repo, reference).await?;
                    return Ok(Descriptor::new(
                        &m.media_type,
                        m.digest,
                        m.bytes.len() as u64,
                    ));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| self.no_endpoint()))
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
}

/// A tag, or a digest (returned parsed).
pub(super) fn parse_reference(reference: &str) -> Result<Option<Digest>, RegistryError> {
    if reference.contains(':') {
        return Ok(Some(Digest::parse(reference)?));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests() {
        assert_eq!(parse_reference("latest").unwrap(), None);
        assert!(parse_reference(".hidden").is_err());
        assert!(parse_reference("sha256:abc").is_err());
        let d = Digest::of(b"x");
        assert_eq!(parse_reference(d.as_str()).unwrap(), Some(d));
    }
}
