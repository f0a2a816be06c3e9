//! `berth logs` (`container logs`): the container is inspected first (a tty's log is raw, any
//! other is in docker's stdcopy frames), then `GET /containers/{id}/logs` is copied to stdout
//! and stderr as it comes (`-f` follows until the container stops).

use clap::Args;

use super::start::inspect_container;
use crate::client::{percent_encode, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::stream::Output;

/// Fetch the logs of a container
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub(crate) async fn run(client: &Client, args: &LogsArgs) -> Result<(), CliError> {
    let c = inspect_container(client, &args.container).await?;
    let tty = c
        .get("Config")
        .and_then(|cfg| cfg.get("Tty"))
        .is_some_and(|v| *v == Json::Bool(true));
    let since = args
        .since
        .as_deref()
        .map(time_param)
        .transpose()?
        .unwrap_or_default();
    let until = args
        .until
        .as_deref()
        .map(time_param)
        .transpose()?
        .unwrap_or_default();
    let path = format!(
        "/containers/{}/logs{}",
        percent_encode(&args.container),
        query(&[
            ("stdout", "1"),
            ("stderr", "1"),
            ("since", &since),
            ("until", &until),
            ("timestamps", if args.timestamps { "1" } else { "" }),
            ("follow", if args.follow { "1" } else { "" }),
            ("tail", &args.tail),
            ("details", if args.details { "1" } else { "" }),
        ])
    );
    let mut resp = client
        .send(hyper::Method::GET, &path, &[], crate::client::empty())
        .await?;
    let mut out = Output::new(tty);
    while let Some(chunk) = resp.chunk().await? {
        out.write(&chunk)?;
    }
    Ok(())
}

/// docker's `GetTimestamp`: a relative Go duration (`42m`) becomes now minus it, in Unix
/// seconds; anything else (a Unix time, an RFC 3339 date) goes to the daemon as it is.
fn time_param(v: &str) -> Result<String, CliError> {
    if v.is_empty() {
        return Ok(String::new());
    }
    if v.ends_with(|c: char| c.is_ascii_alphabetic()) && !v.contains(['-', ':', 'T', 'Z']) {
        let ns = super::container_opts::go_duration(v)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| CliError::Usage(e.to_string()))?;
        let t = now
            .as_nanos()
            .saturating_sub(u128::try_from(ns).unwrap_or(0));
        return Ok(format!("{}.{:09}", t / 1_000_000_000, t % 1_000_000_000));
    }
    Ok(v.to_string())
}
