//! Handing a seccomp user-notification listener to the agent at
//! `linux.seccomp.listenerPath`, as the runtime spec defines it: one message on
//! a unix stream socket carrying the container process state as JSON and the
//! listener as `SCM_RIGHTS`.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use serde::Serialize;

use crate::channel::send_bytes;
use crate::error::{ContainerError, Result};
use crate::hooks::HookState;

/// The runtime spec's `ContainerProcessState`.
#[derive(Debug, Serialize)]
struct ContainerProcessState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    /// Names of the descriptors sent with the message, in order.
    fds: [&'a str; 1],
    pid: i32,
    /// `linux.seccomp.listenerMetadata`, passed through.
    metadata: &'a str,
    state: &'a HookState<'a>,
}

/// Connects to `listener_path` and sends the listener `fd` of the process
/// described by `state`.
pub(crate) fn send_listener(
    listener_path: &Path,
    metadata: &str,
    state: &HookState<'_>,
    fd: BorrowedFd<'_>,
) -> Result<()> {
    let msg = ContainerProcessState {
        oci_version: crate::state::OCI_VERSION,
        fds: ["seccompFd"],
        pid: state.pid,
        metadata,
        state,
    };
    let bytes = serde_json::to_vec(&msg)
        .map_err(|e| ContainerError::Init(format!("encode the seccomp agent message: {e}")))?;
    let sock = std::os::unix::net::UnixStream::connect(listener_path)
        .map_err(|e| ContainerError::io("connect to seccomp listenerPath", listener_path, e))?;
    send_bytes(sock.as_fd(), &bytes, Some(fd))
        .map_err(|e| ContainerError::io("send the seccomp listener to", listener_path, e))
}
