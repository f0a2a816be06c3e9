//! `docker update`: new resource limits (and restart policy) for a container, recorded and, when
//! it runs, applied by its shim to its cgroup.

use std::sync::Arc;

use berth_api_types::containers::HostConfig;
use berth_spec::{ContainerFiles, EtcFiles, NoDevices, SpecInput};
use serde_json::Value;

use super::record::Record;
use super::{ContainerService, Entry, SHIM_TIMEOUT};
use crate::error::EngineError;

/// Overlays the fields of `update` (docker's `UpdateConfig`: `Resources` fields and
/// `RestartPolicy`) that are set to something other than zero, as dockerd does, on `hc`.
fn merge(hc: &HostConfig, update: &Value) -> Result<HostConfig, EngineError> {
    let bad = |e: serde_json::Error| EngineError::InvalidParameter(e.to_string());
    let mut v = serde_json::to_value(hc).map_err(bad)?;
    let (Some(obj), Some(upd)) = (v.as_object_mut(), update.as_object()) else {
        return Err(EngineError::InvalidParameter(
            "the update must be a JSON object".into(),
        ));
    };
    for (k, val) in upd {
        let zero = match val {
            Value::Null => true,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => {
                o.is_empty() || k == "RestartPolicy" && o.get("Name").is_none_or(|n| n == "")
            }
            Value::Bool(_) => false,
        };
        if !zero {
            obj.insert(k.clone(), val.clone());
        }
    }
    serde_json::from_value(v).map_err(bad)
}

impl ContainerService {
    /// `docker update`: returns dockerd's warnings (none).
    pub async fn update(&self, name: &str, update: Value) -> Result<Vec<String>, EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        let mut hc = merge(&r.host_config, &update)?;
        if hc.resources.memory > 0 && hc.resources.memory_swap == 0 {
            hc.resources.memory_swap = r.host_config.resources.memory_swap;
        }
        if hc.resources.memory > 0
            && hc.resources.memory_swap > 0
            && hc.resources.memory_swap < hc.resources.memory
        {
            return Err(EngineError::InvalidParameter(
                "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
            ));
        }
        let policy = hc.restart_policy.name.as_str();
        if !matches!(
            policy,
            "no" | "always" | "on-failure" | "unless-stopped" | ""
        ) {
            return Err(EngineError::InvalidParameter(format!(
                "invalid restart policy '{policy}'"
            )));
        }
        berth_spec::check_supported(&r.config, &hc)?;
        let mut next = r.clone();
        next.host_config = hc;
        if next.state.status.is_running() {
            self.apply_resources(&entry, &next).await?;
        }
        let updated = entry.update(|rec| {
            rec.host_config = next.host_config.clone();
            rec.clone()
        });
        self.save(&entry).await?;
        self.emit(&updated, "update", &[]);
        Ok(Vec::new())
    }

    /// Builds the spec of `r` again (its rootfs is mounted while it runs) and hands its
    /// `linux.resources` to the shim.
    async fn apply_resources(&self, entry: &Arc<Entry>, r: &Record) -> Result<(), EngineError> {
        let run = self.run_dir(&entry.id);
        let dir = self.dir(&entry.id);
        let host = self.inner.host.clone();
        let r2 = r.clone();
        let resources = tokio::task::spawn_blocking(move || {
            let rootfs = run.join("rootfs");
            let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).ok();
            let users = EtcFiles {
                passwd: read("etc/passwd"),
                group: read("etc/group"),
            };
            let files = ContainerFiles {
                hosts: dir.join("hosts"),
                hostname: dir.join("hostname"),
                resolv_conf: dir.join("resolv.conf"),
                shm: None,
            };
            // Joined namespaces do not change resources: a running container's own path is
            // given for the modes that need one.
            let own = std::path::PathBuf::from(format!("/proc/{}/ns/net", r2.state.pid));
            let joined = berth_spec::JoinedNamespaces {
                network: r2
                    .host_config
                    .network_mode
                    .starts_with("container:")
                    .then(|| own.clone()),
                pid: r2
                    .host_config
                    .pid_mode
                    .starts_with("container:")
                    .then(|| own.clone()),
                ipc: r2
                    .host_config
                    .ipc_mode
                    .starts_with("container:")
                    .then(|| own.clone()),
            };
            let spec = berth_spec::build_spec(&SpecInput {
                id: &r2.id,
                config: &r2.config,
                host_config: &r2.host_config,
                image: None,
                rootfs: &rootfs,
                files: &files,
                joined: &joined,
                host: &host,
                users: &users,
                devices: &NoDevices,
            })?;
            Ok::<_, EngineError>(
                spec.linux()
                    .as_ref()
                    .and_then(|l| l.resources().clone())
                    .unwrap_or_default(),
            )
        })
        .await
        .map_err(|e| EngineError::Task(format!("update: {e}")))??;
        self.shim(&entry.id, SHIM_TIMEOUT, move |c| c.update(resources))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_set_fields_change() {
        let mut hc = HostConfig::default();
        hc.resources.memory = 64 << 20;
        hc.resources.cpu_shares = 512;
        hc.restart_policy.name = "no".into();
        let upd = serde_json::json!({"Memory": 128 << 20, "CpuShares": 0, "CpusetCpus": "",
            "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}});
        let out = merge(&hc, &upd).unwrap();
        assert_eq!(out.resources.memory, 128 << 20);
        assert_eq!(out.resources.cpu_shares, 512);
        assert_eq!(out.restart_policy.name, "always");
        let out = merge(&hc, &serde_json::json!({"RestartPolicy": {"Name": ""}})).unwrap();
        assert_eq!(out.restart_policy.name, "no");
    }
}
