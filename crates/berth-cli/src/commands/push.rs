//! `berth push`: `POST /images/{name}/push?tag=..` with the stored credentials in
//! `X-Registry-Auth`, the progress stream shown as docker shows it.

use std::io::Write;

use clap::Args;

use crate::auth::{registry_auth, REGISTRY_AUTH_HEADER};
use crate::client::{empty, name_path, query, Client};
use crate::error::CliError;
use crate::format::progress::ProgressPrinter;
use crate::reference::Reference;
use crate::terminal::{stdout_is_tty, stdout_width};

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
    let path = format!(
        "/images/{}/push{}",
        name_path(&r.familiar_name()),
        query(&[("tag", r.tag.as_deref().unwrap_or(""))])
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
        writeln!(out, "{}", r.full())?;
    } else {
        let mut printer = ProgressPrinter::new(stdout_is_tty(), stdout_width());
        resp.show_progress(&mut printer, out).await?;
    }
    Ok(())
}
