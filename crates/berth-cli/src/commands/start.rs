//! `berth start` (`container start`): `POST /containers/{id}/start` for each container, its
//! name printed; with `-a`/`-i`, one container attached as `run` attaches (attach, wait,
//! start, stream) and its exit status passed on.

use std::io::Write;

use clap::Args;

use super::run::{attach_start_wait, start, AttachPlan};
use crate::client::Client;
use crate::error::CliError;
use crate::format::json::Json;
use crate::stream::{parse_detach_keys, DEFAULT_DETACH_KEYS};

/// Start one or more stopped containers
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &StartArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if args.attach || args.interactive {
        let [name] = args.containers.as_slice() else {
            return Err(CliError::Usage(
                "you cannot start and attach multiple containers at once".into(),
            ));
        };
        let keys = parse_detach_keys(args.detach_keys.as_deref().unwrap_or(DEFAULT_DETACH_KEYS))?;
        let c = inspect_container(client, name).await?;
        let cfg = |k: &str| {
            c.get("Config")
                .and_then(|cfg| cfg.get(k))
                .is_some_and(|v| *v == Json::Bool(true))
        };
        let id = c
            .get("Id")
            .and_then(Json::as_str)
            .unwrap_or(name)
            .to_string();
        let auto_remove = c
            .get("HostConfig")
            .and_then(|h| h.get("AutoRemove"))
            .is_some_and(|v| *v == Json::Bool(true));
        let plan = AttachPlan {
            id,
            stdin: args.interactive && cfg("OpenStdin"),
            stdout: true,
            stderr: true,
            tty: cfg("Tty"),
            detach_keys: args.detach_keys.clone(),
            keys,
            sig_proxy: true,
            auto_remove,
        };
        out.flush()?;
        return attach_start_wait(client, &plan, true).await;
    }
    let mut errors = Vec::new();
    for name in &args.containers {
        match start(client, name).await {
            Ok(()) => writeln!(out, "{name}")?,
            Err(CliError::Status { message, .. }) => errors.push(message),
            Err(e) => return Err(e),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    errors.push(format!(
        "Error: failed to start containers: {}",
        failed_names(&args.containers, &errors)
    ));
    Err(CliError::Several(errors))
}

fn failed_names(all: &[String], errors: &[String]) -> String {
    all.iter()
        .filter(|n| errors.iter().any(|e| e.contains(n.as_str())))
        .cloned()
        .collect::<Vec<_>>()
        .join(", ")
}

/// `GET /containers/{name}/json`.
pub(crate) async fn inspect_container(client: &Client, name: &str) -> Result<Json, CliError> {
    let path = format!("/containers/{}/json", crate::client::percent_encode(name));
    let body = client.get(&path).await?;
    Json::parse(&body).map_err(|source| CliError::Decode { path, source })
}
