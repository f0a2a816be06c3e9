//! berthd's command line, with dockerd's flag names.

use std::path::PathBuf;
use std::time::Duration;

use berth_api::{Host, DEFAULT_HOST};

use crate::daemon::DaemonConfig;
use crate::error::DaemonError;

/// berthd's flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "berthd",
    version,
    about = "The berth daemon: serves the Docker Engine API on a unix socket"
)]
pub struct Args {
    /// Socket to listen on (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "HOST", default_value = DEFAULT_HOST)]
    pub host: String,
    /// Directory of persistent state
    #[arg(long, value_name = "DIR", default_value = "/var/lib/berth")]
    pub root: PathBuf,
    /// Directory of runtime state (sockets, pidfile)
    #[arg(long = "exec-root", value_name = "DIR", default_value = "/run/berth")]
    pub exec_root: PathBuf,
    /// Pid file (default: <exec-root>/berthd.pid)
    #[arg(short = 'p', long, value_name = "FILE")]
    pub pidfile: Option<PathBuf>,
    /// Registry to reach over plain HTTP or unverified TLS (host:port or CIDR); repeatable
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    pub insecure_registries: Vec<String>,
    /// Docker Hub mirror (URL); repeatable
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub registry_mirrors: Vec<String>,
    /// Storage driver: overlay2 or vfs (default: overlay2 where overlayfs works)
    #[arg(short = 's', long = "storage-driver", value_name = "DRIVER")]
    pub storage_driver: Option<StorageDriver>,
    /// Group owning the socket (default: docker, when that group exists)
    #[arg(short = 'G', long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Logging level
    #[arg(short = 'l', long = "log-level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Debug logging (same as --log-level debug)
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Run an init inside containers that do not say (docker run --init)
    #[arg(long)]
    pub init: bool,
    /// The static init for --init (default: $BERTH_INIT, else a static berth-init in
    /// /usr/local/libexec, /usr/libexec or beside berthd)
    #[arg(long = "init-path", value_name = "PATH")]
    pub init_path: Option<PathBuf>,
    /// Seconds to let open connections finish on shutdown
    #[arg(
        long = "shutdown-timeout",
        value_name = "SECONDS",
        default_value_t = 15
    )]
    pub shutdown_timeout: u64,

    /// The cgroup under which containers get theirs (`PARENT/ID` in every hierarchy), as
    /// dockerd's `--cgroup-parent`.
    #[arg(long = "cgroup-parent", value_name = "PATH", default_value = berth_engine::CGROUP_PARENT)]
    pub cgroup_parent: String,
}

/// The storage drivers berthd has (dockerd's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageDriver {
    /// Layers stacked with overlayfs (also accepted as `overlay`).
    #[value(name = "overlay2", alias = "overlay")]
    Overlay2,
    /// Full copies, for hosts without overlayfs.
    Vfs,
}

/// dockerd's log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Args {
    /// The daemon configuration these flags describe.
    pub fn into_config(self) -> Result<DaemonConfig, DaemonError> {
        let host = Host::parse(&self.host)?;
        let pidfile = self
            .pidfile
            .unwrap_or_else(|| self.exec_root.join("berthd.pid"));
        Ok(DaemonConfig {
            host,
            pidfile,
            root: self.root,
            exec_root: self.exec_root,
            insecure_registries: self.insecure_registries,
            registry_mirrors: self.registry_mirrors,
            storage_driver: self.storage_driver.map(|d| match d {
                StorageDriver::Overlay2 => berth_engine::StorageDriver::Overlay,
                StorageDriver::Vfs => berth_engine::StorageDriver::Vfs,
            }),
            group: self.group,
            log_level: if self.debug {
                LogLevel::Debug
            } else {
                self.log_level
            },
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            init: self.init,
            init_path: self.init_path,
            cgroup_parent: self.cgroup_parent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_are_dockerds_with_berth_paths() {
        let c = Args::parse_from(["berthd"]).into_config().unwrap();
        assert_eq!(
            c.host.socket(),
            std::path::Path::new("/run/berth/berth.sock")
        );
        assert_eq!(c.root, PathBuf::from("/var/lib/berth"));
        assert_eq!(c.pidfile, PathBuf::from("/run/berth/berthd.pid"));
        assert_eq!(c.log_level, LogLevel::Info);
        assert!(!c.init);
        assert_eq!(c.init_path, None);
    }

    #[test]
    fn flags() {
        let c = Args::parse_from([
            "berthd",
            "-H",
            "unix:///tmp/x.sock",
            "--insecure-registry",
            "127.0.0.1:5000",
            "--insecure-registry",
            "10.0.0.0/8",
            "--registry-mirror",
            "http://127.0.0.1:5001",
            "--storage-driver",
            "overlay",
            "-D",
            "--init",
            "--init-path",
            "/opt/init",
        ])
        .into_config()
        .unwrap();
        assert!(c.init);
        assert_eq!(c.init_path, Some(PathBuf::from("/opt/init")));
        assert_eq!(c.host.socket(), std::path::Path::new("/tmp/x.sock"));
        assert_eq!(c.insecure_registries, ["127.0.0.1:5000", "10.0.0.0/8"]);
        assert_eq!(c.registry_mirrors, ["http://127.0.0.1:5001"]);
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.storage_driver, Some(berth_engine::StorageDriver::Overlay));
        let vfs = Args::parse_from(["berthd", "-s", "vfs"])
            .into_config()
            .unwrap();
        assert_eq!(vfs.storage_driver, Some(berth_engine::StorageDriver::Vfs));
        assert!(Args::try_parse_from(["berthd", "-s", "zfs"]).is_err());
        assert_eq!(
            Args::parse_from(["berthd"])
                .into_config()
                .unwrap()
                .storage_driver,
            None
        );
        assert!(Args::parse_from(["berthd", "-H", "tcp://0.0.0.0:2375"])
            .into_config()
            .is_err());
    }
}
