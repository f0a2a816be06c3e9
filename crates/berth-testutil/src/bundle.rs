//! An OCI bundle in a temp dir: a busybox rootfs and a `config.json` edited with builder methods.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

use crate::ids::unique_name;
use crate::rootfs::{busybox_rootfs, shared_busybox_rootfs};
use crate::spec::base_spec;

/// A bundle directory with `rootfs/` and a config that starts as [`base_spec`] plus a unique
/// `linux.cgroupsPath` (`/berth-test-<pid>-<n>`), so that tests never share a cgroup.
///
/// The builder methods take and return `self`; [`Bundle::edit`] changes a bundle in place.
/// `config.json` is written by [`Bundle::write_config`], which [`crate::Runtime`] calls before
/// every `create` and `run`. Dropping the bundle removes the directory.
#[derive(Debug)]
pub struct Bundle {
    dir: TempDir,
    config: Value,
    /// Text written instead of `config` (malformed-config tests).
    raw_config: Option<String>,
}

fn ensure_array<'a>(v: &'a mut Value, what: &str) -> &'a mut Vec<Value> {
    if !v.is_array() {
        *v = json!([]);
    }
    match v.as_array_mut() {
        Some(a) => a,
        None => unreachable!("{what} was just made an array"),
    }
}

impl Bundle {
    /// A bundle with its own writable copy of the busybox rootfs (a few milliseconds).
    #[track_caller]
    pub fn new() -> Self {
        match Self::try_new() {
            Ok(b) => b,
            Err(e) => panic!("create bundle: {e}"),
        }
    }

    /// Like [`Bundle::new`], returning the error instead of panicking.
    pub fn try_new() -> io::Result<Self> {
        let dir = Self::temp_dir()?;
        busybox_rootfs(&dir.path().join("rootfs"))?;
        Ok(Self::from_dir(dir))
    }

    /// A bundle whose `root.path` is the process-wide [`shared_busybox_rootfs`]; only for
    /// containers that keep the root read-only (the default).
    #[track_caller]
    pub fn with_shared_rootfs() -> Self {
        let made = Self::temp_dir().and_then(|dir| Ok((dir, shared_busybox_rootfs()?)));
        match made {
            Ok((dir, rootfs)) => {
                let mut b = Self::from_dir(dir);
                b.config["root"]["path"] = json!(rootfs);
                b
            }
            Err(e) => panic!("create bundle: {e}"),
        }
    }

