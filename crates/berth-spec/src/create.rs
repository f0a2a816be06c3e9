//! What dockerd decides when it creates a container, before any spec: the settings berth
//! refuses, and the defaults it fills in (which `inspect` then shows).

use berth_api_types::containers::{ContainerConfig, HostConfig};

use crate::error::SpecError;
use crate::input::HostFacts;
use crate::{DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, DEFAULT_SHM_SIZE};

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

/// Fills in what dockerd fills in when it creates a container, so that what is stored (and
/// shown by `inspect`) is dockerd's: the hostname (the id's first 12 digits, or the host's
/// name with `--network host`), `ShmSize` 64 MiB, `IpcMode` `private`, `CgroupnsMode` (`host`
/// on cgroup v1 and hybrid hosts, `private` on v2), `MemorySwap` twice `Memory`,
/// `OomKillDisable` false, and the default masked and read-only paths unless privileged. The
/// log driver, restart policy and runtime names are the daemon's business. Applying it again
/// changes nothing; [`crate::build_spec`] applies it to its copy.
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

/// dockerd's checks of the host config at create (those that need no host facts).
pub(crate) fn validate(hc: &HostConfig) -> Result<(), SpecError> {
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
    crate::resources::validate(&hc.resources)
}
