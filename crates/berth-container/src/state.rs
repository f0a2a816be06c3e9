//! What berth keeps about a container between invocations (`state.json` in
//! its directory under the state root), the status derived from the live
//! process, and the runc-compatible state document.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

/// The lifecycle statuses of the runtime spec, plus runc's `paused`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// The persisted record of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedState {
    pub id: String,
    /// The init's pid in the runtime's pid namespace.
    pub pid: i32,
    /// The init's start time (clock ticks after boot, /proc/PID/stat field 22),
    /// which tells our init apart from a later process with a reused pid.
    pub pid_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub cgroup: Option<berth_cgroups::Manager>,
    /// The configuration the container was created with.
    pub spec: Spec,
}

/// The document `state` and `list --format json` print (runc's shape).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateReport {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A spec's annotations, ordered (as state documents print them).
pub fn annotations(spec: &Spec) -> BTreeMap<String, String> {
    spec.annotations()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// The OCI runtime spec version berth implements.
pub const OCI_VERSION: &str = "1.2.0";

/// Liveness of a pid recorded earlier: its start time must still match and it
/// must not be a zombie.
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    match read_stat(pid) {
        Some((state, start)) => state != 'Z' && state != 'X' && start == start_time,
        None => false,
    }
}

/// Reads the state letter and start time of a process from /proc/PID/stat.
pub fn read_stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let pid = i32::try_from(std::process::id()).expect("pid");
        let (state, start) = read_stat(pid).expect("stat");
        assert_ne!(state, 'Z');
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert!(!process_alive(0, 0));
    }
}
