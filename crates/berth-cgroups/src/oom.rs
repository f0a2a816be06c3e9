//! OOM notifications: what `runc events` reports as `{"type":"oom"}`.
//!
//! * v1: an eventfd registered for `memory.oom_control` through
//!   `cgroup.event_control`; the kernel signals it each time the cgroup hits
//!   its limit and the OOM killer runs (and once more when the cgroup is
//!   removed, which [`OomWatch::wait`] tells apart by the cgroup's absence).
//! * v2: `memory.events` is a kernfs file that wakes `poll` with
//!   `POLLPRI` whenever it changes; an event is reported when its `oom_kill`
//!   count grows.
//!
//! Both are plain file descriptors, so a caller waits with a timeout and
//! multiplexes the notifications with its own timer (the `events` stream).

use std::io::{ErrorKind as IoKind, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{eventfd, poll, EventfdFlags, PollFd, PollFlags, Timespec};

use crate::error::CgroupError;
use crate::manager::{write_field, Manager};

/// A subscription to one cgroup's OOM kills.
#[derive(Debug)]
pub struct OomWatch {
    dir: PathBuf,
    source: Source,
}

#[derive(Debug)]
enum Source {
    V1 {
        eventfd: OwnedFd,
        /// Kept open: the registration lives as long as this file.
        _oom_control: std::fs::File,
    },
    V2 {
        events: std::fs::File,
        oom_kills: u64,
    },
}

/// What [`OomWatch::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The OOM killer ran in the cgroup this many times since the last call.
    Oom(u64),
    /// Nothing happened before the timeout.
    Timeout,
    /// The cgroup is gone: no event will come again.
    Gone,
}

impl Manager {
    /// Subscribes to the OOM kills of the container's memory cgroup.
    pub fn watch_oom(&self) -> Result<OomWatch, CgroupError> {
        let Some(dir) = self.memory_dir() else {
            return Err(CgroupError::MissingController {
                field: "events (oom)",
                controller: "memory",
            });
        };
        if dir.1 {
            let path = dir.0.join("memory.events");
            let mut events =
                std::fs::File::open(&path).map_err(|e| CgroupError::io("open", &path, e))?;
            let oom_kills = read_oom_kills(&mut events, &path)?;
            Ok(OomWatch {
                dir: dir.0,
                source: Source::V2 { events, oom_kills },
            })
        } else {
            let control_path = dir.0.join("memory.oom_control");
            let oom_control = std::fs::File::open(&control_path)
                .map_err(|e| CgroupError::io("open", &control_path, e))?;
            let efd = eventfd(0, EventfdFlags::CLOEXEC)
                .map_err(|e| CgroupError::io("create an eventfd for", &control_path, e.into()))?;
            let registration = format!(
                "{} {}",
                rustix::fd::AsRawFd::as_raw_fd(&efd),
                rustix::fd::AsRawFd::as_raw_fd(&oom_control)
            );
            write_field(
                &dir.0,
                "cgroup.event_control",
                &registration,
                "events (oom)",
            )?;
            Ok(OomWatch {
                dir: dir.0,
                source: Source::V1 {
                    eventfd: efd,
                    _oom_control: oom_control,
                },
            })
        }
    }

    /// The directory of the memory controller and whether it is cgroup v2.
    fn memory_dir(&self) -> Option<(PathBuf, bool)> {
        self.dirs
            .iter()
            .find(|d| d.has("memory"))
            .map(|d| (d.path.clone(), false))
            .or_else(|| {
                self.dirs
                    .iter()
                    .find(|d| d.is_v2() && d.path.join("memory.events").exists())
                    .map(|d| (d.path.clone(), true))
            })
    }
}

impl OomWatch {
    /// Waits up to `timeout` for an OOM kill.
    pub fn wait(&mut self, timeout: Duration) -> Result<OomEvent, CgroupError> {
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        match &mut self.source {
            Source::V1 { eventfd, .. } => {
                if !wait_readable(eventfd.as_fd(), PollFlags::IN, &ts, &self.dir)? {
                    return Ok(OomEvent::Timeout);
                }
                let mut buf = [0u8; 8];
                rustix::io::read(&*eventfd, &mut buf)
                    .map_err(|e| CgroupError::io("read the OOM eventfd of", &self.dir, e.into()))?;
                // The kernel also signals the eventfd when the cgroup is removed.
                if !self.dir.join("cgroup.event_control").exists() {
                    return Ok(OomEvent::Gone);
                }
                Ok(OomEvent::Oom(u64::from_ne_bytes(buf)))
            }
            Source::V2 { events, oom_kills } => {
                if !wait_readable(events.as_fd(), PollFlags::PRI, &ts, &self.dir)? {
                    return Ok(OomEvent::Timeout);
                }
                let path = self.dir.join("memory.events");
                let now = match read_oom_kills(events, &path) {
                    Ok(n) => n,
                    Err(CgroupError::Io { error: source, .. })
                        if source.kind() == IoKind::NotFound =>
                    {
                        return Ok(OomEvent::Gone)
                    }
                    Err(e) => return Err(e),
                };
                if !self.dir.exists() {
                    return Ok(OomEvent::Gone);
                }
                let new = now.saturating_sub(*oom_kills);
                *oom_kills = now;
                Ok(if new > 0 {
                    OomEvent::Oom(new)
                } else {
                    OomEvent::Timeout
                })
            }
        }
    }
}

/// Polls one descriptor; `false` on timeout.
fn wait_readable(
    fd: std::os::fd::BorrowedFd<'_>,
    flags: PollFlags,
    ts: &Timespec,
    dir: &Path,
) -> Result<bool, CgroupError> {
    let mut fds = [PollFd::from_borrowed_fd(fd, flags)];
    loop {
        match poll(&mut fds, Some(ts)) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(CgroupError::io("poll the OOM events of", dir, e.into())),
        }
    }
}

/// The `oom_kill` count of a v2 `memory.events` file (re-read from the start,
/// which also re-arms its poll notification).
fn read_oom_kills(f: &mut std::fs::File, path: &Path) -> Result<u64, CgroupError> {
    let mut text = String::new();
    f.seek(SeekFrom::Start(0))
        .and_then(|_| f.read_to_string(&mut text))
        .map_err(|e| CgroupError::io("read", path, e))?;
    parse_oom_kills(&text).ok_or_else(|| CgroupError::Parse {
        path: path.to_path_buf(),
        content: text.clone(),
    })
}

fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        if k == "oom_kill" {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_count_of_memory_events() {
        let text = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(text), Some(2));
        assert_eq!(parse_oom_kills("low 0\n"), None);
    }
}
