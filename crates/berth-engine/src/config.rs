//! What the daemon was started with, as far as the engine cares.

use std::path::PathBuf;

/// The engine's settings, filled from `berthd`'s flags.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state (`--root`, default /var/lib/berth).
    pub root: PathBuf,
    /// Runtime state that does not survive a reboot (`--exec-root`, default /run/berth).
    pub exec_root: PathBuf,
    /// Registries reached over plain HTTP or with unverified TLS (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// Mirrors tried before Docker Hub (`--registry-mirror`).
    pub registry_mirrors: Vec<String>,
    /// The layer store's driver; `None` chooses (overlay where it works, else vfs).
    pub storage_driver: Option<StorageDriver>,
    /// Whether debug logging is on (reported by `info`).
    pub debug: bool,
    /// The `berth-shim` binary; `None`: `$BERTH_SHIM`, else `berth-shim` beside the running
    /// executable.
    pub shim: Option<PathBuf>,
    /// The static init bind-mounted at `/sbin/docker-init` for `--init` (`--init-path`);
    /// `None`: looked up ([`crate::init_path`]).
    pub init_path: Option<PathBuf>,
    /// Whether containers that do not say (`HostConfig.Init: null`) get the init (`--init`).
    pub init: bool,
    /// The cgroup under which containers get theirs (`--cgroup-parent`; dockerd's is
    /// `/docker`): a container's cgroup is `PARENT/ID` in every hierarchy.
    pub cgroup_parent: String,
}

/// How image layers are stored (berth-snapshot's drivers).
pub type StorageDriver = berth_snapshot::Driver;

impl EngineConfig {
    /// A configuration with the given directories and no registry settings.
    pub fn new(root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            exec_root: exec_root.into(),
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
            storage_driver: None,
            debug: false,
            shim: None,
            init_path: None,
            init: false,
            cgroup_parent: crate::containers::CGROUP_PARENT.to_owned(),
        }
    }
}
