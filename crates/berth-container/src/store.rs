//! The state root (`--root`): one directory per container holding
//! `state.json` and, between create and start, the `exec.fifo`. Commands on one
//! id are serialised with an exclusive flock on the container's directory.

use std::fs;
use std::io::ErrorKind as IoKind;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};

use crate::error::{ContainerError, Result};
use crate::state::SavedState;

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// The directory of compiled seccomp programs under the root.
pub const SECCOMP_CACHE: &str = "@seccomp-cache";

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one container's directory, released on drop.
#[derive(Debug)]
pub struct Lock {
    dir: fs::File,
}

impl Lock {
    /// The locked descriptor: a forked child must close it, or the lock would
    /// live as long as the child does.
    pub(crate) fn raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.dir.as_raw_fd()
    }
}

impl Store {
    /// Opens the state root, creating it (mode 0700) if needed.
    pub fn open(root: &Path) -> Result<Store> {
        if let Err(e) = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
        {
            return Err(ContainerError::io("create state root", root, e));
        }
        let root = fs::canonicalize(root)
            .map_err(|e| ContainerError::io("resolve state root", root, e))?;
        Ok(Store { root })
    }

    /// Compiled seccomp programs, in `ROOT/@seccomp-cache` (a name no
    /// container id can take: `@` is not allowed in ids).
    pub fn seccomp_cache(&self) -> berth_seccomp::ProgramCache {
        berth_seccomp::ProgramCache::new(self.root.join(SECCOMP_CACHE))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Creates the directory of a new container and locks it.
    pub fn create_dir(&self, id: &str) -> Result<Lock> {
        crate::id::validate(id)?;
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == IoKind::AlreadyExists => {
                return Err(ContainerError::Exists(id.to_string()))
            }
            Err(e) => return Err(ContainerError::io("create container directory", dir, e)),
        }
        self.lock(id)
    }

    /// Locks an existing container's directory.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        crate::id::validate(id)?;
        let dir = self.dir(id);
        let f = match fs::File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == IoKind::NotFound => {
                return Err(ContainerError::NotFound(id.to_string()))
            }
            Err(e) => return Err(ContainerError::io("open container directory", dir, e)),
        };
        loop {
            match flock(&f, FlockOperation::LockExclusive) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(ContainerError::io("lock", dir, e.into())),
            }
        }
        Ok(Lock { dir: f })
    }

    pub fn load(&self, id: &str) -> Result<SavedState> {
        crate::id::validate(id)?;
        let path = self.dir(id).join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == IoKind::NotFound => {
                return Err(ContainerError::NotFound(id.to_string()))
            }
            Err(e) => return Err(ContainerError::io("read", path, e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| ContainerError::CorruptState {
            id: id.to_string(),
            reason: e.to_string(),
        })
    }

    /// Writes the state atomically (temp file, then rename).
    pub fn save(&self, state: &SavedState) -> Result<()> {
        let dir = self.dir(&state.id);
        let tmp = dir.join(".state.json.tmp");
        let bytes = serde_json::to_vec(state).map_err(|e| ContainerError::CorruptState {
            id: state.id.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&tmp, bytes).map_err(|e| ContainerError::io("write", &tmp, e))?;
        let _ = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600));
        fs::rename(&tmp, dir.join(STATE_FILE)).map_err(|e| ContainerError::io("rename", &tmp, e))
    }

    /// Removes a container's directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == IoKind::NotFound => Ok(()),
            Err(e) => Err(ContainerError::io("remove", dir, e)),
        }
    }

    /// Ids of every container directory, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = fs::read_dir(&self.root).map_err(|e| ContainerError::io("read", &self.root, e))?;
        for entry in rd.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if let Some(name) = entry.file_name().to_str() {
                    if crate::id::validate(name).is_ok() {
                        ids.push(name.to_string());
                    }
                }
            }
        }
        ids.sort();
        Ok(ids)
    }
}
