//! Content digests (`sha256:<64 hex>`) and the running hasher a blob
//! download feeds. Only sha256 is accepted: it is what every registry and
//! the OCI image spec require implementations to support, and a digest in
//! another algorithm cannot be verified here, so it is refused up front.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::RegistryError;

/// A validated `sha256:<64 lowercase hex>` content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, RegistryError> {
        let Some(hex) = s.strip_prefix("sha256:") else {
            return Err(RegistryError::invalid(
                "digest",
                s,
                "only sha256:<hex> digests are supported",
            ));
        };
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(RegistryError::invalid(
                "digest",
                s,
                "expected 64 lowercase hex digits after sha256:",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The sha256 digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(data))))
    }

    /// The whole digest, `sha256:...`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part, as content stores name their files.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Digest {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A running sha256 over a blob, with the count of bytes fed so far.
///
/// [`crate::Registry::fetch_blob`] takes one: a fresh `Digester` downloads
/// from byte 0; one already fed with the first N bytes of a partial ingest
/// resumes the download at offset N and still verifies the whole blob.
/// One made by [`Digester::unverified`] only counts: for a caller whose
/// sink verifies the digest itself (berth's content store hashes what it
/// ingests), so the bytes are not hashed twice.
#[derive(Clone)]
pub struct Digester {
    /// `None`: counting only, the sink verifies.
    hasher: Option<Sha256>,
    len: u64,
}

impl Default for Digester {
    fn default() -> Self {
        Digester {
            hasher: Some(Sha256::new()),
            len: 0,
        }
    }
}

impl fmt::Debug for Digester {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Digester").field("len", &self.len).finish()
    }
}

impl Digester {
    pub fn new() -> Self {
        Self::default()
    }

    /// A digester that counts bytes without hashing them, starting at
    /// `offset` (a resumed download): [`crate::Registry::fetch_blob`] then
    /// checks the size but leaves the digest to the sink.
    pub fn unverified(offset: u64) -> Self {
        Digester {
            hasher: None,
            len: offset,
        }
    }

    /// Whether the bytes are hashed (and the digest checked).
    pub fn verifies(&self) -> bool {
        self.hasher.is_some()
    }

    /// Feeds the next bytes of the blob.
    pub fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.len += data.len() as u64;
    }

    /// How many bytes were fed.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest of everything fed; `None` for an [`Digester::unverified`] one.
    pub fn finish(self) -> Option<Digest> {
        self.hasher
            .map(|h| Digest(format!("sha256:{}", hex::encode(h.finalize()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_hashes() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        assert_eq!(d.hex().len(), 64);
        assert!(Digest::parse("sha512:abcd").is_err());
        assert!(Digest::parse("sha256:ABCDEF").is_err());
        assert!(Digest::parse(&d.as_str().to_uppercase()).is_err());
    }

    #[test]
    fn digester_resumes() {
        let mut a = Digester::new();
        a.update(b"hello ");
        let mut b = a.clone();
        b.update(b"world");
        assert_eq!(b.len(), 11);
        assert_eq!(b.finish(), Some(Digest::of(b"hello world")));
        let mut c = Digester::unverified(6);
        c.update(b"world");
        assert!(!c.verifies());
        assert_eq!(c.len(), 11);
        assert_eq!(c.finish(), None);
    }
}
