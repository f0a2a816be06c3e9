//! Namespaces (new, the host's, or joined by path) from the `*Mode` settings, and the
//! sysctls that go with them.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_api_types::containers::{ContainerConfig, HostConfig};
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use crate::error::SpecError;
use crate::input::{HostFacts, JoinedNamespaces};

/// How the container uses a namespace kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NsMode {
    /// A new one.
    Private,
    /// The host's: no entry in the spec.
    Host,
    /// Join the one at this path.
    Join(PathBuf),
}

/// The modes of the namespaces the settings choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Modes {
    pub network: NsMode,
    pub pid: NsMode,
    pub ipc: NsMode,
    pub uts: NsMode,
}

/// The network, pid, ipc and uts modes.
pub(crate) fn modes(hc: &HostConfig, joined: &JoinedNamespaces) -> Result<Modes, SpecError> {
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
    Ok(Modes {
        network,
        pid,
        ipc,
        uts,
    })
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

/// The spec's namespaces, in dockerd's order: mount, network, uts, pid, ipc, then cgroup.
pub(crate) fn namespaces(modes: &Modes, cgroupns_mode: &str) -> Vec<LinuxNamespace> {
    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount, None)];
    for (typ, mode) in [
        (LinuxNamespaceType::Network, &modes.network),
        (LinuxNamespaceType::Uts, &modes.uts),
        (LinuxNamespaceType::Pid, &modes.pid),
        (LinuxNamespaceType::Ipc, &modes.ipc),
    ] {
        match mode {
            NsMode::Private => namespaces.push(namespace(typ, None)),
            NsMode::Join(p) => namespaces.push(namespace(typ, Some(p.clone()))),
            NsMode::Host => {}
        }
    }
    if cgroupns_mode == "private" {
        namespaces.push(namespace(LinuxNamespaceType::Cgroup, None));
    }
    namespaces
}

/// The sysctls: the NIS domain name, dockerd's two defaults in a network namespace of the
/// container's own (when the host has them), then `HostConfig.Sysctls`.
pub(crate) fn sysctls(
    config: &ContainerConfig,
    hc: &HostConfig,
    host: &HostFacts,
) -> Result<HashMap<String, String>, SpecError> {
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
    Ok(sysctl)
}
