//! `berth version`: the client's version, then the server's, in `docker version`'s layout.
//! Without a daemon the client part is printed and the command fails with one line, as docker
//! does.

use std::io::Write;

use berth_api_types::Version;
use berth_api_types::API_VERSION;
use serde::Serialize;

use super::Format;
use crate::client::Client;
use crate::error::CliError;

/// Show the berth version information
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Output format: "json" (the client's and the server's versions as JSON)
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// The client's own version, in the shape of docker's `Client` section.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClientVersion {
    version: &'static str,
    api_version: &'static str,
    os: &'static str,
    arch: &'static str,
}

#[derive(Debug, Serialize)]
struct Both<'a> {
    #[serde(rename = "Client")]
    client: &'a ClientVersion,
    #[serde(rename = "Server")]
    server: Option<&'a Version>,
}

pub(crate) async fn run(
    client: &Client,
    args: &VersionArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let mine = ClientVersion {
        version: env!("CARGO_PKG_VERSION"),
        api_version: API_VERSION,
        os: std::env::consts::OS,
        arch: go_arch(),
    };
    let server = client.get_json::<Version>("/version").await;
    match format {
        Format::Json => {
            let both = Both {
                client: &mine,
                server: server.as_ref().ok(),
            };
            serde_json::to_writer(&mut *out, &both).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        Format::Pretty => {
            writeln!(out, "Client:")?;
            writeln!(out, " Version:           {}", mine.version)?;
            writeln!(out, " API version:       {}", mine.api_version)?;
            writeln!(out, " OS/Arch:           {}/{}", mine.os, mine.arch)?;
            if let Ok(v) = &server {
                writeln!(out)?;
                print_server(v, out)?;
            }
        }
    }
    server.map(|_| ())
}

fn print_server(v: &Version, out: &mut impl Write) -> Result<(), CliError> {
    writeln!(out, "Server: {}", v.platform.name)?;
    writeln!(out, " Engine:")?;
    writeln!(out, "  Version:          {}", v.version)?;
    writeln!(
        out,
        "  API version:      {} (minimum version {})",
        v.api_version, v.min_api_version
    )?;
    writeln!(out, "  Built with:       {}", v.go_version)?;
    writeln!(out, "  Git commit:       {}", v.git_commit)?;
    writeln!(out, "  Built:            {}", v.build_time)?;
    writeln!(out, "  OS/Arch:          {}/{}", v.os, v.arch)?;
    writeln!(out, "  Kernel:           {}", v.kernel_version)?;
    writeln!(out, "  Experimental:     {}", v.experimental)?;
    for c in v.components.iter().filter(|c| c.name != "Engine") {
        writeln!(out, " {}:", c.name)?;
        writeln!(out, "  Version:          {}", c.version)?;
    }
    Ok(())
}

/// Go's GOARCH names, as docker prints them.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
