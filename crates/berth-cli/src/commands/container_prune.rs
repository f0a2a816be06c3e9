//! `berth container prune`: `POST /containers/prune` after docker's confirmation prompt unless
//! `-f`; prints the removed containers and the space reclaimed.

use std::io::{BufRead, Write};

use clap::Args;
use serde::Deserialize;

use super::images::parse_filter;
use crate::client::{empty, filters_json, query, Client};
use crate::error::CliError;
use crate::format::units::human_size;

/// Remove all stopped containers
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Deserialize)]
struct PruneReport {
    #[serde(rename = "ContainersDeleted", default)]
    containers_deleted: Option<Vec<String>>,
    #[serde(rename = "SpaceReclaimed", default)]
    space_reclaimed: i64,
}

const WARNING: &str =
    "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?";

pub(crate) async fn run(
    client: &Client,
    args: &ContainerPruneArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if !args.force {
        write!(out, "{WARNING} [y/N] ")?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(());
        }
    }
    let path = format!(
        "/containers/prune{}",
        query(&[("filters", &filters_json(&args.filter))])
    );
    let report: PruneReport = client
        .call_json(hyper::Method::POST, &path, empty())
        .await?;
    let deleted = report.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut text = String::from("Deleted Containers:\n");
        for d in deleted {
            text.push_str(&d);
            text.push('\n');
        }
        writeln!(out, "{text}")?;
    }
    writeln!(
        out,
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed)
    )?;
    Ok(())
}
