//! berth-shim: one small process per container. It starts the container with
//! berth-container in-process (it is single-threaded, so forking is safe),
//! holds its stdio (pipes, or a pty master with a terminal), writes docker's
//! json-file logs, reaps it (and every orphan: it is a child subreaper),
//! records its exit durably, and serves state, wait, signal, resize, attach,
//! exec, stats and shutdown over a unix socket (berth-shim-proto).
//!
//! Process model: the daemon runs `berth-shim STATE_DIR`; that process forks
//! the shim proper, which starts a new session, and exits as soon as the shim
//! reports that it serves (so the daemon reaps a short-lived child and never
//! a long-lived one). The shim survives the daemon. The container dies with
//! the shim (its init's parent-death signal is SIGKILL): a container whose
//! stdio and exit nobody can collect any more is not left running.
//!
//! `--init` (a minimal init as the container's pid 1) is not done yet: TODO.

pub mod args;
mod daemon;
mod error;
mod exit;
mod server;
mod stdio;

use std::process::ExitCode;

pub use error::ShimError;

/// Runs the shim for `args`; the exit code of the launching process.
pub fn main(args: &args::Args) -> ExitCode {
    // Container processes are forked from this binary: run from a sealed view of
    // it (CVE-2019-5736), not inspectable by them while they set up.
    if let Err(e) = berth_container::exe_seal::harden() {
        eprintln!("berth-shim: protect the shim binary: {e}");
        return ExitCode::from(1);
    }
    // Whatever the daemon leaked to us (its pipes, sockets) must not live as long as we do.
    daemon::close_inherited();
    match daemon::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-shim: {e}");
            ExitCode::from(1)
        }
    }
}
