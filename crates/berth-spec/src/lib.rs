//! Docker's container configuration translated to an OCI runtime spec, as dockerd 20.10 does
//! it (moby's `oci/defaults.go`, `daemon/oci_linux.go`, `daemon/create.go`): a pure function
//! of its input (no I/O, no root, no syscalls), so every rule is unit-tested, and the
//! integration test (`tests/dockerd.rs`) compares its output with the `config.json` a real
//! dockerd 20.10 hands runc for the same `docker run` flags.
//!
//! [`build_spec`] takes a [`SpecInput`]: the container's `Config` and `HostConfig` (as sent to
//! `POST /containers/create` with the image's defaults to merge in, or as stored after
//! [`merge_image_defaults`] at create, as dockerd stores it), the rootfs, the
//! generated /etc/hosts, /etc/hostname and /etc/resolv.conf, the namespaces to join, a
//! [`UserResolver`] for names in `User` and `GroupAdd` ([`EtcFiles`] over the rootfs's
//! /etc/passwd and /etc/group, as the caller read them), a [`DeviceLookup`] for `--device`,
//! and [`HostFacts`]. A setting berth does
//! not implement, set to anything but its default, is a [`SpecError::Unsupported`] naming it.
//!
//! Where the output differs from dockerd's on purpose:
//! - No `hooks`: dockerd adds a prestart hook (`libnetwork-setkey`) for containers with a
//!   network namespace of their own; berth sets networking up itself.
//! - `--network host` without a namespace path in [`JoinedNamespaces::network`] leaves the
//!   network namespace out of the spec (the container stays in the caller's); dockerd joins
//!   `/var/run/docker/netns/default`, a bind mount of the host's namespace. With a path, the
//!   spec joins it as dockerd does.
//! - The seccomp profile is x86_64's (see [`seccomp::DEFAULT_PROFILE`]); its rules are in
//!   dockerd's order except that the capability-dependent ones come in the order they were
//!   derived, which changes nothing in the filter.
//! - `seccomp=<profile>` honours `defaultErrnoRet`, which dockerd 20.10 ignores.
//! - `--tmpfs` mounts at the same depth come in order of destination; dockerd adds them in
//!   Go's map order, which is random.
//! - `--group-add` gids come in the order given, each once; dockerd keeps them in a Go map,
//!   so with several its order is random.
//! - Capability sets are sets (oci-spec's `HashSet`): their order in the JSON varies; dockerd
//!   writes its list order. Runtimes read them as sets.
//! - The default profile allows `ptrace` as on kernels from 4.8 (dockerd drops that rule on
//!   older kernels).
//! - No AppArmor or SELinux (dockerd sets neither on this host either): only
//!   `apparmor=unconfined` and `label=disable` are accepted.
//! - Not supported (an error when set): volumes and binds (`Binds`, `Mounts`, `VolumesFrom`,
//!   `VolumeDriver`), published ports, links, networks other than `none`, `host` and
//!   `container:NAME`, user namespaces, `DeviceRequests`, block IO throttles and weights per
//!   device, real-time CPU, kernel memory, `StorageOpt`, `Cgroup`, `Isolation`, the systemd
//!   cgroup driver, `Config.MacAddress`.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod caps;
mod error;
mod input;
mod merge;
mod mounts;
mod resources;
pub mod seccomp;
mod security;
mod users;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_api_types::containers::{ContainerConfig, HostConfig};
use oci_spec::runtime::{
    Linux, LinuxCapabilities, LinuxNamespace, LinuxNamespaceType, Process, Root, Spec, User,
};

pub use caps::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
pub use error::SpecError;
pub use input::{
    ContainerFiles, DeviceLookup, HostDevice, HostFacts, ImageDefaults, JoinedNamespaces,
    NoDevices, NumericIds, ResolvedUser, SpecInput, UserResolver,
};
pub use merge::{merge_image_defaults, DEFAULT_PATH};
pub use users::EtcFiles;

/// The OCI version dockerd 20.10 writes.
pub const OCI_VERSION: &str = "1.0.2-dev";

/// Where the init binary appears in the container (`--init`), as with dockerd.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// dockerd's default size of /dev/shm.
pub const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

/// dockerd's default masked paths.
pub const DEFAULT_MASKED_PATHS: [&str; 10] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// dockerd's default read-only paths.
pub const DEFAULT_READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// How the container uses a namespace kind.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NsMode {
    /// A new one.
    Private,
    /// The host's: no entry in the spec.
    Host,
    /// Join the one at this path.
    Join(PathBuf),
}

