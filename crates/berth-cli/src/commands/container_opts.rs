//! The flags `create` and `run` share, turned into the body of `POST /containers/create` as
//! docker's CLI fills it (`cli/command/container/opts.go`).

use std::collections::BTreeMap;

use berth_api_types::containers::{
    ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig, LogConfig, NetworkingConfig,
    RestartPolicy, Ulimit,
};
use clap::Args;

use crate::error::CliError;

/// Flags of `create` and `run`.
#[derive(Debug, Clone, Args)]
pub struct ContainerOptions {
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "STREAM", value_parser = parse_stream)]
    pub attach: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Memory limit
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Ulimit options (name=soft[:hard])
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Pull image before creating ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", visible_alias = "net")]
    pub network: Option<String>,
    /// Suppress the pull output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// The image, then the command and its arguments: everything after the image belongs to
    /// the command, flags included (docker's `SetInterspersed(false)`)
    #[arg(
        value_name = "IMAGE [COMMAND] [ARG...]",
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub image_and_command: Vec<String>,
}

/// A stream of `-a`: `stdin`, `stdout` or `stderr` in any case.
fn parse_stream(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "stdin" | "stdout" | "stderr" => Ok(lower),
        _ => Err(format!(
            "valid streams are STDIN, STDOUT and STDERR, not {s:?}"
        )),
    }
}

/// A size (`64m`, `1g`, `512k`, `100`) in bytes, as docker's `RAMInBytes`.
pub(crate) fn ram_in_bytes(s: &str) -> Result<i64, CliError> {
    let bad = || CliError::Usage(format!("invalid size: '{s}'"));
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let mut num = t;
    let mut mult = 1.0;
    for (suffix, m) in [
        ('k', 1024f64),
        ('m', 1024f64.powi(2)),
        ('g', 1024f64.powi(3)),
        ('t', 1024f64.powi(4)),
        ('p', 1024f64.powi(5)),
    ] {
        if let Some(n) = t.strip_suffix(suffix) {
            num = n;
            mult = m;
        }
    }
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if n < 0.0 {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((n * mult) as i64)
}

/// A Go duration (`30s`, `1m30s`, `500ms`, `1h`) in nanoseconds.
pub(crate) fn go_duration(s: &str) -> Result<i64, CliError> {
    let bad = || CliError::Usage(format!("time: invalid duration \"{s}\""));
    if s == "0" {
        return Ok(0);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest
            .get(..num_len)
            .unwrap_or("")
            .parse()
            .map_err(|_| bad())?;
        rest = rest.get(num_len..).unwrap_or("");
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len).unwrap_or("");
        rest = rest.get(unit_len..).unwrap_or("");
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(total as i64)
}

/// The variables of an env file: `KEY=value` lines, bare `KEY` taken from our environment,
/// `#` comments and blank lines skipped.
fn env_file(path: &str) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::File {
        action: "read the env file",
        path: path.into(),
        source,
    })?;
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(expand_env(line));
    }
    Ok(out)
}

