//! The shapes of container creation (moby `api/swagger.yaml` v1.41: `ContainerConfig`,
//! `HostConfig` with its `Resources`, `NetworkingConfig`, and the body of
//! `POST /containers/create`), with dockerd's field names.
//!
//! Decoding is as lenient as dockerd's: a missing field or a `null` takes its zero value, and
//! the fields Go types as `strslice.StrSlice` (`Cmd`, `Entrypoint`, `Shell`, `CapAdd`,
//! `CapDrop`) take a single string as well as an array. Encoding follows dockerd's
//! `container inspect`: Go's `omitempty` fields are left out when empty, the others are written
//! even when empty (`null` for a nil list or map). One leniency of Go's decoder is not copied:
//! it matches field names without regard to case (`"hostname"` for `"Hostname"`); here they
//! must be spelt as Docker spells them, as every Docker client does.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A Go `strslice.StrSlice`: `null`, a string (one element) or an array of strings.
fn str_slice<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(vec![s]),
        Some(OneOrMany::Many(v)) => Some(v),
    })
}

/// A Go value type that dockerd decodes from `null` as its zero value.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// Docker's `Config`: what the container runs and how it is attached (the image's defaults
/// merged in at create).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    #[serde(deserialize_with = "null_default")]
    pub hostname: String,
    #[serde(deserialize_with = "null_default")]
    pub domainname: String,
    /// `user`, `uid`, `user:group` or `uid:gid`.
    #[serde(deserialize_with = "null_default")]
    pub user: String,
    #[serde(deserialize_with = "null_default")]
    pub attach_stdin: bool,
    #[serde(deserialize_with = "null_default")]
    pub attach_stdout: bool,
    #[serde(deserialize_with = "null_default")]
    pub attach_stderr: bool,
    /// `"80/tcp": {}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(deserialize_with = "null_default")]
    pub tty: bool,
    #[serde(deserialize_with = "null_default")]
    pub open_stdin: bool,
    #[serde(deserialize_with = "null_default")]
    pub stdin_once: bool,
    /// `KEY=value`; a bare `KEY` unsets it.
    pub env: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_default")]
    pub args_escaped: bool,
    #[serde(deserialize_with = "null_default")]
    pub image: String,
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(deserialize_with = "null_default")]
    pub working_dir: String,
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_default")]
    pub network_disabled: bool,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub mac_address: String,
    pub on_build: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub stop_signal: String,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "str_slice"
    )]
    pub shell: Option<Vec<String>>,
}

/// A healthcheck; durations in nanoseconds, 0 meaning "inherit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthConfig {
    /// `[]` inherit, `["NONE"]` disable, `["CMD", args...]`, `["CMD-SHELL", command]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "is_zero_i64", deserialize_with = "null_default")]
    pub interval: i64,
    #[serde(skip_serializing_if = "is_zero_i64", deserialize_with = "null_default")]
    pub timeout: i64,
    #[serde(skip_serializing_if = "is_zero_i64", deserialize_with = "null_default")]
    pub start_period: i64,
    #[serde(skip_serializing_if = "is_zero_i64", deserialize_with = "null_default")]
    pub retries: i64,
}

/// The logging driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    #[serde(rename = "Type", deserialize_with = "null_default")]
    pub kind: String,
    pub config: Option<BTreeMap<String, String>>,
}

/// `no`, `always`, `unless-stopped` or `on-failure` (with a retry count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub maximum_retry_count: i64,
}

/// One host port a container port is published on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    #[serde(deserialize_with = "null_default")]
    pub host_ip: String,
    #[serde(deserialize_with = "null_default")]
    pub host_port: String,
}

/// A host device made available in the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    #[serde(deserialize_with = "null_default")]
    pub path_on_host: String,
    #[serde(deserialize_with = "null_default")]
    pub path_in_container: String,
    /// Some of `rwm`.
    #[serde(deserialize_with = "null_default")]
    pub cgroup_permissions: String,
}

/// A resource limit (`--ulimit nofile=1024:2048`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    #[serde(deserialize_with = "null_default")]
    pub hard: i64,
    #[serde(deserialize_with = "null_default")]
    pub soft: i64,
}

/// A weight for one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    #[serde(deserialize_with = "null_default")]
    pub weight: u16,
}

