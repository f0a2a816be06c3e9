//! One file per verb. Each has its clap arguments (`XxxArgs`) and an async `run`; transfer.rs
//! holds what `pull` and `push` share.

pub(crate) mod attach;
mod container_opts;
pub(crate) mod container_prune;
pub(crate) mod create;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod history;
pub(crate) mod images;
pub(crate) mod import;
pub(crate) mod info;
pub(crate) mod inspect;
pub(crate) mod lifecycle;
pub(crate) mod load;
pub(crate) mod login;
pub(crate) mod logout;
pub(crate) mod logs;
pub(crate) mod prune;
pub(crate) mod ps;
pub(crate) mod pull;
pub(crate) mod push;
pub(crate) mod rmi;
pub(crate) mod run;
pub(crate) mod save;
pub(crate) mod start;
pub(crate) mod stats;
pub(crate) mod tag;
pub(crate) mod top;
mod transfer;
pub(crate) mod update;
pub(crate) mod version;

use std::io::Write;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand};
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
        Command::Run(args) | Command::Container(ContainerCommand::Run(args)) => {
            run::run(c, &args, o).await
        }
        Command::Create(args) | Command::Container(ContainerCommand::Create(args)) => {
            create::run(c, &args, o).await
        }
        Command::Start(args) | Command::Container(ContainerCommand::Start(args)) => {
            start::run(c, &args, o).await
        }
        Command::Ps(args) | Command::Container(ContainerCommand::Ls(args)) => {
            ps::run(c, &args, o).await
        }
        Command::Logs(args) | Command::Container(ContainerCommand::Logs(args)) => {
            logs::run(c, &args).await
        }
        Command::Stop(args) | Command::Container(ContainerCommand::Stop(args)) => {
            lifecycle::stop(c, &args, o).await
        }
        Command::Kill(args) | Command::Container(ContainerCommand::Kill(args)) => {
            lifecycle::kill(c, &args, o).await
        }
        Command::Rm(args) | Command::Container(ContainerCommand::Rm(args)) => {
            lifecycle::rm(c, &args, o).await
        }
        Command::Restart(args) | Command::Container(ContainerCommand::Restart(args)) => {
            lifecycle::restart(c, &args, o).await
        }
        Command::Wait(args) | Command::Container(ContainerCommand::Wait(args)) => {
            lifecycle::wait(c, &args, o).await
        }
        Command::Pause(args) | Command::Container(ContainerCommand::Pause(args)) => {
            lifecycle::pause(c, &args, o).await
        }
        Command::Unpause(args) | Command::Container(ContainerCommand::Unpause(args)) => {
            lifecycle::unpause(c, &args, o).await
        }
        Command::Rename(args) | Command::Container(ContainerCommand::Rename(args)) => {
            lifecycle::rename(c, &args).await
        }
        Command::Exec(args) | Command::Container(ContainerCommand::Exec(args)) => {
            exec::run(c, &args).await
        }
        Command::Attach(args) | Command::Container(ContainerCommand::Attach(args)) => {
            attach::run(c, &args).await
        }
        Command::Top(args) | Command::Container(ContainerCommand::Top(args)) => {
            top::run(c, &args, o).await
        }
        Command::Stats(args) | Command::Container(ContainerCommand::Stats(args)) => {
            stats::run(c, &args, o).await
        }
        Command::Update(args) | Command::Container(ContainerCommand::Update(args)) => {
            update::run(c, &args, o).await
        }
        Command::Events(args) => events::run(c, &args, o).await,
        Command::Container(ContainerCommand::Prune(args)) => {
            container_prune::run(c, &args, o).await
        }
        Command::Inspect(args) => inspect::run_object(c, &args, o).await,
        Command::Container(ContainerCommand::Inspect(args)) => {
            inspect::run_container(c, &args, o).await
        }
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
