//! Deferred removal: a removed snapshot is renamed into `<home>/trash/`
//! (one rename, at once invisible) and a background thread, the reaper,
//! frees it in two steps: once the store has been idle for [`IDLE`] it
//! truncates the files (the disk space comes back) and marks the entry
//! `-kept`; once idle for [`LONG_IDLE`], or when the filesystem runs short
//! of inodes, it deletes the rest and syncs.
//!
//! Why not delete at once: on ext4 without a journal, the inode allocator
//! skips every free inode deleted in the last 60 s (300 s while its
//! inode-table block is dirty, which allocating next to it makes it), one
//! buffer-cache lookup per skipped inode per allocation
//! (`recently_deleted()` in fs/ext4/ialloc.c). Deleting an image's tens of
//! thousands of files and then unpacking another (`docker rmi x && docker
//! pull x`, or the same a minute later) made every file the pull created
//! pay for a scan of the deleted ones: seconds. Kept inodes stay allocated,
//! so a pull allocates as on a quiet filesystem; they are deleted when the
//! store has been idle for as long as the kernel's window. The reaper
//! stops between directories as soon as a pull or unpack starts
//! ([`Activity`]).
//!
//! Crash safety: the rename is the removal; whatever is still in the trash
//! after a crash is freed by the next process that opens the store.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};

/// How long the store must have been idle before the reaper truncates the
/// files of removed snapshots (frees their space, not their inodes).
pub(crate) const IDLE: Duration = Duration::from_secs(5);

/// How long the store must have been idle before the reaper deletes the
/// kept inodes: ext4's longest recently-deleted window.
pub(crate) const LONG_IDLE: Duration = Duration::from_secs(300);

/// Kept inodes are deleted after [`IDLE`] already when fewer than one in
/// this many inodes of the filesystem is free.
const FEW_FREE_INODES: u64 = 10;

/// The suffix of a trash entry whose large files are truncated.
pub(crate) const KEPT: &str = "-kept";

/// The shared state of a store's trash and its reaper thread.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    idle: Duration,
    long_idle: Duration,
    /// Pulls, unpacks and removals in progress ([`Activity`] guards).
    busy: AtomicUsize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug)]
struct State {
    /// When the last activity ended (or the trash was last filled).
    last: Instant,
    /// The reaper (or [`Trash::empty_now`]) is at work right now.
    working: bool,
    stop: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst) > 0
    }
}

/// A store's trash directory and the thread that empties it.
#[derive(Debug)]
pub(crate) struct Trash {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Keeps the reaper off while alive (see [`crate::Snapshotter::activity`]).
#[derive(Debug)]
#[must_use = "the store counts as busy only while the guard lives"]
pub struct Activity {
    shared: Arc<Shared>,
}

impl Drop for Activity {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.last = Instant::now();
        self.shared.busy.fetch_sub(1, Ordering::SeqCst);
        drop(st);
        self.shared.wake.notify_all();
    }
}

impl Trash {
    /// Starts the reaper for `dir` (which must exist); whatever is in it
    /// already (left by an earlier process) is freed the same way.
    pub(crate) fn start(dir: PathBuf) -> std::io::Result<Trash> {
        Self::start_with_idle(dir, IDLE, LONG_IDLE)
    }

