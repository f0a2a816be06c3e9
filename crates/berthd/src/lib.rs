//! The berth daemon: serves the Docker Engine API (crate `berth-api`) on a unix socket over the
//! engine (crate `berth-engine`).
//!
//! * args.rs: [`Args`], dockerd's flags (`-H`, `--root`, `--exec-root`, `--pidfile`,
//!   `--insecure-registry`, `--registry-mirror`, `--log-level`...), turned into a
//!   [`DaemonConfig`].
//! * daemon.rs: [`run`]: directories, the root lock, the pidfile, the socket (mode 0660), the
//!   tokio runtime, SIGTERM/SIGINT, and the cleanup that leaves no socket or pidfile behind.
//! * lock.rs: one daemon per root (an exclusive `flock` on `<root>/berthd.lock`).
//! * pidfile.rs: the pidfile, refused while another live process owns it.
//! * error.rs: [`DaemonError`].

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod daemon;
mod error;
mod lock;
mod pidfile;

pub use args::{Args, LogLevel};
pub use daemon::{run, DaemonConfig};
pub use error::DaemonError;
