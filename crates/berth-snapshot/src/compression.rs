//! Layer compression: gzip, zstd or none, told by the media type when the
//! caller knows it and by the stream's first bytes otherwise, and a reader
//! that decompresses as it is read (nothing is buffered beyond one input
//! buffer, so a layer streams straight from the network or the content
//! store into the unpack).

use std::io::{self, BufReader, Read};

/// Size of the buffer between the compressed source and the decoder.
const INPUT_BUFFER: usize = 1 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// The compression an OCI or Docker layer media type names, or `None`
    /// when the media type is not a layer type this crate knows.
    ///
    /// ```
    /// use berth_snapshot::Compression;
    /// assert_eq!(
    ///     Compression::from_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
    ///     Some(Compression::Zstd)
    /// );
    /// ```
    pub fn from_media_type(media_type: &str) -> Option<Compression> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => Some(Compression::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => {
                Some(Compression::Gzip)
            }
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd" => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }

    /// The compression the first bytes of a stream show (anything that is
    /// neither gzip nor zstd is taken as a plain tar).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A reader that yields the uncompressed bytes of a layer blob.
pub struct Decompressor<R: Read> {
    inner: Inner<R>,
    compression: Compression,
}

/// The source with the bytes read for detection put back in front.
type Source<R> = BufReader<io::Chain<io::Cursor<Vec<u8>>, R>>;

enum Inner<R: Read> {
    Plain(Source<R>),
    Gzip(Box<flate2::bufread::MultiGzDecoder<Source<R>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, Source<R>>>),
}

impl<R: Read> std::fmt::Debug for Decompressor<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decompressor<R> {
    /// Wraps `source`. With `known` (from the media type) the stream is
    /// decoded as told; without it, the first bytes decide.
    pub fn new(mut source: R, known: Option<Compression>) -> io::Result<Self> {
        // Read the magic bytes one read at a time until there are enough or
        // the stream ends: a short read does not mean the end of a stream.
        let mut head = Vec::with_capacity(ZSTD_MAGIC.len());
        if known.is_none() {
            let mut buf = [0u8; ZSTD_MAGIC.len()];
            while head.len() < buf.len() {
                match source.read(&mut buf[head.len()..]) {
                    Ok(0) => break,
                    Ok(n) => head.extend_from_slice(&buf[head.len()..head.len() + n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let compression = known.unwrap_or_else(|| Compression::detect(&head));
        let buffered = BufReader::with_capacity(INPUT_BUFFER, io::Cursor::new(head).chain(source));
        let inner = match compression {
            Compression::None => Inner::Plain(buffered),
            Compression::Gzip => {
                Inner::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(buffered)))
            }
            Compression::Zstd => {
                // libzstd's default window limit (2^27, 128 MiB) stays in
                // force: a frame asking for more is refused, which bounds the
                // decoder's memory whatever the blob claims.
                let dec = zstd::stream::read::Decoder::with_buffer(buffered)?;
                Inner::Zstd(Box::new(dec))
            }
        };
        Ok(Decompressor { inner, compression })
    }

    /// The compression in use.
    pub fn compression(&self) -> Compression {
        self.compression
    }
}

impl<R: Read> Read for Decompressor<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(r) => r.read(buf),
            Inner::Gzip(r) => r.read(buf),
            Inner::Zstd(r) => r.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn detects_and_decodes() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        for (blob, want) in [
            (gz.clone(), Compression::Gzip),
            (zst, Compression::Zstd),
            (data.clone(), Compression::None),
        ] {
            let mut d = Decompressor::new(&blob[..], None).unwrap();
            assert_eq!(d.compression(), want);
            let mut out = Vec::new();
            d.read_to_end(&mut out).unwrap();
            assert_eq!(out, data);
        }
        // The media type wins over the bytes.
        let mut d = Decompressor::new(&gz[..], Some(Compression::None)).unwrap();
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, gz);
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Some(Compression::Gzip)
        );
        assert_eq!(Compression::from_media_type("text/plain"), None);
    }
}
