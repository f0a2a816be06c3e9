//! Joining a cgroup cheaply. Moving a process by writing its pid to
//! `cgroup.procs` takes the kernel's global threadgroup lock for writing, which
//! waits for an RCU grace period (8-12 ms measured on this kind of host). A
//! single-threaded process that moves *itself* through the v1 `tasks` files
//! skips that lock, and a child created by `clone3(CLONE_INTO_CGROUP)` starts
//! in its cgroup v2 directory without a migration at all.
//!
//! The runtime opens the files (with its own credentials) before forking;
//! the child writes through them, even from inside a new user namespace.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

use crate::error::CgroupError;
use crate::manager::Manager;

#[derive(Debug)]
pub struct JoinHandles {
    tasks: Vec<OwnedFd>,
    v2_dir: Option<OwnedFd>,
    v2_procs: Option<OwnedFd>,
}

fn open(path: &std::path::Path, flags: OFlags) -> Result<OwnedFd, CgroupError> {
    rustix::fs::open(path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| CgroupError::io("open", path, e.into()))
}

impl Manager {
    /// Opens what a child needs to join this (already created) cgroup itself.
    pub fn join_handles(&self) -> Result<JoinHandles, CgroupError> {
        let mut h = JoinHandles {
            tasks: Vec::new(),
            v2_dir: None,
            v2_procs: None,
        };
        for d in &self.dirs {
            if d.fstype == "cgroup2" {
                h.v2_dir = Some(open(&d.path, OFlags::RDONLY | OFlags::DIRECTORY)?);
                h.v2_procs = Some(open(&d.path.join("cgroup.procs"), OFlags::WRONLY)?);
            } else {
                h.tasks.push(open(&d.path.join("tasks"), OFlags::WRONLY)?);
            }
        }
        Ok(h)
    }
}

impl JoinHandles {
    /// The cgroup v2 directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub fn v2_dir(&self) -> Option<BorrowedFd<'_>> {
        self.v2_dir.as_ref().map(AsFd::as_fd)
    }

    /// Moves the calling process into the cgroup: every v1 hierarchy through
    /// `tasks` (the caller must be single-threaded, so its one thread is the
    /// whole process), and v2 through `cgroup.procs` unless `in_v2` says the
    /// process was created there already.
    pub fn join_self(&self, in_v2: bool) -> io::Result<()> {
        for fd in &self.tasks {
            rustix::io::write(fd, b"0")?;
        }
        if !in_v2 {
            if let Some(fd) = &self.v2_procs {
                rustix::io::write(fd, b"0")?;
            }
        }
        Ok(())
    }
}
