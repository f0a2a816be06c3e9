//! berth-init: the minimal init that `docker run --init` puts at pid 1 (`/sbin/docker-init`).
//!
//! Run as `berth-init [-g] [--] CMD [ARGS...]` (tini's argument form, which dockerd writes into
//! the spec), it behaves as tini does by default:
//!
//! - it starts CMD (searched in `PATH` when it has no `/`) as its only child, in a process group
//!   of its own that becomes the terminal's foreground group when stdin is a terminal;
//! - it forwards every signal it receives, except `SIGCHLD`, to that child (`-g`: to the child's
//!   process group); `SIGKILL` and `SIGSTOP` cannot be caught, by it or anyone;
//! - it reaps every child that exits, the orphans the kernel reparents to pid 1 included;
//! - when CMD exits it exits too, with CMD's status (128+N when CMD was killed by signal N);
//!   the container's other processes then die with its pid namespace;
//! - when CMD cannot be executed it prints `berth-init: exec CMD failed: REASON` and exits 127
//!   (not found) or 126 (found but not executable), as tini does.
//!
//! Outside pid 1 it registers itself as a child subreaper, so that orphans still come to it.
//! It is single-threaded and allocates only while it starts; the release build is a static
//! musl binary (`make release`) that can be bind-mounted into any image.

// Tests may unwrap: a panic there is a failed test.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod args;
mod error;
mod status;
mod supervise;

pub use args::{parse, Action, Options, UsageError};
pub use error::InitError;
pub use status::{exec_failure_code, exit_code};

/// Runs berth-init with its arguments (without the program name) and returns its exit code.
pub fn main(args: impl Iterator<Item = std::ffi::OsString>) -> i32 {
    match parse(args) {
        Ok(Action::Help) => {
            print!("{}", args::USAGE);
            0
        }
        Ok(Action::Version) => {
            println!("berth-init {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Ok(Action::Run(options)) => match supervise::run(&options) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("berth-init: {e}");
                e.exit_code()
            }
        },
        Err(e) => {
            eprintln!("berth-init: {e}\n{}", args::USAGE);
            1
        }
    }
}
