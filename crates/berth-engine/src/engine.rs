//! The engine: the one object the API handlers call.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::EngineConfig;
use crate::containers::ContainerService;
use crate::error::EngineError;
use crate::images::ImageService;
use crate::system::{process_counts, HostInfo, SystemInfo};
use berth_api_types::time::rfc3339_nano_fixed as rfc3339_utc;

/// berth's version, reported as the server version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The file under the root that keeps the daemon's identity across restarts.
const ENGINE_ID_FILE: &str = "engine-id";

/// What `version` reports about the daemon's build and host.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub version: &'static str,
    pub git_commit: &'static str,
    /// The compiler that built berthd (`rustc 1.95.0 (...)`); Docker reports its Go version here.
    pub compiler: &'static str,
    /// The time the build script last ran, RFC 3339.
    pub build_time: String,
    /// Go's names, as Docker reports them: `linux`.
    pub os: &'static str,
    /// Go's names, as Docker reports them: `amd64`, `arm64`.
    pub arch: &'static str,
    pub kernel_version: String,
}

/// The daemon's core. Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    id: String,
    images: ImageService,
    containers: ContainerService,
}

impl Engine {
    /// Opens the engine on `config.root` (which must exist), creating the daemon's identity on
    /// first start.
    pub fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let id = load_or_create_id(&config.root.join(ENGINE_ID_FILE))?;
        let registry = berth_registry::RegistryOptions {
            insecure_registries: config.insecure_registries.clone(),
            mirrors: config.registry_mirrors.clone(),
            ..Default::default()
        };
        let images = ImageService::open(&config.root, config.storage_driver, registry)?;
        let init = crate::init_path(config.init_path.as_deref());
        match &init {
            Some(p) => tracing::info!("init for --init: {}", p.display()),
            None => tracing::info!("no init binary found: --init is refused (see --init-path)"),
        }
        let containers = ContainerService::open(
            &config.root,
            &config.exec_root,
            shim_path(config.shim.as_deref()),
            &config.cgroup_parent,
            crate::containers::InitSettings {
                binary: init.clone(),
                by_default: config.init,
            },
            images.clone(),
        )?;
        Ok(Engine {
            config,
            id,
            images,
            containers,
        })
    }

    /// The containers: create, start, stop, logs, attach, exec...
    pub fn containers(&self) -> &ContainerService {
        &self.containers
    }

    /// `docker rmi [-f] NAME`, refused (dockerd's 409s) for an image containers use: a
    /// running container's always, a stopped container's unless forced, in which case the
    /// name only goes and the image stays for its containers.
    pub async fn remove_image(
        &self,
        name: &str,
        force: bool,
    ) -> Result<Vec<crate::images::DeleteItem>, EngineError> {
        let details = self.images.inspect(name).await?;
        let image_id = details.summary.id.to_string();
        let users = self.containers.image_users();
        let Some(using) = users.get(&image_id).filter(|u| !u.is_empty()) else {
            return self.images.remove(name, force).await;
        };
        let is_id = image_id
            .trim_start_matches("sha256:")
            .starts_with(name.trim_start_matches("sha256:"))
            && !name.contains(':')
            || name.starts_with("sha256:");
        let removes_last_name = is_id || details.summary.repo_tags.len() <= 1;
        if !removes_last_name {
            return self.images.remove(name, force).await;
        }
        let short = |id: &str| {
            id.trim_start_matches("sha256:")
                .chars()
                .take(12)
                .collect::<String>()
        };
        if let Some((cid, _)) = using.iter().find(|(_, running)| *running) {
            if force || is_id {
                return Err(EngineError::ContainerConflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by \
                     running container {}",
                    short(&image_id),
                    short(cid)
                )));
            }
        }
        let cid = using.first().map(|(c, _)| short(c)).unwrap_or_default();
        if !force {
            return Err(EngineError::ContainerConflict(if is_id {
                format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by \
                     stopped container {cid}",
                    short(&image_id)
                )
            } else {
                format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - \
                     container {cid} is using its referenced image {}",
                    short(&image_id)
                )
            }));
        }
        if is_id {
            return Err(EngineError::ContainerConflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by \
                 stopped container {cid}",
                short(&image_id)
            )));
        }
        self.images.untag(name).await
    }

    /// The images: pull, list, inspect, history, tag, remove, prune.
    pub fn images(&self) -> &ImageService {
        &self.images
    }

    /// The settings the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The daemon's persistent ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The daemon's version and build.
    pub fn version(&self) -> VersionInfo {
        let epoch = env!("BERTH_BUILD_EPOCH").parse::<u64>().unwrap_or(0);
        VersionInfo {
            version: VERSION,
            git_commit: env!("BERTH_GIT_COMMIT"),
            compiler: env!("BERTH_COMPILER"),
            build_time: rfc3339_utc(UNIX_EPOCH + Duration::from_secs(epoch)),
            os: go_os(),
            arch: go_arch(),
            kernel_version: rustix::system::uname()
                .release()
                .to_string_lossy()
                .into_owned(),
        }
    }

    /// The host and the daemon's state; `images` is the number of images stored.
    pub fn info(&self, images: u64) -> Result<SystemInfo, EngineError> {
        let host = HostInfo::probe()?;
        let (all, running, paused, stopped) = self.containers.counts();
        let warnings = host.warnings();
        let (nfd, nthreads) = process_counts();
        let env = |k: &str| {
            std::env::var(k)
                .or_else(|_| std::env::var(k.to_lowercase()))
                .unwrap_or_default()
        };
        Ok(SystemInfo {
            id: self.id.clone(),
            host,
            server_version: VERSION,
            root_dir: self.config.root.clone(),
            exec_root: self.config.exec_root.clone(),
            debug: self.config.debug,
            driver: self.images.driver_name(),
            cgroup_driver: "cgroupfs",
            default_runtime: ("berth", "berth-runtime"),
            containers: all,
            containers_running: running,
            containers_paused: paused,
            containers_stopped: stopped,
            images,
            nfd,
            nthreads,
            system_time: rfc3339_utc(SystemTime::now()),
            insecure_registries: self.config.insecure_registries.clone(),
            registry_mirrors: self.config.registry_mirrors.clone(),
            http_proxy: env("HTTP_PROXY"),
            https_proxy: env("HTTPS_PROXY"),
            no_proxy: env("NO_PROXY"),
            warnings,
        })
    }
}