    fn temp_dir() -> io::Result<TempDir> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-bundle-")
            .tempdir()?;
        // Traversable by every uid, so that a container whose root is mapped to another host uid
        // (user namespaces) can still reach its rootfs.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        Ok(dir)
    }

    fn from_dir(dir: TempDir) -> Self {
        let mut config = base_spec();
        config["linux"]["cgroupsPath"] = json!(format!("/{}", unique_name("berth-test")));
        Self {
            dir,
            config,
            raw_config: None,
        }
    }

    /// The bundle directory (`--bundle`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs on the host: `root.path`, resolved against the bundle when relative.
    pub fn rootfs(&self) -> PathBuf {
        let root = self.config["root"]["path"].as_str().unwrap_or("rootfs");
        self.dir.path().join(root)
    }

    /// The config as it will be written.
    pub fn config(&self) -> &Value {
        &self.config
    }

    /// `linux.cgroupsPath`, if set.
    pub fn cgroups_path(&self) -> Option<&str> {
        self.config["linux"]["cgroupsPath"].as_str()
    }

    /// Writes `config.json` into the bundle.
    pub fn write_config(&self) -> io::Result<()> {
        let text = match &self.raw_config {
            Some(raw) => raw.clone(),
            None => serde_json::to_string_pretty(&self.config).map_err(io::Error::other)?,
        };
        fs::write(self.dir.path().join("config.json"), text)
    }

    /// Makes [`Bundle::write_config`] write `text` verbatim instead of the JSON config (for
    /// malformed-config tests).
    #[must_use]
    pub fn raw_config(mut self, text: &str) -> Self {
        self.raw_config = Some(text.to_string());
        self
    }

    /// Changes the config in place.
    pub fn edit(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self
    }

    /// Escape hatch: any change to the config JSON.
    #[must_use]
    pub fn config_mut(mut self, f: impl FnOnce(&mut Value)) -> Self {
        f(&mut self.config);
        self
    }

    /// `process.args`.
    #[must_use]
    pub fn args(self, args: &[&str]) -> Self {
        self.config_mut(|c| c["process"]["args"] = json!(args))
    }

    /// `process.args = ["sh", "-c", script]`.
    #[must_use]
    pub fn sh(self, script: &str) -> Self {
        self.args(&["sh", "-c", script])
    }

    /// Replaces `process.env`.
    #[must_use]
    pub fn env(self, env: &[&str]) -> Self {
        self.config_mut(|c| c["process"]["env"] = json!(env))
    }

    /// Appends `KEY=value` to `process.env`.
    #[must_use]
    pub fn add_env(self, kv: &str) -> Self {
        self.config_mut(|c| ensure_array(&mut c["process"]["env"], "env").push(json!(kv)))
    }

    /// `process.cwd`.
    #[must_use]
    pub fn cwd(self, cwd: &str) -> Self {
        self.config_mut(|c| c["process"]["cwd"] = json!(cwd))
    }

    /// `process.user.uid` and `.gid`.
    #[must_use]
    pub fn user(self, uid: u32, gid: u32) -> Self {
        self.config_mut(|c| {
            c["process"]["user"]["uid"] = json!(uid);
            c["process"]["user"]["gid"] = json!(gid);
        })
    }

    /// `process.user.additionalGids`.
    #[must_use]
    pub fn additional_gids(self, gids: &[u32]) -> Self {
        self.config_mut(|c| c["process"]["user"]["additionalGids"] = json!(gids))
    }

    /// `process.user.umask`.
    #[must_use]
    pub fn umask(self, umask: u32) -> Self {
        self.config_mut(|c| c["process"]["user"]["umask"] = json!(umask))
    }

    /// `process.terminal`.
    #[must_use]
    pub fn terminal(self, on: bool) -> Self {
        self.config_mut(|c| c["process"]["terminal"] = json!(on))
    }

    /// `hostname`.
    #[must_use]
    pub fn hostname(self, name: &str) -> Self {
        self.config_mut(|c| c["hostname"] = json!(name))
    }

    /// `domainname`.
    #[must_use]
    pub fn domainname(self, name: &str) -> Self {
        self.config_mut(|c| c["domainname"] = json!(name))
    }

    /// Appends a raw mount object to `mounts`.
    #[must_use]
    pub fn add_mount(self, mount: Value) -> Self {
        self.config_mut(|c| ensure_array(&mut c["mounts"], "mounts").push(mount))
    }

    /// Appends a mount of `kind` from `source` at `destination` with `options`.
    #[must_use]
    pub fn mount(self, destination: &str, kind: &str, source: &str, options: &[&str]) -> Self {
        self.add_mount(json!({
            "destination": destination, "type": kind, "source": source, "options": options
        }))
    }

    /// Appends a bind mount of the host path `source` at `destination`, read-only or not.
    #[must_use]
    pub fn bind_mount(self, source: &Path, destination: &str, readonly: bool) -> Self {
        let mut options = vec!["rbind"];
        if readonly {
            options.push("ro");
        }
        self.add_mount(json!({
            "destination": destination, "type": "bind", "source": source, "options": options
        }))
    }

    /// Appends a tmpfs at `destination` with `options` (e.g. `size=1m`, `mode=700`).
    #[must_use]
    pub fn tmpfs(self, destination: &str, options: &[&str]) -> Self {
        self.mount(destination, "tmpfs", "tmpfs", options)
    }

    /// Removes the mount at `destination`, if any.
    #[must_use]
    pub fn remove_mount(self, destination: &str) -> Self {
        self.config_mut(|c| {
            ensure_array(&mut c["mounts"], "mounts")
                .retain(|m| m["destination"] != json!(destination));
        })
    }

    /// Replaces `linux.namespaces` with new namespaces of the given types.
    #[must_use]
    pub fn namespaces(self, types: &[&str]) -> Self {
        let list: Vec<Value> = types.iter().map(|t| json!({ "type": t })).collect();
        self.config_mut(|c| c["linux"]["namespaces"] = Value::Array(list))
    }

    /// Adds (or replaces) a namespace of `kind`; `path` joins an existing one.
    #[must_use]
    pub fn namespace(self, kind: &str, path: Option<&Path>) -> Self {
        let entry = match path {
            Some(p) => json!({ "type": kind, "path": p }),
            None => json!({ "type": kind }),
        };
        self.remove_namespace(kind)
            .config_mut(|c| ensure_array(&mut c["linux"]["namespaces"], "namespaces").push(entry))
    }

    /// Removes the namespace of `kind`, so the container shares the runtime's.
    #[must_use]
    pub fn remove_namespace(self, kind: &str) -> Self {
        self.config_mut(|c| {
            ensure_array(&mut c["linux"]["namespaces"], "namespaces")
                .retain(|n| n["type"] != json!(kind));
        })
    }

    /// `linux.uidMappings` and `linux.gidMappings` with one range each.
    #[must_use]
    pub fn id_mappings(self, container_id: u32, host_id: u32, size: u32) -> Self {
        let m = json!([{ "containerID": container_id, "hostID": host_id, "size": size }]);
        self.config_mut(|c| {
            c["linux"]["uidMappings"] = m.clone();
            c["linux"]["gidMappings"] = m;
        })
    }

    /// `root.readonly`.
    #[must_use]
    pub fn readonly_root(self, on: bool) -> Self {
        self.config_mut(|c| c["root"]["readonly"] = json!(on))
    }

    /// Sets the bounding, effective and permitted sets to `caps` and clears the inheritable and
    /// ambient sets.
    #[must_use]
    pub fn capabilities(self, caps: &[&str]) -> Self {
        self.config_mut(|c| {
            c["process"]["capabilities"] = json!({
                "bounding": caps, "effective": caps, "permitted": caps
            });
        })
    }

    /// Replaces `process.rlimits` with `(type, soft, hard)` triples.
    #[must_use]
    pub fn rlimits(self, limits: &[(&str, u64, u64)]) -> Self {
        let list: Vec<Value> = limits
            .iter()
            .map(|(t, s, h)| json!({ "type": t, "soft": s, "hard": h }))
            .collect();
        self.config_mut(|c| c["process"]["rlimits"] = Value::Array(list))
    }

    /// `process.noNewPrivileges`.
    #[must_use]
    pub fn no_new_privileges(self, on: bool) -> Self {
        self.config_mut(|c| c["process"]["noNewPrivileges"] = json!(on))
    }

    /// `process.oomScoreAdj`.
    #[must_use]
    pub fn oom_score_adj(self, adj: i32) -> Self {
        self.config_mut(|c| c["process"]["oomScoreAdj"] = json!(adj))
    }

    /// `linux.seccomp`.
    #[must_use]
    pub fn seccomp(self, profile: Value) -> Self {
        self.config_mut(|c| c["linux"]["seccomp"] = profile)
    }

    /// Appends `hook` (`{"path": .., "args": [..], "env": [..], "timeout": ..}`) to `hooks.<kind>`
    /// (`prestart`, `createRuntime`, `createContainer`, `startContainer`, `poststart`, `poststop`).
    #[must_use]
    pub fn hook(self, kind: &str, hook: Value) -> Self {
        self.config_mut(|c| ensure_array(&mut c["hooks"][kind], "hooks").push(hook))
    }

    /// `linux.cgroupsPath`; `None` removes it (the runtime then picks one).
    #[must_use]
    pub fn with_cgroups_path(self, path: Option<&str>) -> Self {
        self.config_mut(|c| match path {
            Some(p) => c["linux"]["cgroupsPath"] = json!(p),
            None => {
                if let Some(linux) = c["linux"].as_object_mut() {
                    linux.remove("cgroupsPath");
                }
            }
        })
    }

    /// `linux.resources`.
    #[must_use]
    pub fn resources(self, resources: Value) -> Self {
        self.config_mut(|c| c["linux"]["resources"] = resources)
    }

    /// `linux.maskedPaths`.
    #[must_use]
    pub fn masked_paths(self, paths: &[&str]) -> Self {
        self.config_mut(|c| c["linux"]["maskedPaths"] = json!(paths))
    }

    /// `linux.readonlyPaths`.
    #[must_use]
    pub fn readonly_paths(self, paths: &[&str]) -> Self {
        self.config_mut(|c| c["linux"]["readonlyPaths"] = json!(paths))
    }

    /// Appends a device to `linux.devices` and allows it in `linux.resources.devices`.
    #[must_use]
    pub fn device(self, path: &str, kind: &str, major: i64, minor: i64, mode: u32) -> Self {
        self.config_mut(|c| {
            ensure_array(&mut c["linux"]["devices"], "devices").push(json!({
                "path": path, "type": kind, "major": major, "minor": minor, "fileMode": mode, "uid": 0, "gid": 0
            }));
            ensure_array(&mut c["linux"]["resources"]["devices"], "resources.devices").push(json!({
                "allow": true, "type": kind, "major": major, "minor": minor, "access": "rwm"
            }));
        })
    }

    /// `linux.rootfsPropagation`.
    #[must_use]
    pub fn rootfs_propagation(self, propagation: &str) -> Self {
        self.config_mut(|c| c["linux"]["rootfsPropagation"] = json!(propagation))
    }

    /// Sets an annotation.
    #[must_use]
    pub fn annotation(self, key: &str, value: &str) -> Self {
        self.config_mut(|c| c["annotations"][key] = json!(value))
    }

    /// Changes the owner of every file of the rootfs (without following symlinks), e.g. to the
    /// host ids that a user namespace maps to root.
    pub fn chown_rootfs(&self, uid: u32, gid: u32) -> io::Result<()> {
        fn walk(p: &Path, uid: u32, gid: u32) -> io::Result<()> {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
            if fs::symlink_metadata(p)?.is_dir() {
                for entry in fs::read_dir(p)? {
                    walk(&entry?.path(), uid, gid)?;
                }
            }
            Ok(())
        }
        walk(&self.rootfs(), uid, gid)
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_edit_the_json() -> io::Result<()> {
        let b = Bundle::new()
            .sh("echo hi")
            .add_env("FOO=bar")
            .user(1000, 1000)
            .namespace("cgroup", None)
            .remove_namespace("network")
            .tmpfs("/t", &["size=1m"])
            .capabilities(&["CAP_NET_ADMIN"]);
        let c = b.config();
        assert_eq!(c["process"]["args"], json!(["sh", "-c", "echo hi"]));
        assert!(c["process"]["env"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("FOO=bar"))));
        assert_eq!(c["process"]["user"]["uid"], json!(1000));
        let ns = c["linux"]["namespaces"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(ns.contains(&json!({"type": "cgroup"})));
        assert!(!ns.contains(&json!({"type": "network"})));
        assert!(b
            .cgroups_path()
            .is_some_and(|p| p.starts_with("/berth-test-")));
        b.write_config()?;
        let written: Value =
            serde_json::from_str(&fs::read_to_string(b.path().join("config.json"))?)?;
        assert_eq!(&written, c);
        assert!(b.rootfs().join("bin/sh").exists());
        Ok(())
    }

    #[test]
    fn cgroups_paths_are_unique() {
        let a = Bundle::with_shared_rootfs();
        let b = Bundle::with_shared_rootfs();
        assert_ne!(a.cgroups_path(), b.cgroups_path());
        assert!(a.rootfs().join("bin/sh").exists());
    }
}
