//! The engine: the one object the API handlers call.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::EngineConfig;
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
        Ok(Engine { config, id, images })
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
            containers: 0,
            containers_running: 0,
            containers_paused: 0,
            containers_stopped: 0,
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
