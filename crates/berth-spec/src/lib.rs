//! Docker's container configuration translated to an OCI runtime spec, as dockerd 20.10 does
//! it (moby's `oci/defaults.go`, `daemon/oci_linux.go`, `daemon/create.go`): a pure function
//! of its input (no I/O, no root, no syscalls), so every rule is unit-tested, and the
//! integration test (`tests/dockerd.rs`) compares its output with the `config.json` a real
//! dockerd 20.10 hands runc for the same `docker run` flags (44 flag sets, and each capability
//! on its own); `tests/golden.rs` replays 14 of those cases from files, without root.
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
mod create;
mod error;
mod input;
mod merge;
mod mounts;
mod namespaces;
mod process;
mod resources;
pub mod seccomp;
mod security;
mod users;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, Root, Spec};

use crate::namespaces::NsMode;

pub use caps::{ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
pub use create::{apply_create_defaults, check_supported};
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
    create::validate(&hc)?;
    let modes = namespaces::modes(&hc, input.joined)?;
    let security = security::parse(
        hc.security_opt.as_deref().unwrap_or_default(),
        host.no_new_privileges,
    )?;

    // Process.
    let mut args = merge::args(&config)?;
    let init = match hc.init {
        Some(i) => i,
        None => host.init_by_default,
    } && modes.pid == NsMode::Private;
    let init_binary = if init {
        let path = host.init_binary.as_deref().ok_or(SpecError::NoInitBinary)?;
        args.splice(0..0, [INIT_PATH.to_owned(), "--".to_owned()]);
        Some(path)
    } else {
        None
    };
    let cap_names = caps::capabilities(
        hc.cap_add.as_deref().unwrap_or_default(),
        hc.cap_drop.as_deref().unwrap_or_default(),
        hc.privileged,
    )?;
    let process = process::process(
        &config,
        &hc,
        input.users,
        process::ProcessPlan {
            args,
            cap_names: &cap_names,
            no_new_privileges: security.no_new_privileges,
            host,
        },
    )?;
    let sysctl = namespaces::sysctls(&config, &hc, host)?;

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
        shm_bind: match &modes.ipc {
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
    linux.set_namespaces(Some(namespaces::namespaces(&modes, &hc.cgroupns_mode)));
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
    spec.set_hostname(if modes.uts == NsMode::Host || config.hostname.is_empty() {
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