/// A rate limit for one block device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    #[serde(deserialize_with = "null_default")]
    pub path: String,
    #[serde(deserialize_with = "null_default")]
    pub rate: u64,
}

/// A request for devices from a device driver (`--gpus`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    #[serde(deserialize_with = "null_default")]
    pub driver: String,
    #[serde(deserialize_with = "null_default")]
    pub count: i64,
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    pub capabilities: Option<Vec<Vec<String>>>,
    pub options: Option<BTreeMap<String, String>>,
}

/// A mount given with `--mount` (`HostConfig.Mounts`); the per-type options are kept as
/// JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    #[serde(deserialize_with = "null_default")]
    pub kind: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub source: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub target: String,
    #[serde(skip_serializing_if = "is_false", deserialize_with = "null_default")]
    pub read_only: bool,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub consistency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<Value>,
}

/// Docker's `HostConfig`: how the host runs the container, with `Resources` flattened in as Go
/// embeds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `SRC:DST[:OPTS]`.
    pub binds: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile", deserialize_with = "null_default")]
    pub container_id_file: String,
    #[serde(deserialize_with = "null_default")]
    pub log_config: LogConfig,
    /// `default`, `bridge`, `none`, `host`, `container:NAME` or a network's name.
    #[serde(deserialize_with = "null_default")]
    pub network_mode: String,
    /// `"80/tcp": [{"HostIp": "", "HostPort": "8080"}]`.
    pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
    #[serde(deserialize_with = "null_default")]
    pub restart_policy: RestartPolicy,
    #[serde(deserialize_with = "null_default")]
    pub auto_remove: bool,
    #[serde(deserialize_with = "null_default")]
    pub volume_driver: String,
    pub volumes_from: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cap_add: Option<Vec<String>>,
    #[serde(deserialize_with = "str_slice")]
    pub cap_drop: Option<Vec<String>>,
    /// `""`, `host` or `private`.
    #[serde(deserialize_with = "null_default")]
    pub cgroupns_mode: String,
    pub dns: Option<Vec<String>>,
    pub dns_options: Option<Vec<String>>,
    pub dns_search: Option<Vec<String>>,
    pub extra_hosts: Option<Vec<String>>,
    pub group_add: Option<Vec<String>>,
    /// `""`, `none`, `private`, `shareable`, `host` or `container:NAME`.
    #[serde(deserialize_with = "null_default")]
    pub ipc_mode: String,
    #[serde(deserialize_with = "null_default")]
    pub cgroup: String,
    pub links: Option<Vec<String>>,
    #[serde(deserialize_with = "null_default")]
    pub oom_score_adj: i64,
    /// `""`, `host` or `container:NAME`.
    #[serde(deserialize_with = "null_default")]
    pub pid_mode: String,
    #[serde(deserialize_with = "null_default")]
    pub privileged: bool,
    #[serde(deserialize_with = "null_default")]
    pub publish_all_ports: bool,
    #[serde(deserialize_with = "null_default")]
    pub readonly_rootfs: bool,
    /// `no-new-privileges[=BOOL]`, `seccomp=unconfined|PROFILE-JSON`, `apparmor=...`,
    /// `label=...`.
    pub security_opt: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    /// Mount point -> tmpfs options (`size=64m,mode=1777`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `""` or `host`.
    #[serde(rename = "UTSMode", deserialize_with = "null_default")]
    pub uts_mode: String,
    #[serde(deserialize_with = "null_default")]
    pub userns_mode: String,
    /// Bytes; 0 means the daemon's default (64 MiB).
    #[serde(deserialize_with = "null_default")]
    pub shm_size: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "null_default"
    )]
    pub runtime: String,
    /// Height and width of the terminal.
    #[serde(deserialize_with = "null_default")]
    pub console_size: [u64; 2],
    #[serde(deserialize_with = "null_default")]
    pub isolation: String,
    #[serde(flatten)]
    pub resources: Resources,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<Mount>>,
    /// Replaces the default masked paths when set (dockerd fills in its defaults at create).
    pub masked_paths: Option<Vec<String>>,
    /// Replaces the default read-only paths when set.
    pub readonly_paths: Option<Vec<String>>,
    /// Run an init as pid 1; `None` is the daemon's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// Docker's `Resources` (cgroup settings and ulimits), part of [`HostConfig`] and of
