//! A snapshot's own changes as a layer tar (for `docker commit` and
//! `docker save` later): the overlay upper directory walked in name order,
//! overlay whiteouts (0:0 character devices) written back as OCI `.wh.NAME`
//! entries and opaque directories (`trusted.overlay.opaque=y`) as
//! `.wh..wh..opq` entries. As docker does, the only extended attribute kept
//! is `security.capability`; sockets are skipped. The stream is hashed as it
//! is written, so its diff ID comes back with it.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::SnapshotError;

/// What [`export_diff`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportResult {
    /// `sha256:<hex>` of the tar stream written.
    pub diff_id: String,
    /// Bytes of the tar stream written.
    pub tar_size: u64,
}

/// Writes the tree `dir` (an overlay upper directory) to `out` as an
/// uncompressed layer tar with OCI whiteouts. Wrap `out` in an encoder to
/// compress.
pub fn export_diff<W: Write>(dir: &Path, out: W) -> Result<ExportResult, SnapshotError> {
    let hashing = HashingWriter {
        inner: out,
        hasher: Sha256::new(),
        count: 0,
    };
    let mut builder = tar::Builder::new(hashing);
    let mut links = HashMap::new();
    walk(&mut builder, dir, Path::new(""), &mut links)?;
    let tar_err = |e| SnapshotError::io("write the layer tar of", dir, e);
    builder.finish().map_err(tar_err)?;
    let hashing = builder.into_inner().map_err(tar_err)?;
    Ok(ExportResult {
        diff_id: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        tar_size: hashing.count,
    })
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> Result<(), SnapshotError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| SnapshotError::io("list", &dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| SnapshotError::io("list", &dir, e))?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let rel_path = rel.join(&name);
        let md = fs::symlink_metadata(&path).map_err(|e| SnapshotError::io("stat", &path, e))?;
        let ft = md.file_type();
        let werr = |e| SnapshotError::io("write the layer tar entry for", &path, e);
        let mut h = header_from(&md);
        if ft.is_char_device() && md.rdev() == 0 {
            // An overlay whiteout.
            let mut wh_name = std::ffi::OsString::from(".wh.");
            wh_name.push(&name);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0);
            b.append_data(&mut h, rel.join(wh_name), io::empty())
                .map_err(werr)?;
            continue;
        }
        if ft.is_socket() {
            continue;
        }
        if !ft.is_dir() && md.nlink() > 1 {
            if let Some(first) = links.get(&(md.dev(), md.ino())) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, &rel_path, first).map_err(werr)?;
                continue;
            }
            links.insert((md.dev(), md.ino()), rel_path.clone());
        }
        if let Some(cap) = get_xattr(&path, "security.capability")? {
            b.append_pax_extensions([("SCHILY.xattr.security.capability", &cap[..])])
                .map_err(werr)?;
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, &rel_path, io::empty())
                .map_err(werr)?;
            if get_xattr(&path, "trusted.overlay.opaque")?.as_deref() == Some(b"y") {
                let mut o = header_from(&md);
                o.set_entry_type(tar::EntryType::Regular);
                o.set_size(0);
                o.set_mode(0);
                b.append_data(&mut o, rel_path.join(".wh..wh..opq"), io::empty())
                    .map_err(werr)?;
            }
            walk(b, root, &rel_path, links)?;
        } else if ft.is_file() {
            let file = File::options()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(|e| SnapshotError::io("open", &path, e))?;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            b.append_data(
                &mut h,
                &rel_path,
                io::BufReader::with_capacity(1 << 20, file),
            )
            .map_err(werr)?;
        } else if ft.is_symlink() {
            let target =
                fs::read_link(&path).map_err(|e| SnapshotError::io("readlink", &path, e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &rel_path, target).map_err(werr)?;
        } else {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            h.set_entry_type(kind);
            h.set_size(0);
            let dev = md.rdev();
            h.set_device_major(rustix::fs::major(dev)).map_err(werr)?;
            h.set_device_minor(rustix::fs::minor(dev)).map_err(werr)?;
            b.append_data(&mut h, &rel_path, io::empty())
                .map_err(werr)?;
        }
    }
    Ok(())
}

fn header_from(md: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h
}

fn get_xattr(path: &Path, name: &str) -> Result<Option<Vec<u8>>, SnapshotError> {
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::NODATA | rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(rustix::io::Errno::RANGE) if buf.len() < 1 << 16 => buf.resize(buf.len() * 4, 0),
            Err(e) => return Err(SnapshotError::io("read xattrs of", path, e.into())),
        }
    }
}
