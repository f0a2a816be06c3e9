//! `berth logout`: removes a registry's credentials from docker's `config.json` (or its
//! credential helper).

use std::io::Write;

use clap::Args;

use crate::auth::{load_config, server_address};
use crate::error::CliError;
use berth_oci::reference::DEFAULT_DOMAIN as DOCKER_IO;

/// Log out from a registry
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when omitted)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

pub(crate) fn run(args: &LogoutArgs, out: &mut impl Write) -> Result<(), CliError> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| server_address(DOCKER_IO));
    let mut config = load_config()?;
    if config.credentials(&server)?.is_none() {
        writeln!(out, "Not logged in to {server}")?;
        return Ok(());
    }
    writeln!(out, "Removing login credentials for {server}")?;
    config.erase(&server)?;
    Ok(())
}
