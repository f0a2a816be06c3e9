//! Safe, streaming unpack of one OCI layer into a directory.
//!
//! The blob is decompressed as it is read, hashed (the sha256 of the
//! uncompressed stream is the layer's diff ID) and unpacked in one pass. The
//! `tar` crate parses headers only (in raw mode, so this module bounds the
//! size of GNU long-name and PAX headers itself); every file is created here.
//!
//! Safety against hostile layers, with docker's semantics (moby
//! `pkg/archive`, which unpacks in a chroot):
//!
//! * Names are cleaned lexically. A relative name whose `..` climbs above
//!   the root is refused ("breakout"); an absolute name is taken relative to
//!   the layer root.
//! * Every parent directory is opened with `openat2(RESOLVE_IN_ROOT)` from a
//!   descriptor of the layer root, so a symlink planted by an earlier entry
//!   (`a -> /`, `a -> ../../..`) resolves inside the layer, as in docker's
//!   chroot, and no write can land outside it. Final components are created
//!   with `*at` calls that never follow a symlink.
//! * Symlink targets that climb out of the root lexically are refused, as
//!   docker does; hardlink targets are resolved inside the root and must name
//!   an entry already there.
//! * An existing entry is replaced unless both are directories (a file over
//!   a directory removes the directory, a directory over a symlink removes
//!   the symlink).
//! * Device nodes and fifos are created only when [`UnpackOptions::devices`]
//!   allows it (by default: when running as root in the initial user
//!   namespace); otherwise they are skipped, as docker does in a user
//!   namespace.
//! * Extended attributes from `SCHILY.xattr.*` are set on files and
//!   directories except `trusted.*` (an image must not inject overlayfs' own
//!   attributes); the kernel refusing one (`ENOTSUP`, `EPERM`) is ignored as
//!   docker does. Attributes on symlinks and device nodes are not set.
//! * Old V7 directories (type NUL, trailing slash) are directories, as in
//!   Go's archive/tar. GNU sparse files and a PAX `size` that overrides the
//!   header are refused as unsupported.
//! * Total uncompressed bytes, entry count and header sizes are capped
//!   ([`Limits`]) so a decompression bomb fails with a clear error.
//!
//! Ownership and mode (including setuid, setgid and sticky bits) are applied
//! in docker's order: chown, xattrs, chmod, times; directory times are set
//! after all entries. Nothing is fsynced here: the snapshotter syncs the
//! filesystem once before it renames the finished directory into place, and
//! a crash before that leaves only a temporary directory.

use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, ResolveFlags, Timestamps};
use rustix::fs::{Gid, Uid, XattrFlags};
use sha2::{Digest, Sha256};

use crate::compression::{Compression, Decompressor};
use crate::error::{UnpackCause, UnpackError};

/// Size of the buffer used to copy file contents.
const COPY_BUFFER: usize = 1 << 20;

/// What to do with OCI whiteout entries (`.wh.NAME`, `.wh..wh..opq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Keep them for overlayfs: `.wh.NAME` becomes a 0:0 character device
    /// `NAME`, `.wh..wh..opq` sets `trusted.overlay.opaque=y` on its
    /// directory. For a layer unpacked into its own directory.
    Overlay,
    /// Apply them: `.wh.NAME` deletes `NAME`, `.wh..wh..opq` deletes what
    /// the directory held before this layer. For a layer unpacked onto a
    /// copy of its parent (the vfs driver).
    Apply,
}

/// Caps that bound the work and memory a hostile layer can cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of uncompressed tar stream (default 1 TiB).
    pub max_bytes: u64,
    /// Most tar headers, extension headers included (default 10 million).
    pub max_entries: u64,
    /// Largest GNU long-name or PAX header (default 1 MiB, as Go's
    /// archive/tar).
    pub max_header_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 40,
            max_entries: 10_000_000,
            max_header_bytes: 1 << 20,
        }
    }
}

