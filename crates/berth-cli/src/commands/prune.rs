//! `berth image prune`: `POST /images/prune` with `dangling=true` (or `false` with `-a`),
//! after docker's confirmation prompt unless `-f`; prints the untagged and deleted images and
//! the space reclaimed.

use std::io::{BufRead, Write};

use clap::Args;
use serde::Deserialize;

use super::images::parse_filter;
use crate::client::{empty, filters_json, query, Client};
use crate::error::CliError;
use crate::format::units::human_size;

/// Remove unused images
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long = "filter", value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<(String, String)>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Deserialize)]
struct PruneReport {
    #[serde(rename = "ImagesDeleted", default)]
    images_deleted: Option<Vec<super::rmi::Removed>>,
    #[serde(rename = "SpaceReclaimed", default)]
    space_reclaimed: i64,
}

const DANGLING_WARNING: &str =
    "WARNING! This will remove all dangling images.\nAre you sure you want to continue?";
const ALL_WARNING: &str =
    "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?";

pub(crate) async fn run(
    client: &Client,
    args: &PruneArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    if !args.force {
        write!(
            out,
            "{} [y/N] ",
            if args.all {
                ALL_WARNING
            } else {
                DANGLING_WARNING
            }
        )?;
        out.flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y") {
            return Ok(());
        }
    }
    let mut filters = args.filter.clone();
    filters.push(("dangling".into(), (!args.all).to_string()));
    let path = format!(
        "/images/prune{}",
        query(&[("filters", &filters_json(&filters))])
    );
    let report: PruneReport = client
        .call_json(hyper::Method::POST, &path, empty())
        .await?;
    let deleted = report.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        let mut text = String::from("Deleted Images:\n");
        for d in deleted {
            if d.untagged.is_empty() {
                text.push_str(&format!("deleted: {}\n", d.deleted));
            } else {
                text.push_str(&format!("untagged: {}\n", d.untagged));
            }
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