/// `POST /containers/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    #[serde(rename = "CpuShares", deserialize_with = "null_default")]
    pub cpu_shares: i64,
    /// Bytes.
    #[serde(deserialize_with = "null_default")]
    pub memory: i64,
    /// CPUs in units of 1e-9.
    #[serde(rename = "NanoCpus", deserialize_with = "null_default")]
    pub nano_cpus: i64,
    #[serde(deserialize_with = "null_default")]
    pub cgroup_parent: String,
    #[serde(deserialize_with = "null_default")]
    pub blkio_weight: u16,
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    #[serde(rename = "CpuPeriod", deserialize_with = "null_default")]
    pub cpu_period: i64,
    #[serde(rename = "CpuQuota", deserialize_with = "null_default")]
    pub cpu_quota: i64,
    #[serde(rename = "CpuRealtimePeriod", deserialize_with = "null_default")]
    pub cpu_realtime_period: i64,
    #[serde(rename = "CpuRealtimeRuntime", deserialize_with = "null_default")]
    pub cpu_realtime_runtime: i64,
    #[serde(deserialize_with = "null_default")]
    pub cpuset_cpus: String,
    #[serde(deserialize_with = "null_default")]
    pub cpuset_mems: String,
    pub devices: Option<Vec<DeviceMapping>>,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub device_requests: Option<Vec<DeviceRequest>>,
    #[serde(deserialize_with = "null_default")]
    pub kernel_memory: i64,
    #[serde(rename = "KernelMemoryTCP", deserialize_with = "null_default")]
    pub kernel_memory_tcp: i64,
    #[serde(deserialize_with = "null_default")]
    pub memory_reservation: i64,
    /// Memory plus swap, bytes; -1 unlimited; 0 means twice `Memory`.
    #[serde(deserialize_with = "null_default")]
    pub memory_swap: i64,
    pub memory_swappiness: Option<i64>,
    pub oom_kill_disable: Option<bool>,
    /// `None` leaves it alone, 0 or -1 unlimited.
    pub pids_limit: Option<i64>,
    pub ulimits: Option<Vec<Ulimit>>,
    #[serde(rename = "CpuCount", deserialize_with = "null_default")]
    pub cpu_count: i64,
    #[serde(rename = "CpuPercent", deserialize_with = "null_default")]
    pub cpu_percent: i64,
    #[serde(rename = "IOMaximumIOps", deserialize_with = "null_default")]
    pub io_maximum_iops: u64,
    #[serde(rename = "IOMaximumBandwidth", deserialize_with = "null_default")]
    pub io_maximum_bandwidth: u64,
}

/// The networks to connect at create, by network name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    pub endpoints_config: Option<BTreeMap<String, Option<EndpointSettings>>>,
}

/// One endpoint of a container on a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSettings {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    pub links: Option<Vec<String>>,
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "NetworkID", deserialize_with = "null_default")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "null_default")]
    pub endpoint_id: String,
    #[serde(deserialize_with = "null_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", deserialize_with = "null_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", deserialize_with = "null_default")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", deserialize_with = "null_default")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "null_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", deserialize_with = "null_default")]
    pub global_ipv6_prefix_len: i64,
    #[serde(deserialize_with = "null_default")]
    pub mac_address: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
}

/// Static addresses asked for an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    #[serde(deserialize_with = "null_default")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    #[serde(deserialize_with = "null_default")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// The body of `POST /containers/create`: the [`ContainerConfig`] fields at the top level, with
/// `HostConfig` and `NetworkingConfig` beside them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateRequest {
    #[serde(flatten)]
    pub config: ContainerConfig,
    pub host_config: Option<HostConfig>,
    pub networking_config: Option<NetworkingConfig>,
}

