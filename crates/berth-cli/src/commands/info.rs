//! `berth info`: the daemon's `/info`, in `docker info`'s layout, warnings last on stderr.

use std::io::Write;

use berth_api_types::Info;

use super::Format;
use crate::client::Client;
use crate::error::CliError;

/// Display system-wide information
#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Output format: "json" (the API's /info document)
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,
}

pub(crate) async fn run(
    client: &Client,
    args: &InfoArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let format = Format::parse(args.format.as_deref())?;
    let info: Info = client.get_json("/info").await?;
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &info).map_err(std::io::Error::other)?;
            writeln!(out)?;
        }
        Format::Pretty => {
            print_info(&info, out)?;
            for w in info.warnings.iter().flatten() {
                eprintln!("{w}");
            }
        }
    }
    Ok(())
}

fn print_info(i: &Info, out: &mut impl Write) -> Result<(), CliError> {
    writeln!(out, "Server:")?;
    writeln!(out, " Containers: {}", i.containers)?;
    writeln!(out, "  Running: {}", i.containers_running)?;
    writeln!(out, "  Paused: {}", i.containers_paused)?;
    writeln!(out, "  Stopped: {}", i.containers_stopped)?;
    writeln!(out, " Images: {}", i.images)?;
    writeln!(out, " Server Version: {}", i.server_version)?;
    writeln!(out, " Storage Driver: {}", i.driver)?;
    for [k, v] in &i.driver_status {
        writeln!(out, "  {k}: {v}")?;
    }
    writeln!(out, " Cgroup Driver: {}", i.cgroup_driver)?;
    writeln!(out, " Cgroup Version: {}", i.cgroup_version)?;
    let mut runtimes: Vec<&str> = i.runtimes.keys().map(String::as_str).collect();
    runtimes.sort_unstable();
    writeln!(out, " Runtimes: {}", runtimes.join(" "))?;
    writeln!(out, " Default Runtime: {}", i.default_runtime)?;
    writeln!(out, " Kernel Version: {}", i.kernel_version)?;
    writeln!(out, " Operating System: {}", i.operating_system)?;
    writeln!(out, " OSType: {}", i.os_type)?;
    writeln!(out, " Architecture: {}", i.architecture)?;
    writeln!(out, " CPUs: {}", i.ncpu)?;
    writeln!(out, " Total Memory: {}", human_bytes(i.mem_total))?;
    writeln!(out, " Name: {}", i.name)?;
    writeln!(out, " ID: {}", i.id)?;
    writeln!(out, " Berth Root Dir: {}", i.docker_root_dir)?;
    writeln!(out, " Debug Mode: {}", i.debug)?;
    let registry = &i.registry_config;
    let insecure: Vec<&String> = registry
        .index_configs
        .values()
        .filter(|x| !x.secure)
        .map(|x| &x.name)
        .chain(registry.insecure_registry_cidrs.iter())
        .collect();
    if !insecure.is_empty() {
        writeln!(out, " Insecure Registries:")?;
        for r in insecure {
            writeln!(out, "  {r}")?;
        }
    }
    if !registry.mirrors.is_empty() {
        writeln!(out, " Registry Mirrors:")?;
        for m in &registry.mirrors {
            writeln!(out, "  {m}")?;
        }
    }
    writeln!(out, " Live Restore Enabled: {}", i.live_restore_enabled)?;
    Ok(())
}

/// Bytes in binary units with two decimals, as docker prints memory (`23.54GiB`).
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    // Precision beyond two decimals is irrelevant here.
    #[allow(clippy::cast_precision_loss)]
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_like_docker() {
        assert_eq!(human_bytes(25_275_990_016), "23.54GiB");
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50KiB");
    }
}
