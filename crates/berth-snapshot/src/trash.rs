//! Deferred removal: a removed snapshot is renamed into `<home>/trash/`
//! (one rename, at once invisible) and a background thread deletes it
//! later, when the store has been idle for a moment.
//!
//! Why not delete at once: on ext4 without a journal, the inode allocator
//! skips every free inode deleted in the last 60 s (300 s while its
//! inode-table block is dirty), one buffer-cache lookup per skipped inode
//! per allocation (`recently_deleted()` in fs/ext4/ialloc.c). Deleting an
//! image's tens of thousands of files and then unpacking another (`docker
//! rmi x && docker pull x`) made every file the pull created pay for a scan
//! of the deleted ones: seconds. A trashed tree keeps its inodes allocated
//! until the reaper runs, so a pull right after a removal allocates as on a
//! quiet filesystem. The reaper waits until no pull or unpack has run for
//! [`IDLE`], stops between directories as soon as one starts, and syncs the
//! filesystem when it is done (written-back inode tables shorten the
//! kernel's window from 300 s to 60 s).
//!
//! Crash safety: the rename is the removal; whatever is still in the trash
//! after a crash is deleted by the next process that opens the store.

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

/// How long the store must have been idle before the reaper deletes: long
/// enough for `docker rmi x && docker pull x` (or a person typing the
/// second command) to start the pull first, short enough that the space
/// comes back soon and the deletion is a minute old (ext4's clean window)
/// when a pull comes a minute later.
pub(crate) const IDLE: Duration = Duration::from_secs(5);

/// The shared state of a store's trash and its reaper thread.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    idle: Duration,
    /// Pulls, unpacks and removals in progress ([`Activity`] guards).
    busy: AtomicUsize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug)]
struct State {
    /// When the last activity ended (or the trash was last filled).
    last: Instant,
    /// Something may be in the trash.
    pending: bool,
    /// The reaper is deleting right now.
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
    /// already (left by an earlier process) is deleted once the store is
    /// idle.
    pub(crate) fn start(dir: PathBuf) -> std::io::Result<Trash> {
        Self::start_with_idle(dir, IDLE)
    }

    fn start_with_idle(dir: PathBuf, idle: Duration) -> std::io::Result<Trash> {
        let pending = fs::read_dir(&dir)?.next().is_some();
        let shared = Arc::new(Shared {
            dir,
            idle,
            busy: AtomicUsize::new(0),
            state: Mutex::new(State {
                last: Instant::now(),
                pending,
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
        let mut st = self.shared.lock();
        st.pending = true;
        st.last = Instant::now();
        drop(st);
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
        let mut st = self.shared.lock();
        st.working = false;
        if result.is_ok() {
            st.pending = false;
        }
        drop(st);
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

/// The reaper thread: waits for something to delete and an idle store,
/// deletes, and syncs.
fn reaper(shared: &Shared) {
    loop {
        {
            let mut st = shared.lock();
            loop {
                if st.stop {
                    return;
                }
                let idle_for = st.last.elapsed();
                if st.pending && !st.working && !shared.is_busy() && idle_for >= shared.idle {
                    break;
                }
                let wait = if st.pending && !shared.is_busy() {
                    shared
                        .idle
                        .saturating_sub(idle_for)
                        .max(Duration::from_millis(10))
                } else {
                    Duration::from_secs(3600)
                };
                st = shared
                    .wake
                    .wait_timeout(st, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            st.working = true;
        }
        let stop = || shared.is_busy() || shared.lock().stop;
        let result = empty(&shared.dir, &stop);
        let mut st = shared.lock();
        st.working = false;
        match result {
            Ok(true) => {
                st.pending = false;
                drop(st);
                // Written-back inode tables shorten ext4's recently-deleted window.
                if let Ok(d) = rfs::open(
                    &shared.dir,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    let _ = rfs::syncfs(&d);
                }
            }
            // Interrupted by a pull: try again once the store is idle.
            Ok(false) => st.last = Instant::now(),
            Err(e) => {
                // Nothing a retry would fix soon: leave it to the next open.
                tracing::warn!("cannot empty the trash {}: {e}", shared.dir.display());
                st.pending = false;
            }
        }
        shared.wake.notify_all();
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
        let idle = Duration::from_millis(300);
        let trash = Trash::start_with_idle(path.clone(), idle).unwrap();
        let busy = trash.activity();
        tree(&path.join("one"));
        trash.filled();
        std::thread::sleep(idle * 3);
        assert!(!trash.is_empty(), "nothing deleted while busy");
        drop(busy);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !trash.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(trash.is_empty(), "deleted once idle");
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
