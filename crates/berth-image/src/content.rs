//! The content store: blobs by digest, as containerd keeps them.
//!
//! ```text
//! ROOT/blobs/sha256/<hex>          committed blobs, mode 0444, never rewritten
//! ROOT/ingest/<sha256(ref)>/ref    the ingest's reference (any caller-chosen string)
//! ROOT/ingest/<sha256(ref)>/data   the bytes received so far
//! ```
//!
//! A blob is written through a [`Writer`] on an ingest: bytes are appended
//! to `data` and hashed as they are written. [`Writer::commit`] syncs the
//! file, checks size and digest, and hard-links `data` to its place under
//! `blobs/` (`link(2)` never replaces, so two commits of the same digest
//! race safely: the second finds it exists), syncs the directory and removes
//! the ingest. A crash at any point leaves either nothing or a complete,
//! verified blob under a digest. An ingest that is dropped without commit
//! stays on disk; opening a writer on the same reference again resumes it
//! at [`Writer::offset`] (the existing bytes are hashed again), which is
//! where an HTTP `Range` request picks up a cut download.
//!
//! The store is `Clone + Send + Sync`; one reference has at most one writer
//! at a time in this process (a second gets [`ContentError::IngestLocked`]).
//! Only one process (the daemon) may use a store directory.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use crate::digest::{Digest, DigestWriter};
use crate::error::ContentError;

type Result<T> = std::result::Result<T, ContentError>;

/// How the ingests of [`ContentStore::write_blob`] begin: `write-DIGEST-PID-SEQ`.
const WRITE_PREFIX: &str = "write-";

/// The longest ingest reference accepted.
const MAX_REF_LEN: usize = 4096;

/// A content store rooted at a directory.
#[derive(Debug, Clone)]
pub struct ContentStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// References that have a live [`Writer`].
    locked: Mutex<HashSet<String>>,
    /// Commits hold it shared, garbage collection exclusively, so a sweep
    /// never races a commit.
    gc: RwLock<()>,
}

/// What is known about a committed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub digest: Digest,
    pub size: u64,
    /// When the blob was committed (its mtime).
    pub created: Option<SystemTime>,
}

/// The result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub digest: Digest,
    pub size: u64,
    /// The blob was already in the store (another writer committed it first);
    /// this ingest was discarded.
    pub existed: bool,
}

/// An ingest that is on disk, written to or abandoned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestStatus {
    pub reference: String,
    /// Bytes received so far: where a resumed download starts.
    pub offset: u64,
    pub updated: Option<SystemTime>,
}

