//! `berth create` (`container create`): `POST /containers/create?name=..` with the body built
//! from the flags; an image that is missing is pulled first, as docker's CLI does ("Unable
//! to find image 'busybox:latest' locally" and the pull's progress on stderr, then the
//! create again). Prints the new container's id.

use std::io::Write;

use berth_api_types::containers::{ContainerCreateRequest, ContainerCreateResponse};
use clap::Args;
use hyper::Method;

use super::container_opts::ContainerOptions;
use super::transfer;
use crate::client::{json_body, query, Client};
use crate::error::CliError;
use berth_oci::Reference;

/// Create a new container
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub opts: ContainerOptions,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

pub(crate) async fn run(
    client: &Client,
    args: &CreateArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let req = args.opts.request(true)?;
    let id = create_container(client, &args.opts, &req).await?;
    writeln!(out, "{id}")?;
    Ok(())
}

/// Creates the container (pulling its image as `--pull` says) and returns its id; the
/// daemon's warnings go to stderr.
pub(crate) async fn create_container(
    client: &Client,
    opts: &ContainerOptions,
    req: &ContainerCreateRequest,
) -> Result<String, CliError> {
    let tagged = CliError::parse_reference(opts.image())?.with_default_tag();
    match opts.pull.as_str() {
        "always" => pull(client, opts, &tagged).await?,
        "missing" | "never" => {}
        other => {
            return Err(CliError::Usage(format!(
            "invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\""
        )))
        }
    }
    let path = format!(
        "/containers/create{}",
        query(&[
            ("name", opts.name.as_deref().unwrap_or("")),
            ("platform", opts.platform.as_deref().unwrap_or("")),
        ])
    );
    let created: ContainerCreateResponse =
        match client.call_json(Method::POST, &path, json_body(req)).await {
            Err(CliError::Daemon {
                status: 404,
                message,
            }) if message.starts_with("No such image") && opts.pull == "missing" => {
                eprintln!("Unable to find image '{}' locally", tagged.familiar());
                pull(client, opts, &tagged).await?;
                client
                    .call_json(Method::POST, &path, json_body(req))
                    .await?
            }
            other => other?,
        };
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(created.id)
}

async fn pull(client: &Client, opts: &ContainerOptions, r: &Reference) -> Result<(), CliError> {
    let tag = match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.unwrap_or_default().to_owned(),
    };
    let path = format!(
        "/images/create{}",
        query(&[
            ("fromImage", &r.familiar_name()),
            ("tag", &tag),
            ("platform", opts.platform.as_deref().unwrap_or("")),
        ])
    );
    let mut err = std::io::stderr();
    transfer::post_with_progress_to(client, &path, r.domain(), opts.quiet, &mut err, true).await
}
