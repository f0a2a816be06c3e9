//! `/_ping`, `/version`, `/info`: the engine's typed answers rendered in Docker's shapes.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_engine::{Engine, SystemInfo, VersionInfo};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA};
use hyper::{Method, Response};

use super::json_response;
use crate::body::{empty, full, Body};
use crate::error::ApiError;
use crate::types;
use crate::{API_VERSION, MIN_API_VERSION};

/// The registry `docker pull busybox` means.
const DOCKER_HUB_INDEX: &str = "docker.io";

/// `GET`/`HEAD /_ping`: `OK`, uncacheable, with the version headers the client negotiates
/// with (added for every response by the caller).
pub(super) fn ping(method: &Method) -> Response<Body> {
    let mut resp = if method == Method::HEAD {
        let mut r = Response::new(empty());
        r.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    } else {
        Response::new(full("OK"))
    };
    let h = resp.headers_mut();
    h.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// `GET /version`.
pub(super) fn version(engine: &Engine) -> Result<Response<Body>, ApiError> {
    json_response(&render_version(engine.version()))
}

/// `GET /info`. The probes read /proc and /sys, so they run off the async threads.
pub(super) async fn info(engine: Arc<Engine>) -> Result<Response<Body>, ApiError> {
    let images = engine.images().count().await? as u64;
    let info = tokio::task::spawn_blocking(move || engine.info(images))
        .await
        .map_err(|e| ApiError::Internal(format!("info task: {e}")))??;
    json_response(&render_info(info))
}

pub(crate) fn render_version(v: VersionInfo) -> types::Version {
    let details: BTreeMap<String, String> = [
        ("ApiVersion", API_VERSION.to_string()),
        ("MinAPIVersion", MIN_API_VERSION.to_string()),
        ("GitCommit", v.git_commit.to_string()),
        ("GoVersion", v.compiler.to_string()),
        ("Os", v.os.to_string()),
        ("Arch", v.arch.to_string()),
        ("KernelVersion", v.kernel_version.clone()),
        ("BuildTime", v.build_time.clone()),
        ("Experimental", "false".to_string()),
    ]
    .into_iter()
    .map(|(k, val)| (k.to_string(), val))
    .collect();
    types::Version {
        platform: types::Platform {
            name: format!("berth {}", v.version),
        },
        components: vec![types::ComponentVersion {
            name: "Engine".into(),
            version: v.version.into(),
            details,
        }],
        version: v.version.into(),
        api_version: API_VERSION.into(),
        min_api_version: MIN_API_VERSION.into(),
        git_commit: v.git_commit.into(),
        go_version: v.compiler.into(),
        os: v.os.into(),
        arch: v.arch.into(),
        kernel_version: v.kernel_version,
        experimental: false,
        build_time: v.build_time,
    }
}

pub(crate) fn render_info(i: SystemInfo) -> types::Info {
    let f = &i.host.cgroup_features;
    // dockerd always trusts loopback; CIDRs go to InsecureRegistryCIDRs, names become indexes.
    let mut cidrs = vec!["127.0.0.0/8".to_string()];
    let mut index_configs = BTreeMap::new();
    index_configs.insert(
        DOCKER_HUB_INDEX.to_string(),
        types::IndexInfo {
            name: DOCKER_HUB_INDEX.into(),
            mirrors: i.registry_mirrors.clone(),
            secure: true,
            official: true,
        },
    );
    for r in &i.insecure_registries {
        if r.contains('/') {
            if !cidrs.contains(r) {
                cidrs.push(r.clone());
            }
        } else {
            index_configs.insert(
                r.clone(),
                types::IndexInfo {
                    name: r.clone(),
                    mirrors: Vec::new(),
                    secure: false,
                    official: false,
                },
            );
        }
    }
    let (runtime_name, runtime_path) = i.default_runtime;
    let mut runtimes = BTreeMap::new();
    runtimes.insert(
        runtime_name.to_string(),
        types::Runtime {
            path: runtime_path.into(),
            runtime_args: Vec::new(),
        },
    );
    types::Info {
        id: i.id,
        containers: i.containers,
        containers_running: i.containers_running,
        containers_paused: i.containers_paused,
        containers_stopped: i.containers_stopped,
        images: i.images,
        driver: i.driver.into(),
        driver_status: Vec::new(),
        plugins: types::PluginsInfo {
            volume: Vec::new(),
            network: Vec::new(),
            authorization: None,
            log: Vec::new(),
        },
        memory_limit: f.memory_limit,
        swap_limit: f.swap_limit,
        kernel_memory: f.kernel_memory,
        kernel_memory_tcp: f.kernel_memory_tcp,
        cpu_cfs_period: f.cpu_cfs_period,
        cpu_cfs_quota: f.cpu_cfs_quota,
        cpu_shares: f.cpu_shares,
        cpu_set: f.cpu_set,
        pids_limit: f.pids_limit,
        ipv4_forwarding: i.host.ipv4_forwarding,
        bridge_nf_iptables: i.host.bridge_nf_iptables,
        bridge_nf_ip6tables: i.host.bridge_nf_ip6tables,
        debug: i.debug,
        nfd: i.nfd,
        oom_kill_disable: f.oom_kill_disable,
        ngoroutines: i.nthreads,
        system_time: i.system_time,
        logging_driver: String::new(),
        cgroup_driver: i.cgroup_driver.into(),
        cgroup_version: i.host.cgroup_version.to_string(),
        nevents_listener: 0,
        kernel_version: i.host.kernel_version,
        operating_system: i.host.operating_system,
        os_version: i.host.os_version,
        os_type: std::env::consts::OS.into(),
        architecture: i.host.architecture,
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: types::RegistryConfig {
            allow_nondistributable_artifacts_cidrs: Vec::new(),
            allow_nondistributable_artifacts_hostnames: Vec::new(),
            insecure_registry_cidrs: cidrs,
            index_configs,
            mirrors: i.registry_mirrors,
        },
        ncpu: i.host.ncpu as u64,
        mem_total: i.host.mem_total,
        generic_resources: None,
        docker_root_dir: i.root_dir.to_string_lossy().into_owned(),
        http_proxy: i.http_proxy,
        https_proxy: i.https_proxy,
        no_proxy: i.no_proxy,
        name: i.host.hostname,
        labels: Vec::new(),
        experimental_build: false,
        server_version: i.server_version.into(),
        runtimes,
        default_runtime: runtime_name.into(),
        swarm: types::SwarmInfo {
            local_node_state: "inactive".into(),
            ..Default::default()
        },
        live_restore_enabled: false,
        isolation: String::new(),
        init_binary: String::new(),
        containerd_commit: types::Commit::default(),
        runc_commit: types::Commit::default(),
        init_commit: types::Commit::default(),
        security_options: Vec::new(),
        warnings: Some(i.warnings),
    }
}
