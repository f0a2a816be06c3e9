//! The Docker Engine API's shapes, shared by the server (`berthd`, through berth-api) and the
//! client (`berth`): the JSON bodies (v1.41, moby `api/swagger.yaml`) with Docker's field names,
//! the API versions berthd speaks, and the `-H unix://PATH` host syntax. It links no part of
//! the daemon: serde and thiserror only.
//!
//! Both directions derive: berthd serialises these types, `berth` decodes them (leniently:
//! missing fields take their default, so a newer or older daemon still decodes). The
//! crate root holds the system endpoints' shapes (`SystemVersion`, `SystemInfo`,
//! `ErrorResponse`); [`images`] the image endpoints' shapes and the progress-stream lines,
//! [`push`] the push stream's lines and the login answer, [`archive`] load's stream,
//! [`containers`] the body of a container create (`Config`, `HostConfig`, `NetworkingConfig`),
//! [`container_list`] the entries of `GET /containers/json`, [`wait`] and [`exec`] the wait
//! and exec endpoints' bodies, [`events`] the lines of `GET /events`; [`time`] the API's and the CLI's renderings of times (on jiff).

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod api_version;
mod host;
pub mod time;

pub use api_version::{ApiVersion, API_VERSION, MIN_API_VERSION};
pub use host::{Host, HostError, DEFAULT_HOST, DEFAULT_SOCKET};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Every error body: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// `GET /version`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Version {
    pub platform: Platform,
    pub components: Vec<ComponentVersion>,
    pub version: String,
    pub api_version: String,
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    pub git_commit: String,
    pub go_version: String,
    pub os: String,
    pub arch: String,
    pub kernel_version: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    pub build_time: String,
}

/// The product that serves the API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    pub name: String,
}

/// One component of the server (`Engine`, the runtime...), with free-form details.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ComponentVersion {
    pub name: String,
    pub version: String,
    pub details: BTreeMap<String, String>,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub kernel_memory: bool,
    #[serde(rename = "KernelMemoryTCP")]
    pub kernel_memory_tcp: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub bridge_nf_iptables: bool,
    pub bridge_nf_ip6tables: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: u64,
    pub oom_kill_disable: bool,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: u64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub nevents_listener: u64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    pub registry_config: RegistryConfig,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub generic_resources: Option<Vec<serde_json::Value>>,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    pub warnings: Option<Vec<String>>,
}

/// Plugins by type.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginsInfo {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

/// Registry settings (`--insecure-registry`, `--registry-mirror`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegistryConfig {
    #[serde(rename = "AllowNondistributableArtifactsCIDRs")]
    pub allow_nondistributable_artifacts_cidrs: Vec<String>,
    pub allow_nondistributable_artifacts_hostnames: Vec<String>,
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    pub index_configs: BTreeMap<String, IndexInfo>,
    pub mirrors: Vec<String>,
}

/// One registry index.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// An OCI runtime the daemon can use (Docker writes these two fields in lower case).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Runtime {
    pub path: String,
    #[serde(rename = "runtimeArgs", skip_serializing_if = "Vec::is_empty")]
    pub runtime_args: Vec<String>,
}

/// Swarm state; berth has no swarm mode, so it is always `inactive`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

/// A component's commit and the one the daemon expects.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
    pub expected: String,
}

/// The archive endpoints' extra shapes (save, load, import).
pub mod archive;
/// The container-create shapes: `Config`, `HostConfig`, `NetworkingConfig`.
pub mod container_list;
pub mod containers;
pub mod events;
pub mod exec;
/// The image endpoints' shapes.
pub mod images;
pub mod wait;

/// The shapes of `POST /images/{name}/push` (its stream's lines) and `POST /auth`.
pub mod push;