fn is_set<T: PartialEq + Default>(v: &T) -> bool {
    *v != T::default()
}

fn nonempty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// Refuses the settings berth does not implement when they are set.
pub fn check_supported(config: &ContainerConfig, hc: &HostConfig) -> Result<(), SpecError> {
    let r = &hc.resources;
    let checks: [(&'static str, bool, String); 19] = [
        (
            "HostConfig.Binds",
            nonempty(&hc.binds),
            format!("{:?}", hc.binds),
        ),
        (
            "HostConfig.Mounts",
            nonempty(&hc.mounts),
            format!("{:?}", hc.mounts),
        ),
        (
            "HostConfig.VolumesFrom",
            nonempty(&hc.volumes_from),
            format!("{:?}", hc.volumes_from),
        ),
        (
            "HostConfig.VolumeDriver",
            is_set(&hc.volume_driver),
            hc.volume_driver.clone(),
        ),
        (
            "HostConfig.PortBindings",
            hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()),
            format!("{:?}", hc.port_bindings),
        ),
        (
            "HostConfig.PublishAllPorts",
            hc.publish_all_ports,
            "true".into(),
        ),
        (
            "HostConfig.Links",
            nonempty(&hc.links),
            format!("{:?}", hc.links),
        ),
        (
            "HostConfig.UsernsMode",
            !matches!(hc.userns_mode.as_str(), "" | "host"),
            hc.userns_mode.clone(),
        ),
        ("HostConfig.Cgroup", is_set(&hc.cgroup), hc.cgroup.clone()),
        (
            "HostConfig.Isolation",
            !matches!(hc.isolation.as_str(), "" | "default"),
            hc.isolation.clone(),
        ),
        (
            "HostConfig.StorageOpt",
            hc.storage_opt.as_ref().is_some_and(|s| !s.is_empty()),
            format!("{:?}", hc.storage_opt),
        ),
        (
            "HostConfig.DeviceRequests",
            nonempty(&r.device_requests),
            format!("{:?}", r.device_requests),
        ),
        (
            "HostConfig.BlkioWeightDevice",
            nonempty(&r.blkio_weight_device),
            format!("{:?}", r.blkio_weight_device),
        ),
        (
            "HostConfig.BlkioDeviceReadBps",
            nonempty(&r.blkio_device_read_bps)
                || nonempty(&r.blkio_device_write_bps)
                || nonempty(&r.blkio_device_read_iops)
                || nonempty(&r.blkio_device_write_iops),
            "device throttles".into(),
        ),
        (
            "HostConfig.CpuRealtimePeriod",
            r.cpu_realtime_period != 0 || r.cpu_realtime_runtime != 0,
            format!("{}/{}", r.cpu_realtime_period, r.cpu_realtime_runtime),
        ),
        (
            "HostConfig.KernelMemory",
            r.kernel_memory != 0 || r.kernel_memory_tcp != 0,
            r.kernel_memory.to_string(),
        ),
        (
            "HostConfig.CpuCount",
            r.cpu_count != 0
                || r.cpu_percent != 0
                || r.io_maximum_iops != 0
                || r.io_maximum_bandwidth != 0,
            "Windows resources".into(),
        ),
        (
            "Config.MacAddress",
            is_set(&config.mac_address),
            config.mac_address.clone(),
        ),
        (
            "HostConfig.CgroupnsMode",
            !matches!(hc.cgroupns_mode.as_str(), "" | "host" | "private"),
            hc.cgroupns_mode.clone(),
        ),
    ];
    for (field, set, value) in checks {
        if set {
            return Err(SpecError::Unsupported { field, value });
        }
    }
    Ok(())
}

