//! The command line: global flags and one subcommand per verb.

use clap::{Parser, Subcommand};

use crate::commands::{info::InfoArgs, version::VersionArgs};

/// berth: a Docker-compatible container engine.
#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A Docker-compatible container engine"
)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path); overrides BERTH_HOST and DOCKER_HOST
    #[arg(short = 'H', long = "host", global = true, value_name = "HOST")]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the berth version information
    Version(VersionArgs),
    /// Display system-wide information
    Info(InfoArgs),
}
