//! Loading and checking a bundle's `config.json`, and the default
//! configuration `berth-runtime spec` writes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{ContainerError, Result};
use crate::namespaces::NamespacePlan;

/// A bundle's configuration with its rootfs resolved.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub path: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// Reads `config.json` from `dir` and checks it (see [`validate`]).
    pub fn load(dir: &Path) -> Result<Bundle> {
        let path =
            std::path::absolute(dir).map_err(|e| ContainerError::io("resolve bundle", dir, e))?;
        let config = path.join("config.json");
        let bytes = std::fs::read(&config).map_err(|e| ContainerError::LoadConfig {
            path: config.clone(),
            reason: e.to_string(),
        })?;
        let spec: Spec =
            serde_json::from_slice(&bytes).map_err(|e| ContainerError::LoadConfig {
                path: config.clone(),
                reason: e.to_string(),
            })?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| ContainerError::InvalidConfig("root must be specified".into()))?;
        let rootfs = if root.path().is_absolute() {
            root.path().clone()
        } else {
            path.join(root.path())
        };
        let rootfs = std::fs::canonicalize(&rootfs).map_err(|e| {
            ContainerError::InvalidConfig(format!(
                "rootfs ({}) does not exist: {e}",
                rootfs.display()
            ))
        })?;
        if !rootfs.is_dir() {
            return Err(ContainerError::InvalidConfig(format!(
                "rootfs ({}) is not a directory",
                rootfs.display()
            )));
        }
        validate(&spec)?;
        Ok(Bundle { path, rootfs, spec })
    }
}

/// Checks what the kernel would otherwise reject half-way through creation,
/// so that a bad configuration fails early with a message naming the field.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| ContainerError::InvalidConfig("process must be specified".into()))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(ContainerError::InvalidConfig(
            "process.args must not be empty".into(),
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(ContainerError::InvalidConfig(format!(
            "process.cwd {} must be an absolute path",
            process.cwd().display()
        )));
    }
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| ContainerError::InvalidConfig("linux section must be specified".into()))?;
    let plan = NamespacePlan::from_spec(linux.namespaces().as_deref().unwrap_or_default())?;
    if !plan.isolates(LinuxNamespaceType::Mount) {
        // Without a mount namespace the container shares its caller's mounts (as with runc).
        if linux.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
            || linux
                .readonly_paths()
                .as_ref()
                .is_some_and(|p| !p.is_empty())
        {
            return Err(ContainerError::InvalidConfig(
                "unable to restrict sys entries without a private MNT namespace".into(),
            ));
        }
    }
    if spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        && !plan.isolates(LinuxNamespaceType::Uts)
    {
        return Err(ContainerError::InvalidConfig(
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    if spec.domainname().as_ref().is_some_and(|h| !h.is_empty())
        && !plan.isolates(LinuxNamespaceType::Uts)
    {
        return Err(ContainerError::InvalidConfig(
            "unable to set domainname without a private UTS namespace".into(),
        ));
    }
    if plan.creates(LinuxNamespaceType::User)
        && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
            || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
    {
        return Err(ContainerError::InvalidConfig(
            "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
        ));
    }
    if !plan.isolates(LinuxNamespaceType::User)
        && (linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty()))
    {
        return Err(ContainerError::InvalidConfig(
            "uidMappings/gidMappings need a user namespace".into(),
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty())
        && !plan.creates(LinuxNamespaceType::Time)
    {
        return Err(ContainerError::InvalidConfig(
            "timeOffsets need a new time namespace".into(),
        ));
    }
    for key in linux.sysctl().iter().flat_map(|m| m.keys()) {
        check_sysctl(key, &plan)?;
    }
    for m in spec.mounts().iter().flatten() {
        if !m.destination().is_absolute() {
            return Err(ContainerError::InvalidConfig(format!(
                "mount destination {} is not absolute",
                m.destination().display()
            )));
        }
    }
    if let Some(p) = linux.rootfs_propagation() {
        if crate::mount_options::root_propagation(p).is_none() {
            return Err(ContainerError::InvalidConfig(format!(
                "invalid rootfsPropagation {p:?}"
            )));
        }
    }
    Ok(())
}

/// A sysctl may only be set where its namespace is the container's own.
fn check_sysctl(key: &str, plan: &NamespacePlan) -> Result<()> {
    let ipc = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let need = if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        LinuxNamespaceType::Ipc
    } else if key.starts_with("net.") {
        LinuxNamespaceType::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        LinuxNamespaceType::Uts
    } else {
        return Err(ContainerError::InvalidConfig(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    };
    if !plan.isolates(need) {
        return Err(ContainerError::InvalidConfig(format!(
            "sysctl {key:?} is not allowed as it conflicts with the host's {} namespace",
            crate::namespaces::proc_name(need)
        )));
    }
    Ok(())
}

/// The configuration `spec` writes: a shell in a busybox-style rootfs with the
/// usual namespaces, mounts and a minimal capability set (the same content as
/// `runc spec`). With `rootless`, a user namespace maps the caller's ids.
pub fn default_spec(rootless: bool) -> serde_json::Value {
    let caps = serde_json::json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "berth",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        let uid = rustix::process::getuid().as_raw();
        let gid = rustix::process::getgid().as_raw();
        let linux = &mut spec["linux"];
        linux["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        linux["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        linux["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "user"}]);
        linux["resources"] = serde_json::Value::Null;
        if let Some(obj) = linux.as_object_mut() {
            obj.remove("resources");
        }
        if let Some(mounts) = spec["mounts"].as_array_mut() {
            for m in mounts.iter_mut() {
                if m["type"] == "devpts" {
                    m["options"] = serde_json::json!([
                        "nosuid",
                        "noexec",
                        "newinstance",
                        "ptmxmode=0666",
                        "mode=0620"
                    ]);
                }
                if m["type"] == "sysfs" {
                    *m = serde_json::json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
            }
            mounts.retain(|m| m["type"] != "cgroup");
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_valid() {
        for rootless in [false, true] {
            let spec: Spec = serde_json::from_value(default_spec(rootless)).expect("parses");
            validate(&spec).expect("valid");
        }
    }

    #[test]
    fn without_a_mount_namespace() {
        let mut v = default_spec(false);
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}, {"type": "uts"}]);
        let spec: Spec = serde_json::from_value(v.clone()).expect("parses");
        let err = validate(&spec).expect_err("masked paths").to_string();
        assert!(err.contains("without a private MNT namespace"), "{err}");
        v["linux"]["maskedPaths"] = serde_json::json!([]);
        v["linux"]["readonlyPaths"] = serde_json::json!([]);
        let spec: Spec = serde_json::from_value(v).expect("parses");
        validate(&spec).expect("runs in the caller's mount namespace");
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = default_spec(false);
        v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}]);
        let spec: Spec = serde_json::from_value(v).expect("parses");
        let err = validate(&spec).expect_err("must fail").to_string();
        assert!(err.contains("UTS"), "{err}");
    }

    #[test]
    fn sysctl_namespaces() {
        let mut v = default_spec(false);
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        let spec: Spec = serde_json::from_value(v.clone()).expect("parses");
        assert!(validate(&spec).is_ok());
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        let spec: Spec = serde_json::from_value(v).expect("parses");
        assert!(validate(&spec).is_err());
    }
}