/// The answer to `POST /containers/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerCreateResponse {
    #[serde(rename = "Id")]
    pub id: String,
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_as_the_docker_cli_sends_it() {
        let body = r#"{"Hostname":"","Domainname":"","User":"1000:1000","AttachStdin":false,
            "AttachStdout":true,"AttachStderr":true,"Tty":true,"OpenStdin":false,"StdinOnce":false,
            "Env":["A=1"],"Cmd":["sh","-c","echo hi"],"Image":"busybox","Volumes":{},
            "WorkingDir":"/tmp","Entrypoint":null,"OnBuild":null,"Labels":{},
            "HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
            "NetworkMode":"none","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
            "AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"CapAdd":["NET_ADMIN"],
            "CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
            "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,
            "PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,
            "SecurityOpt":null,"Tmpfs":{"/run":"size=1m"},"UTSMode":"","UsernsMode":"","ShmSize":0,
            "ConsoleSize":[24,80],"Isolation":"","CpuShares":0,"Memory":67108864,"NanoCpus":1500000000,
            "CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":null,
            "BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,
            "CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"",
            "CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,
            "KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,
            "MemorySwappiness":null,"OomKillDisable":false,"PidsLimit":null,
            "Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"CpuCount":0,"CpuPercent":0,
            "IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},
            "NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let req: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(req.config.user, "1000:1000");
        assert!(req.config.tty);
        assert_eq!(req.config.cmd.as_deref().unwrap(), ["sh", "-c", "echo hi"]);
        assert_eq!(req.config.entrypoint, None);
        let hc = req.host_config.unwrap();
        assert_eq!(hc.network_mode, "none");
        assert_eq!(hc.cap_add.as_deref().unwrap(), ["NET_ADMIN"]);
        assert_eq!(hc.resources.memory, 67108864);
        assert_eq!(hc.resources.nano_cpus, 1_500_000_000);
        assert_eq!(hc.resources.oom_kill_disable, Some(false));
        assert_eq!(hc.resources.ulimits.as_ref().unwrap()[0].soft, 1024);
        assert_eq!(hc.tmpfs.unwrap()["/run"], "size=1m");
        assert_eq!(hc.console_size, [24, 80]);
    }

    #[test]
    fn lenient_like_dockerd() {
        // Missing fields, nulls for value types, a string where Go takes a StrSlice.
        let req: ContainerCreateRequest = serde_json::from_str(
            r#"{"Image":"busybox","Cmd":"echo hi","Entrypoint":"/bin/sh","Tty":null,
                "HostConfig":{"CapAdd":"SYS_ADMIN","Memory":null,"LogConfig":null}}"#,
        )
        .unwrap();
        assert_eq!(req.config.cmd.as_deref().unwrap(), ["echo hi"]);
        assert_eq!(req.config.entrypoint.as_deref().unwrap(), ["/bin/sh"]);
        assert!(!req.config.tty);
        let hc = req.host_config.unwrap();
        assert_eq!(hc.cap_add.as_deref().unwrap(), ["SYS_ADMIN"]);
        assert_eq!(hc.resources.memory, 0);
        assert!(req.networking_config.is_none());
        let empty: ContainerCreateRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ContainerCreateRequest::default());
    }

    #[test]
    fn serialises_like_dockerd_inspect() {
        let config = ContainerConfig {
            image: "busybox".into(),
            cmd: Some(vec!["sh".into()]),
            ..ContainerConfig::default()
        };
        let v = serde_json::to_value(&config).unwrap();
        let obj = v.as_object().unwrap();
        // Go's omitempty fields are absent, the others present even when empty.
        for absent in [
            "ExposedPorts",
            "Healthcheck",
            "ArgsEscaped",
            "NetworkDisabled",
            "MacAddress",
            "StopSignal",
            "StopTimeout",
            "Shell",
        ] {
            assert!(!obj.contains_key(absent), "{absent}");
        }
        assert_eq!(obj["Env"], Value::Null);
        assert_eq!(obj["Entrypoint"], Value::Null);
        assert_eq!(obj["Cmd"], serde_json::json!(["sh"]));
        let hc = serde_json::to_value(HostConfig::default()).unwrap();
        let obj = hc.as_object().unwrap();
        assert_eq!(obj["CpuShares"], 0);
        assert_eq!(obj["KernelMemoryTCP"], 0);
        assert_eq!(obj["UTSMode"], "");
        assert_eq!(obj["ConsoleSize"], serde_json::json!([0, 0]));
        assert!(!obj.contains_key("Tmpfs") && !obj.contains_key("Init"));
        let back: HostConfig = serde_json::from_value(hc).unwrap();
        assert_eq!(back, HostConfig::default());
    }
}
