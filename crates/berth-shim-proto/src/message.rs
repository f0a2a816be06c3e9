//! The shim's configuration file and the messages on its socket.
//!
//! A connection carries requests, each answered by one response, in order.
//! `Wait` and `ExecWait` answer when the process has exited. After a
//! successful `Attach` or a non-detached `Exec` the connection becomes a
//! stream: the client's bytes are the process's stdin (raw; a shutdown of the
//! client's write side is stdin's EOF), and the shim sends the process's
//! output in docker's stdcopy framing ([`crate::frame::StreamHeader`]), or raw
//! when the process has a terminal, so the daemon can pass it straight to the
//! docker client. The shim closes the stream when the output ends.

use std::path::PathBuf;

use oci_spec::runtime::Process;
use serde::{Deserialize, Serialize};

use crate::error::ErrorKind;

/// The shim's configuration, written by the daemon to [`crate::files::CONFIG`]
/// in the state directory before it starts the shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShimConfig {
    /// The container's id in the runtime's state root.
    pub id: String,
    /// The OCI bundle (holding `config.json`). Whether the container has a
    /// terminal is the spec's `process.terminal`.
    pub bundle: PathBuf,
    /// The runtime's state root (berth-runtime's `--root`).
    pub runtime_root: PathBuf,
    /// The json-file log; `None` logs nothing (docker's `--log-driver none`).
    #[serde(default)]
    pub log: Option<LogConfig>,
    /// docker's OpenStdin: the container's stdin is a pipe the attach clients
    /// write to (else /dev/null).
    #[serde(default)]
    pub open_stdin: bool,
    /// docker's StdinOnce: the first attach client's stdin EOF closes the
    /// container's stdin.
    #[serde(default)]
    pub stdin_once: bool,
    /// Start the container as soon as the shim is up; else it waits for a
    /// [`Request::Start`] (so that the daemon can attach first, as `docker run` does).
    #[serde(default)]
    pub start: bool,
}

/// docker's json-file options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// The log file (`ID-json.log`); rotated files are `PATH.1`, `PATH.2`, ...
    pub path: PathBuf,
    /// `max-size` in bytes: rotate before a file would exceed it. `None`: never.
    #[serde(default)]
    pub max_size: Option<u64>,
    /// `max-file`: how many files to keep, the current one included (at least 1).
    #[serde(default = "one")]
    pub max_file: u32,
}

fn one() -> u32 {
    1
}

/// A request to the shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container's state: [`Response::State`].
    State,
    /// Starts a shim configured with `start: false`: [`Response::Started`].
    Start,
    /// Answers with [`Response::Exit`] once the container has exited (at
    /// once if it has).
    Wait,
    /// Sends a signal (any number, SIGWINCH included) to the container's init,
    /// to every process of the container with `all`, or to an exec process.
    Signal {
        signal: i32,
        #[serde(default)]
        all: bool,
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Sets the terminal size of the container (or of an exec process).
    Resize {
        height: u16,
        width: u16,
        #[serde(default)]
        exec_id: Option<String>,
    },
    /// Attaches to the container's stdio: [`Response::Attached`], then the stream.
    Attach(AttachRequest),
    /// Runs a new process in the container: [`Response::ExecStarted`], then
    /// (unless `detach`) the process's stream.
    Exec(Box<ExecRequest>),
    /// Answers with [`Response::ExecExit`] once the exec process has exited.
    ExecWait { exec_id: String },
    /// The container's cgroup statistics: [`Response::Stats`].
    Stats,
    /// Freezes every process of the container (its cgroup's freezer).
    Pause,
    /// Thaws a paused container.
    Resume,
    /// Applies new resource limits to the running container's cgroup.
    Update {
        resources: Box<oci_spec::runtime::LinuxResources>,
    },
    /// Deletes the container's runtime state (its cgroup, the runtime's state
    /// directory) and ends the shim. A running container is refused unless
    /// `kill`, which kills it first. Answered with [`Response::Ok`] just
    /// before the shim exits.
    Shutdown {
        #[serde(default)]
        kill: bool,
    },
}

/// What an attach client wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub stdout: bool,
    #[serde(default)]
    pub stderr: bool,
}

/// A new process in the running container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The daemon's name for it (used by `ExecWait`, `Signal`, `Resize`).
    pub exec_id: String,
    /// The process (its `terminal` decides pipes or a pty).
    pub process: Process,
    /// The process reads the stream's stdin (else /dev/null).
    #[serde(default)]
    pub stdin: bool,
    /// No stream: the process's output is discarded, the connection answers
    /// further requests.
    #[serde(default)]
    pub detach: bool,
}

/// The container's lifecycle as the shim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The shim waits for `Start`.
    Created,
    Running,
    /// Frozen by `Pause`.
    Paused,
    /// The container has exited (its exit is recorded).
    Stopped,
}

/// The container's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShimState {
    pub status: Status,
    /// The init's pid on the host (0 when not running).
    pub pid: i32,
    /// Whether the container has a terminal (streams are raw, not stdcopy).
    pub tty: bool,
    /// When the container started (RFC 3339, nanoseconds).
    #[serde(default)]
    pub started_at: Option<String>,
    /// The exit, once the container has stopped.
    #[serde(default)]
    pub exit: Option<ExitInfo>,
}

/// How the container ended; the shim writes it to [`crate::files::EXIT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitInfo {
    /// docker's exit code: the status, or 128 + the signal that killed it.
    pub exit_code: i32,
    /// The signal that killed the init, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Whether the kernel's OOM killer killed a process of the container.
    #[serde(default)]
    pub oom_killed: bool,
    /// When the shim saw the exit (RFC 3339, nanoseconds).
    pub exited_at: String,
    /// Set when the container never ran (`Start` failed): why.
    #[serde(default)]
    pub error: Option<String>,
}

/// The shim's answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    State(ShimState),
    Started {
        pid: i32,
    },
    Exit(ExitInfo),
    /// The stream follows (raw when `tty`, else stdcopy frames).
    Attached {
        tty: bool,
    },
    ExecStarted {
        pid: i32,
        tty: bool,
    },
    ExecExit {
        exit_code: i32,
    },
    /// berth-cgroups' `Stats` (runc's `events --stats` data) as JSON.
    Stats {
        stats: serde_json::Value,
    },
    Error {
        kind: ErrorKind,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let reqs = [
            Request::State,
            Request::Signal {
                signal: 28,
                all: false,
                exec_id: Some("e1".into()),
            },
            Request::Attach(AttachRequest {
                stdin: true,
                stdout: true,
                stderr: false,
            }),
            Request::Shutdown { kill: true },
        ];
        for r in reqs {
            let text = serde_json::to_string(&r).unwrap_or_default();
            let back: Request = match serde_json::from_str(&text) {
                Ok(b) => b,
                Err(e) => panic!("{text}: {e}"),
            };
            assert_eq!(back, r);
        }
        let r: Result<Request, _> = serde_json::from_str(r#"{"op":"signal","signal":15}"#);
        assert!(matches!(
            r,
            Ok(Request::Signal {
                signal: 15,
                all: false,
                exec_id: None
            })
        ));
        assert!(serde_json::from_str::<Request>(r#"{"op":"nope"}"#).is_err());
    }
}
