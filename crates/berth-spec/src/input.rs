//! What the caller hands the translation: the container's and the image's configuration, the
//! paths it prepared, and facts about the host it looked up. Nothing here is read from the
//! system by this crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api_types::containers::{ContainerConfig, HealthConfig, HostConfig, Ulimit};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use crate::error::SpecError;

/// The image's defaults for a container (the `config` of its image config), as the caller
/// read them from the image store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageDefaults {
    pub user: String,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub working_dir: String,
    pub stop_signal: String,
    pub healthcheck: Option<HealthConfig>,
    pub labels: BTreeMap<String, String>,
}

impl From<&berth_api_types::images::ContainerConfig> for ImageDefaults {
    /// The defaults from an image's `Config` as `GET /images/{name}/json` shows it (a
    /// healthcheck that does not decode is dropped).
    fn from(c: &berth_api_types::images::ContainerConfig) -> Self {
        Self {
            user: c.user.clone(),
            env: c.env.clone().unwrap_or_default(),
            cmd: c.cmd.clone(),
            entrypoint: c.entrypoint.clone(),
            working_dir: c.working_dir.clone(),
            stop_signal: c.stop_signal.clone().unwrap_or_default(),
            healthcheck: c
                .healthcheck
                .clone()
                .and_then(|h| serde_json::from_value(h).ok()),
            labels: c.labels.clone().unwrap_or_default(),
        }
    }
}

/// The files berth generated for the container and bind-mounts over the image's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerFiles {
    pub hosts: PathBuf,
    pub hostname: PathBuf,
    pub resolv_conf: PathBuf,
    /// The /dev/shm to share: for `--ipc shareable` this container's own (a tmpfs of
    /// `ShmSize` the caller mounted), for `--ipc container:NAME` the other container's.
    pub shm: Option<PathBuf>,
}

/// Paths of namespaces to join (`/proc/PID/ns/net`...), for the modes that join one:
/// `network` for `--network container:NAME` (required) or `--network host` (optional: without
/// it the container simply gets no network namespace of its own), `pid` for
/// `--pid container:NAME`, `ipc` for `--ipc container:NAME`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinedNamespaces {
    pub network: Option<PathBuf>,
    pub pid: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
}

/// What the caller knows about the host and the daemon's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    /// Whether /sys/fs/cgroup is cgroup v2 only: then a container gets its own cgroup
    /// namespace by default (dockerd's rule), otherwise it shares the host's.
    pub cgroup_v2: bool,
    /// The cgroup parent when `HostConfig.CgroupParent` is empty (dockerd: `/docker`, or its
    /// `--cgroup-parent`); the container's cgroup is `PARENT/ID`.
    pub cgroup_parent: String,
    /// The host's devices, given to `--privileged` containers (dockerd walks /dev).
    pub devices: Vec<LinuxDevice>,
    /// Whether `net.ipv4.ping_group_range` and `net.ipv4.ip_unprivileged_port_start` exist
    /// (dockerd sets them in containers with their own network namespace when they do).
    pub ping_group_range: bool,
    pub ip_unprivileged_port_start: bool,
    /// The daemon's `--default-ulimit`s, by name.
    pub default_ulimits: Vec<Ulimit>,
    /// The host's `docker-init` (tini): bind-mounted at `/sbin/docker-init` for `--init`.
    pub init_binary: Option<PathBuf>,
    /// The daemon's `--init`: whether containers with `Init: null` get one.
    pub init_by_default: bool,
    /// The daemon's `--no-new-privileges` default.
    pub no_new_privileges: bool,
    /// The host's name: the hostname of a `--network host` container that sets none.
    pub hostname: String,
    /// The running kernel's version and major revision, for seccomp profiles with
    /// `minKernel` (the default profile has none).
    pub kernel: Option<(u64, u64)>,
}

impl Default for HostFacts {
    fn default() -> Self {
        Self {
            cgroup_v2: false,
            cgroup_parent: "/docker".to_owned(),
            devices: Vec::new(),
            ping_group_range: true,
            ip_unprivileged_port_start: true,
            default_ulimits: Vec::new(),
            init_binary: None,
            init_by_default: false,
            no_new_privileges: false,
            hostname: String::new(),
            kernel: None,
        }
    }
}

