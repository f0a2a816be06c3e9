//! The shim's command line: a state directory and two switches, parsed by hand
//! (no clap: the shim is multiplied by every container).

use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: berth-shim [--foreground] STATE_DIR

Runs one container and serves it over STATE_DIR/shim.sock. STATE_DIR/shim.json
(written by berthd) names the bundle, the runtime root, the log and the stdio.

By default the shim detaches: it forks a process in its own session, which
starts the container (unless the config asks to wait for a start request),
and exits once that process serves, printing {\"pid\":N} (the shim's pid) on
stdout, or the error on stderr with status 1.

  --foreground   serve in this process (no fork, no new session)
  -h, --help     this text
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Run(Args),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub state_dir: PathBuf,
    pub foreground: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("unknown option {0:?}")]
    UnknownOption(String),
    #[error("missing STATE_DIR")]
    MissingStateDir,
    #[error("unexpected argument {0:?}")]
    Extra(String),
}

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, ArgsError> {
    let mut state_dir = None;
    let mut foreground = false;
    for a in args {
        match a.to_str() {
            Some("-h" | "--help") => return Ok(Command::Help),
            Some("--foreground") => foreground = true,
            Some(s) if s.starts_with('-') => return Err(ArgsError::UnknownOption(s.to_string())),
            _ if state_dir.is_none() => state_dir = Some(PathBuf::from(a)),
            _ => return Err(ArgsError::Extra(a.to_string_lossy().into_owned())),
        }
    }
    let state_dir = state_dir.ok_or(ArgsError::MissingStateDir)?;
    Ok(Command::Run(Args {
        state_dir,
        foreground,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Command, ArgsError> {
        parse(a.iter().map(OsString::from))
    }

    #[test]
    fn parses() {
        assert_eq!(
            p(&["/run/x"]),
            Ok(Command::Run(Args {
                state_dir: "/run/x".into(),
                foreground: false
            }))
        );
        assert_eq!(
            p(&["--foreground", "d"]),
            Ok(Command::Run(Args {
                state_dir: "d".into(),
                foreground: true
            }))
        );
        assert_eq!(p(&["-h"]), Ok(Command::Help));
        assert_eq!(p(&[]), Err(ArgsError::MissingStateDir));
        assert_eq!(p(&["a", "b"]), Err(ArgsError::Extra("b".into())));
        assert_eq!(p(&["--x"]), Err(ArgsError::UnknownOption("--x".into())));
    }
}
