//! `berth update` (`container update`): `POST /containers/{id}/update` with the resources and
//! restart policy given, for each container; prints the names, the daemon's warnings on
//! stderr.

use std::io::Write;

use berth_api_types::containers::{Resources, RestartPolicy};
use clap::Args;
use serde::{Deserialize, Serialize};

use super::container_opts::ram_in_bytes;
use crate::client::{json_body, percent_encode, Client};
use crate::error::CliError;

/// Update configuration of one or more containers
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// The body of `POST /containers/{id}/update`: resources and a restart policy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateConfig {
    #[serde(flatten)]
    resources: Resources,
    restart_policy: RestartPolicy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateResponse {
    warnings: Option<Vec<String>>,
}

pub(crate) async fn run(
    client: &Client,
    args: &UpdateArgs,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let mut r = Resources {
        cpu_shares: args.cpu_shares.unwrap_or(0),
        cpuset_cpus: args.cpuset_cpus.clone().unwrap_or_default(),
        pids_limit: args.pids_limit,
        ..Resources::default()
    };
    if let Some(m) = &args.memory {
        r.memory = ram_in_bytes(m)?;
    }
    if let Some(s) = &args.memory_swap {
        r.memory_swap = if s == "-1" { -1 } else { ram_in_bytes(s)? };
    }
    if let Some(c) = args.cpus {
        #[allow(clippy::cast_possible_truncation)]
        {
            r.nano_cpus = (c * 1e9) as i64;
        }
    }
    let restart_policy = match &args.restart {
        Some(p) => super::container_opts::restart_policy(p)?,
        None => RestartPolicy::default(),
    };
    let body = UpdateConfig {
        resources: r,
        restart_policy,
    };
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("/containers/{}/update", percent_encode(name));
        let resp: Result<UpdateResponse, _> = client
            .call_json(hyper::Method::POST, &path, json_body(&body))
            .await;
        match resp {
            Ok(u) => {
                for w in u.warnings.unwrap_or_default() {
                    eprintln!("{w}");
                }
                writeln!(out, "{name}")?;
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