/// How to unpack one layer.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Names the layer in errors (its digest, usually).
    pub label: String,
    /// The blob's compression if the media type told it; `None` detects it.
    pub compression: Option<Compression>,
    /// The diff ID (`sha256:<hex>`) the uncompressed stream must hash to.
    pub expected_diff_id: Option<String>,
    pub whiteouts: WhiteoutMode,
    pub limits: Limits,
    /// Create device nodes and fifos (otherwise skip them).
    pub devices: bool,
    /// Apply the entries' uid and gid (otherwise files belong to the caller).
    pub chown: bool,
}

impl UnpackOptions {
    /// Options for a layer named `label` in errors, with overlay whiteouts,
    /// default limits, and devices and ownership as the host allows.
    pub fn new(label: impl Into<String>) -> Self {
        let root = is_initial_root();
        UnpackOptions {
            label: label.into(),
            compression: None,
            expected_diff_id: None,
            whiteouts: WhiteoutMode::Overlay,
            limits: Limits::default(),
            devices: root,
            chown: rustix::process::geteuid().is_root(),
        }
    }
}

/// What an unpack produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackResult {
    /// `sha256:<hex>` of the uncompressed tar stream.
    pub diff_id: String,
    /// Bytes of regular file content written.
    pub size: u64,
    /// Bytes of the uncompressed tar stream.
    pub tar_size: u64,
    /// Tar headers read (extension headers included).
    pub entries: u64,
    pub compression: Compression,
}

/// Whether this process is root in the initial user namespace (and so may
/// create device nodes).
pub(crate) fn is_initial_root() -> bool {
    if !rustix::process::geteuid().is_root() {
        return false;
    }
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(map) => {
            let fields: Vec<&str> = map.split_whitespace().collect();
            fields == ["0", "0", "4294967295"]
        }
        Err(_) => false,
    }
}