    fn start_with_idle(
        dir: PathBuf,
        idle: Duration,
        long_idle: Duration,
    ) -> std::io::Result<Trash> {
        fs::read_dir(&dir)?;
        let shared = Arc::new(Shared {
            dir,
            idle,
            long_idle,
            busy: AtomicUsize::new(0),
            state: Mutex::new(State {
                last: Instant::now(),
                working: false,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("berth-snapshot-reaper".into())
            .spawn(move || reaper(&s))?;
        Ok(Trash {
            shared,
            thread: Some(thread),
        })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Marks the store busy until the guard is dropped.
    pub(crate) fn activity(&self) -> Activity {
        let mut st = self.shared.lock();
        self.shared.busy.fetch_add(1, Ordering::SeqCst);
        st.last = Instant::now();
        drop(st);
        Activity {
            shared: self.shared.clone(),
        }
    }

    /// Tells the reaper something was put in the trash.
    pub(crate) fn filled(&self) {
        self.shared.lock().last = Instant::now();
        self.shared.wake.notify_all();
    }

    /// Deletes everything in the trash now, on this thread (waiting for the
    /// reaper if it is at work).
    pub(crate) fn empty_now(&self) -> std::io::Result<()> {
        let mut st = self.shared.lock();
        while st.working {
            st = self.shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.working = true;
        drop(st);
        let result = empty(&self.shared.dir, &|| false).map(|_| ());
        self.shared.lock().working = false;
        self.shared.wake.notify_all();
        result
    }

    /// Whether the trash holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        fs::read_dir(&self.shared.dir)
            .map(|mut r| r.next().is_none())
            .unwrap_or(true)
    }
}

impl Drop for Trash {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            // The reaper checks `stop` between directories: this is quick.
            let _ = t.join();
        }
    }
}

/// What the reaper does next.
enum Job {
    /// Truncate the files of these fresh entries, then mark them kept.
    Shrink(Vec<OsString>),
    /// Delete everything, then sync.
    Delete,
}

/// The entries of the trash: (fresh, kept).
fn scan(dir: &Path) -> (Vec<OsString>, usize) {
    let (mut fresh, mut kept) = (Vec::new(), 0);
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name();
        if name.as_bytes().ends_with(KEPT.as_bytes()) {
            kept += 1;
        } else {
            fresh.push(name);
        }
    }
    (fresh, kept)
}

/// Whether the filesystem of `dir` has few free inodes left.
fn few_inodes(dir: &Path) -> bool {
    rfs::statvfs(dir).is_ok_and(|v| v.f_files > 0 && v.f_ffree < v.f_files / FEW_FREE_INODES)
}

/// The reaper thread: waits for an idle store and work to do, does it.
fn reaper(shared: &Shared) {
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if st.stop {
                    return;
                }
                let mut wait = Duration::from_secs(3600);
                if !st.working && !shared.is_busy() {
                    let idle_for = st.last.elapsed();
                    if idle_for < shared.idle {
                        wait = shared.idle - idle_for;
                    } else {
                        let (fresh, kept) = scan(&shared.dir);
                        if !fresh.is_empty() {
                            st.working = true;
                            break Job::Shrink(fresh);
                        }
                        if kept > 0 && (idle_for >= shared.long_idle || few_inodes(&shared.dir)) {
                            st.working = true;
                            break Job::Delete;
                        }
                        if kept > 0 {
                            wait = shared.long_idle - idle_for;
                        }
                    }
                }
                st = shared
                    .wake
                    .wait_timeout(st, wait.max(Duration::from_millis(10)))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
        };
        let stop = || shared.is_busy() || shared.lock().stop;
        let result = match job {
            Job::Shrink(names) => shrink(&shared.dir, &names, &stop),
            Job::Delete => empty(&shared.dir, &stop).inspect(|&done| {
                if done {
                    // Written-back inode tables shorten ext4's recently-deleted window.
                    if let Ok(d) = rfs::open(
                        &shared.dir,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                        Mode::empty(),
                    ) {
                        let _ = rfs::syncfs(&d);
                    }
                }
            }),
        };
        let mut st = shared.lock();
        st.working = false;
        if let Err(e) = result {
            tracing::warn!("cannot free the trash {}: {e}", shared.dir.display());
            // Tried again after the next idle spell (or by the next open).
            st.last = Instant::now();
        }
        // Interrupted by a pull (`Ok(false)`): tried again once the store is idle.
        drop(st);
        shared.wake.notify_all();
    }
}

/// Truncates the files of the trash entries `names` and renames each
/// to `NAME-kept`; `Ok(false)` if `stop` said to stop first.
fn shrink(dir: &Path, names: &[OsString], stop: &dyn Fn() -> bool) -> std::io::Result<bool> {
    let fd = rfs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for name in names {
        match shrink_at(fd.as_fd(), name, stop) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            // Its space comes back with the deletion instead.
            Err(e) => tracing::warn!(
                "cannot truncate the files of {}: {e}",
                dir.join(name).display()
            ),
        }
        let mut kept = name.clone();
        kept.push(KEPT);
        rfs::renameat(&fd, name, &fd, &kept)?;
    }
    Ok(true)
}

