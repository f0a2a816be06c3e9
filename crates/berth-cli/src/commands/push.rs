//! `berth push`: `POST /images/{name}/push?tag=..` with the stored credentials in
//! `X-Registry-Auth`, the progress stream shown as docker shows it.

use std::io::Write;

use clap::Args;

use super::transfer;
use crate::client::{name_path, query, Client};
use crate::error::CliError;

/// Upload an image to a registry
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

pub(crate) async fn run(
    client: &Client,
    args: &PushArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let r = transfer::reference(&args.name, args.all_tags, args.quiet, out)?;
    let path = format!(
        "/images/{}/push{}",
        name_path(&r.familiar_name()),
        query(&[("tag", r.tag().unwrap_or(""))])
    );
    transfer::post_with_progress(client, &path, r.domain(), args.quiet, out).await?;
    if args.quiet {
        writeln!(out, "{}", r)?;
    }
    Ok(())
}