/// Unpacks the layer blob read from `reader` into the existing directory
/// `dest`, verifying its diff ID if one is expected. On error `dest` is left
/// half-made: the caller removes it.
pub fn unpack_layer<R: Read>(
    reader: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackResult, UnpackError> {
    let fail = |entry: Option<String>, cause| UnpackError {
        layer: opts.label.clone(),
        entry,
        cause,
    };
    let root = rfs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        fail(
            None,
            UnpackCause::Io {
                op: "open the destination directory",
                error: e.into(),
            },
        )
    })?;
    let decompressor = Decompressor::new(reader, opts.compression)
        .map_err(|e| fail(None, UnpackCause::Read(e)))?;
    let compression = decompressor.compression();
    let flag = Rc::new(Cell::new(StreamState::Ok));
    let mut hashing = Hashing {
        inner: decompressor,
        hasher: Sha256::new(),
        count: 0,
        limit: opts.limits.max_bytes,
        state: flag.clone(),
    };

    let mut unpacker = Unpacker {
        root,
        opts,
        cache: None,
        dirs: Vec::new(),
        unpacked: HashSet::new(),
        buf: vec![0u8; COPY_BUFFER],
        state: flag,
        size: 0,
        entries: 0,
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        let entries = archive
            .entries()
            .map_err(|e| fail(None, unpacker.read_cause(e)))?
            .raw(true);
        let mut pending = Pending::default();
        for entry in entries {
            let entry = entry.map_err(|e| fail(None, unpacker.read_cause(e)))?;
            unpacker.entries += 1;
            if unpacker.entries > opts.limits.max_entries {
                return Err(fail(
                    None,
                    UnpackCause::LimitExceeded {
                        what: "entries",
                        limit: opts.limits.max_entries,
                    },
                ));
            }
            unpacker
                .entry(entry, &mut pending)
                .map_err(|(name, cause)| fail(name, cause))?;
        }
        if pending.any() {
            return Err(fail(
                None,
                UnpackCause::Tar(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "extension header without the entry it describes",
                )),
            ));
        }
        unpacker.finish_dirs().map_err(|c| fail(None, c))?;
    }
    // The diff ID covers the whole stream, including the end-of-archive
    // blocks and any padding after them.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| fail(None, unpacker.read_cause(e)))?;
    let diff_id = format!("sha256:{}", hex::encode(hashing.hasher.finalize()));
    if let Some(expected) = &opts.expected_diff_id {
        if !expected.eq_ignore_ascii_case(&diff_id) {
            return Err(fail(
                None,
                UnpackCause::DiffIdMismatch {
                    expected: expected.clone(),
                    actual: diff_id,
                },
            ));
        }
    }
    Ok(UnpackResult {
        diff_id,
        size: unpacker.size,
        tar_size: hashing.count,
        entries: unpacker.entries,
        compression,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamState {
    Ok,
    /// The stream passed [`Limits::max_bytes`].
    Exceeded,
    /// Reading or decompressing the source failed.
    SourceFailed,
}

/// Hashes and counts the uncompressed stream as the tar parser reads it.
struct Hashing<R: Read> {
    inner: R,
    hasher: Sha256,
    count: u64,
    limit: u64,
    state: Rc<Cell<StreamState>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                if e.kind() != io::ErrorKind::Interrupted {
                    self.state.set(StreamState::SourceFailed);
                }
                return Err(e);
            }
        };
        self.count += n as u64;
        if self.count > self.limit {
            self.state.set(StreamState::Exceeded);
            return Err(io::Error::other("layer size limit exceeded"));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Extension headers seen, waiting for the entry they describe.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

impl Pending {
    fn any(&self) -> bool {
        self.long_name.is_some() || self.long_link.is_some() || self.pax.is_some()
    }
}

/// One entry's header, with the extension headers applied.
struct Meta {
    name: Vec<u8>,
    link: Option<Vec<u8>>,
    mode: u32,
    uid: u32,
    gid: u32,
    atime: rfs::Timespec,
    mtime: rfs::Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    fn times(&self) -> Timestamps {
        Timestamps {
            last_access: self.atime,
            last_modification: self.mtime,
        }
    }
}

type EntryResult = Result<(), (Option<String>, UnpackCause)>;

fn io_cause(op: &'static str) -> impl FnOnce(rustix::io::Errno) -> UnpackCause {
    move |e| UnpackCause::Io {
        op,
        error: e.into(),
    }
}

/// What an entry creates, decided (and checked) before anything is made.
enum Node {
    File,
    Dir,
    Symlink(std::ffi::OsString),
    /// The target's directory (resolved inside the root) and name.
    Hardlink(OwnedFd, std::ffi::OsString),
    Device(FileType, rfs::Dev),
}

impl Node {
    fn what(&self) -> &'static str {
        match self {
            Node::File => "create the file",
            Node::Dir => "create the directory",
            Node::Symlink(_) => "create the symlink",
            Node::Hardlink(..) => "create the hardlink",
            Node::Device(..) => "create the device node",
        }
    }
}

/// Creates `node` as `base` in `parent`, never following a symlink; a
/// regular file comes back open for writing.
fn make(parent: &OwnedFd, base: &OsStr, node: &Node) -> rustix::io::Result<Option<OwnedFd>> {
    match node {
        Node::File => rfs::openat(
            parent,
            base,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map(Some),
        Node::Dir => rfs::mkdirat(parent, base, Mode::from_raw_mode(0o700)).map(|()| None),
        Node::Symlink(target) => rfs::symlinkat(target, parent, base).map(|()| None),
        Node::Hardlink(tparent, tbase) => {
            rfs::linkat(tparent, tbase, parent, base, AtFlags::empty()).map(|()| None)
        }
        Node::Device(ftype, dev) => {
            rfs::mknodat(parent, base, *ftype, Mode::from_raw_mode(0o600), *dev).map(|()| None)
        }
    }
}

struct Unpacker<'o> {
    root: OwnedFd,
    opts: &'o UnpackOptions,
    /// The last parent directory opened, by its cleaned path.
    cache: Option<(PathBuf, Rc<OwnedFd>)>,
    /// Directories created, with the times to set once all entries are in.
    dirs: Vec<(PathBuf, Timestamps)>,
    /// Paths this layer wrote (for opaque directories in apply mode).
    unpacked: HashSet<PathBuf>,
    buf: Vec<u8>,
    state: Rc<Cell<StreamState>>,
    size: u64,
    entries: u64,
}

impl Unpacker<'_> {
    /// Classifies an error from reading the tar stream.
    fn read_cause(&self, e: io::Error) -> UnpackCause {
        match self.state.get() {
            StreamState::Exceeded => UnpackCause::LimitExceeded {
                what: "uncompressed bytes",
                limit: self.opts.limits.max_bytes,
            },
            StreamState::SourceFailed => UnpackCause::Read(e),
            StreamState::Ok => UnpackCause::Tar(e),
        }
    }

    fn entry<R: Read>(
        &mut self,
        mut entry: tar::Entry<'_, R>,
        pending: &mut Pending,
    ) -> EntryResult {
        // The raw type byte: the tar crate reads NUL as '0', hiding V7 dirs.
        let kind = entry.header().as_old().linkflag[0];
        let size = entry.size();
        if matches!(kind, b'L' | b'K' | b'x' | b'g') {
            let what = match kind {
                b'L' => "GNU long name",
                b'K' => "GNU long link",
                _ => "PAX",
            };
            if size > self.opts.limits.max_header_bytes {
                return Err((
                    None,
                    UnpackCause::HeaderTooLarge {
                        what,
                        size,
                        limit: self.opts.limits.max_header_bytes,
                    },
                ));
            }
            let mut data = Vec::new();
            entry
                .read_to_end(&mut data)
                .map_err(|e| (None, self.read_cause(e)))?;
            match kind {
                b'L' => pending.long_name = Some(trim_nul(data)),
                b'K' => pending.long_link = Some(trim_nul(data)),
                b'x' => pending.pax = Some(data),
                // Global PAX headers carry nothing docker applies.
                _ => {}
            }
            return Ok(());
        }

        let meta = self.meta(&entry, pending).map_err(|c| {
            (
                Some(String::from_utf8_lossy(entry.path_bytes().as_ref()).into_owned()),
                c,
            )
        })?;
        // Old (V7) archives mark directories by a trailing slash only; Go's
        // archive/tar, and so docker, reads them as directories.
        let kind = if kind == b'\0' && meta.name.ends_with(b"/") {
            b'5'
        } else {
            kind
        };
        let label = String::from_utf8_lossy(&meta.name).into_owned();
        self.place(kind, &mut entry, &meta)
            .map_err(|c| (Some(label), c))
    }

    /// Reads the header fields, overridden by pending extension headers.
    fn meta<R: Read>(
        &self,
        entry: &tar::Entry<'_, R>,
        pending: &mut Pending,
    ) -> Result<Meta, UnpackCause> {
        let header = entry.header();
        let bad = |e: io::Error| UnpackCause::Tar(e);
        let mut name = pending
            .long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let mut link = pending
            .long_link
            .take()
            .or_else(|| entry.link_name_bytes().map(|l| l.into_owned()));
        let old = header.as_old();
        let mut uid = numeric(header.uid(), &old.uid)?;
        let mut gid = numeric(header.gid(), &old.gid)?;
        let mtime_secs = numeric(header.mtime(), &old.mtime)?;
        let mut mtime = rfs::Timespec {
            tv_sec: i64::try_from(mtime_secs).unwrap_or(i64::MAX),
            tv_nsec: 0,
        };
        let mut atime = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = pending.pax.take() {
            for ext in tar::PaxExtensions::new(&pax) {
                let ext = ext.map_err(bad)?;
                let value = ext.value_bytes();
                match ext.key_bytes() {
                    b"path" => name = value.to_vec(),
                    b"linkpath" => link = Some(value.to_vec()),
                    b"uid" => uid = parse_decimal(value, "uid")?,
                    b"gid" => gid = parse_decimal(value, "gid")?,
                    b"mtime" => mtime = parse_time(value)?,
                    b"atime" => atime = Some(parse_time(value)?),
                    b"size" => {
                        if parse_decimal(value, "size")? != entry.size() {
                            return Err(UnpackCause::Unsupported {
                                what: "a PAX size record that overrides the header size".into(),
                            });
                        }
                    }
                    key if key.starts_with(b"GNU.sparse.") => {
                        return Err(UnpackCause::Unsupported {
                            what: "GNU sparse files".into(),
                        })
                    }
                    key => {
                        if let Some(attr) = key.strip_prefix(b"SCHILY.xattr.") {
                            xattrs.push((attr.to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        let id = |v: u64, what: &str| {
            u32::try_from(v).map_err(|_| UnpackCause::Unsupported {
                what: format!("{what} {v} does not fit in 32 bits"),
            })
        };
        Ok(Meta {
            name,
            link,
            mode: numeric(header.mode(), &old.mode)? & 0o7777,
            uid: id(uid, "uid")?,
            gid: id(gid, "gid")?,
            atime: atime.unwrap_or(mtime),
            mtime,
            xattrs,
        })
    }

    /// Creates the entry described by `meta`.
    fn place<R: Read>(
        &mut self,
        kind: u8,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), UnpackCause> {
        let Some(path) = clean(&meta.name) else {
            return Err(UnpackCause::Breakout {
                path: String::from_utf8_lossy(&meta.name).into_owned(),
            });
        };
        let Some(base) = path.file_name().map(OsStr::to_os_string) else {
            // The layer root itself ("./"): docker keeps the existing root.
            if kind == b'5' {
                return Ok(());
            }
            return Err(UnpackCause::Unsupported {
                what: "a non-directory entry for the layer root".into(),
            });
        };
        let parent_path = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base_bytes = base.as_bytes();

        // AUFS metadata (".wh..wh.plnk" and friends) is skipped as docker does.
        if path
            .components()
            .next()
            .is_some_and(|c| c.as_os_str().as_bytes().starts_with(b".wh..wh."))
            && base_bytes != b".wh..wh..opq"
        {
            return Ok(());
        }
        if let Some(hidden) = base_bytes.strip_prefix(b".wh.") {
            return self.whiteout(&parent_path, hidden, meta);
        }

        // Everything that can refuse the entry is checked before anything
        // is created.
        let node = match kind {
            b'0' | b'\0' | b'7' => Node::File,
            b'5' => Node::Dir,
            b'2' => {
                let target = meta.link.as_deref().unwrap_or_default();
                // docker: the target joined to the link's directory must stay
                // inside the root (absolute targets are always inside).
                if !target.starts_with(b"/") {
                    let mut joined = parent_path.as_os_str().as_bytes().to_vec();
                    if !joined.is_empty() {
                        joined.push(b'/');
                    }
                    joined.extend_from_slice(target);
                    if clean(&joined).is_none() {
                        return Err(UnpackCause::Breakout {
                            path: format!("symlink target {}", String::from_utf8_lossy(target)),
                        });
                    }
                }
                Node::Symlink(OsStr::from_bytes(target).to_os_string())
            }
            b'1' => {
                let target = meta.link.as_deref().unwrap_or_default();
                let breakout = || UnpackCause::Breakout {
                    path: format!("hardlink target {}", String::from_utf8_lossy(target)),
                };
                let tpath = clean(target).ok_or_else(breakout)?;
                let tbase = tpath.file_name().ok_or_else(breakout)?.to_os_string();
                let tparent = self.open_existing(tpath.parent().unwrap_or(Path::new("")))?;
                Node::Hardlink(tparent, tbase)
            }
            b'3' | b'4' | b'6' => {
                if !self.opts.devices {
                    return Ok(());
                }
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                match kind {
                    b'3' => Node::Device(FileType::CharacterDevice, rfs::makedev(major, minor)),
                    b'4' => Node::Device(FileType::BlockDevice, rfs::makedev(major, minor)),
                    _ => Node::Device(FileType::Fifo, 0),
                }
            }
            other => {
                return Err(UnpackCause::Unsupported {
                    what: format!("tar entry type {:?}", char::from(other)),
                })
            }
        };

        let parent = self.parent(&parent_path)?;
        // Create first; only if something is in the way, replace it as
        // docker does (a directory over a directory is kept), and retry.
        let made = match make(&parent, &base, &node) {
            Err(rustix::io::Errno::EXIST) => {
                let existing = rfs::statat(&*parent, &base, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_cause("stat the existing entry"))?;
                if matches!(node, Node::Dir)
                    && FileType::from_raw_mode(existing.st_mode) == FileType::Directory
                {
                    Ok(None)
                } else {
                    remove_all_at(parent.as_fd(), &base).map_err(|e| UnpackCause::Io {
                        op: "remove the existing entry",
                        error: e,
                    })?;
                    self.invalidate(&path);
                    make(&parent, &base, &node)
                }
            }
            other => other,
        };
        let made = made.map_err(|e| match &node {
            Node::Hardlink(..) => UnpackCause::Io {
                op: "create the hardlink",
                error: io::Error::new(
                    io::Error::from(e).kind(),
                    format!(
                        "link to {}: {}",
                        String::from_utf8_lossy(meta.link.as_deref().unwrap_or_default()),
                        io::Error::from(e)
                    ),
                ),
            },
            _ => io_cause(node.what())(e),
        })?;

        match &node {
            Node::File => {
                let fd = made.ok_or_else(|| UnpackCause::Io {
                    op: "create the file",
                    error: io::Error::other("no descriptor"),
                })?;
                self.write_file(fd, entry, meta)?;
            }
            Node::Dir => {
                let fd = rfs::openat(
                    &*parent,
                    &base,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(io_cause("open the directory"))?;
                self.own_and_mode(&fd, meta)?;
                self.dirs.push((path.clone(), meta.times()));
            }
            Node::Symlink(_) => {
                if self.opts.chown {
                    rfs::chownat(
                        &*parent,
                        &base,
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(io_cause("chown the symlink"))?;
                }
                rfs::utimensat(&*parent, &base, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(io_cause("set the symlink's times"))?;
            }
            // A hardlink shares its target's inode and metadata.
            Node::Hardlink(..) => {}
            Node::Device(..) => self.meta_at(&parent, &base, meta)?,
        }
        if self.opts.whiteouts == WhiteoutMode::Apply {
            self.unpacked.insert(path);
        }
        Ok(())
    }

    fn write_file<R: Read>(
        &mut self,
        fd: OwnedFd,
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<(), UnpackCause> {
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_cause(e)),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| UnpackCause::Io {
                    op: "write the file",
                    error: e,
                })?;
            self.size += n as u64;
        }
        self.own_and_mode(&file, meta)?;
        rfs::futimens(&file, &meta.times()).map_err(io_cause("set the file's times"))
    }

    /// chown, xattrs, chmod on an open file or directory.
    fn own_and_mode(&self, fd: impl AsFd, meta: &Meta) -> Result<(), UnpackCause> {
        let fd = fd.as_fd();
        if self.opts.chown {
            rfs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(io_cause("chown"))?;
        }
        for (name, value) in &meta.xattrs {
            if name.starts_with(b"trusted.") {
                continue;
            }
            match rfs::fsetxattr(fd, OsStr::from_bytes(name), value, XattrFlags::empty()) {
                Ok(()) | Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::PERM) => {}
                Err(e) => return Err(io_cause("set an extended attribute")(e)),
            }
        }
        rfs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(io_cause("chmod"))
    }

    /// chown, chmod and times on a node that cannot be opened (devices).
    fn meta_at(&self, parent: &OwnedFd, base: &OsStr, meta: &Meta) -> Result<(), UnpackCause> {
        if self.opts.chown {
            rfs::chownat(
                parent,
                base,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io_cause("chown"))?;
        }
        // The node was just created by us: chmodat cannot follow a symlink.
        rfs::chmodat(
            parent,
            base,
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )
        .map_err(io_cause("chmod"))?;
        rfs::utimensat(parent, base, &meta.times(), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(io_cause("set times"))
    }

    fn whiteout(&mut self, dir: &Path, hidden: &[u8], meta: &Meta) -> Result<(), UnpackCause> {
        let parent = self.parent(dir)?;
        if hidden == b".wh..opq" {
            let fd = rfs::openat(
                &*parent,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(io_cause("open the opaque directory"))?;
            match self.opts.whiteouts {
                WhiteoutMode::Overlay => {
                    rfs::fsetxattr(&fd, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                        .map_err(io_cause("mark the directory opaque"))?;
                }
                WhiteoutMode::Apply => {
                    let mut doomed = Vec::new();
                    for child in
                        rfs::Dir::read_from(&fd).map_err(io_cause("list the opaque directory"))?
                    {
                        let child = child.map_err(io_cause("list the opaque directory"))?;
                        let name = OsStr::from_bytes(child.file_name().to_bytes());
                        if name == "." || name == ".." {
                            continue;
                        }
                        if !self.unpacked.contains(&dir.join(name)) {
                            doomed.push(name.to_os_string());
                        }
                    }
                    for name in doomed {
                        remove_all_at(fd.as_fd(), &name).map_err(|e| UnpackCause::Io {
                            op: "empty the opaque directory",
                            error: e,
                        })?;
                    }
                    self.cache = None;
                }
            }
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(UnpackCause::Unsupported {
                what: "a whiteout without a name".into(),
            });
        }
        let name = OsStr::from_bytes(hidden);
        remove_all_at(parent.as_fd(), name).map_err(|e| UnpackCause::Io {
            op: "remove the whited-out entry",
            error: e,
        })?;
        self.invalidate(&dir.join(name));
        if self.opts.whiteouts == WhiteoutMode::Overlay {
            rfs::mknodat(
                &*parent,
                name,
                FileType::CharacterDevice,
                Mode::empty(),
                rfs::makedev(0, 0),
            )
            .map_err(io_cause("create the whiteout device"))?;
            if self.opts.chown {
                rfs::chownat(
                    &*parent,
                    name,
                    Some(Uid::from_raw(meta.uid)),
                    Some(Gid::from_raw(meta.gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(io_cause("chown the whiteout"))?;
            }
        }
        Ok(())
    }

    /// Forgets the cached parent if `changed` is it or one of its ancestors.
    fn invalidate(&mut self, changed: &Path) {
        if self
            .cache
            .as_ref()
            .is_some_and(|(p, _)| p.starts_with(changed))
        {
            self.cache = None;
        }
    }

    /// The directory `rel` inside the root, created (as docker's MkdirAll,
    /// mode 0755) if missing. Symlinks on the way resolve inside the root.
    fn parent(&mut self, rel: &Path) -> Result<Rc<OwnedFd>, UnpackCause> {
        if let Some((p, fd)) = &self.cache {
            if p == rel {
                return Ok(fd.clone());
            }
        }
        let fd = match open_in_root(&self.root, rel) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => self.mkdir_all(rel)?,
            Err(e) => return Err(io_cause("open the parent directory")(e)),
        };
        let fd = Rc::new(fd);
        self.cache = Some((rel.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    fn mkdir_all(&mut self, rel: &Path) -> Result<OwnedFd, UnpackCause> {
        let mut cur = open_in_root(&self.root, Path::new("")).map_err(io_cause("open the root"))?;
        let mut prefix = PathBuf::new();
        for comp in rel.components() {
            prefix.push(comp);
            cur = match open_in_root(&self.root, &prefix) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => {
                    match rfs::mkdirat(&cur, comp.as_os_str(), Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                        Err(e) => return Err(io_cause("create a parent directory")(e)),
                    }
                    open_in_root(&self.root, &prefix)
                        .map_err(io_cause("open a parent directory"))?
                }
                Err(e) => return Err(io_cause("open a parent directory")(e)),
            };
        }
        Ok(cur)
    }

    fn open_existing(&self, rel: &Path) -> Result<OwnedFd, UnpackCause> {
        open_in_root(&self.root, rel).map_err(io_cause("open the hardlink target's directory"))
    }

    /// Sets the directories' times, now that nothing more is written in them.
    fn finish_dirs(&mut self) -> Result<(), UnpackCause> {
        let dirs = std::mem::take(&mut self.dirs);
        for (path, times) in dirs.iter().rev() {
            let (Some(parent), Some(base)) = (path.parent(), path.file_name()) else {
                continue;
            };
            let parent = match open_in_root(&self.root, parent) {
                Ok(fd) => fd,
                // Removed by a later entry.
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => continue,
                Err(e) => return Err(io_cause("open a directory to set its times")(e)),
            };
            match rfs::utimensat(&parent, base, times, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(()) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => return Err(io_cause("set a directory's times")(e)),
            }
        }
        Ok(())
    }
}

/// Opens the directory `rel` (empty for the root) with every symlink on the
/// way resolved as if `root` were `/`.
fn open_in_root(root: &OwnedFd, rel: &Path) -> rustix::io::Result<OwnedFd> {
    let path: &Path = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let mut tries = 0;
    loop {
        match rfs::openat2(
            root,
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            // The kernel asks for a retry when a rename raced the lookup.
            Err(rustix::io::Errno::AGAIN) if tries < 32 => tries += 1,
            other => return other,
        }
    }
}

/// Removes `name` in `dir` and, if it is a directory, everything below it,
/// never following a symlink.
pub(crate) fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for child in rfs::Dir::read_from(&sub)? {
        let child = child?;
        let n = child.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    for n in names {
        remove_all_at(sub.as_fd(), &n)?;
    }
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Cleans a tar name lexically, as Go's `filepath.Join(root, name)` does:
/// `None` if a relative name climbs above the root; absolute names are
/// taken relative to the root. The result is relative (empty for the root).
fn clean(name: &[u8]) -> Option<PathBuf> {
    let absolute = name.starts_with(b"/");
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() && !absolute {
                    return None;
                }
            }
            p => parts.push(p),
        }
    }
    let mut out = PathBuf::new();
    for p in parts {
        out.push(OsStr::from_bytes(p));
    }
    Some(out)
}

/// A numeric header field; an empty one (all NULs or spaces) reads as 0,
/// as Go's archive/tar (and so docker) reads it.
fn numeric<T: Default>(parsed: io::Result<T>, raw: &[u8]) -> Result<T, UnpackCause> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(T::default()),
        Err(e) => Err(UnpackCause::Tar(e)),
    }
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn parse_decimal(v: &[u8], what: &str) -> Result<u64, UnpackCause> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| UnpackCause::Tar(io::Error::other(format!("bad PAX {what} record"))))
}

/// A PAX time: decimal seconds with an optional fraction.
fn parse_time(v: &[u8]) -> Result<rfs::Timespec, UnpackCause> {
    let bad = || UnpackCause::Tar(io::Error::other("bad PAX time record"));
    let s = std::str::from_utf8(v).map_err(|_| bad())?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().map_err(|_| bad())?;
    let mut nanos = 0i64;
    for (i, c) in frac.chars().take(9).enumerate() {
        let d = c.to_digit(10).ok_or_else(bad)?;
        nanos += i64::from(d) * 10i64.pow(8 - u32::try_from(i).map_err(|_| bad())?);
    }
    // For negative times the fraction counts towards zero.
    let (tv_sec, tv_nsec) = if tv_sec < 0 && nanos > 0 {
        (tv_sec - 1, 1_000_000_000 - nanos)
    } else {
        (tv_sec, nanos)
    };
    Ok(rfs::Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_like_docker() {
        let c = |s: &str| clean(s.as_bytes()).map(|p| p.to_string_lossy().into_owned());
        assert_eq!(c("a/b/../c"), Some("a/c".into()));
        assert_eq!(c("/abs/x"), Some("abs/x".into()));
        assert_eq!(c("/../x"), Some("x".into()));
        assert_eq!(c("./"), Some("".into()));
        assert_eq!(c("../../etc/x"), None);
        assert_eq!(c("a/../../x"), None);
    }

    #[test]
    fn pax_times() {
        let t = parse_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(parse_time(b"x").is_err());
    }
}
