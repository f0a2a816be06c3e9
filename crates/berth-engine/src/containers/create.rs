//! `create`: the image's defaults merged into the config (once, as dockerd stores it), the
//! container's writable snapshot, its /etc/hostname, /etc/hosts and /etc/resolv.conf, and the
//! record. And what each start prepares: the rootfs mounted in the bundle, `config.json` from
//! berth-spec, `shim.json`, and the shim itself.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use berth_api_types::containers::{ContainerConfig, HostConfig};
use berth_shim_proto::{files, LogConfig, ShimConfig};
use berth_spec::{ContainerFiles, EtcFiles, ImageDefaults, JoinedNamespaces, NoDevices, SpecInput};

use super::names::{new_id, random_name, valid_name};
use super::record::{Record, State};
use super::{ContainerService, Entry};
use crate::error::EngineError;
use crate::images::chain_ids;

/// What `POST /containers/create` asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// `--name`, with or without the leading `/`.
    pub name: Option<String>,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
}

/// The image's defaults from its stored config.
fn image_defaults(c: &berth_image::ImageConfig) -> ImageDefaults {
    let Some(rc) = &c.config else {
        return ImageDefaults::default();
    };
    ImageDefaults {
        user: rc.user.clone().unwrap_or_default(),
        env: rc.env.clone().unwrap_or_default(),
        cmd: rc.cmd.clone(),
        entrypoint: rc.entrypoint.clone(),
        working_dir: rc.working_dir.clone().unwrap_or_default(),
        stop_signal: rc.stop_signal.clone().unwrap_or_default(),
        healthcheck: rc
            .healthcheck
            .clone()
            .and_then(|h| serde_json::from_value(h).ok()),
        labels: rc.labels.clone().unwrap_or_default(),
    }
}

/// The network modes berth has; the rest is refused with a message naming the ones it has.
fn check_network_mode(mode: &str) -> Result<(), EngineError> {
    match mode {
        "none" | "host" => Ok(()),
        m if m.starts_with("container:") => Ok(()),
        m => Err(EngineError::InvalidParameter(format!(
            "network mode {:?} is not supported by berth yet (no bridge networking): use \
             --network none|host (or container:NAME)",
            if m.is_empty() { "default" } else { m }
        ))),
    }
}

