//! Why the daemon could not start or stopped with an error. Each variant names the path
//! involved; messages are printed as `berthd: <message>`.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid -H: {0}")]
    Host(#[from] berth_api::HostError),
    #[error("cannot create {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot lock {path}: {source}")]
    Lock { path: PathBuf, source: io::Error },
    #[error(
        "another berthd{} is using the root {root}; stop it, or give this one its own --root",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    RootInUse { root: PathBuf, pid: Option<u32> },
    #[error("pid file found at {path} and process {pid} is running: is berthd already running? (remove the file if not)")]
    PidfileInUse { path: PathBuf, pid: u32 },
    #[error("cannot write pid file {path}: {source}")]
    Pidfile { path: PathBuf, source: io::Error },
    #[error("another daemon is listening on {path}; stop it or choose another socket with -H")]
    SocketInUse { path: PathBuf },
    #[error("group {group:?} (for the socket, --group) does not exist in /etc/group")]
    NoSuchGroup { group: String },
    #[error("cannot listen on {path}: {source}")]
    Listen { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Engine(#[from] berth_engine::EngineError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        signal: &'static str,
        source: io::Error,
    },
}
