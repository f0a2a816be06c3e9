//! `berth import FILE|- [REPOSITORY[:TAG]]`: `POST /images/create?fromSrc=-&repo=..` with the
//! tarball streamed from FILE or stdin, `-c` changes and `-m` message as docker sends them; the
//! daemon's answer (the new image's id) shown as docker shows it. A URL is passed on as
//! `fromSrc`, for the daemon to fetch or refuse (berthd refuses).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::client::{empty, percent_encode, reader_body, Client};
use crate::error::CliError;
use crate::format::progress::ProgressPrinter;
use crate::terminal::{stdin_is_tty, stdout_is_tty, stdout_width};

/// Import the contents from a tarball to create a filesystem image
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "CHANGE")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "MESSAGE", default_value = "")]
    pub message: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "PLATFORM", default_value = "")]
    pub platform: String,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &ImportArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if let Some(r) = &args.reference {
        // docker checks the name before sending anything.
        CliError::parse_reference(r)?;
    }
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let (from, body) = if args.source == "-" {
        if stdin_is_tty() {
            return Err(CliError::Usage(
                "requested import from stdin, but stdin is empty".into(),
            ));
        }
        ("-".to_owned(), reader_body(tokio::io::stdin()))
    } else if is_url {
        (args.source.clone(), empty())
    } else {
        let path = PathBuf::from(&args.source);
        let f = tokio::fs::File::open(&path)
            .await
            .map_err(|source| CliError::File {
                action: "open",
                path: path.clone(),
                source,
            })?;
        ("-".to_owned(), reader_body(f))
    };
    let mut q = vec![format!("fromSrc={}", percent_encode(&from))];
    if let Some(r) = &args.reference {
        q.push(format!("repo={}", percent_encode(r)));
    }
    if !args.message.is_empty() {
        q.push(format!("message={}", percent_encode(&args.message)));
    }
    if !args.platform.is_empty() {
        q.push(format!("platform={}", percent_encode(&args.platform)));
    }
    for c in &args.changes {
        q.push(format!("changes={}", percent_encode(c)));
    }
    let path = format!("/images/create?{}", q.join("&"));
    let resp = client.post_tar(&path, body).await?;
    let mut printer = ProgressPrinter::new(stdout_is_tty(), stdout_width());
    resp.show_progress(&mut printer, out).await
}
