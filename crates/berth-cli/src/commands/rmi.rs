//! `berth rmi` / `berth image rm`: `DELETE /images/{name}` for each name, printing the
//! `Untagged:`/`Deleted:` lines; the names that fail are reported at the end (exit 1).

use std::io::Write;

use clap::Args;
use serde::Deserialize;

use crate::client::{empty, name_path, query, Client};
use crate::error::CliError;

/// Remove one or more images
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    pub no_prune: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// One entry of the answer (`ImageDeleteResponseItem`).
#[derive(Debug, Deserialize)]
pub(crate) struct Removed {
    #[serde(rename = "Untagged", default)]
    pub untagged: String,
    #[serde(rename = "Deleted", default)]
    pub deleted: String,
}

pub(crate) async fn run(
    client: &Client,
    args: &RmiArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in &args.images {
        let path = format!(
            "/images/{}{}",
            name_path(name),
            query(&[
                ("force", if args.force { "1" } else { "" }),
                ("noprune", if args.no_prune { "1" } else { "" })
            ])
        );
        match client
            .call_json::<Vec<Removed>>(hyper::Method::DELETE, &path, empty())
            .await
        {
            Ok(items) => {
                for i in items {
                    if !i.untagged.is_empty() {
                        writeln!(out, "Untagged: {}", i.untagged)?;
                    }
                    if !i.deleted.is_empty() {
                        writeln!(out, "Deleted: {}", i.deleted)?;
                    }
                }
            }
            Err(e @ CliError::Daemon { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Several(errors))
    }
}
