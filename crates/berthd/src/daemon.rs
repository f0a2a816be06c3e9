//! Starting and stopping the daemon.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_api::{serve, Host, ServeOptions};
use berth_engine::{Engine, EngineConfig, VERSION};
use tokio::signal::unix::{signal, SignalKind};

use crate::args::LogLevel;
use crate::error::DaemonError;
use crate::lock::RootLock;
use crate::pidfile::Pidfile;

/// The API socket's mode: owner and group (dockerd's default).
const SOCKET_MODE: u32 = 0o660;

/// Everything the daemon runs with.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub host: Host,
    pub root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
    /// `--storage-driver`; `None` chooses (overlay where it works, else vfs).
    pub storage_driver: Option<berth_engine::StorageDriver>,
    /// The socket's group; `None` means `docker` if that group exists (dockerd's default), so
    /// that the users allowed to drive dockerd may drive berthd.
    pub group: Option<String>,
    pub log_level: LogLevel,
    pub shutdown_timeout: Duration,
    /// `--init`: containers that do not say get the init.
    pub init: bool,
    /// `--init-path`; `None` looks the init up (berth_engine::init_path).
    pub init_path: Option<PathBuf>,
    /// `--cgroup-parent`: containers' cgroups are `PARENT/ID`.
    pub cgroup_parent: String,
}

/// Runs the daemon until SIGTERM or SIGINT, then removes its socket and pidfile.
pub fn run(config: DaemonConfig) -> Result<(), DaemonError> {
    init_logging(config.log_level);
    log_panics();
    // The root holds image content: for root only. The exec root is traversable so that the
    // group of a socket inside it can reach it.
    create_dir(&config.root, 0o700)?;
    create_dir(&config.exec_root, 0o711)?;
    let _lock = RootLock::acquire(&config.root)?;
    let _pidfile = Pidfile::create(&config.pidfile)?;
    let engine = Arc::new(Engine::open(EngineConfig {
        root: config.root.clone(),
        exec_root: config.exec_root.clone(),
        insecure_registries: config.insecure_registries.clone(),
        registry_mirrors: config.registry_mirrors.clone(),
        storage_driver: config.storage_driver,
        debug: config.log_level == LogLevel::Debug,
        shim: None,
        init_path: config.init_path.clone(),
        init: config.init,
        cgroup_parent: config.cgroup_parent.clone(),
    })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berthd")
        .build()
        .map_err(DaemonError::Runtime)?;
    let result = runtime.block_on(async {
        // Handlers first, so that a SIGTERM sent as soon as the socket appears is not fatal.
        let sig = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|source| DaemonError::Signal {
                signal: name,
                source,
            })
        };
        let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
        let mut int = sig(SignalKind::interrupt(), "SIGINT")?;
        let socket = config.host.socket();
        let gid = socket_group(config.group.as_deref(), Path::new(GROUP_FILE))?;
        // Reconnect to the shims of containers that ran before this start.
        engine.containers().recover().await;
        let listener = listen(socket, gid)?;
        let _socket = RemoveOnDrop(socket.to_path_buf());
        tracing::info!(
            "berthd {VERSION} listening on {} (root {})",
            config.host,
            config.root.display()
        );
        let shutdown = async {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = int.recv() => tracing::info!("SIGINT: shutting down"),
            }
        };
        serve(
            listener,
            engine,
            shutdown,
            ServeOptions {
                shutdown_timeout: config.shutdown_timeout,
            },
        )
        .await;
        tracing::info!("stopped");
        Ok(())
    });
    // Tasks still waiting on shims (each running container's `wait`, a `logs -f`) are not
    // waited for: the containers and their shims live on without the daemon.
    runtime.shutdown_background();
    result
}

/// Panics go to the log as errors, with where they happened. berthd unwinds (the release
/// profile's `panic = "unwind"`): a panic in a request handler is answered with a 500 by the
/// server, one in a spawned task ends that task (and its stream), and the daemon goes on.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(no message)");
        let location = info
            .location()
            .map_or_else(String::new, |l| format!(" at {}:{}", l.file(), l.line()));
        tracing::error!("panic{location}: {message}");
    }));
}

fn init_logging(level: LogLevel) {
    let max = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error | LogLevel::Fatal => tracing::Level::ERROR,
    };
    // A second initialisation (tests calling run twice) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(io::stderr)
        .with_target(false)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .try_init();
}

fn create_dir(path: &Path, mode: u32) -> Result<(), DaemonError> {
    DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|source| DaemonError::CreateDir {
            path: path.to_path_buf(),
            source,
        })
}

/// Binds the API socket at `path` with mode 0660, replacing a stale socket left by a daemon
/// that died, but never one a live daemon answers on.
fn listen(path: &Path, gid: Option<u32>) -> Result<tokio::net::UnixListener, DaemonError> {
    let err = |source: io::Error| DaemonError::Listen {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        if !parent.exists() {
            create_dir(parent, 0o755)?;
        }
    }
    if fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DaemonError::SocketInUse {
                path: path.to_path_buf(),
            });
        }
        fs::remove_file(path).map_err(err)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(err)?;
    if let Some(gid) = gid {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(err)?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    tokio::net::UnixListener::from_std(listener).map_err(err)
}

/// The group database.
const GROUP_FILE: &str = "/etc/group";

/// dockerd's default socket group.
const DEFAULT_GROUP: &str = "docker";

/// The gid of the socket's group: `name`'s (which must exist), or `docker`'s if it exists.
fn socket_group(name: Option<&str>, group_file: &Path) -> Result<Option<u32>, DaemonError> {
    let text = fs::read_to_string(group_file).unwrap_or_default();
    let lookup = |wanted: &str| {
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let gid = f.nth(1)?.parse::<u32>().ok()?;
            (n == wanted).then_some(gid)
        })
    };
    match name {
        Some(n) => lookup(n)
            .map(Some)
            .ok_or_else(|| DaemonError::NoSuchGroup { group: n.into() }),
        None => Ok(lookup(DEFAULT_GROUP)),
    }
}

/// Removes the socket when the server is done.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_file(&self.0) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!("cannot remove {}: {e}", self.0.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_group_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("group");
        fs::write(&f, "root:x:0:\ndocker:x:105:alice\nberth:x:200:\n").unwrap();
        assert_eq!(socket_group(None, &f).unwrap(), Some(105));
        assert_eq!(socket_group(Some("berth"), &f).unwrap(), Some(200));
        assert!(matches!(
            socket_group(Some("nosuch"), &f),
            Err(DaemonError::NoSuchGroup { .. })
        ));
        fs::write(&f, "root:x:0:\n").unwrap();
        assert_eq!(socket_group(None, &f).unwrap(), None);
    }
}