impl ContainerService {
    /// `docker create`: returns the new container's id.
    pub async fn create(&self, req: CreateRequest) -> Result<String, EngineError> {
        let CreateRequest {
            name,
            mut config,
            mut host_config,
        } = req;
        let name = match name.as_deref().map(|n| n.strip_prefix('/').unwrap_or(n)) {
            Some("") | None => None,
            Some(n) if !valid_name(n) => {
                return Err(EngineError::InvalidParameter(format!(
                    "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )))
            }
            Some(n) => Some(n.to_owned()),
        };
        if config.image.is_empty() {
            return Err(EngineError::InvalidParameter(
                "No image specified (config.Image is empty)".into(),
            ));
        }
        check_network_mode(&host_config.network_mode)?;
        berth_spec::check_supported(&config, &host_config)?;
        // Refused here rather than at start, where `docker run` shows only its attach's 400.
        // (A container in another pid namespace gets no init: berth-spec leaves it out.)
        let host = &self.inner.host;
        if host_config.init.unwrap_or(host.init_by_default)
            && host_config.pid_mode.is_empty()
            && host.init_binary.is_none()
        {
            return Err(berth_spec::SpecError::NoInitBinary.into());
        }
        if let Some(other) = host_config.network_mode.strip_prefix("container:") {
            self.running_pid(other)?;
            // As dockerd: a container on another's network takes its host and domain name.
            let o = self.entry(other)?.snapshot();
            config.hostname = o.config.hostname;
            config.domainname = o.config.domainname;
        }
        let lt = host_config.log_config.kind.as_str();
        if !matches!(lt, "" | "json-file" | "none") {
            return Err(EngineError::InvalidParameter(format!(
                "log driver {lt:?} is not supported by berth (json-file or none)"
            )));
        }

        let images = self.inner.images.clone();
        let image_name = config.image.clone();
        let (image_id, defaults, top) = tokio::task::spawn_blocking(move || {
            let store = images.store();
            let image = store.lookup(&image_name)?;
            let ic = store.config(&image.id)?;
            let top = chain_ids(&ic.rootfs.diff_ids).last().map(|d| d.to_string());
            Ok::<_, EngineError>((image.id.to_string(), image_defaults(&ic), top))
        })
        .await
        .map_err(|e| EngineError::Task(format!("create: {e}")))??;

        let id = new_id().map_err(|e| EngineError::io("read", "/dev/urandom", e))?;
        config = berth_spec::merge_image_defaults(&config, &defaults)?;
        berth_spec::apply_create_defaults(&id, &mut config, &mut host_config, &self.inner.host);
        if config.entrypoint.as_ref().is_none_or(Vec::is_empty)
            && config.cmd.as_ref().is_none_or(Vec::is_empty)
        {
            return Err(EngineError::InvalidParameter("No command specified".into()));
        }
        if host_config.log_config.kind.is_empty() {
            host_config.log_config.kind = "json-file".into();
        }
        if host_config.log_config.config.is_none() {
            host_config.log_config.config = Some(Default::default());
        }
        if host_config.restart_policy.name.is_empty() {
            host_config.restart_policy.name = "no".into();
        }

        let dir = self.dir(&id);
        let make = || -> std::io::Result<()> {
            fs::create_dir_all(&dir)?;
            fs::write(dir.join("hostname"), format!("{}\n", config.hostname))?;
            fs::write(dir.join("hosts"), hosts_file(&host_config, &config))?;
            let resolv = fs::read("/etc/resolv.conf").unwrap_or_default();
            fs::write(dir.join("resolv.conf"), resolv)?;
            Ok(())
        };
        make().map_err(|e| EngineError::io("create", &dir, e))?;

        // The writable layer: an active snapshot on the image's top layer.
        let snaps = self.inner.images.snapshots().clone();
        let (key, parent) = (snapshot_key(&id), top.clone());
        let prepared =
            tokio::task::spawn_blocking(move || snaps.prepare(&key, parent.as_deref()).map(|_| ()))
                .await
                .map_err(|e| EngineError::Task(format!("create: {e}")))?;
        if let Err(e) = prepared {
            let _ = fs::remove_dir_all(&dir);
            return Err(e.into());
        }

        let mut record = Record {
            id: id.clone(),
            name: String::new(),
            created: berth_shim_proto::time::format(SystemTime::now()),
            image_name: config.image.clone(),
            image_id,
            image_top_layer: top,
            config,
            host_config,
            state: State::default(),
            restart_count: 0,
        };
        // The name is taken and the record saved under the table lock, so that two creates
        // with one name cannot both succeed; the write is small and local.
        let result = {
            let mut t = self.table();
            let chosen = match name {
                Some(n) if t.names.contains_key(&n) => {
                    Err(EngineError::ContainerConflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \
                         \"{}\". You have to remove (or rename) that container to be able to \
                         reuse that name.",
                        t.names.get(&n).cloned().unwrap_or_default()
                    )))
                }
                Some(n) => Ok(n),
                None => {
                    let mut retry = 0;
                    loop {
                        let n = random_name(retry)
                            .map_err(|e| EngineError::io("read", "/dev/urandom", e))?;
                        if !t.names.contains_key(&n) {
                            break Ok(n);
                        }
                        retry += 1;
                    }
                }
            };
            chosen.and_then(|n| {
                record.name = n.clone();
                record.save(&dir)?;
                t.names.insert(n, id.clone());
                t.by_id.insert(id.clone(), Entry::new(record.clone()));
                Ok(())
            })
        };
        if let Err(e) = result {
            self.remove_storage(&id).await;
            return Err(e);
        }
        self.emit(&record, "create", &[]);
        Ok(id)
    }

    /// The pid of the running container `name` (for `--network container:NAME`).
    pub(crate) fn running_pid(&self, name: &str) -> Result<i32, EngineError> {
        let r = self.entry(name)?.snapshot();
        if !r.state.status.is_running() || r.state.pid <= 0 {
            return Err(EngineError::ContainerConflict(format!(
                "cannot join network of a non running container: {}",
                r.id
            )));
        }
        Ok(r.state.pid)
    }

    /// Removes the container's snapshot and directories (best effort: used on failure paths
    /// and by delete, which reports nothing more).
    pub(crate) async fn remove_storage(&self, id: &str) {
        let snaps = self.inner.images.snapshots().clone();
        let (dir, run) = (self.dir(id), self.run_dir(id));
        let key = snapshot_key(id);
        let _ = tokio::task::spawn_blocking(move || {
            let rootfs = run.join("rootfs");
            let _ = berth_snapshot::unmount(&rootfs);
            if let Err(e) = snaps.remove(&key) {
                if !matches!(e, berth_snapshot::SnapshotError::NotFound { .. }) {
                    tracing::warn!("remove snapshot {key}: {e}");
                }
            }
            for d in [&run, &dir] {
                if let Err(e) = fs::remove_dir_all(d) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!("remove {}: {e}", d.display());
                    }
                }
            }
        })
        .await;
    }

    /// Prepares a run of `entry` and starts its shim, which waits for `start`: the rootfs
    /// mounted at `<run>/rootfs`, `config.json` and `shim.json` written. Idempotent while the
    /// shim is up.
    pub(crate) async fn ensure_shim(&self, entry: &Arc<Entry>) -> Result<(), EngineError> {
        if entry.shim_up() {
            return Ok(());
        }
        let r = entry.snapshot();
        let joined = self.joined_namespaces(&r)?;
        let run = self.run_dir(&r.id);
        let dir = self.dir(&r.id);
        let snaps = self.inner.images.snapshots().clone();
        let host = self.inner.host.clone();
        let shim_bin = self.inner.shim_bin.clone();
        let runtime_root = self.inner.runtime_root.clone();
        let log = self.log_path(&r.id);
        tokio::task::spawn_blocking(move || {
            prepare_run(&r, &run, &dir, &snaps, &host, &joined, &runtime_root, &log)?;
            spawn_shim(&shim_bin, &run)
        })
        .await
        .map_err(|e| EngineError::Task(format!("start the shim: {e}")))??;
        entry.set_shim_up(true);
        Ok(())
    }

    fn joined_namespaces(&self, r: &Record) -> Result<JoinedNamespaces, EngineError> {
        let ns = |mode: &str, kind: &str| -> Result<Option<PathBuf>, EngineError> {
            match mode.strip_prefix("container:") {
                Some(other) => {
                    let pid = self.running_pid(other)?;
                    Ok(Some(PathBuf::from(format!("/proc/{pid}/ns/{kind}"))))
                }
                None => Ok(None),
            }
        };
        let hc = &r.host_config;
        Ok(JoinedNamespaces {
            network: ns(&hc.network_mode, "net")?,
            pid: ns(&hc.pid_mode, "pid")?,
            ipc: ns(&hc.ipc_mode, "ipc")?,
        })
    }
}