/// Truncates every non-empty regular file below `name` in `dir` that has
/// no other link, never following a symlink; checks `stop` before each
/// directory.
fn shrink_at(dir: BorrowedFd<'_>, name: &OsStr, stop: &dyn Fn() -> bool) -> std::io::Result<bool> {
    let st = match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(true),
        Err(e) => return Err(e.into()),
    };
    match rfs::FileType::from_raw_mode(st.st_mode) {
        rfs::FileType::RegularFile => {
            if st.st_nlink == 1 && st.st_size > 0 {
                let truncated = rfs::openat(
                    dir,
                    name,
                    OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .and_then(|f| rfs::ftruncate(&f, 0));
                match truncated {
                    // An immutable file (a container's `chattr +i`) keeps its
                    // space until the deletion says why it cannot go.
                    Ok(()) | Err(rustix::io::Errno::PERM | rustix::io::Errno::ACCESS) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(true)
        }
        rfs::FileType::Directory => {
            if stop() {
                return Ok(false);
            }
            let sub = rfs::openat(
                dir,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            for n in names(sub.as_fd())? {
                if !shrink_at(sub.as_fd(), &n, stop)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        _ => Ok(true),
    }
}

/// Deletes every entry of `dir`; `Ok(false)` if `stop` said to stop first.
fn empty(dir: &Path, stop: &dyn Fn() -> bool) -> std::io::Result<bool> {
    let fd = rfs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for name in names(fd.as_fd())? {
        if !remove_all_at(fd.as_fd(), &name, stop)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn names(dir: BorrowedFd<'_>) -> std::io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for child in rfs::Dir::read_from(dir)? {
        let child = child?;
        let n = child.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(out)
}

/// Removes `name` in `dir` and everything below it, never following a
/// symlink; checks `stop` before each directory and returns `Ok(false)`
/// (leaving the rest) when it says so.
fn remove_all_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<bool> {
    match rfs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(true),
        Err(rustix::io::Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    if stop() {
        return Ok(false);
    }
    let sub = rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    for n in names(sub.as_fd())? {
        if !remove_all_at(sub.as_fd(), &n, stop)? {
            return Ok(false);
        }
    }
    match rfs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        for d in ["a/b/c", "a/d"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("a/b/c/f"), "x").unwrap();
        fs::write(root.join("a/d/g"), "y").unwrap();
        std::os::unix::fs::symlink("/", root.join("a/link")).unwrap();
    }

    #[test]
    fn empties_and_stops_when_told() {
        let dir = tempfile::tempdir().unwrap();
        let trash = dir.path().join("trash");
        fs::create_dir(&trash).unwrap();
        tree(&trash.join("one"));
        assert!(!empty(&trash, &|| true).unwrap(), "stopped at once");
        assert!(trash.join("one").exists());
        assert!(empty(&trash, &|| false).unwrap());
        assert_eq!(fs::read_dir(&trash).unwrap().count(), 0);
    }

    #[test]
    fn reaper_waits_for_idle_then_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trash");
        fs::create_dir(&path).unwrap();
        let (idle, long_idle) = (Duration::from_millis(200), Duration::from_secs(2));
        let trash = Trash::start_with_idle(path.clone(), idle, long_idle).unwrap();
        let busy = trash.activity();
        tree(&path.join("one"));
        fs::write(path.join("one/big"), vec![7u8; 1 << 20]).unwrap();
        fs::write(path.join("one/small"), b"small").unwrap();
        fs::write(path.join("one/linked"), vec![7u8; 1 << 20]).unwrap();
        fs::hard_link(path.join("one/linked"), dir.path().join("outside")).unwrap();
        trash.filled();
        std::thread::sleep(idle * 4);
        assert!(path.join("one").exists(), "nothing touched while busy");
        drop(busy);
        let wait_for = |what: &str, f: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !f() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert!(f(), "{what}");
        };
        let kept = path.join(format!("one{KEPT}"));
        wait_for("large files truncated once idle", &|| kept.exists());
        let started = Instant::now();
        assert_eq!(fs::metadata(kept.join("big")).unwrap().len(), 0);
        assert_eq!(fs::metadata(kept.join("small")).unwrap().len(), 0);
        assert_eq!(
            fs::metadata(kept.join("linked")).unwrap().len(),
            1 << 20,
            "a file with another link is left whole"
        );
        wait_for("deleted after the long idle", &|| trash.is_empty());
        assert!(
            started.elapsed() >= long_idle - idle * 2,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            fs::metadata(dir.path().join("outside")).unwrap().len(),
            1 << 20
        );
    }

    #[test]
    fn empty_now_deletes_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trash");
        fs::create_dir(&path).unwrap();
        let trash = Trash::start(path.clone()).unwrap();
        tree(&path.join("one"));
        trash.filled();
        trash.empty_now().unwrap();
        assert!(trash.is_empty());
    }
}
