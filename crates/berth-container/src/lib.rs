//! berth's OCI runtime library (its libcontainer): turns a bundle into an
//! isolated process and manages it through its lifecycle.
//!
//! The library is synchronous and must be called from a single-threaded
//! process: it forks the container's init (see `spawn.rs`), and a fork of a
//! multithreaded process could deadlock. `berth-runtime` (the runc-compatible
//! command line) and the per-container shim are such processes.

mod capabilities;
mod cgroup;
mod channel;
pub mod config;
pub mod container;
pub mod error;
pub mod exe_seal;
mod foreground;
mod hooks;
pub mod id;
mod init;
pub mod mount_options;
mod mount_plan;
pub mod namespaces;
mod rootfs;
mod seccomp_agent;
pub mod signal;
mod spawn;
pub mod state;
pub mod store;
mod terminal;
pub mod time;

pub use config::{default_spec, Bundle};
pub use container::{CreateOptions, Created, ExecOptions, Supervision};
pub use error::{ContainerError, ErrorKind, Result};
pub use rootfs::CgroupMount;
pub use state::{SavedState, StateReport, Status};
pub use store::Store;
