//! The snapshot store: committed layers by chain ID, active (writable) and
//! view (read-only) snapshots by key, each a directory under
//! `<root>/<driver>/snapshots/` with a small `meta` file, as the crate
//! documentation lays out.
//!
//! Every change is made in `<root>/<driver>/tmp/` and renamed into place,
//! so concurrent callers (threads applying the layers of one image) and
//! crashes never leave a half-made snapshot under its name; the filesystem
//! is synced (one `syncfs` per snapshot) before that rename, so a snapshot
//! is never found under its name after a crash without all its files.
//! Removal renames a snapshot into `<root>/<driver>/trash/`, which a
//! background thread frees once the store is idle (trash.rs says how and
//! why).
//! One process owns a store at a time (an exclusive flock on
//! `<root>/<driver>/lock`), so [`Snapshotter::open`] can throw away
//! whatever `tmp/` and `trash/` still hold.

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::SnapshotError;
use crate::export::{export_diff, ExportResult};
use crate::mount::Mount;
use crate::trash::{Activity, Trash};
use crate::unpack::{unpack_layer, UnpackOptions, UnpackResult, WhiteoutMode};
use crate::{overlay, vfs};

/// How layers are stored and stacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Each layer unpacked once; containers see an overlay of them.
    Overlay,
    /// Each snapshot a full copy of its parent plus its own changes.
    Vfs,
}

impl Driver {
    fn dir(self) -> &'static str {
        match self {
            Driver::Overlay => "overlay",
            Driver::Vfs => "vfs",
        }
    }
}

/// The state of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Immutable; may be a parent.
    Committed,
    /// Writable, from [`Snapshotter::prepare`].
    Active,
    /// Read-only, from [`Snapshotter::view`].
    View,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Committed => "committed",
            Kind::Active => "active",
            Kind::View => "view",
        }
    }
    fn parse(s: &str) -> Option<Kind> {
        match s {
            "committed" => Some(Kind::Committed),
            "active" => Some(Kind::Active),
            "view" => Some(Kind::View),
            _ => None,
        }
    }
}

/// What the store knows about one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub kind: Kind,
    pub parent: Option<String>,
    /// For layers applied from a blob: the verified diff ID.
    pub diff_id: Option<String>,
    /// For layers applied from a blob: bytes of file content.
    pub size: Option<u64>,
    /// Overlay only: the short name of the diff dir under `l/`.
    pub(crate) link: Option<String>,
}

/// Disk use of one snapshot's own directory (not its parents').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes allocated (st_blocks * 512), hardlinked inodes counted once.
    pub size: u64,
    pub inodes: u64,
}

/// What [`Snapshotter::apply_layer`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub info: Info,
    /// `None` if the layer was already there (nothing was read).
    pub unpacked: Option<UnpackResult>,
}

/// A snapshot store under one root directory.
#[derive(Debug)]
pub struct Snapshotter {
    driver: Driver,
    /// `<root>/<driver>`.
    home: PathBuf,
    /// Options every overlay mount gets (`index=off`, and `redirect_dir=off`
    /// and `metacopy=off` where the kernel enables them by default, so an
    /// upper directory always holds whole files and can be exported).
    overlay_options: Vec<String>,
    /// `<home>/trash` and its reaper (declared before the lock: the reaper
    /// stops before the lock is released).
    trash: Trash,
    /// `<home>/lock`, flock'd exclusively while the store is open.
    _lock: std::fs::File,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name unlikely to be in use, for temporary directories and short links.
pub(crate) fn random_name(len: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u32(std::process::id());
        let mut v = h.finish();
        for _ in 0..12 {
            if out.len() == len {
                break;
            }
            out.push(char::from(ALPHABET[(v & 31) as usize]));
            v >>= 5;
        }
    }
    out
}

