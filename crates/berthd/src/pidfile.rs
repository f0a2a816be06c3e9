//! The pidfile (`--pidfile`): refused while it names another live process, as dockerd does;
//! removed on shutdown if it still holds our pid.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::process::{test_kill_process, Pid};

use crate::error::DaemonError;

#[derive(Debug)]
pub(crate) struct Pidfile {
    path: PathBuf,
}

impl Pidfile {
    /// Writes our pid to `path` (temp file, then rename).
    pub(crate) fn create(path: &Path) -> Result<Pidfile, DaemonError> {
        let me = std::process::id();
        if let Some(pid) = read_pid(path) {
            if pid != me && alive(pid) {
                return Err(DaemonError::PidfileInUse {
                    path: path.to_path_buf(),
                    pid,
                });
            }
        }
        let err = |source: io::Error| DaemonError::Pidfile {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(err)?;
        }
        let tmp = path.with_extension("pid.tmp");
        fs::write(&tmp, format!("{me}\n")).map_err(err)?;
        fs::rename(&tmp, path).map_err(err)?;
        Ok(Pidfile {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        if read_pid(&self.path) == Some(std::process::id()) {
            if let Err(e) = fs::remove_file(&self.path) {
                tracing::warn!("cannot remove {}: {e}", self.path.display());
            }
        }
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // EPERM means the process exists but is not ours: still alive.
    !matches!(test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_owner_is_refused_stale_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("berthd.pid");
        // pid 1 is always alive.
        fs::write(&path, "1\n").unwrap();
        assert!(matches!(
            Pidfile::create(&path),
            Err(DaemonError::PidfileInUse { pid: 1, .. })
        ));
        // A pid that cannot exist (above pid_max) is stale.
        fs::write(&path, "99999999\n").unwrap();
        let p = Pidfile::create(&path).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id()));
        drop(p);
        assert!(!path.exists());
    }
}