/// The snapshot holding container `id`'s writable layer.
pub(crate) fn snapshot_key(id: &str) -> String {
    format!("container-{id}")
}

/// /etc/hosts for the container: the host's with `--network host`, else localhost and the
/// container's own name.
fn hosts_file(hc: &HostConfig, c: &ContainerConfig) -> Vec<u8> {
    if hc.network_mode == "host" {
        return fs::read("/etc/hosts").unwrap_or_default();
    }
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n",
    );
    if hc.network_mode == "none" {
        s.push_str(&format!("127.0.0.1\t{}\n", c.hostname));
    }
    for extra in hc.extra_hosts.iter().flatten() {
        if let Some((name, ip)) = extra.split_once(':') {
            s.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    s.into_bytes()
}

#[allow(clippy::too_many_arguments)]
fn prepare_run(
    r: &Record,
    run: &Path,
    dir: &Path,
    snaps: &berth_snapshot::Snapshotter,
    host: &berth_spec::HostFacts,
    joined: &JoinedNamespaces,
    runtime_root: &Path,
    log: &Path,
) -> Result<(), EngineError> {
    // A clean state directory: the last run's socket, exit record and config go.
    let rootfs = run.join("rootfs");
    let _ = berth_snapshot::unmount(&rootfs);
    if run.exists() {
        fs::remove_dir_all(run).map_err(|e| EngineError::io("remove", run, e))?;
    }
    fs::create_dir_all(&rootfs).map_err(|e| EngineError::io("create", &rootfs, e))?;
    let mounts = snaps.mounts(&snapshot_key(&r.id))?;
    berth_snapshot::mount_all(&mounts, &rootfs)?;
    let result = (|| {
        let read = |p: &str| fs::read_to_string(rootfs.join(p)).ok();
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
        let mut spec = berth_spec::build_spec(&SpecInput {
            id: &r.id,
            config: &r.config,
            host_config: &r.host_config,
            image: None,
            rootfs: &rootfs,
            files: &files,
            joined,
            host,
            users: &users,
            devices: &NoDevices,
        })?;
        // The client's terminal size at create (`ConsoleSize`), so that the first program
        // sees it before the client's first resize arrives.
        let [h, w] = r.host_config.console_size;
        if r.config.tty && h > 0 && w > 0 {
            if let Some(p) = spec.process_mut() {
                let size = oci_spec::runtime::BoxBuilder::default()
                    .height(u32::try_from(h).unwrap_or(0))
                    .width(u32::try_from(w).unwrap_or(0))
                    .build()
                    .ok();
                p.set_console_size(size);
            }
        }
        let cfg_path = run.join("config.json");
        let text = serde_json::to_vec(&spec).map_err(|e| EngineError::Corrupt {
            path: cfg_path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&cfg_path, text).map_err(|e| EngineError::io("write", &cfg_path, e))?;
        let log_cfg = r.host_config.log_config.config.clone().unwrap_or_default();
        let shim = ShimConfig {
            id: r.id.clone(),
            bundle: run.to_path_buf(),
            runtime_root: runtime_root.to_path_buf(),
            log: (r.host_config.log_config.kind != "none").then(|| LogConfig {
                path: log.to_path_buf(),
                max_size: log_cfg.get("max-size").and_then(|s| parse_size(s)),
                max_file: log_cfg
                    .get("max-file")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1),
            }),
            open_stdin: r.config.open_stdin,
            stdin_once: r.config.stdin_once,
            start: false,
        };
        let shim_path = run.join(files::CONFIG);
        let text = serde_json::to_vec(&shim).map_err(|e| EngineError::Corrupt {
            path: shim_path.clone(),
            reason: e.to_string(),
        })?;
        fs::write(&shim_path, text).map_err(|e| EngineError::io("write", &shim_path, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = berth_snapshot::unmount(&rootfs);
    }
    result
}

/// docker's `max-size` (`10m`, `1g`, `500k`, bytes).
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (num, mult) = if let Some(n) = s.strip_suffix('k') {
        (n, 1024)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 1024 * 1024)
    } else if let Some(n) = s.strip_suffix('g') {
        (n, 1024 * 1024 * 1024)
    } else {
        (s.as_str(), 1)
    };
    num.parse::<u64>().ok().map(|n| n * mult)
}

/// Runs the shim's launcher and waits for it to report that the shim serves.
fn spawn_shim(bin: &Path, state_dir: &Path) -> Result<(), EngineError> {
    let out = std::process::Command::new(bin)
        .arg(state_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| EngineError::ShimSpawn {
            path: bin.to_path_buf(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        let _ = berth_snapshot::unmount(&state_dir.join("rootfs"));
        return Err(EngineError::ShimSpawn {
            path: bin.to_path_buf(),
            reason: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn bridge_is_refused_naming_the_modes_berth_has() {
        let e = check_network_mode("").unwrap_err().to_string();
        assert!(e.contains("--network none|host"), "{e}");
        assert!(check_network_mode("bridge").is_err());
        assert!(check_network_mode("host").is_ok() && check_network_mode("container:x").is_ok());
    }
}