impl Snapshotter {
    /// Opens (creating it if needed) the store under `root`. With `driver`
    /// `None`, a store that already holds vfs snapshots stays vfs; otherwise
    /// overlay is used if the kernel and the backing filesystem support it
    /// (checked with a real test mount), and vfs if not.
    pub fn open(root: &Path, driver: Option<Driver>) -> Result<Self, SnapshotError> {
        let root_str = root.to_string_lossy();
        if root_str.contains([':', ',']) || !root.is_absolute() {
            return Err(SnapshotError::InvalidKey {
                key: root_str.into_owned(),
                reason: "the store root must be an absolute path without ':' or ','",
            });
        }
        let driver = match driver {
            Some(d) => d,
            None => {
                let has = |d: Driver| {
                    fs::read_dir(root.join(d.dir()).join("snapshots"))
                        .map(|mut r| r.next().is_some())
                        .unwrap_or(false)
                };
                if has(Driver::Vfs) && !has(Driver::Overlay) {
                    Driver::Vfs
                } else if overlay::supported(&root.join("overlay").join("tmp")) {
                    Driver::Overlay
                } else {
                    Driver::Vfs
                }
            }
        };
        let home = root.join(driver.dir());
        for sub in ["snapshots", "tmp", "trash", "l"] {
            if sub == "l" && driver != Driver::Overlay {
                continue;
            }
            let p = home.join(sub);
            fs::create_dir_all(&p).map_err(|e| SnapshotError::io("create", &p, e))?;
        }
        let lock_path = home.join("lock");
        let lock =
            fs::File::create(&lock_path).map_err(|e| SnapshotError::io("create", &lock_path, e))?;
        match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => return Err(SnapshotError::InUse { path: home }),
            Err(e) => return Err(SnapshotError::io("lock", &lock_path, e.into())),
        }
        // What interrupted operations left in tmp/ goes to the trash (the
        // store is locked, so nothing else is using it).
        let tmp = home.join("tmp");
        let trash_dir = home.join("trash");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let _ = fs::rename(e.path(), trash_dir.join(random_name(16)));
            }
        }
        let trash = Trash::start(trash_dir.clone())
            .map_err(|e| SnapshotError::io("open", &trash_dir, e))?;
        Ok(Snapshotter {
            driver,
            trash,
            _lock: lock,
            home,
            overlay_options: overlay::default_options(),
        })
    }

    pub fn driver(&self) -> Driver {
        self.driver
    }

    fn tmp(&self) -> PathBuf {
        self.home.join("tmp")
    }

    /// Marks the store busy while the guard lives: removed snapshots are
    /// not deleted meanwhile (a pull holds one from start to end, so that
    /// the deletion of the image removed just before does not slow it down).
    pub fn activity(&self) -> Activity {
        self.trash.activity()
    }

    /// Deletes the removed snapshots now instead of when the store is idle.
    pub fn empty_trash(&self) -> Result<(), SnapshotError> {
        self.trash
            .empty_now()
            .map_err(|e| SnapshotError::io("empty", self.trash.dir(), e))
    }

    /// Whether every removed snapshot has been deleted.
    pub fn trash_is_empty(&self) -> bool {
        self.trash.is_empty()
    }

    /// The directory of snapshot `name` (validated).
    fn dir_of(&self, name: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.home.join("snapshots").join(dir_name(name)?))
    }

    /// The directory holding a snapshot's files.
    pub(crate) fn diff_of(&self, name: &str) -> Result<PathBuf, SnapshotError> {
        Ok(self.dir_of(name)?.join("diff"))
    }

    /// Short link path of an overlay snapshot's diff dir.
    pub(crate) fn link_path(&self, link: &str) -> PathBuf {
        self.home.join("l").join(link)
    }

    /// What the store knows about `name`.
    pub fn stat(&self, name: &str) -> Result<Info, SnapshotError> {
        let meta = self.dir_of(name)?.join("meta");
        let text = match fs::read_to_string(&meta) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(SnapshotError::NotFound { key: name.into() })
            }
            Err(e) => return Err(SnapshotError::io("read", &meta, e)),
        };
        parse_meta(name, &meta, &text)
    }

    /// All snapshots, in no particular order.
    pub fn list(&self) -> Result<Vec<Info>, SnapshotError> {
        let dir = self.home.join("snapshots");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(|e| SnapshotError::io("list", &dir, e))? {
            let e = e.map_err(|e| SnapshotError::io("list", &dir, e))?;
            let Some(name) = e.file_name().to_str().map(key_of_dir) else {
                continue;
            };
            match self.stat(&name) {
                Ok(info) => out.push(info),
                // Removed meanwhile.
                Err(SnapshotError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The chain `name`, its parent, ... down to the base layer.
    pub(crate) fn chain(&self, name: &str) -> Result<Vec<Info>, SnapshotError> {
        let mut out = Vec::new();
        let mut next = Some(name.to_string());
        while let Some(n) = next {
            if out.len() > 4096 {
                return Err(SnapshotError::Corrupt {
                    path: self.dir_of(name)?,
                    reason: "parent chain longer than 4096 (a cycle?)".into(),
                });
            }
            let info = self.stat(&n)?;
            next = info.parent.clone();
            out.push(info);
        }
        Ok(out)
    }

    fn require_committed(&self, parent: Option<&str>) -> Result<(), SnapshotError> {
        if let Some(p) = parent {
            let info = self.stat(p)?;
            if info.kind != Kind::Committed {
                return Err(SnapshotError::WrongState {
                    key: p.into(),
                    state: info.kind.as_str(),
                    expected: "committed",
                });
            }
        }
        Ok(())
    }

    /// Makes a new snapshot directory in `tmp/` with `diff/` (and `work/`
    /// for overlay), filled by `fill`, then renames it to `name`.
    fn create(
        &self,
        name: &str,
        kind: Kind,
        parent: Option<&str>,
        fill: impl FnOnce(&Path) -> Result<Option<UnpackResult>, SnapshotError>,
    ) -> Result<Applied, SnapshotError> {
        let final_dir = self.dir_of(name)?;
        if final_dir.exists() {
            return Err(SnapshotError::AlreadyExists { key: name.into() });
        }
        let tmp = self.tmp().join(random_name(16));
        let result = self.create_in(&tmp, &final_dir, name, kind, parent, fill);
        if result.is_err() {
            let _ = remove_tree(&tmp);
        }
        result
    }

    fn create_in(
        &self,
        tmp: &Path,
        final_dir: &Path,
        name: &str,
        kind: Kind,
        parent: Option<&str>,
        fill: impl FnOnce(&Path) -> Result<Option<UnpackResult>, SnapshotError>,
    ) -> Result<Applied, SnapshotError> {
        let diff = tmp.join("diff");
        fs::create_dir_all(&diff).map_err(|e| SnapshotError::io("create", &diff, e))?;
        if self.driver == Driver::Overlay && kind == Kind::Active {
            let work = tmp.join("work");
            fs::create_dir(&work).map_err(|e| SnapshotError::io("create", &work, e))?;
        }
        let unpacked = fill(&diff)?;
        let mut info = Info {
            name: name.into(),
            kind,
            parent: parent.map(str::to_string),
            diff_id: unpacked.as_ref().map(|u| u.diff_id.clone()),
            size: unpacked.as_ref().map(|u| u.size),
            link: None,
        };
        let link = if self.driver == Driver::Overlay {
            Some(self.make_link(name)?)
        } else {
            None
        };
        info.link = link.clone();
        write_meta(&tmp.join("meta"), &info)?;
        // Everything under `tmp` (and the link) reaches the disk before the
        // snapshot appears under its name.
        sync_filesystem(tmp)?;
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            tmp,
            rustix::fs::CWD,
            final_dir,
            rustix::fs::RenameFlags::NOREPLACE,
        ) {
            Ok(()) => Ok(Applied { info, unpacked }),
            Err(e) => {
                if let Some(l) = &link {
                    let _ = fs::remove_file(self.link_path(l));
                }
                if matches!(e, rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY) {
                    Err(SnapshotError::AlreadyExists { key: name.into() })
                } else {
                    Err(SnapshotError::io("rename into place", final_dir, e.into()))
                }
            }
        }
    }

    /// Creates `l/<short>` pointing at `name`'s diff dir; returns `<short>`.
    fn make_link(&self, name: &str) -> Result<String, SnapshotError> {
        let target = Path::new("../snapshots").join(dir_name(name)?).join("diff");
        for _ in 0..16 {
            let link = random_name(overlay::LINK_LEN);
            match std::os::unix::fs::symlink(&target, self.link_path(&link)) {
                Ok(()) => return Ok(link),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SnapshotError::io("create link", self.link_path(&link), e)),
            }
        }
        Err(SnapshotError::Unsupported {
            what: "cannot find a free short link name".into(),
        })
    }

    /// Unpacks a layer blob as the committed snapshot `chain_id` on top of
    /// `parent`. The whiteout mode in `opts` is set by the driver. If the
    /// layer exists already, nothing is read and `unpacked` is `None`.
    ///
    /// With the overlay driver the parent need not exist yet (the layers of
    /// an image can be applied on separate threads at once); with vfs it must
    /// be committed first.
    pub fn apply_layer(
        &self,
        chain_id: &str,
        parent: Option<&str>,
        blob: impl Read,
        opts: &UnpackOptions,
    ) -> Result<Applied, SnapshotError> {
        if let Ok(info) = self.stat(chain_id) {
            return Ok(Applied {
                info,
                unpacked: None,
            });
        }
        let _busy = self.activity();
        if let Some(p) = parent {
            dir_name(p)?;
        }
        let mut opts = opts.clone();
        let result = match self.driver {
            Driver::Overlay => {
                opts.whiteouts = WhiteoutMode::Overlay;
                self.create(chain_id, Kind::Committed, parent, |diff| {
                    Ok(Some(unpack_layer(blob, diff, &opts)?))
                })
            }
            Driver::Vfs => {
                self.require_committed(parent)?;
                opts.whiteouts = WhiteoutMode::Apply;
                self.create(chain_id, Kind::Committed, parent, |diff| {
                    if let Some(p) = parent {
                        vfs::copy_tree(&self.diff_of(p)?, diff)?;
                    }
                    Ok(Some(unpack_layer(blob, diff, &opts)?))
                })
            }
        };
        match result {
            // Another thread applied the same layer meanwhile.
            Err(SnapshotError::AlreadyExists { .. }) => Ok(Applied {
                info: self.stat(chain_id)?,
                unpacked: None,
            }),
            other => other,
        }
    }

    /// Creates the writable snapshot `key` on top of the committed `parent`
    /// and returns the mounts that give its root filesystem.
    pub fn prepare(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.require_committed(parent)?;
        self.create(key, Kind::Active, parent, |diff| {
            if let (Driver::Vfs, Some(p)) = (self.driver, parent) {
                vfs::copy_tree(&self.diff_of(p)?, diff)?;
            }
            Ok(None)
        })?;
        self.mounts(key)
    }

    /// Creates the read-only snapshot `key` of the committed `parent`.
    pub fn view(&self, key: &str, parent: Option<&str>) -> Result<Vec<Mount>, SnapshotError> {
        self.require_committed(parent)?;
        self.create(key, Kind::View, parent, |_| Ok(None))?;
        self.mounts(key)
    }

    /// The mounts of an active or view snapshot (again).
    pub fn mounts(&self, key: &str) -> Result<Vec<Mount>, SnapshotError> {
        let info = self.stat(key)?;
        if info.kind == Kind::Committed {
            return Err(SnapshotError::WrongState {
                key: key.into(),
                state: "committed",
                expected: "active or view",
            });
        }
        match self.driver {
            Driver::Overlay => overlay::mounts(self, &info, &self.overlay_options),
            Driver::Vfs => vfs::mounts(self, &info),
        }
    }

    /// Turns the active snapshot `key` into the committed snapshot `name`
    /// (unmount it first).
    pub fn commit(&self, name: &str, key: &str) -> Result<(), SnapshotError> {
        let mut info = self.stat(key)?;
        if info.kind != Kind::Active {
            return Err(SnapshotError::WrongState {
                key: key.into(),
                state: info.kind.as_str(),
                expected: "active",
            });
        }
        let from = self.dir_of(key)?;
        let to = self.dir_of(name)?;
        info.kind = Kind::Committed;
        info.name = name.into();
        let old_link = info.link.take();
        if self.driver == Driver::Overlay {
            info.link = Some(self.make_link(name)?);
        }
        write_meta(&from.join("meta"), &info)?;
        sync_filesystem(&from)?;
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            &from,
            rustix::fs::CWD,
            &to,
            rustix::fs::RenameFlags::NOREPLACE,
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST | rustix::io::Errno::NOTEMPTY => {
                SnapshotError::AlreadyExists { key: name.into() }
            }
            e => SnapshotError::io("rename", &from, e.into()),
        })?;
        if let Some(l) = old_link {
            let _ = fs::remove_file(self.link_path(&l));
        }
        let work = to.join("work");
        if work.exists() {
            remove_tree(&work).map_err(|e| SnapshotError::io("remove", &work, e))?;
        }
        Ok(())
    }

    /// Removes snapshot `key` (refused while other snapshots build on it):
    /// it is gone from the store at once, and its files are freed in the
    /// background once the store is idle (trash.rs; [`Snapshotter::empty_trash`]
    /// deletes them now).
    pub fn remove(&self, key: &str) -> Result<(), SnapshotError> {
        let info = self.stat(key)?;
        let children: Vec<String> = self
            .list()?
            .into_iter()
            .filter(|i| i.parent.as_deref() == Some(key))
            .map(|i| i.name)
            .collect();
        if !children.is_empty() {
            return Err(SnapshotError::HasChildren {
                key: key.into(),
                children,
            });
        }
        let dir = self.dir_of(key)?;
        let doomed = self.trash.dir().join(random_name(16));
        fs::rename(&dir, &doomed).map_err(|e| SnapshotError::io("remove", &dir, e))?;
        if let Some(l) = &info.link {
            let _ = fs::remove_file(self.link_path(l));
        }
        self.trash.filled();
        Ok(())
    }

    /// Writes the own changes of snapshot `key` (active or committed) as an
    /// uncompressed layer tar with OCI whiteouts (overlay driver only; the
    /// snapshot should not be mounted).
    pub fn export(&self, key: &str, out: impl io::Write) -> Result<ExportResult, SnapshotError> {
        let info = self.stat(key)?;
        if info.kind == Kind::View {
            return Err(SnapshotError::WrongState {
                key: key.into(),
                state: "view",
                expected: "active or committed",
            });
        }
        if self.driver != Driver::Overlay {
            return Err(SnapshotError::Unsupported {
                what: "exporting a diff from the vfs driver (it keeps full copies, not diffs)"
                    .into(),
            });
        }
        export_diff(&self.diff_of(key)?, out)
    }

    /// Disk use of `key`'s own files.
    pub fn usage(&self, key: &str) -> Result<Usage, SnapshotError> {
        self.stat(key)?;
        let diff = self.diff_of(key)?;
        let mut usage = Usage::default();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![diff];
        while let Some(p) = stack.pop() {
            let md = fs::symlink_metadata(&p).map_err(|e| SnapshotError::io("stat", &p, e))?;
            if md.nlink() > 1 && !md.is_dir() && !seen.insert((md.dev(), md.ino())) {
                continue;
            }
            usage.inodes += 1;
            usage.size += md.blocks() * 512;
            if md.is_dir() {
                for e in fs::read_dir(&p).map_err(|e| SnapshotError::io("list", &p, e))? {
                    let e = e.map_err(|e| SnapshotError::io("list", &p, e))?;
                    stack.push(e.path());
                }
            }
        }
        Ok(usage)
    }
}

