//! What berthd and the per-container shim (`berth-shim`) share, and nothing else:
//!
//! * [`files`]: the names of the files in a shim's state directory.
//! * [`message`]: the shim's configuration and its requests and responses.
//! * [`frame`]: length-prefixed JSON messages, and docker's 8-byte stream framing
//!   (stdcopy) of attach and exec streams.
//! * [`client`]: a blocking client over the shim's unix socket (for tests, and for
//!   `spawn_blocking` in the daemon); the framing functions are plain `Read`/`Write`
//!   code, so an async client is a small wrapper away.
//! * [`logs`]: docker's json-file log format: the writer (line splitting at 16 KiB,
//!   rotation) the shim uses and the reader (tail, since/until, follow across
//!   rotation) the daemon uses.
//! * [`time`]: RFC 3339 timestamps with nanoseconds, as Go prints them.
//!
//! The crate is synchronous and runtime-agnostic: std, serde and serde_json.

pub mod client;
pub mod error;
pub mod files;
pub mod frame;
pub mod logs;
pub mod message;
pub mod time;

pub use client::Client;
pub use error::{ErrorKind, ProtoError};
pub use message::{
    AttachRequest, ExecRequest, ExitInfo, LogConfig, Request, Response, ShimConfig, ShimState,
    Status,
};