/// `KEY` alone takes our value of `KEY` (and is dropped when we have none), as docker does.
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// `a=b` labels (a bare `a` is `a=`).
fn labels(list: &[String]) -> BTreeMap<String, String> {
    list.iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

pub(crate) fn restart_policy(s: &str) -> Result<RestartPolicy, CliError> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            c.parse::<i64>().map_err(|_| {
                CliError::Usage(
                    "invalid restart policy format: maximum retry count must be an integer".into(),
                )
            })?,
        ),
        None => (s, 0),
    };
    match name {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => Ok(RestartPolicy {
            name: if name.is_empty() { "no".into() } else { name.into() },
            maximum_retry_count: count,
        }),
        _ => Err(CliError::Usage(format!(
            "invalid restart policy format: unknown policy '{name}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        ))),
    }
}

/// Capabilities as docker's CLI sends them: upper case with the `CAP_` prefix (`ALL` as it
/// is).
fn normalize_caps(caps: &[String]) -> Vec<String> {
    caps.iter()
        .map(|c| {
            let c = c.trim().to_ascii_uppercase();
            if c == "ALL" || c.starts_with("CAP_") {
                c
            } else {
                format!("CAP_{c}")
            }
        })
        .collect()
}

fn ulimit(s: &str) -> Result<Ulimit, CliError> {
    let bad = || CliError::Usage(format!("invalid ulimit argument: {s}"));
    let (name, vals) = s.split_once('=').ok_or_else(bad)?;
    let (soft, hard) = match vals.split_once(':') {
        Some((a, b)) => (a, b),
        None => (vals, vals),
    };
    Ok(Ulimit {
        name: name.to_string(),
        soft: soft.parse().map_err(|_| bad())?,
        hard: hard.parse().map_err(|_| bad())?,
    })
}

impl ContainerOptions {
    /// Whether `-a STREAM` names `stream`.
    fn attached(&self, stream: &str) -> bool {
        self.attach.iter().any(|a| a == stream)
    }

    /// The image.
    pub(crate) fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    /// The command after the image.
    pub(crate) fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }

    /// The create body; `attach` is false for `run -d` only: docker's `create` and attached
    /// `run` set `AttachStdout`, `AttachStderr` (and with `-i` `AttachStdin`, `StdinOnce`).
    pub(crate) fn request(&self, attach: bool) -> Result<ContainerCreateRequest, CliError> {
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(env_file(f)?);
        }
        env.extend(self.env.iter().map(|e| expand_env(e)));
        let healthcheck = self.healthcheck()?;
        let entrypoint = self.entrypoint.as_ref().map(|e| {
            if e.is_empty() {
                vec![String::new()]
            } else {
                vec![e.clone()]
            }
        });
        let config = ContainerConfig {
            hostname: self.hostname.clone().unwrap_or_default(),
            user: self.user.clone().unwrap_or_default(),
            attach_stdin: attach && (self.interactive || self.attached("stdin")),
            attach_stdout: attach && (self.attach.is_empty() || self.attached("stdout")),
            attach_stderr: attach && (self.attach.is_empty() || self.attached("stderr")),
            tty: self.tty,
            open_stdin: self.interactive,
            stdin_once: attach && self.interactive,
            env: Some(env),
            cmd: (!self.command().is_empty()).then(|| self.command().to_vec()),
            healthcheck,
            image: self.image().to_string(),
            volumes: Some(BTreeMap::new()),
            working_dir: self.workdir.clone().unwrap_or_default(),
            entrypoint,
            labels: Some(labels(&self.label)),
            stop_signal: self.stop_signal.clone().unwrap_or_default(),
            stop_timeout: self.stop_timeout,
            ..ContainerConfig::default()
        };
        let mut host = HostConfig {
            log_config: LogConfig {
                kind: self.log_driver.clone().unwrap_or_default(),
                config: Some(labels(&self.log_opt)),
            },
            network_mode: self.network.clone().unwrap_or_else(|| "default".into()),
            restart_policy: restart_policy(&self.restart)?,
            auto_remove: self.rm,
            cap_add: (!self.cap_add.is_empty()).then(|| normalize_caps(&self.cap_add)),
            cap_drop: (!self.cap_drop.is_empty()).then(|| normalize_caps(&self.cap_drop)),
            // docker sends these empty rather than null, and dockerd stores what it is sent.
            port_bindings: Some(BTreeMap::new()),
            dns: Some(Vec::new()),
            dns_options: Some(Vec::new()),
            dns_search: Some(Vec::new()),
            privileged: self.privileged,
            readonly_rootfs: self.read_only,
            security_opt: (!self.security_opt.is_empty()).then(|| self.security_opt.clone()),
            init: self.init.then_some(true),
            ..HostConfig::default()
        };
        if self.rm && self.restart != "no" && !self.restart.is_empty() {
            return Err(CliError::Usage(
                "Conflicting options: --restart and --rm".into(),
            ));
        }
        if self.tty {
            if let Some((h, w)) = crate::stream::terminal_size() {
                host.console_size = [u64::from(h), u64::from(w)];
            }
        }
        let r = &mut host.resources;
        if let Some(m) = &self.memory {
            r.memory = ram_in_bytes(m)?;
        }
        if let Some(c) = self.cpus {
            #[allow(clippy::cast_possible_truncation)]
            {
                r.nano_cpus = (c * 1e9) as i64;
            }
        }
        r.cpuset_cpus = self.cpuset_cpus.clone().unwrap_or_default();
        r.blkio_weight_device = Some(Vec::new());
        r.blkio_device_read_bps = Some(Vec::new());
        r.blkio_device_write_bps = Some(Vec::new());
        r.blkio_device_read_iops = Some(Vec::new());
        r.blkio_device_write_iops = Some(Vec::new());
        r.devices = Some(Vec::new());
        r.pids_limit = self.pids_limit;
        if !self.ulimit.is_empty() {
            r.ulimits = Some(
                self.ulimit
                    .iter()
                    .map(|u| ulimit(u))
                    .collect::<Result<_, _>>()?,
            );
        }
        let mut endpoints = BTreeMap::new();
        if let Some(n) = &self.network {
            if !matches!(n.as_str(), "none" | "host" | "default" | "bridge")
                && !n.starts_with("container:")
            {
                endpoints.insert(n.clone(), None);
            }
        }
        Ok(ContainerCreateRequest {
            config,
            host_config: Some(host),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(endpoints),
            }),
        })
    }

    fn healthcheck(&self) -> Result<Option<HealthConfig>, CliError> {
        let any = self.health_cmd.is_some()
            || self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some();
        if self.no_healthcheck {
            if any {
                return Err(CliError::Usage(
                    "--no-healthcheck conflicts with --health-* options".into(),
                ));
            }
            return Ok(Some(HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..HealthConfig::default()
            }));
        }
        if !any {
            return Ok(None);
        }
        let dur = |d: &Option<String>| d.as_deref().map(go_duration).transpose();
        Ok(Some(HealthConfig {
            test: self
                .health_cmd
                .as_ref()
                .map(|c| vec!["CMD-SHELL".into(), c.clone()]),
            interval: dur(&self.health_interval)?.unwrap_or(0),
            timeout: dur(&self.health_timeout)?.unwrap_or(0),
            start_period: dur(&self.health_start_period)?.unwrap_or(0),
            retries: self.health_retries.unwrap_or(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("100").unwrap(), 100);
        assert_eq!(ram_in_bytes("2kb").unwrap(), 2048);
        assert!(ram_in_bytes("x").is_err());
        assert!(ram_in_bytes("").is_err());
        assert_eq!(go_duration("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(go_duration("500ms").unwrap(), 500_000_000);
        assert!(go_duration("5").is_err());
        assert!(go_duration("").is_err());
        assert!(go_duration("1é").is_err());
    }

    #[test]
    fn policies_and_ulimits() {
        assert_eq!(
            restart_policy("on-failure:3").unwrap().maximum_retry_count,
            3
        );
        assert!(restart_policy("sometimes").is_err());
        let u = ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (1024, 2048));
        assert!(ulimit("nofile").is_err());
    }
}
