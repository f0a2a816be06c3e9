//! Content digests (`sha256:<64 lowercase hex>`), validated as go-digest
//! validates them, and a writer that hashes what passes through it.
//!
//! Only sha256 is supported, as in docker: any other well-formed algorithm
//! is "unsupported digest algorithm", a malformed string is "invalid
//! checksum digest format", a sha256 with the wrong number of hex digits is
//! "invalid checksum digest length" (go-digest's messages, which docker
//! prints as they are).
//!
//! [`Digester`] is the running hash of a blob being received (a registry
//! download resumes from one already fed with a partial ingest);
//! [`DigestWriter`] puts one in front of a writer.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// A digest string that go-digest would refuse. The messages are go-digest's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("invalid checksum digest format")]
    InvalidFormat { input: String },
    #[error("invalid checksum digest length")]
    InvalidLength { input: String },
    #[error("unsupported digest algorithm")]
    Unsupported { input: String },
}

impl DigestError {
    /// The string that was refused.
    pub fn input(&self) -> &str {
        match self {
            DigestError::InvalidFormat { input }
            | DigestError::InvalidLength { input }
            | DigestError::Unsupported { input } => input,
        }
    }
}

/// The only algorithm berth stores content under.
pub const SHA256: &str = "sha256";

/// A validated `sha256:<hex>` digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        // go-digest: an algorithm, a colon, and something after it.
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::InvalidFormat { input: s.into() });
        };
        if algorithm.is_empty() || encoded.is_empty() {
            return Err(DigestError::InvalidFormat { input: s.into() });
        }
        if algorithm != SHA256 {
            // An unknown algorithm is "unsupported" only when the whole string
            // still has the shape of a digest.
            return if well_formed(algorithm, encoded) {
                Err(DigestError::Unsupported { input: s.into() })
            } else {
                Err(DigestError::InvalidFormat { input: s.into() })
            };
        }
        if encoded.len() != 64 {
            return Err(DigestError::InvalidLength { input: s.into() });
        }
        if !encoded
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(DigestError::InvalidFormat { input: s.into() });
        }
        Ok(Digest(s.to_owned()))
    }

    /// Parses a bare 64-hex sha256 (as image ids are often written).
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        Self::parse(&format!("{SHA256}:{hex}"))
    }

    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(data).into())
    }

    /// Reads `reader` to its end and returns its digest and length.
    pub fn of_reader(mut reader: impl Read) -> io::Result<(Self, u64)> {
        let mut w = DigestWriter::new(io::sink());
        io::copy(&mut reader, &mut w)?;
        Ok(w.finish().1)
    }

    fn from_sha256(bytes: [u8; 32]) -> Self {
        let mut s = String::with_capacity(71);
        s.push_str("sha256:");
        for b in bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        Digest(s)
    }

    /// `sha256`.
    pub fn algorithm(&self) -> &str {
        SHA256
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0[SHA256.len() + 1..]
    }

    /// The first 12 hex digits, as `docker images` shows image ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// go-digest's DigestRegexp: `[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`.
fn well_formed(algorithm: &str, encoded: &str) -> bool {
    let alg_ok = algorithm.split(['.', '+', '_', '-']).all(|part| {
        !part.is_empty() && part.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
    });
    let enc_ok = encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    alg_ok && enc_ok
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A running sha256 over a blob, with the count of bytes fed so far.
///
/// A registry download takes one: a fresh `Digester` downloads from byte 0;
/// one already fed with the first N bytes of a partial ingest resumes the
/// download at offset N and still verifies the whole blob.
#[derive(Clone, Default)]
pub struct Digester {
    hasher: Sha256,
    len: u64,
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

    /// Feeds the next bytes of the blob.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
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

    /// The digest of what was fed so far, without consuming the hasher.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().into())
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }
}

/// A writer that hashes (sha256) and counts every byte written through it to
/// `inner`.
#[derive(Debug)]
pub struct DigestWriter<W> {
    inner: W,
    digester: Digester,
}

impl<W: Write> DigestWriter<W> {
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            digester: Digester::new(),
        }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.digester.len()
    }

    /// The digest of what was written so far, without consuming the writer.
    pub fn digest(&self) -> Digest {
        self.digester.digest()
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Returns the inner writer, the digest and the byte count.
    pub fn finish(self) -> (W, (Digest, u64)) {
        let n = self.digester.len();
        (self.inner, (self.digester.finish(), n))
    }

    /// Hashes bytes that are already in the destination (a resumed ingest)
    /// without writing them again.
    pub fn absorb(&mut self, data: &[u8]) {
        self.digester.update(data);
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn hashes_known_values() {
        assert_eq!(Digest::of(b"").as_str(), EMPTY);
        let (d, n) = Digest::of_reader(&b"hello"[..]).unwrap();
        assert_eq!(
            d.hex(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(n, 5);
        assert_eq!(d.short(), "2cf24dba5fb0");
    }

    #[test]
    fn validation_messages_are_go_digest_s() {
        let f = |s: &str| Digest::parse(s).unwrap_err().to_string();
        assert!(Digest::parse(EMPTY).is_ok());
        assert_eq!(f("sha256"), "invalid checksum digest format");
        assert_eq!(f(":abc"), "invalid checksum digest format");
        assert_eq!(f("sha256:"), "invalid checksum digest format");
        assert_eq!(f("sha256:abc"), "invalid checksum digest length");
        assert_eq!(f(&format!("{EMPTY}00")), "invalid checksum digest length");
        // Upper-case hex is not allowed by the OCI spec's sha256 encoding.
        assert_eq!(
            f(&EMPTY.to_uppercase().replacen("SHA256", "sha256", 1)),
            "invalid checksum digest format"
        );
        assert_eq!(
            f("sha256:zzzzc44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "invalid checksum digest format"
        );
        assert_eq!(f("sha512:abcd"), "unsupported digest algorithm");
        assert_eq!(
            f("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
            "unsupported digest algorithm"
        );
        assert_eq!(f("Sha256:abcd"), "invalid checksum digest format");
        assert_eq!(f("sha256:ab cd"), "invalid checksum digest length");
        assert!(Digest::from_hex(&EMPTY[7..]).is_ok());
    }

    #[test]
    fn serde_round_trip() {
        let d = Digest::of(b"x");
        let j = serde_json::to_string(&d).unwrap();
        assert_eq!(j, format!("\"{d}\""));
        assert_eq!(serde_json::from_str::<Digest>(&j).unwrap(), d);
        assert!(serde_json::from_str::<Digest>("\"sha256:12\"").is_err());
    }

    #[test]
    fn writer_hashes_what_it_writes() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        assert_eq!(w.written(), 5);
        assert_eq!(w.digest(), Digest::of(b"hello"));
        let (buf, (d, n)) = w.finish();
        assert_eq!(buf, b"hello");
        assert_eq!((d, n), (Digest::of(b"hello"), 5));
    }

    #[test]
    fn digester_resumes() {
        let mut a = Digester::new();
        a.update(b"hello ");
        let mut b = a.clone();
        b.update(b"world");
        assert_eq!(b.len(), 11);
        assert_eq!(b.digest(), Digest::of(b"hello world"));
        assert_eq!(b.finish(), Digest::of(b"hello world"));
        assert!(Digester::new().is_empty());
    }
}
