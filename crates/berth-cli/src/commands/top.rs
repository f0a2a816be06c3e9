//! `berth top`: `GET /containers/{id}/top?ps_args=...`, printed as docker's tabwriter table
//! (minimum width 20).

use std::io::Write;

use clap::Args;

use crate::client::{percent_encode, query, Client};
use crate::error::CliError;
use crate::format::json::Json;
use crate::format::table::tabwrite_min;

/// Display the running processes of a container
#[derive(Debug, Args)]
pub struct TopArgs {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &TopArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let ps_args = args.ps_args.join(" ");
    let path = format!(
        "/containers/{}/top{}",
        percent_encode(&args.container),
        query(&[("ps_args", &ps_args)])
    );
    let body = client.get(&path).await?;
    let top = Json::parse(&body).map_err(|source| CliError::Decode { path, source })?;
    let mut text = String::new();
    text.push_str(
        &top.get("Titles")
            .map(Json::strings)
            .unwrap_or_default()
            .join("\t"),
    );
    text.push('\n');
    if let Some(Json::Array(ps)) = top.get("Processes") {
        for p in ps {
            text.push_str(&p.strings().join("\t"));
            text.push('\n');
        }
    }
    out.write_all(tabwrite_min(&text, 20).as_bytes())?;
    Ok(())
}