/// A user resolved to numeric ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups from the rootfs's /etc/group (for a user given by name only).
    pub supplementary_gids: Vec<u32>,
}

/// Resolves `Config.User` and `HostConfig.GroupAdd` against the container's rootfs
/// (/etc/passwd, /etc/group), with the rules of runc's `user.GetExecUser`: numeric ids with no
/// entry are taken as they are; a user given without a group takes its passwd entry's group
/// (0 without an entry) and, when named, the groups that list it.
pub trait UserResolver {
    /// `""` (root), `user`, `uid`, `user:group`, `uid:gid`.
    fn user(&self, spec: &str) -> Result<ResolvedUser, SpecError>;
    /// A `--group-add` entry: a name or a gid.
    fn group(&self, name: &str) -> Result<u32, SpecError>;
}

/// A resolver for rootfs without /etc/passwd and /etc/group: ids must be numeric
/// ([`crate::EtcFiles`] with neither file).
#[derive(Debug, Clone, Copy, Default)]
pub struct NumericIds;

impl UserResolver for NumericIds {
    fn user(&self, spec: &str) -> Result<ResolvedUser, SpecError> {
        crate::EtcFiles::default().user(spec)
    }

    fn group(&self, name: &str) -> Result<u32, SpecError> {
        crate::EtcFiles::default().group(name)
    }
}

/// A device node on the host, found under a path given to `--device`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Where it is below the path looked up: `""` for the path itself, `"sub/node"` for a
    /// node in a directory.
    pub relative: String,
    pub typ: LinuxDeviceType,
    pub major: i64,
    pub minor: i64,
    /// The permission bits of `st_mode` (without the file type).
    pub file_mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Looks up the device nodes at a host path (`--device /dev/sda`, or a directory holding
/// devices, walked without following links; a symlink given as the path is resolved first):
/// character and block devices and FIFOs, as runc's `DeviceFromPath` finds them. The caller
/// stats the host, berth-spec does the rest. A path that is
/// neither a device nor a directory holding any is an error, as with dockerd.
pub trait DeviceLookup {
    fn devices(&self, path_on_host: &str) -> Result<Vec<HostDevice>, SpecError>;
}

/// For callers that give no devices: any lookup is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDevices;

impl DeviceLookup for NoDevices {
    fn devices(&self, path_on_host: &str) -> Result<Vec<HostDevice>, SpecError> {
        Err(SpecError::unsupported("HostConfig.Devices", path_on_host))
    }
}

/// Everything the translation reads.
#[derive(Clone, Copy)]
pub struct SpecInput<'a> {
    /// The container's id (64 hex digits): its default hostname and the last element of its
    /// cgroup path.
    pub id: &'a str,
    /// As given at create (with `image`), or as stored after [`crate::merge_image_defaults`]
    /// at create (without).
    pub config: &'a ContainerConfig,
    pub host_config: &'a HostConfig,
    /// The image's defaults to merge into `config`; `None` when `config` is merged already.
    /// Merging is done once, at create, as dockerd does: `--entrypoint ""` clears the
    /// image's entrypoint in the stored config, and a second merge would bring it back.
    pub image: Option<&'a ImageDefaults>,
    /// The mounted root filesystem.
    pub rootfs: &'a Path,
    pub files: &'a ContainerFiles,
    pub joined: &'a JoinedNamespaces,
    pub host: &'a HostFacts,
    pub users: &'a dyn UserResolver,
    /// Looks up `HostConfig.Devices` on the host.
    pub devices: &'a dyn DeviceLookup,
}

impl std::fmt::Debug for SpecInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecInput")
            .field("id", &self.id)
            .field("config", self.config)
            .field("host_config", self.host_config)
            .field("image", &self.image)
            .field("rootfs", &self.rootfs)
            .field("files", self.files)
            .field("joined", self.joined)
            .field("host", self.host)
            .finish_non_exhaustive()
    }
}
