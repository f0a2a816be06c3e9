//! One file per verb. Each has its clap arguments (`XxxArgs`) and an async `run`.

pub(crate) mod info;
pub(crate) mod version;

use std::io::Write;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::error::CliError;
use crate::host::resolve_host;

/// Runs the verb of `cli`.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let host = resolve_host(cli.host.as_deref())?;
    let client = Client::new(host);
    let mut out = std::io::stdout().lock();
    let r = match cli.command {
        Command::Version(args) => version::run(&client, &args, &mut out).await,
        Command::Info(args) => info::run(&client, &args, &mut out).await,
    };
    out.flush()?;
    r
}

/// Output formats shared by the verbs that take `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// docker's human-readable layout.
    Pretty,
    /// The API's JSON, one document.
    Json,
}

impl Format {
    pub(crate) fn parse(f: Option<&str>) -> Result<Format, CliError> {
        match f {
            None | Some("") | Some("pretty") => Ok(Format::Pretty),
            Some("json") | Some("{{json .}}") => Ok(Format::Json),
            Some(other) => Err(CliError::Format(other.into())),
        }
    }
}
