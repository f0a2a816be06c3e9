//! `berth pull`: `POST /images/create?fromImage=..&tag=..` with the stored credentials in
//! `X-Registry-Auth`, the progress stream shown as docker shows it, then the full reference.

use std::io::Write;

use clap::Args;

use super::transfer;
use crate::client::{query, Client};
use crate::error::CliError;

/// Download an image from a registry
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable (e.g. linux/arm64)
    #[arg(long)]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

pub(crate) async fn run(
    client: &Client,
    args: &PullArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let r = transfer::reference(&args.name, args.all_tags, args.quiet, out)?;
    let tag = match (r.digest(), r.tag()) {
        (Some(d), _) => d.to_string(),
        (None, t) => t.unwrap_or_default().to_owned(),
    };
    let path = format!(
        "/images/create{}",
        query(&[
            ("fromImage", &r.familiar_name()),
            ("tag", &tag),
            ("platform", args.platform.as_deref().unwrap_or("")),
        ])
    );
    transfer::post_with_progress(client, &path, r.domain(), args.quiet, out).await?;
    writeln!(out, "{}", r)?;
    Ok(())
}