/// The network, pid, ipc and uts modes.
fn namespace_modes(
    hc: &HostConfig,
    joined: &JoinedNamespaces,
) -> Result<(NsMode, NsMode, NsMode, NsMode), SpecError> {
    let network = match hc.network_mode.as_str() {
        "none" => NsMode::Private,
        "host" => joined.network.clone().map_or(NsMode::Host, NsMode::Join),
        m if m.starts_with("container:") => NsMode::Join(joined.network.clone().ok_or_else(
            || SpecError::MissingNamespacePath {
                field: "HostConfig.NetworkMode",
                mode: m.to_owned(),
                kind: "network",
            },
        )?),
        m => {
            return Err(SpecError::Unsupported {
                field: "HostConfig.NetworkMode (use --network none, host or container:NAME)",
                value: if m.is_empty() {
                    "default".into()
                } else {
                    m.to_owned()
                },
            })
        }
    };
    let pid =
        match hc.pid_mode.as_str() {
            "" => NsMode::Private,
            "host" => NsMode::Host,
            m if m.starts_with("container:") => NsMode::Join(joined.pid.clone().ok_or_else(
                || SpecError::MissingNamespacePath {
                    field: "HostConfig.PidMode",
                    mode: m.to_owned(),
                    kind: "pid",
                },
            )?),
            m => {
                return Err(SpecError::invalid(
                    "HostConfig.PidMode",
                    format!("invalid PID mode: {m}"),
                ))
            }
        };
    let ipc =
        match hc.ipc_mode.as_str() {
            "" | "private" | "none" | "shareable" => NsMode::Private,
            "host" => NsMode::Host,
            m if m.starts_with("container:") => NsMode::Join(joined.ipc.clone().ok_or_else(
                || SpecError::MissingNamespacePath {
                    field: "HostConfig.IpcMode",
                    mode: m.to_owned(),
                    kind: "ipc",
                },
            )?),
            m => {
                return Err(SpecError::invalid(
                    "HostConfig.IpcMode",
                    format!("invalid IPC mode: {m}"),
                ))
            }
        };
    let uts = match hc.uts_mode.as_str() {
        "" => NsMode::Private,
        "host" => NsMode::Host,
        m => {
            return Err(SpecError::invalid(
                "HostConfig.UTSMode",
                format!("invalid UTS mode: {m}"),
            ))
        }
    };
    Ok((network, pid, ipc, uts))
}

fn namespace(typ: LinuxNamespaceType, path: Option<PathBuf>) -> LinuxNamespace {
    let mut ns = LinuxNamespace::default();
    ns.set_typ(typ);
    ns.set_path(path);
    ns
}

/// The sysctls a container may set: those of its own ipc and network namespaces.
fn check_sysctl(key: &str, host_network: bool) -> Result<(), SpecError> {
    let field = "HostConfig.Sysctls";
    let ipc = matches!(
        key,
        "kernel.msgmax"
            | "kernel.msgmnb"
            | "kernel.msgmni"
            | "kernel.sem"
            | "kernel.shmall"
            | "kernel.shmmax"
            | "kernel.shmmni"
            | "kernel.shm_rmid_forced"
    ) || key.starts_with("fs.mqueue.");
    if ipc {
        return Ok(());
    }
    if key.starts_with("net.") {
        if host_network {
            return Err(SpecError::invalid(
                field,
                format!("sysctl {key:?} not allowed in host network namespace"),
            ));
        }
        return Ok(());
    }
    Err(SpecError::invalid(
        field,
        format!("sysctl {key:?} is not whitelisted"),
    ))
}

/// Fills in what dockerd fills in when it creates a container, so that what is stored (and
/// shown by `inspect`) is dockerd's: the hostname (the id's first 12 digits, or the host's
/// name with `--network host`), `ShmSize` 64 MiB, `IpcMode` `private`, `CgroupnsMode` (`host`
/// on cgroup v1 and hybrid hosts, `private` on v2), `MemorySwap` twice `Memory`,
/// `OomKillDisable` false, and the default masked and read-only paths unless privileged. The
/// log driver, restart policy and runtime names are the daemon's business. Applying it again
/// changes nothing; [`build_spec`] applies it to its copy.
pub fn apply_create_defaults(
    id: &str,
    config: &mut ContainerConfig,
    hc: &mut HostConfig,
    host: &HostFacts,
) {
    if config.hostname.is_empty() {
        config.hostname = if hc.network_mode == "host" {
            host.hostname.clone()
        } else {
            id.chars().take(12).collect()
        };
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM_SIZE;
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".to_owned();
    }
    if hc.resources.memory > 0 && hc.resources.memory_swap == 0 {
        hc.resources.memory_swap = hc.resources.memory.saturating_mul(2);
    }
    if hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode = if host.cgroup_v2 { "private" } else { "host" }.to_owned();
    }
    if hc.resources.oom_kill_disable.is_none() {
        hc.resources.oom_kill_disable = Some(false);
    }
    if !hc.privileged {
        let owned = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect();
        if hc.masked_paths.is_none() {
            hc.masked_paths = Some(owned(&DEFAULT_MASKED_PATHS));
        }
        if hc.readonly_paths.is_none() {
            hc.readonly_paths = Some(owned(&DEFAULT_READONLY_PATHS));
        }
    }
}

