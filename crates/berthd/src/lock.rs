//! One daemon per root: an exclusive, non-blocking `flock` on `<root>/berthd.lock`, held for the
//! daemon's life and released by the kernel when it exits, however it exits. The file holds the
//! owner's pid so that the refusal can name it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use crate::error::DaemonError;

/// The lock file under the root.
pub(crate) const LOCK_FILE: &str = "berthd.lock";

/// The held lock; dropping it releases the root.
#[derive(Debug)]
pub(crate) struct RootLock {
    _file: File,
}

impl RootLock {
    /// Locks `root`, or says which berthd holds it.
    pub(crate) fn acquire(root: &Path) -> Result<RootLock, DaemonError> {
        let path = root.join(LOCK_FILE);
        let lock_err = |source: io::Error| DaemonError::Lock {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(DaemonError::RootInUse {
                    root: root.to_path_buf(),
                    pid: read_pid(&path),
                })
            }
            Err(e) => return Err(lock_err(e.into())),
        }
        file.set_len(0).map_err(lock_err)?;
        file.rewind().map_err(lock_err)?;
        writeln!(file, "{}", std::process::id()).map_err(lock_err)?;
        Ok(RootLock { _file: file })
    }
}

fn read_pid(path: &PathBuf) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_is_refused_with_the_pid_then_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = RootLock::acquire(dir.path()).unwrap();
        let err = RootLock::acquire(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("(pid {})", std::process::id())),
            "{msg}"
        );
        drop(first);
        RootLock::acquire(dir.path()).unwrap();
    }
}
