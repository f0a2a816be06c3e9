//! One file per verb. Each has its clap arguments (`XxxArgs`) and an async `run`; transfer.rs
//! holds what `pull` and `push` share.

pub(crate) mod history;
pub(crate) mod images;
pub(crate) mod import;
pub(crate) mod info;
pub(crate) mod inspect;
pub(crate) mod load;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod prune;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod rmi;
pub(crate) mod save;
pub(crate) mod tag;
mod transfer;
pub(crate) mod version;

use std::io::Write;

use crate::cli::{Cli, Command, ImageCommand};
use crate::client::Client;
use crate::error::CliError;
use crate::host::resolve_host;

/// Runs the verb of `cli`.
pub(crate) async fn run(cli: Cli) -> Result<(), CliError> {
    let host = resolve_host(cli.host.as_deref())?;
    let client = Client::new(host);
    let mut out = std::io::stdout().lock();
    let c = &client;
    let o = &mut out;
    let r = match cli.command {
        Command::Version(args) => version::run(c, &args, o).await,
        Command::Info(args) => info::run(c, &args, o).await,
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => {
            images::run(c, &args, o).await
        }
        Command::Image(ImageCommand::Inspect(args)) => inspect::run(c, &args, o).await,
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => rmi::run(c, &args, o).await,
        Command::Image(ImageCommand::Prune(args)) => prune::run(c, &args, o).await,
        Command::Tag(args) | Command::Image(ImageCommand::Tag(args)) => tag::run(c, &args).await,
        Command::History(args) | Command::Image(ImageCommand::History(args)) => {
            history::run(c, &args, o).await
        }
        Command::Pull(args) | Command::Image(ImageCommand::Pull(args)) => {
            pull::run(c, &args, o).await
        }
        Command::Push(args) | Command::Image(ImageCommand::Push(args)) => {
            push::run(c, &args, o).await
        }
        Command::Import(args) | Command::Image(ImageCommand::Import(args)) => {
            import::run(c, &args, o).await
        }
        Command::Save(args) | Command::Image(ImageCommand::Save(args)) => {
            save::run(c, &args, o).await
        }
        Command::Load(args) | Command::Image(ImageCommand::Load(args)) => {
            load::run(c, &args, o).await
        }
        Command::Login(args) => login::run(c, &args, o).await,
        Command::Logout(args) => logout::run(&args, o),
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
