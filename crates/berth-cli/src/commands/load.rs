//! `berth load`: `POST /images/load` with the tar archive streamed from `-i FILE` or stdin;
//! the answer's progress (only `Loaded image:` lines unless stdout is a terminal) shown as
//! docker shows it.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::client::{query, reader_body, Client};
use crate::error::CliError;
use crate::format::progress::ProgressPrinter;
use crate::terminal::{stdin_is_tty, stdout_is_tty, stdout_width};

/// Load an image from a tar archive or STDIN
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub(crate) async fn run(
    client: &Client,
    args: &LoadArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let body = match &args.input {
        Some(p) => {
            let f = tokio::fs::File::open(p)
                .await
                .map_err(|source| CliError::File {
                    action: "open",
                    path: p.clone(),
                    source,
                })?;
            reader_body(f)
        }
        None if stdin_is_tty() => {
            return Err(CliError::Usage(
                "requested load from stdin, but stdin is empty".into(),
            ))
        }
        None => reader_body(tokio::io::stdin()),
    };
    let tty = stdout_is_tty();
    let quiet = args.quiet || !tty;
    let path = format!(
        "/images/load{}",
        query(&[("quiet", if quiet { "1" } else { "0" })])
    );
    let mut resp = client.post_tar(&path, body).await?;
    if resp.content_type.starts_with("application/json") {
        let mut printer = ProgressPrinter::new(tty, stdout_width());
        return resp.show_progress(&mut printer, out).await;
    }
    while let Some(chunk) = resp.chunk().await? {
        out.write_all(&chunk)?;
    }
    Ok(())
}
