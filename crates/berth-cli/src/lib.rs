//! The `berth` command line: docker's verbs and flags over berthd's API.
//!
//! * cli.rs: [`Cli`], the global flags (`-H/--host`) and the verbs.
//! * host.rs: which daemon to talk to: `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then
//!   berthd's default socket.
//! * client.rs: [`Client`], a small HTTP/1.1 client over the unix socket (hyper): bodies whole
//!   or streamed from a file, answers decoded from JSON, read chunk by chunk, or shown as a
//!   progress stream.
//! * commands/: one file per verb (`version`, `info`, `images`, `inspect`, `tag`, `rmi`,
//!   `image prune`, `history`, `pull`, `push`, `save`, `load`, `import`, `login`, `logout`,
//!   `run`, `create`, `start`, `ps`, `logs`, `exec`, `attach`, `top`, `stats`, `update`,
//!   `events`, `container prune`; lifecycle.rs holds the one-request verbs `stop`, `kill`,
//!   `rm`, `restart`, `wait`, `pause`, `unpause`, `rename`); each prints what docker prints
//!   (transfer.rs: what `pull` and `push` share; container_opts.rs: the flags of `create`
//!   and `run` and the create body docker's CLI builds from them).
//! * format/: docker's output rules: a Go-template subset (`template`), JSON as Go writes and
//!   indents it (`json`), tabwriter tables (`table`), sizes and times (`units`), and the
//!   progress-stream renderer (`progress`). Public, so that tests can feed it streams
//!   recorded from a real dockerd.
//! * stream.rs: a container's stdin, stdout and stderr over a hijacked connection (attach,
//!   `run`, `exec`): stdcopy frames, raw mode, detach keys, size forwarding, signal proxying.
//! * image references are berth-oci's `Reference`, normalised as docker's CLI does.
//! * auth.rs: credentials from docker's `config.json`, sent as `X-Registry-Auth`.
//! * terminal.rs: tty checks, the terminal width, password prompts.
//! * error.rs: [`CliError`], printed as one `berth: ...` line.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod auth;
mod cli;
mod client;
mod commands;
mod error;
pub mod format;
mod host;
mod stream;
mod terminal;

use std::process::ExitCode;

pub use cli::{Cli, Command, ContainerCommand, ImageCommand};
pub use client::Client;
pub use error::CliError;
pub use host::{resolve_host, BERTH_HOST_ENV, DOCKER_HOST_ENV};

/// Runs one command line and returns the process's exit code; errors are printed as one
/// `berth: ...` line each (several when several names failed).
pub fn run(cli: Cli) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
        .and_then(|rt| rt.block_on(commands::run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.to_string().lines() {
                eprintln!("berth: {line}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}