/// The directory name of a snapshot key: `:` (as in `sha256:<hex>`) becomes
/// `+`, which keys may not contain, so the mapping is one to one.
fn dir_name(key: &str) -> Result<String, SnapshotError> {
    let bad = |reason| SnapshotError::InvalidKey {
        key: key.into(),
        reason,
    };
    if key.is_empty() || key.len() > 200 {
        return Err(bad("must be 1 to 200 bytes long"));
    }
    if key.starts_with('.') {
        return Err(bad("must not start with '.'"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err(bad("may only hold letters, digits, '.', '_', '-' and ':'"));
    }
    Ok(key.replace(':', "+"))
}

fn key_of_dir(dir: &str) -> String {
    dir.replace('+', ":")
}

fn write_meta(path: &Path, info: &Info) -> Result<(), SnapshotError> {
    let mut text = format!("kind={}\n", info.kind.as_str());
    for (k, v) in [
        ("parent", info.parent.clone()),
        ("diff_id", info.diff_id.clone()),
        ("size", info.size.map(|s| s.to_string())),
        ("link", info.link.clone()),
    ] {
        if let Some(v) = v {
            text.push_str(&format!("{k}={v}\n"));
        }
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text).map_err(|e| SnapshotError::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| SnapshotError::io("write", path, e))
}

fn parse_meta(name: &str, path: &Path, text: &str) -> Result<Info, SnapshotError> {
    let corrupt = |reason: String| SnapshotError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut info = Info {
        name: name.into(),
        kind: Kind::Committed,
        parent: None,
        diff_id: None,
        size: None,
        link: None,
    };
    let mut kind = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            return Err(corrupt(format!("line {line:?}")));
        };
        match k {
            "kind" => kind = Kind::parse(v),
            "parent" => info.parent = Some(v.into()),
            "diff_id" => info.diff_id = Some(v.into()),
            "size" => info.size = v.parse().ok(),
            "link" => info.link = Some(v.into()),
            _ => {}
        }
    }
    info.kind = kind.ok_or_else(|| corrupt("no valid kind".into()))?;
    Ok(info)
}

