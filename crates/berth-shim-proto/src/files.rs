//! The shim's state directory: the daemon makes it and writes [`CONFIG`]; the
//! shim adds the rest. The container's logs live where [`crate::LogConfig`]
//! says (docker keeps them in `/var/lib/docker/containers/ID/ID-json.log`).

/// The shim's configuration ([`crate::ShimConfig`] as JSON), written by the daemon.
pub const CONFIG: &str = "shim.json";
/// The unix socket the shim serves.
pub const SOCKET: &str = "shim.sock";
/// The shim's pid, written once it serves.
pub const PID: &str = "shim.pid";
/// Held locked (`flock`) by the running shim: one shim per state directory.
pub const LOCK: &str = "shim.lock";
/// The container's exit ([`crate::ExitInfo`] as JSON), written durably before
/// anyone is told of the exit.
pub const EXIT: &str = "exit.json";

/// docker's json-file name for container `id`: `ID-json.log` (rotated files get
/// `.1`, `.2`, ... appended).
pub fn json_log_name(id: &str) -> String {
    format!("{id}-json.log")
}
