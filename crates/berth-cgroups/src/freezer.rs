//! Pausing a container: the v1 freezer controller, or `cgroup.freeze` of the
//! unified hierarchy (v2 hosts, and hybrid hosts without a v1 freezer).

use std::io::ErrorKind as IoKind;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::CgroupError;
use crate::manager::{write_field, Dir, Manager};

/// Freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    Frozen,
}

/// How long a v2 freeze may take before it is reported as failed.
const V2_TIMEOUT: Duration = Duration::from_secs(2);

impl Manager {
    /// Freezes every process of the cgroup (and its sub-cgroups).
    pub fn freeze(&self) -> Result<(), CgroupError> {
        let d = self.freezer_or_err()?;
        if d.is_v2() {
            write_field(&d.path, "cgroup.freeze", "1", "freeze")?;
            wait_v2(&d.path, true)
        } else {
            freeze_v1(&d.path)
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        let d = self.freezer_or_err()?;
        if d.is_v2() {
            write_field(&d.path, "cgroup.freeze", "0", "thaw")?;
            wait_v2(&d.path, false)
        } else {
            write_field(&d.path, "freezer.state", "THAWED", "thaw")
        }
    }

    /// Whether the cgroup is frozen. A cgroup that does not exist, or a host
    /// without a freezer, reads as thawed; a v1 cgroup still FREEZING too.
    pub fn state(&self) -> Result<FreezerState, CgroupError> {
        let Some(d) = self.freezer() else {
            return Ok(FreezerState::Thawed);
        };
        let frozen = if d.is_v2() {
            read_optional(&d.path.join("cgroup.events"))?
                .is_some_and(|e| e.lines().any(|l| l.trim() == "frozen 1"))
        } else {
            read_optional(&d.path.join("freezer.state"))?.is_some_and(|s| s.trim() == "FROZEN")
        };
        Ok(if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        })
    }

    fn freezer_or_err(&self) -> Result<&Dir, CgroupError> {
        self.freezer().ok_or(CgroupError::MissingController {
            field: "freeze",
            controller: "freezer",
        })
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        Err(e) => Err(CgroupError::io("read", path, e)),
    }
}

/// The v1 freezer can stay in FREEZING while processes keep appearing (fork,
/// or a concurrent `exec` joining). As runc does: write FROZEN again until
/// the state reads FROZEN, thawing briefly now and then so that the new
/// processes get caught; give up after a bounded number of tries, thawed.
fn freeze_v1(dir: &Path) -> Result<(), CgroupError> {
    let state = dir.join("freezer.state");
    for i in 0..1000 {
        if i % 50 == 49 {
            let _ = write_field(dir, "freezer.state", "THAWED", "freeze");
            std::thread::sleep(Duration::from_millis(10));
        }
        write_field(dir, "freezer.state", "FROZEN", "freeze")?;
        if i % 25 == 24 {
            std::thread::sleep(Duration::from_micros(10));
        }
        let now =
            std::fs::read_to_string(&state).map_err(|e| CgroupError::io("read", &state, e))?;
        match now.trim() {
            "FROZEN" => return Ok(()),
            "FREEZING" => continue,
            _ => {
                return Err(CgroupError::Parse {
                    path: state,
                    content: now.trim().to_string(),
                })
            }
        }
    }
    let _ = write_field(dir, "freezer.state", "THAWED", "freeze");
    Err(CgroupError::FreezeTimeout {
        path: dir.to_path_buf(),
        state: "FROZEN",
    })
}

/// Waits until `cgroup.events` reports the wanted `frozen` value. The kernel
/// freezes v2 cgroups asynchronously; an empty cgroup is frozen at once.
fn wait_v2(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let events = dir.join("cgroup.events");
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        let e =
            std::fs::read_to_string(&events).map_err(|e| CgroupError::io("read", &events, e))?;
        if e.lines().any(|l| l.trim() == want) {
            return Ok(());
        }
        if start.elapsed() > V2_TIMEOUT {
            return Err(CgroupError::FreezeTimeout {
                path: dir.to_path_buf(),
                state: if frozen { "frozen" } else { "thawed" },
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}