/// Writes back everything dirty on the filesystem that holds `path`: one
/// `syncfs` makes a whole unpacked layer durable, where an `fsync` per file
/// would cost a disk flush each.
fn sync_filesystem(path: &Path) -> Result<(), SnapshotError> {
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| SnapshotError::io("open", path, e.into()))?;
    rustix::fs::syncfs(&fd).map_err(|e| SnapshotError::io("sync", path, e.into()))
}

/// Removes a directory tree without following symlinks.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or(OsStr::new("."));
    let dir = rustix::fs::open(
        parent,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    crate::unpack::remove_all_at(std::os::fd::AsFd::as_fd(&dir), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_one_to_one() {
        assert_eq!(dir_name("sha256:ab").unwrap(), "sha256+ab");
        assert_eq!(key_of_dir("sha256+ab"), "sha256:ab");
        assert!(dir_name("../x").is_err());
        assert!(dir_name("a/b").is_err());
        assert!(dir_name("a+b").is_err());
        assert!(dir_name("").is_err());
        assert_eq!(random_name(12).len(), 12);
        assert_ne!(random_name(12), random_name(12));
    }

    #[test]
    fn meta_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let info = Info {
            name: "sha256:ab".into(),
            kind: Kind::Active,
            parent: Some("sha256:cd".into()),
            diff_id: Some("sha256:ef".into()),
            size: Some(7),
            link: Some("ABC".into()),
        };
        let p = dir.path().join("meta");
        write_meta(&p, &info).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(parse_meta("sha256:ab", &p, &text).unwrap(), info);
        assert!(parse_meta("x", &p, "garbage").is_err());
    }
}
