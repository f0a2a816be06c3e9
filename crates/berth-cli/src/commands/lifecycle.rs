//! The verbs that send one request per container and print its name as given: `stop`,
//! `kill`, `rm`, `restart`, `pause`, `unpause`, and `wait` (which prints exit statuses) and
//! `rename` (which prints nothing). As docker: every name is tried, the failures are
//! reported after, one line each, and the exit status is then 1.

use std::io::Write;

use berth_api_types::wait::ContainerWaitResponse;
use clap::Args;
use hyper::Method;

use crate::client::{empty, percent_encode, query, Client};
use crate::error::CliError;

/// Stop one or more running containers
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "time",
        visible_alias = "timeout",
        allow_hyphen_values = true
    )]
    pub time: Option<i64>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Kill one or more running containers
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Remove one or more containers
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    pub link: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// One or more containers.
#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Rename a container
#[derive(Debug, Args)]
pub struct RenameArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `POST|DELETE /containers/{name}{suffix}` for each name; a 304 (already stopped, already
/// started) counts as done.
async fn each(
    client: &Client,
    method: Method,
    names: &[String],
    suffix: &str,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in names {
        let path = format!("/containers/{}{suffix}", percent_encode(name));
        match client.send(method.clone(), &path, &[], empty()).await {
            Ok(_) | Err(CliError::Daemon { status: 304, .. }) => writeln!(out, "{name}")?,
            Err(e @ CliError::Daemon { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e),
        }
        out.flush()?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Several(errors))
    }
}

pub(crate) async fn stop(
    client: &Client,
    args: &StopArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let t = args.time.map(|t| t.to_string()).unwrap_or_default();
    let q = query(&[("signal", args.signal.as_deref().unwrap_or("")), ("t", &t)]);
    each(
        client,
        Method::POST,
        &args.containers,
        &format!("/stop{q}"),
        out,
    )
    .await
}

pub(crate) async fn restart(
    client: &Client,
    args: &StopArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let t = args.time.map(|t| t.to_string()).unwrap_or_default();
    let q = query(&[("signal", args.signal.as_deref().unwrap_or("")), ("t", &t)]);
    each(
        client,
        Method::POST,
        &args.containers,
        &format!("/restart{q}"),
        out,
    )
    .await
}

pub(crate) async fn kill(
    client: &Client,
    args: &KillArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let q = query(&[("signal", args.signal.as_deref().unwrap_or(""))]);
    each(
        client,
        Method::POST,
        &args.containers,
        &format!("/kill{q}"),
        out,
    )
    .await
}

pub(crate) async fn rm(
    client: &Client,
    args: &RmArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let q = query(&[
        ("v", if args.volumes { "1" } else { "" }),
        ("link", if args.link { "1" } else { "" }),
        ("force", if args.force { "1" } else { "" }),
    ]);
    each(client, Method::DELETE, &args.containers, &q, out).await
}

pub(crate) async fn pause(
    client: &Client,
    args: &ContainersArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    each(client, Method::POST, &args.containers, "/pause", out).await
}

pub(crate) async fn unpause(
    client: &Client,
    args: &ContainersArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    each(client, Method::POST, &args.containers, "/unpause", out).await
}

/// `wait`: `POST /containers/{name}/wait` (condition not-running) for each, printing the
/// exit statuses.
pub(crate) async fn wait(
    client: &Client,
    args: &ContainersArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/wait", percent_encode(name));
        let r: Result<ContainerWaitResponse, _> =
            client.call_json(Method::POST, &path, empty()).await;
        match r {
            Ok(w) => match w.error.filter(|e| !e.message.is_empty()) {
                Some(e) => errors.push(e.message),
                None => writeln!(out, "{}", w.status_code)?,
            },
            Err(e @ CliError::Daemon { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e),
        }
        out.flush()?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Several(errors))
    }
}

/// `rename`: `POST /containers/{name}/rename?name=NEW`.
pub(crate) async fn rename(client: &Client, args: &RenameArgs) -> Result<(), CliError> {
    let new = args.new_name.trim();
    if new.is_empty() || args.container.trim().is_empty() {
        return Err(CliError::Usage(
            "Neither old nor new names may be empty".into(),
        ));
    }
    let path = format!(
        "/containers/{}/rename{}",
        percent_encode(&args.container),
        query(&[("name", new)])
    );
    match client.send(Method::POST, &path, &[], empty()).await {
        Ok(_) => Ok(()),
        Err(e @ CliError::Daemon { .. }) => Err(CliError::Usage(format!(
            "{e}\nError: failed to rename container named {}",
            args.container
        ))),
        Err(e) => Err(e),
    }
}
