//! A container's record: what `create` was given (with the image's defaults merged in, as
//! dockerd stores it) and its state. One JSON file per container (`<root>/containers/ID/
//! container.json`), written to a temp file, synced and renamed over the old one, then the
//! directory synced: a crash at any instant leaves either the old or the new record whole, and
//! no container's write waits for another's (dockerd keeps `config.v2.json` the same way).

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_api_types::containers::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// The record's file name in the container's directory.
pub(crate) const RECORD_FILE: &str = "container.json";

/// The lifecycle states dockerd reports (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a process of the container is alive (running or paused).
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// docker's `State`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds; `0001-01-01T00:00:00Z` (Go's zero time) until it happened.
    pub started_at: String,
    pub finished_at: String,
    /// Set by `stop`/`kill` by the user, so that restart policies leave the container down.
    #[serde(default)]
    pub stopped_by_user: bool,
    /// How many exits of this container have been seen (for `wait?condition=next-exit`).
    #[serde(default)]
    pub exits: u64,
}

/// Go's zero time as dockerd prints it.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for State {
    fn default() -> Self {
        State {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            stopped_by_user: false,
            exits: 0,
        }
    }
}

/// Everything berthd keeps about a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// 64 hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// The image as the user named it (`busybox`).
    pub image_name: String,
    /// The image's id (`sha256:...`).
    pub image_id: String,
    /// The image's top layer (chain id): the parent of the container's snapshot.
    pub image_top_layer: Option<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub state: State,
    #[serde(default)]
    pub restart_count: u64,
}

impl Record {
    /// The process docker shows as `Path` and `Args`.
    pub fn path_and_args(&self) -> (String, Vec<String>) {
        let mut all: Vec<String> = self.config.entrypoint.clone().unwrap_or_default();
        all.extend(self.config.cmd.clone().unwrap_or_default());
        let mut it = all.into_iter();
        let path = it.next().unwrap_or_default();
        (path, it.collect())
    }

    /// The command `docker ps` shows (quoted, as dockerd's list does).
    pub fn command(&self) -> String {
        let (path, args) = self.path_and_args();
        let mut s = path;
        for a in args {
            s.push(' ');
            s.push_str(&a);
        }
        s
    }

    /// docker's `Status` line: `Up 3 seconds`, `Exited (0) 2 minutes ago`, `Created`.
    pub fn status_line(&self, now: SystemTime) -> String {
        let since = |t: &str| {
            let then = berth_shim_proto::time::parse(t).unwrap_or(now);
            human_duration(now.duration_since(then).unwrap_or_default())
        };
        match self.state.status {
            Status::Created => "Created".into(),
            Status::Running => format!("Up {}", since(&self.state.started_at)),
            Status::Paused => format!("Up {} (Paused)", since(&self.state.started_at)),
            Status::Restarting => format!(
                "Restarting ({}) {} ago",
                self.state.exit_code,
                since(&self.state.finished_at)
            ),
            Status::Removing => "Removal In Progress".into(),
            Status::Exited => format!(
                "Exited ({}) {} ago",
                self.state.exit_code,
                since(&self.state.finished_at)
            ),
            Status::Dead => "Dead".into(),
        }
    }

    /// Unix seconds of `created`.
    pub fn created_unix(&self) -> i64 {
        berth_shim_proto::time::parse(&self.created)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .unwrap_or(0)
    }

    /// Writes the record into `dir` atomically and durably.
    pub(crate) fn save(&self, dir: &Path) -> Result<(), EngineError> {
        let path = dir.join(RECORD_FILE);
        // One temp file per save: two saves of one record may overlap (an exit seen while
        // a delete starts), and neither may rename the other's file away.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!("{RECORD_FILE}.{n}.tmp"));
        let text = serde_json::to_vec(self).map_err(|e| EngineError::Corrupt {
            path: path.clone(),
            reason: format!("cannot encode the record: {e}"),
        })?;
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()
        };
        write().map_err(|e| EngineError::io("write", &path, e))
    }

    /// Reads the record in `dir`.
    pub(crate) fn load(dir: &Path) -> Result<Record, EngineError> {
        let path = dir.join(RECORD_FILE);
        let text = fs::read(&path).map_err(|e| EngineError::io("read", &path, e))?;
        serde_json::from_slice(&text).map_err(|e| EngineError::Corrupt {
            path,
            reason: e.to_string(),
        })
    }
}

/// Go's `units.HumanDuration`, as docker prints ages (berth-api-types' one implementation).
pub fn human_duration(d: Duration) -> String {
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    berth_api_types::time::human_duration(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_are_dockers() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(150)), "2 minutes");
        assert_eq!(human_duration(Duration::from_secs(3700)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn record_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = Record {
            id: "a".repeat(64),
            name: "x".into(),
            created: "2026-01-01T00:00:00.000000000Z".into(),
            image_name: "busybox".into(),
            image_id: "sha256:00".into(),
            image_top_layer: None,
            config: ContainerConfig::default(),
            host_config: HostConfig::default(),
            state: State::default(),
            restart_count: 0,
        };
        r.save(dir.path()).unwrap();
        assert_eq!(Record::load(dir.path()).unwrap(), r);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file is left"
        );
    }
}
