//! The command line: tini's form, `[OPTIONS] [--] CMD [ARGS...]`.

use std::ffi::OsString;

pub(crate) const USAGE: &str = "\
Usage: berth-init [-g] [--] CMD [ARGS...]

Runs CMD as its child, forwards the signals it receives to it, reaps zombies, and exits with
CMD's exit code (128+N if CMD was killed by signal N; 127 if CMD was not found, 126 if it could
not be executed).

Options:
  -g         send the forwarded signals to CMD's process group, not to CMD alone
  -h, --help print this help
  --version  print the version
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a program under the init.
    Run(Options),
    /// Print the usage.
    Help,
    /// Print the version.
    Version,
}

/// How to run the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Forward signals to the child's process group (`-g`).
    pub group: bool,
    /// The program and its arguments (never empty).
    pub command: Vec<OsString>,
}

/// A command line berth-init cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// No program was given.
    #[error("no command given")]
    NoCommand,
    /// An option berth-init does not know.
    #[error("unknown option {0:?}")]
    UnknownOption(String),
}

/// Parses the arguments after the program name. Options end at `--` or at the first argument
/// that does not start with `-`, as getopt's do for tini.
pub fn parse(args: impl Iterator<Item = OsString>) -> Result<Action, UsageError> {
    let mut group = false;
    let mut args = args.peekable();
    while let Some(arg) = args.peek() {
        match arg.to_str() {
            Some("--") => {
                args.next();
                break;
            }
            Some("-g") => group = true,
            Some("-h" | "--help") => return Ok(Action::Help),
            Some("--version") => return Ok(Action::Version),
            Some(s) if s.starts_with('-') && s != "-" => {
                return Err(UsageError::UnknownOption(s.to_owned()))
            }
            _ => break,
        }
        args.next();
    }
    let command: Vec<OsString> = args.collect();
    if command.is_empty() {
        return Err(UsageError::NoCommand);
    }
    Ok(Action::Run(Options { group, command }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Action, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    fn run(group: bool, command: &[&str]) -> Action {
        Action::Run(Options {
            group,
            command: command.iter().map(OsString::from).collect(),
        })
    }

    #[test]
    fn docker_form() {
        assert_eq!(
            parse_strs(&["--", "sh", "-c", "exit 3"]),
            Ok(run(false, &["sh", "-c", "exit 3"]))
        );
        // Options after the command belong to the command.
        assert_eq!(parse_strs(&["ls", "-g"]), Ok(run(false, &["ls", "-g"])));
        assert_eq!(
            parse_strs(&["-g", "--", "-weird"]),
            Ok(run(true, &["-weird"]))
        );
    }

    #[test]
    fn bad_lines() {
        assert_eq!(parse_strs(&[]), Err(UsageError::NoCommand));
        assert_eq!(parse_strs(&["--"]), Err(UsageError::NoCommand));
        assert_eq!(
            parse_strs(&["-s", "--", "sh"]),
            Err(UsageError::UnknownOption("-s".into()))
        );
        assert_eq!(parse_strs(&["--help", "sh"]), Ok(Action::Help));
        assert_eq!(parse_strs(&["--version"]), Ok(Action::Version));
    }
}
