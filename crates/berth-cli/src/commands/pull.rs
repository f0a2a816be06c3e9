//! `berth pull`: `POST /images/create?fromImage=..&tag=..` with the stored credentials in
//! `X-Registry-Auth`, the progress stream shown as docker shows it, then the full reference.

use std::io::Write;

use clap::Args;

use crate::auth::{registry_auth, REGISTRY_AUTH_HEADER};
use crate::client::{empty, query, Client};
use crate::error::CliError;
use crate::format::progress::ProgressPrinter;
use crate::reference::Reference;
use crate::terminal::{stdout_is_tty, stdout_width};

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
    let mut r = Reference::parse(&args.name)?;
    let name_only = r.tag.is_none() && r.digest.is_none();
    if args.all_tags && !name_only {
        return Err(CliError::Usage(
            "tag can't be used with --all-tags/-a".into(),
        ));
    }
    if !args.all_tags && name_only {
        r = r.with_default_tag();
        if !args.quiet {
            writeln!(out, "Using default tag: latest")?;
        }
    }
    let tag = r.digest.clone().or(r.tag.clone()).unwrap_or_default();
    let path = format!(
        "/images/create{}",
        query(&[
            ("fromImage", &r.familiar_name()),
            ("tag", &tag),
            ("platform", args.platform.as_deref().unwrap_or("")),
        ])
    );
    let auth = registry_auth(&r.domain).await?;
    let resp = client
        .send(
            hyper::Method::POST,
            &path,
            &[(REGISTRY_AUTH_HEADER, auth)],
            empty(),
        )
        .await?;
    out.flush()?;
    if args.quiet {
        resp.show_progress(&mut ProgressPrinter::new(false, 200), &mut std::io::sink())
            .await?;
    } else {
        let mut printer = ProgressPrinter::new(stdout_is_tty(), stdout_width());
        resp.show_progress(&mut printer, out).await?;
    }
    writeln!(out, "{}", r.full())?;
    Ok(())
}