impl ContentStore {
    /// Opens (creating if needed) a store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in [root.join("blobs").join("sha256"), root.join("ingest")] {
            fs::create_dir_all(&dir).map_err(|e| ContentError::io("create", &dir, e))?;
        }
        Ok(ContentStore {
            inner: Arc::new(Inner {
                root,
                locked: Mutex::new(HashSet::new()),
                gc: RwLock::new(()),
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the blob of `digest` is (or would be). For reading only: blobs
    /// are never modified in place.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }

    fn blobs_dir(&self) -> PathBuf {
        self.inner.root.join("blobs").join("sha256")
    }

    fn ingest_root(&self) -> PathBuf {
        self.inner.root.join("ingest")
    }

    fn ingest_dir(&self, reference: &str) -> PathBuf {
        self.ingest_root()
            .join(Digest::of(reference.as_bytes()).hex())
    }

    /// Whether a blob is committed.
    pub fn exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Size and commit time of a blob.
    pub fn info(&self, digest: &Digest) -> Result<Info> {
        let path = self.blob_path(digest);
        let md = fs::metadata(&path).map_err(|e| self.not_found_or(digest, "stat", &path, e))?;
        Ok(Info {
            digest: digest.clone(),
            size: md.len(),
            created: md.modified().ok(),
        })
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| self.not_found_or(digest, "open", &path, e))
    }

    /// Reads a whole blob, refusing one larger than `limit` bytes (manifests
    /// and configs are small; a limit keeps a hostile one from filling memory).
    pub fn read_blob(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let f = self.open_blob(digest)?;
        let size = f
            .metadata()
            .map_err(|e| ContentError::io("stat", &path, e))?
            .len();
        if size > limit {
            return Err(ContentError::TooLarge {
                digest: digest.clone(),
                size,
                limit,
            });
        }
        let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        f.take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| ContentError::io("read", &path, e))?;
        Ok(buf)
    }

    /// Removes a blob. Callers normally leave this to garbage collection.
    pub fn delete(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        fs::remove_file(&path).map_err(|e| self.not_found_or(digest, "remove", &path, e))
    }

    fn not_found_or(
        &self,
        digest: &Digest,
        op: &'static str,
        path: &Path,
        e: io::Error,
    ) -> ContentError {
        if e.kind() == io::ErrorKind::NotFound {
            ContentError::NotFound {
                digest: digest.clone(),
            }
        } else {
            ContentError::io(op, path, e)
        }
    }

    /// Every committed blob. Entries whose names are not digests are skipped
    /// ([`ContentStore::fsck`] reports them).
    pub fn list(&self) -> Result<Vec<Info>> {
        let dir = self.blobs_dir();
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| ContentError::io("list", &dir, e))? {
            let entry = entry.map_err(|e| ContentError::io("list", &dir, e))?;
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                continue;
            };
            let md = match entry.metadata() {
                Ok(md) => md,
                // Removed since read_dir listed it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ContentError::io("stat", entry.path(), e)),
            };
            if md.is_file() {
                out.push(Info {
                    digest,
                    size: md.len(),
                    created: md.modified().ok(),
                });
            }
        }
        out.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(out)
    }

    /// Opens a writer on the ingest `reference`, resuming it if it exists.
    /// The reference is any string the caller chooses to find the download
    /// again (containerd uses e.g. `layer-sha256:...`).
    pub fn writer(&self, reference: &str) -> Result<Writer> {
        if reference.is_empty() || reference.len() > MAX_REF_LEN {
            return Err(ContentError::InvalidIngestRef {
                reference: reference.into(),
                reason: "must be 1 to 4096 bytes",
            });
        }
        {
            let mut locked = self.lock_set();
            if !locked.insert(reference.to_owned()) {
                return Err(ContentError::IngestLocked {
                    reference: reference.into(),
                });
            }
        }
        // From here the lock is released by the guard on every path.
        let lock = RefLock {
            store: self.clone(),
            reference: reference.to_owned(),
        };
        let dir = self.ingest_dir(reference);
        fs::create_dir_all(&dir).map_err(|e| ContentError::io("create", &dir, e))?;
        let ref_path = dir.join("ref");
        if !ref_path.exists() {
            fs::write(&ref_path, reference).map_err(|e| ContentError::io("write", &ref_path, e))?;
        }
        let data = dir.join("data");
        // A crash between linking a committed blob and removing its ingest
        // leaves `data` as a second name of the blob: never append to it.
        if let Ok(md) = fs::symlink_metadata(&data) {
            if md.nlink() > 1 || !md.is_file() {
                fs::remove_file(&data).map_err(|e| ContentError::io("remove", &data, e))?;
            }
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&data)
            .map_err(|e| ContentError::io("open", &data, e))?;
        // Hash what is already there (a resumed ingest) so that the digest
        // covers all of it; the read position does not affect appends.
        let mut hashing = DigestWriter::new(file);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = hashing
                .get_mut()
                .read(&mut buf)
                .map_err(|e| ContentError::io("read", &data, e))?;
            if n == 0 {
                break;
            }
            hashing.absorb(&buf[..n]);
        }
        Ok(Writer {
            lock,
            dir,
            data,
            file: hashing,
        })
    }

    /// Writes a whole blob from memory. With `expected`, the data must hash
    /// to it; without, its digest is computed.
    pub fn write_blob(&self, data: &[u8], expected: Option<&Digest>) -> Result<Committed> {
        let digest = Digest::of(data);
        if let Some(want) = expected {
            if *want != digest {
                return Err(ContentError::DigestMismatch {
                    reference: format!("write-{want}"),
                    expected: want.clone(),
                    actual: digest,
                });
            }
        }
        if self.exists(&digest) {
            return Ok(Committed {
                digest,
                size: data.len() as u64,
                existed: true,
            });
        }
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let reference = format!(
            "{WRITE_PREFIX}{digest}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let mut w = self.writer(&reference)?;
        w.reset()?;
        if let Err(e) = w.write_all(data) {
            let path = w.data.clone();
            drop(w);
            let _ = self.abort(&reference);
            return Err(ContentError::io("write", path, e));
        }
        w.commit(&digest, data.len() as u64)
    }

    /// The ingests on disk, with their offsets.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>> {
        let root = self.ingest_root();
        let mut out = Vec::new();
        for entry in fs::read_dir(&root).map_err(|e| ContentError::io("list", &root, e))? {
            let entry = entry.map_err(|e| ContentError::io("list", &root, e))?;
            if let Some(status) = read_ingest(&entry.path()) {
                out.push(status);
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Discards the ingests [`ContentStore::write_blob`] of another process left (it died
    /// between opening and committing one; they are never resumed). For the store's only user,
    /// when it opens the store. Returns their references.
    pub fn abort_stale_writes(&self) -> Result<Vec<String>> {
        let me = std::process::id().to_string();
        let mut removed = Vec::new();
        for ingest in self.ingests()? {
            let Some(rest) = ingest.reference.strip_prefix(WRITE_PREFIX) else {
                continue;
            };
            // DIGEST-PID-SEQ; a digest has no '-'.
            let pid = rest.rsplit('-').nth(1);
            if pid != Some(me.as_str()) {
                match self.abort(&ingest.reference) {
                    Ok(()) | Err(ContentError::IngestNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
                removed.push(ingest.reference);
            }
        }
        Ok(removed)
    }

    /// The state of one ingest.
    pub fn ingest_status(&self, reference: &str) -> Result<IngestStatus> {
        read_ingest(&self.ingest_dir(reference)).ok_or_else(|| ContentError::IngestNotFound {
            reference: reference.into(),
        })
    }

    /// Discards an ingest that has no live writer.
    pub fn abort(&self, reference: &str) -> Result<()> {
        if self.lock_set().contains(reference) {
            return Err(ContentError::IngestLocked {
                reference: reference.into(),
            });
        }
        let dir = self.ingest_dir(reference);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ContentError::IngestNotFound {
                reference: reference.into(),
            }),
            Err(e) => Err(ContentError::io("remove", &dir, e)),
        }
    }

    fn lock_set(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked.
        self.inner
            .locked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn commit_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.inner
            .gc
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Held by garbage collection from mark to sweep: no commit happens
    /// meanwhile.
    pub(crate) fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.inner
            .gc
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-hashes every blob and checks every name under the store; reports
    /// what is wrong without changing anything.
    pub fn fsck(&self) -> Result<FsckReport> {
        let mut report = FsckReport::default();
        let blobs = self.inner.root.join("blobs");
        for entry in fs::read_dir(&blobs).map_err(|e| ContentError::io("list", &blobs, e))? {
            let entry = entry.map_err(|e| ContentError::io("list", &blobs, e))?;
            if entry.file_name() != "sha256" {
                report
                    .problems
                    .push(FsckProblem::Stray { path: entry.path() });
            }
        }
        let dir = self.blobs_dir();
        for entry in fs::read_dir(&dir).map_err(|e| ContentError::io("list", &dir, e))? {
            let entry = entry.map_err(|e| ContentError::io("list", &dir, e))?;
            let path = entry.path();
            let Some(digest) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            else {
                report.problems.push(FsckProblem::BadName { path });
                continue;
            };
            match fs::symlink_metadata(&path) {
                Ok(md) if md.is_file() => {}
                Ok(_) => {
                    report.problems.push(FsckProblem::NotAFile { path });
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.problems.push(FsckProblem::Unreadable {
                        path,
                        error: e.to_string(),
                    });
                    continue;
                }
            }
            match File::open(&path).and_then(Digest::of_reader) {
                Ok((actual, size)) => {
                    report.blobs += 1;
                    report.bytes += size;
                    if actual != digest {
                        report.problems.push(FsckProblem::Corrupt {
                            digest,
                            actual,
                            size,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => report.problems.push(FsckProblem::Unreadable {
                    path,
                    error: e.to_string(),
                }),
            }
        }
        let root = self.ingest_root();
        for entry in fs::read_dir(&root).map_err(|e| ContentError::io("list", &root, e))? {
            let entry = entry.map_err(|e| ContentError::io("list", &root, e))?;
            let path = entry.path();
            match read_ingest(&path) {
                Some(status) if *self.ingest_dir(&status.reference) == path => {
                    report.ingests.push(status);
                }
                _ => report.problems.push(FsckProblem::StrayIngest { path }),
            }
        }
        Ok(report)
    }
}

fn read_ingest(dir: &Path) -> Option<IngestStatus> {
    let reference = fs::read_to_string(dir.join("ref")).ok()?;
    let md = fs::metadata(dir.join("data")).ok()?;
    Some(IngestStatus {
        reference,
        offset: md.len(),
        updated: md.modified().ok(),
    })
}

/// Releases a reference's writer lock when dropped.
#[derive(Debug)]
struct RefLock {
    store: ContentStore,
    reference: String,
}

impl Drop for RefLock {
    fn drop(&mut self) {
        self.store.lock_set().remove(&self.reference);
    }
}

/// A writer on one ingest. `Write` appends and hashes; dropping it without
/// [`Writer::commit`] keeps the bytes for a later resume.
#[derive(Debug)]
pub struct Writer {
    lock: RefLock,
    dir: PathBuf,
    data: PathBuf,
    file: DigestWriter<File>,
}

impl Writer {
    /// The ingest's reference.
    pub fn reference(&self) -> &str {
        &self.lock.reference
    }

    /// Bytes in the ingest so far (the resume offset).
    pub fn offset(&self) -> u64 {
        self.file.written()
    }

    /// Opens the bytes received so far for reading (to re-hash or replay a
    /// resumed ingest); appends through this writer do not move its position.
    pub fn read_back(&self) -> Result<File> {
        File::open(&self.data).map_err(|e| ContentError::io("open", &self.data, e))
    }

    /// The digest of the bytes so far.
    pub fn digest(&self) -> Digest {
        self.file.digest()
    }

    /// Drops what was received and starts from zero (a server that ignored
    /// the `Range` request sends the whole blob again).
    pub fn reset(&mut self) -> Result<()> {
        let file = self.file.get_mut();
        file.set_len(0)
            .map_err(|e| ContentError::io("truncate", &self.data, e))?;
        let file = File::options()
            .append(true)
            .open(&self.data)
            .map_err(|e| ContentError::io("open", &self.data, e))?;
        self.file = DigestWriter::new(file);
        Ok(())
    }

    /// Verifies that the ingest holds `size` bytes hashing to `expected` and
    /// moves it under its digest.
    ///
    /// Too few bytes keeps the ingest (resume it); too many, or a digest
    /// mismatch, removes it. Either way nothing appears under the digest.
    pub fn commit(self, expected: &Digest, size: u64) -> Result<Committed> {
        self.commit_inner(Some((expected, size)))
    }

    /// Commits under whatever digest the bytes have (content made locally,
    /// such as a config written by `docker commit`).
    pub fn commit_unverified(self) -> Result<Committed> {
        self.commit_inner(None)
    }

    fn commit_inner(mut self, expected: Option<(&Digest, u64)>) -> Result<Committed> {
        self.file
            .flush()
            .map_err(|e| ContentError::io("flush", &self.data, e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| ContentError::io("sync", &self.data, e))?;
        let actual_size = self.file.written();
        let actual = self.file.digest();
        if let Some((want, want_size)) = expected {
            if actual_size != want_size {
                if actual_size > want_size {
                    // Too many bytes: no resume can fix that.
                    let _ = fs::remove_dir_all(&self.dir);
                }
                return Err(ContentError::SizeMismatch {
                    reference: self.lock.reference.clone(),
                    expected: want_size,
                    actual: actual_size,
                });
            }
            if actual != *want {
                // The bytes are wrong: resuming cannot help.
                let _ = fs::remove_dir_all(&self.dir);
                return Err(ContentError::DigestMismatch {
                    reference: self.lock.reference.clone(),
                    expected: want.clone(),
                    actual,
                });
            }
        }
        let store = self.lock.store.clone();
        let target = store.blob_path(&actual);
        let md = fs::metadata(&self.data).map_err(|e| ContentError::io("stat", &self.data, e))?;
        // Make sure the file on disk is the one hashed (nothing else appended).
        if md.len() != actual_size {
            let _ = fs::remove_dir_all(&self.dir);
            return Err(ContentError::SizeMismatch {
                reference: self.lock.reference.clone(),
                expected: actual_size,
                actual: md.len(),
            });
        }
        let mut perms = md.permissions();
        perms.set_mode(0o444);
        fs::set_permissions(&self.data, perms)
            .map_err(|e| ContentError::io("chmod", &self.data, e))?;
        let existed = {
            let _guard = store.commit_guard();
            let existed = match fs::hard_link(&self.data, &target) {
                Ok(()) => false,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => true,
                Err(e) => return Err(ContentError::io("link", &target, e)),
            };
            if !existed {
                let dir = store.blobs_dir();
                File::open(&dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| ContentError::io("sync", &dir, e))?;
            }
            existed
        };
        fs::remove_dir_all(&self.dir).map_err(|e| ContentError::io("remove", &self.dir, e))?;
        Ok(Committed {
            digest: actual,
            size: actual_size,
            existed,
        })
    }
}

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// What [`ContentStore::fsck`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FsckReport {
    /// Blobs re-hashed.
    pub blobs: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Ingests in progress or abandoned (not problems: resumable).
    pub ingests: Vec<IngestStatus>,
    pub problems: Vec<FsckProblem>,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// One thing wrong in a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsckProblem {
    /// The blob's bytes do not hash to its name.
    Corrupt {
        digest: Digest,
        actual: Digest,
        size: u64,
    },
    /// A file under `blobs/sha256` whose name is not a digest (a stray
    /// temporary file, for example).
    BadName {
        path: PathBuf,
    },
    /// Something under `blobs/sha256` that is not a regular file.
    NotAFile {
        path: PathBuf,
    },
    /// Something under `blobs/` other than the `sha256` directory.
    Stray {
        path: PathBuf,
    },
    /// An entry under `ingest/` that is not a well-formed ingest.
    StrayIngest {
        path: PathBuf,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
}

impl std::fmt::Display for FsckProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsckProblem::Corrupt {
                digest,
                actual,
                size,
            } => {
                write!(
                    f,
                    "blob {digest} is corrupt: its {size} bytes hash to {actual}"
                )
            }
            FsckProblem::BadName { path } => {
                write!(f, "{} is not named after a sha256 digest", path.display())
            }
            FsckProblem::NotAFile { path } => write!(f, "{} is not a regular file", path.display()),
            FsckProblem::Stray { path } => {
                write!(f, "{} does not belong in the store", path.display())
            }
            FsckProblem::StrayIngest { path } => {
                write!(f, "{} is not a valid ingest", path.display())
            }
            FsckProblem::Unreadable { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
        }
    }
}

/// Inode number, for tests that check a blob is not rewritten.
#[cfg(test)]
fn inode(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.ino()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path().join("content")).unwrap();
        (dir, s)
    }

    #[test]
    fn ingest_commit_read() {
        let (_t, s) = store();
        let data = b"hello, blob";
        let d = Digest::of(data);
        assert!(!s.exists(&d));
        let mut w = s.writer("layer-1").unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(&data[..5]).unwrap();
        w.write_all(&data[5..]).unwrap();
        assert_eq!(w.offset(), data.len() as u64);
        let c = w.commit(&d, data.len() as u64).unwrap();
        assert_eq!(
            c,
            Committed {
                digest: d.clone(),
                size: 11,
                existed: false
            }
        );
        assert!(s.exists(&d));
        assert_eq!(s.info(&d).unwrap().size, 11);
        assert_eq!(s.read_blob(&d, 100).unwrap(), data);
        let mut buf = String::new();
        s.open_blob(&d).unwrap().read_to_string(&mut buf).unwrap();
        assert_eq!(buf.as_bytes(), data);
        let mode = fs::metadata(s.blob_path(&d)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o444);
        assert!(s.ingests().unwrap().is_empty(), "commit removes the ingest");
        assert_eq!(s.list().unwrap().len(), 1);
        assert!(matches!(
            s.read_blob(&d, 5),
            Err(ContentError::TooLarge { .. })
        ));
        s.delete(&d).unwrap();
        assert!(!s.exists(&d));
        let e = s.info(&d).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(matches!(s.delete(&d), Err(ContentError::NotFound { .. })));
    }

    #[test]
    fn resume_after_a_cut() {
        let (_t, s) = store();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let d = Digest::of(&data);
        {
            let mut w = s.writer("pull-x").unwrap();
            w.write_all(&data[..70_000]).unwrap();
            // Dropped: the "connection" was cut.
        }
        let st = s.ingest_status("pull-x").unwrap();
        assert_eq!(st.offset, 70_000);
        assert_eq!(s.ingests().unwrap(), vec![st]);
        let w = s.writer("pull-x").unwrap();
        assert_eq!(w.offset(), 70_000);
        // Committing a short blob is refused and keeps the ingest.
        let e = w.commit(&d, data.len() as u64).unwrap_err();
        assert!(
            matches!(e, ContentError::SizeMismatch { actual: 70_000, .. }),
            "{e}"
        );
        assert!(!s.exists(&d));
        let mut w = s.writer("pull-x").unwrap();
        let off = usize::try_from(w.offset()).unwrap();
        w.write_all(&data[off..]).unwrap();
        let c = w.commit(&d, data.len() as u64).unwrap();
        assert_eq!(c.digest, d);
        assert_eq!(s.read_blob(&d, u64::MAX).unwrap(), data);
        assert!(matches!(
            s.ingest_status("pull-x"),
            Err(ContentError::IngestNotFound { .. })
        ));
    }

    #[test]
    fn wrong_digest_leaves_nothing() {
        let (_t, s) = store();
        let want = Digest::of(b"the right bytes");
        let mut w = s.writer("r").unwrap();
        w.write_all(b"the wrong bytes").unwrap();
        let e = w.commit(&want, 15).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert!(matches!(e, ContentError::DigestMismatch { .. }));
        assert!(!s.exists(&want));
        assert!(!s.exists(&Digest::of(b"the wrong bytes")));
        assert!(s.list().unwrap().is_empty());
        assert!(
            s.ingests().unwrap().is_empty(),
            "a wrong ingest is discarded"
        );
        assert!(s.write_blob(b"abc", Some(&want)).is_err());
        let mut w = s.writer("long").unwrap();
        w.write_all(b"the right bytes!").unwrap();
        let e = w.commit(&want, 15).unwrap_err();
        assert!(
            matches!(
                e,
                ContentError::SizeMismatch {
                    expected: 15,
                    actual: 16,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            s.ingests().unwrap().is_empty(),
            "a long ingest is discarded"
        );
        assert!(s.list().unwrap().is_empty());
    }

    #[test]
    fn a_crash_after_link_never_touches_the_blob() {
        let (_t, s) = store();
        let d = s.write_blob(b"committed", None).unwrap().digest;
        // Re-create the state of a crash between link(2) and removing the ingest.
        let dir = s.ingest_dir("r");
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("ref"), "r").unwrap();
        fs::hard_link(s.blob_path(&d), dir.join("data")).unwrap();
        let mut w = s.writer("r").unwrap();
        assert_eq!(w.offset(), 0, "starts afresh");
        w.write_all(b"committed").unwrap();
        assert!(w.commit(&d, 9).unwrap().existed);
        assert_eq!(s.read_blob(&d, 100).unwrap(), b"committed");
        assert!(s.fsck().unwrap().is_clean());
    }

    #[test]
    fn reset_and_abort() {
        let (_t, s) = store();
        let mut w = s.writer("r").unwrap();
        w.write_all(b"garbage").unwrap();
        w.reset().unwrap();
        assert_eq!(w.offset(), 0);
        w.write_all(b"good").unwrap();
        assert_eq!(w.digest(), Digest::of(b"good"));
        assert!(matches!(
            s.abort("r"),
            Err(ContentError::IngestLocked { .. })
        ));
        drop(w);
        assert_eq!(s.ingest_status("r").unwrap().offset, 4);
        s.abort("r").unwrap();
        assert!(s.ingests().unwrap().is_empty());
        assert!(matches!(
            s.abort("r"),
            Err(ContentError::IngestNotFound { .. })
        ));
        assert!(matches!(
            s.writer(""),
            Err(ContentError::InvalidIngestRef { .. })
        ));
    }

    #[test]
    fn stale_writes_of_another_process_are_discarded() {
        let (_t, s) = store();
        let d = Digest::of(b"x");
        drop(s.writer(&format!("write-{d}-1-0")).unwrap());
        let mine = format!("write-{d}-{}-7", std::process::id());
        drop(s.writer(&mine).unwrap());
        drop(s.writer("layer-kept").unwrap());
        assert_eq!(
            s.abort_stale_writes().unwrap(),
            vec![format!("write-{d}-1-0")]
        );
        let left: Vec<String> = s
            .ingests()
            .unwrap()
            .into_iter()
            .map(|i| i.reference)
            .collect();
        assert_eq!(left, vec!["layer-kept".to_owned(), mine]);
    }

    #[test]
    fn one_writer_per_reference() {
        let (_t, s) = store();
        let w = s.writer("same").unwrap();
        let e = s.writer("same").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Conflict);
        drop(w);
        assert!(s.writer("same").is_ok());
    }

    #[test]
    fn concurrent_commits_of_one_digest() {
        let (_t, s) = store();
        let data: Vec<u8> = vec![7u8; 300_000];
        let d = Digest::of(&data);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let data = data.clone();
                let d = d.clone();
                std::thread::spawn(move || {
                    let mut w = s.writer(&format!("t{i}")).unwrap();
                    for chunk in data.chunks(10_000) {
                        w.write_all(chunk).unwrap();
                    }
                    w.commit(&d, data.len() as u64).unwrap()
                })
            })
            .collect();
        let results: Vec<Committed> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|c| !c.existed).count(),
            1,
            "{results:?}"
        );
        assert!(results.iter().all(|c| c.digest == d));
        assert_eq!(s.read_blob(&d, u64::MAX).unwrap(), data);
        assert!(s.ingests().unwrap().is_empty());
        let ino = inode(&s.blob_path(&d));
        let again = s.write_blob(&data, Some(&d)).unwrap();
        assert!(again.existed);
        assert_eq!(
            inode(&s.blob_path(&d)),
            ino,
            "an existing blob is never replaced"
        );
        assert!(s.fsck().unwrap().is_clean());
    }

    #[test]
    fn fsck_finds_corruption_and_strays() {
        let (_t, s) = store();
        let good = s.write_blob(b"good", None).unwrap().digest;
        let bad = s.write_blob(b"soon bad", None).unwrap().digest;
        let report = s.fsck().unwrap();
        assert!(report.is_clean(), "{report:?}");
        assert_eq!((report.blobs, report.bytes), (2, 12));

        let p = s.blob_path(&bad);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        fs::write(&p, b"soon BAD").unwrap();
        fs::write(s.blobs_dir().join(".tmp-123"), b"x").unwrap();
        fs::create_dir(s.blobs_dir().join("f".repeat(64))).unwrap();
        fs::create_dir(s.root().join("blobs").join("sha512")).unwrap();
        fs::create_dir(s.ingest_root().join("junk")).unwrap();
        drop(s.writer("kept").unwrap());

        let report = s.fsck().unwrap();
        assert!(!report.is_clean());
        assert_eq!(report.ingests.len(), 1);
        assert_eq!(report.ingests[0].reference, "kept");
        let corrupt: Vec<_> = report
            .problems
            .iter()
            .filter_map(|p| match p {
                FsckProblem::Corrupt { digest, actual, .. } => {
                    Some((digest.clone(), actual.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(corrupt, vec![(bad.clone(), Digest::of(b"soon BAD"))]);
        let has = |f: &dyn Fn(&FsckProblem) -> bool| report.problems.iter().any(f);
        assert!(has(
            &|p| matches!(p, FsckProblem::BadName { path } if path.ends_with(".tmp-123"))
        ));
        assert!(has(&|p| matches!(p, FsckProblem::NotAFile { .. })));
        assert!(has(
            &|p| matches!(p, FsckProblem::Stray { path } if path.ends_with("sha512"))
        ));
        assert!(has(
            &|p| matches!(p, FsckProblem::StrayIngest { path } if path.ends_with("junk"))
        ));
        assert_eq!(report.problems.len(), 5, "{:?}", report.problems);
        assert!(report.problems[0].to_string().len() > 10);
        // list() skips what is not a blob.
        let listed: Vec<_> = s.list().unwrap().into_iter().map(|i| i.digest).collect();
        let mut want = vec![good, bad];
        want.sort();
        assert_eq!(listed, want);
    }
}