/// The shim binary: `configured`, `$BERTH_SHIM`, or `berth-shim` beside this executable.
fn shim_path(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("BERTH_SHIM") {
        return PathBuf::from(p);
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("berth-shim")))
        .unwrap_or_else(|| PathBuf::from("berth-shim"))
}

/// Go's GOOS for this build.
fn go_os() -> &'static str {
    std::env::consts::OS
}

/// Go's GOARCH for this build (Docker clients compare against these names).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// Reads the ID in `path`, or writes a new random one there (temp file, then rename).
fn load_or_create_id(path: &Path) -> Result<String, EngineError> {
    match fs::read_to_string(path) {
        Ok(s) => {
            let id = s.trim().to_string();
            if is_uuid(&id) {
                return Ok(id);
            }
            return Err(EngineError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("expected a UUID, found {id:?}"),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(EngineError::io("read", path, e)),
    }
    let id = random_uuid().map_err(|e| EngineError::io("read", "/dev/urandom", e))?;
    let tmp: PathBuf = path.with_extension("tmp");
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        writeln!(f, "{id}")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| EngineError::io("write", path, e))?;
    Ok(id)
}

/// A version 4 UUID from the kernel's random source.
fn random_uuid() -> io::Result<String> {
    let mut b = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig::new(dir.path(), dir.path());
        let a = Engine::open(cfg.clone()).unwrap().id().to_owned();
        assert!(is_uuid(&a), "{a}");
        // The stores are locked while an engine has them open: one engine at a time.
        let b = Engine::open(cfg).unwrap();
        assert_eq!(a, b.id());
    }

    #[test]
    fn corrupt_id_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ENGINE_ID_FILE), "garbage\n").unwrap();
        let err = Engine::open(EngineConfig::new(dir.path(), dir.path())).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("engine-id is corrupt"), "{msg}");
    }

    #[test]
    fn info_reports_config_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EngineConfig::new(dir.path(), dir.path().join("run"));
        cfg.insecure_registries = vec!["127.0.0.1:5000".into()];
        let engine = Engine::open(cfg).unwrap();
        let info = engine.info(0).unwrap();
        assert_eq!(info.root_dir, dir.path());
        assert_eq!(info.insecure_registries, ["127.0.0.1:5000"]);
        assert!(info.nfd > 0 && info.nthreads > 0);
        assert_eq!(engine.version().version, VERSION);
    }
}
