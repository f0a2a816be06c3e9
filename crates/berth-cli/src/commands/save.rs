//! `berth save`: `GET /images/get?names=..`, the tar archive written to `-o FILE` (through a
//! temporary file renamed into place, as docker does) or to stdout when it is not a terminal.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::client::{empty, percent_encode, Client};
use crate::error::CliError;
use crate::terminal::stdout_is_tty;

/// Save one or more images to a tar archive (streamed to STDOUT by default)
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &SaveArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if args.output.is_none() && stdout_is_tty() {
        return Err(CliError::Usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
        ));
    }
    let names: Vec<String> = args
        .images
        .iter()
        .map(|n| format!("names={}", percent_encode(n)))
        .collect();
    let mut resp = client
        .send(
            hyper::Method::GET,
            &format!("/images/get?{}", names.join("&")),
            &[],
            empty(),
        )
        .await?;
    let Some(path) = &args.output else {
        while let Some(chunk) = resp.chunk().await? {
            out.write_all(&chunk)?;
        }
        return Ok(());
    };
    let file_err = |action, source| CliError::File {
        action,
        path: path.clone(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-save-")
        .tempfile_in(&dir)
        .map_err(|e| file_err("create a temporary file beside", e))?;
    while let Some(chunk) = resp.chunk().await? {
        tmp.write_all(&chunk).map_err(|e| file_err("write", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| file_err("sync", e))?;
    tmp.persist(path)
        .map_err(|e| file_err("rename into", e.error))?;
    Ok(())
}