/// The /dev/shm that `--ipc shareable` and `--ipc container:NAME` bind-mount.
fn shared_shm<'a>(files: &'a ContainerFiles, mode: &str) -> Result<&'a Path, SpecError> {
    files.shm.as_deref().ok_or_else(|| {
        SpecError::invalid(
            "HostConfig.IpcMode",
            format!("{mode:?} needs the path of the /dev/shm to share"),
        )
    })
}

/// The container's spec.
pub fn build_spec(input: &SpecInput<'_>) -> Result<Spec, SpecError> {
    let hc_in = input.host_config;
    check_supported(input.config, hc_in)?;
    let mut config = match input.image {
        Some(image) => merge_image_defaults(input.config, image)?,
        None => input.config.clone(),
    };
    let mut hc = hc_in.clone();
    let host = input.host;

    apply_create_defaults(input.id, &mut config, &mut hc, host);
    if hc.shm_size < 0 {
        return Err(SpecError::invalid(
            "HostConfig.ShmSize",
            "SHM size can not be less than 0",
        ));
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(SpecError::invalid(
            "HostConfig.OomScoreAdj",
            format!(
                "Invalid value {}, range for oom score adj is [-1000, 1000]",
                hc.oom_score_adj
            ),
        ));
    }
    resources::validate(&hc.resources)?;
    let (net_mode, pid_mode, ipc_mode, uts_mode) = namespace_modes(&hc, input.joined)?;
    let security = security::parse(
        hc.security_opt.as_deref().unwrap_or_default(),
        host.no_new_privileges,
    )?;

    // Process.
    let mut args = merge::args(&config)?;
    let init = match hc.init {
        Some(i) => i,
        None => host.init_by_default,
    } && pid_mode == NsMode::Private;
    let init_binary = if init {
        let path = host
            .init_binary
            .as_deref()
            .ok_or_else(|| SpecError::Unsupported {
                field: "HostConfig.Init (no init binary configured)",
                value: "true".into(),
            })?;
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
        Some(path)
    } else {
        None
    };
    let resolved = input.users.user(&config.user)?;
    let mut gids = vec![resolved.gid];
    gids.extend(&resolved.supplementary_gids);
    // `--group-add` is a set (dockerd keeps it in a map).
    let mut added: Vec<u32> = Vec::new();
    for g in hc.group_add.iter().flatten() {
        let gid = input.users.group(g)?;
        if !added.contains(&gid) {
            added.push(gid);
        }
    }
    gids.extend(added);
    let mut user = User::default();
    user.set_uid(resolved.uid);
    user.set_gid(resolved.gid);
    user.set_additional_gids(Some(gids));

    let cap_names = caps::capabilities(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        hc.privileged,
    )?;
    let cap_set = caps::to_oci(&cap_names)?;
    let mut capabilities = LinuxCapabilities::default();
    // Like execve, a process of another user than root starts with no effective or
    // permitted capabilities: only the bounding set is given.
    let root = resolved.uid == 0;
    capabilities.set_bounding(Some(cap_set.clone()));
    capabilities.set_effective(root.then(|| cap_set.clone()));
    capabilities.set_permitted(root.then_some(cap_set));
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);

    let mut process = Process::default();
    process.set_terminal(config.tty.then_some(true));
    process.set_user(user);
    process.set_args(Some(args));
    process.set_env(Some(merge::environment(&config)));
    process.set_cwd(PathBuf::from(if config.working_dir.is_empty() {
        "/"
    } else {
        config.working_dir.as_str()
    }));
    process.set_capabilities(Some(capabilities));
    let default_ulimits = &host.default_ulimits;
    let rlimits = resources::rlimits(
        hc.resources.ulimits.as_deref().unwrap_or_default(),
        default_ulimits,
    )?;
    process.set_rlimits((!rlimits.is_empty()).then_some(rlimits));
    process.set_no_new_privileges(security.no_new_privileges.then_some(true));
    process
        .set_oom_score_adj(Some(i32::try_from(hc.oom_score_adj).map_err(|_| {
            SpecError::invalid("HostConfig.OomScoreAdj", "out of range")
        })?));
    process.set_apparmor_profile(None);

    // Namespaces, in dockerd's order.
    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount, None)];
    for (typ, mode) in [
        (LinuxNamespaceType::Network, &net_mode),
        (LinuxNamespaceType::Uts, &uts_mode),
        (LinuxNamespaceType::Pid, &pid_mode),
        (LinuxNamespaceType::Ipc, &ipc_mode),
    ] {
        match mode {
            NsMode::Private => namespaces.push(namespace(typ, None)),
            NsMode::Join(p) => namespaces.push(namespace(typ, Some(p.clone()))),
            NsMode::Host => {}
        }
    }
    if hc.cgroupns_mode == "private" {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup, None));
    }

    // Sysctls.
    let mut sysctl: HashMap<String, String> = HashMap::new();
    if !config.domainname.is_empty() {
        sysctl.insert("kernel.domainname".into(), config.domainname.clone());
    }
    let private_network = hc.network_mode != "host" && !hc.network_mode.starts_with("container:");
    if private_network {
        if host.ping_group_range {
            sysctl.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        }
        if host.ip_unprivileged_port_start {
            sysctl.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        }
    }
    for (k, v) in hc.sysctls.iter().flatten() {
        check_sysctl(k, hc.network_mode == "host")?;
        sysctl.insert(k.clone(), v.clone());
    }

    let tmpfs: Vec<(&str, &str)> = hc
        .tmpfs
        .iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let plan = mounts::MountPlan {
        files: input.files,
        readonly_rootfs: hc.readonly_rootfs,
        privileged: hc.privileged,
        shm_size: hc.shm_size,
        ipc_none: hc.ipc_mode == "none",
        shm_bind: match &ipc_mode {
            NsMode::Host => Some(Path::new("/dev/shm")),
            NsMode::Join(_) => Some(shared_shm(input.files, &hc.ipc_mode)?),
            NsMode::Private if hc.ipc_mode == "shareable" => {
                Some(shared_shm(input.files, &hc.ipc_mode)?)
            }
            NsMode::Private => None,
        },
        tmpfs,
        init: init_binary,
    };
    let mounts: Vec<_> = mounts::mounts(&plan)?
        .iter()
        .map(mounts::MountEntry::to_oci)
        .collect();

    let seccomp = seccomp::filter(&security.seccomp, hc.privileged, &cap_names, host.kernel)?;

    let mut linux = Linux::default();
    linux.set_uid_mappings(None);
    linux.set_gid_mappings(None);
    linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
    let (mut devices, device_rules) = resources::mapped_devices(
        hc.resources.devices.as_deref().unwrap_or_default(),
        input.devices,
        hc.privileged,
    )?;
    linux.set_resources(Some(resources::resources(
        &hc.resources,
        hc.privileged,
        device_rules,
    )?));
    let parent = if hc.resources.cgroup_parent.is_empty() {
        host.cgroup_parent.as_str()
    } else {
        hc.resources.cgroup_parent.as_str()
    };
    linux.set_cgroups_path(Some(PathBuf::from(parent).join(input.id)));
    linux.set_namespaces(Some(namespaces));
    if hc.privileged {
        devices.splice(0..0, host.devices.iter().cloned());
    }
    linux.set_devices((!devices.is_empty()).then_some(devices));
    linux.set_seccomp(seccomp);
    linux.set_rootfs_propagation(None);
    linux.set_masked_paths(hc.masked_paths.clone().filter(|p| !p.is_empty()));
    linux.set_readonly_paths(hc.readonly_paths.clone().filter(|p| !p.is_empty()));
    linux.set_mount_label(None);
    linux.set_intel_rdt(None);
    linux.set_personality(None);

    let mut root = Root::default();
    root.set_path(input.rootfs.to_path_buf());
    root.set_readonly(hc.readonly_rootfs.then_some(true));

    let mut spec = Spec::default();
    spec.set_version(OCI_VERSION.to_owned());
    spec.set_root(Some(root));
    spec.set_mounts(Some(mounts));
    spec.set_process(Some(process));
    spec.set_hostname(if uts_mode == NsMode::Host || config.hostname.is_empty() {
        None
    } else {
        Some(config.hostname.clone())
    });
    spec.set_domainname(None);
    spec.set_hooks(None);
    spec.set_annotations(None);
    spec.set_linux(Some(linux));
    Ok(spec)
}

#[cfg(test)]
mod tests;
