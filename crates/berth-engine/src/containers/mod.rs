//! The container service: container records, their shims, and docker's container operations.
//!
//! * mod.rs: [`ContainerService`] (the table of containers, name and id lookup, the
//!   per-container operation lock, events) and the helpers that call a shim.
//! * record.rs: [`Record`] and [`State`], one JSON file per container written atomically.
//! * create.rs: `create` (image defaults, the rootfs snapshot, /etc files) and the spec a
//!   start writes.
//! * lifecycle.rs: start, stop, kill, restart, pause, wait, delete, rename, prune, the
//!   monitor that sees each exit, and recovery after a daemon restart.
//! * io.rs: logs, attach, exec, resize, top, stats.
//! * names.rs: ids and docker's random names.
//!
//! Locking: the table (a std `Mutex`) is only held to look up or insert entries, never across
//! an await. Each container has a tokio `Mutex` that serialises the operations that change
//! it (start, stop, delete...), so a stuck shim blocks only its own container. Its record sits
//! in a std `Mutex` read by `ps` and `inspect` without waiting for an operation. Every state
//! change is published on the entry's watch channel, which `wait` and `stop` listen to.
//!
//! Each container's shim is `berth-shim` (a separate binary: berthd never forks containers
//! itself), started with the state directory `<exec-root>/c/ID`, which is also the
//! OCI bundle (`config.json`, `rootfs` mounted from the container's snapshot).

mod create;
mod io;
mod lifecycle;
mod names;
mod record;
mod update;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use berth_shim_proto::{Client, ProtoError};
use tokio::sync::{broadcast, watch};

use crate::error::EngineError;
use crate::images::ImageService;

pub use create::CreateRequest;
pub use io::{
    AttachOptions, AttachStream, ExecConfig, ExecInfo, ExecStream, LogOptions, StatsSample,
    TopResult,
};
pub use lifecycle::{ListFilters, PruneResult, StartOutcome, WaitCondition, WaitResult};
pub use record::{human_duration, Record, State, Status, ZERO_TIME};

/// How many past events `/events?since=` can replay.
const EVENT_HISTORY: usize = 1024;

/// One event in docker's terms (`Type`, `Action`, `Actor`).
#[derive(Debug, Clone)]
pub struct Event {
    /// `container`, `image`...
    pub kind: &'static str,
    /// `create`, `start`, `die`, `exec_start: sh`...
    pub action: String,
    pub id: String,
    /// `image`, `name`, `exitCode`, the container's labels.
    pub attributes: BTreeMap<String, String>,
    pub time: SystemTime,
}

/// What `wait` and `stop` watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Watched {
    pub status: Status,
    pub exits: u64,
    pub exit_code: i32,
    pub removed: bool,
}

/// A container in the table.
#[derive(Debug)]
pub(crate) struct Entry {
    pub id: String,
    /// Serialises the operations that change the container.
    pub op: tokio::sync::Mutex<()>,
    pub record: Mutex<Record>,
    pub watch: watch::Sender<Watched>,
    /// Whether a shim serves this container's current run (started or waiting for start).
    pub shim_up: Mutex<bool>,
}

impl Entry {
    fn new(record: Record) -> Arc<Entry> {
        let w = Watched {
            status: record.state.status,
            exits: record.state.exits,
            exit_code: record.state.exit_code,
            removed: false,
        };
        Arc::new(Entry {
            id: record.id.clone(),
            op: tokio::sync::Mutex::new(()),
            record: Mutex::new(record),
            watch: watch::channel(w).0,
            shim_up: Mutex::new(false),
        })
    }

    /// A copy of the record.
    pub fn snapshot(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Edits the record and publishes its state.
    pub fn update<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        let out = self.update_quiet(f);
        self.publish();
        out
    }

    /// Edits the record without telling the watchers (call [`Entry::publish`] after saving).
    pub fn update_quiet<T>(&self, f: impl FnOnce(&mut Record) -> T) -> T {
        let mut r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut r)
    }

    /// Tells the watchers the record's current state.
    pub fn publish(&self) {
        let r = self.record.lock().unwrap_or_else(|e| e.into_inner());
        let w = Watched {
            status: r.state.status,
            exits: r.state.exits,
            exit_code: r.state.exit_code,
            removed: false,
        };
        drop(r);
        self.watch.send_modify(|old| {
            *old = Watched {
                removed: old.removed,
                ..w
            }
        });
    }

    fn shim_up(&self) -> bool {
        *self.shim_up.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_shim_up(&self, up: bool) {
        *self.shim_up.lock().unwrap_or_else(|e| e.into_inner()) = up;
    }
}

#[derive(Debug, Default)]
struct Table {
    by_id: HashMap<String, Arc<Entry>>,
    /// Name (without `/`) to id.
    names: HashMap<String, String>,
}

/// An exec instance.
#[derive(Debug, Clone)]
pub(crate) struct ExecEntry {
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
}

/// The containers under `<root>/containers`, their shims' directories under
/// `<exec-root>/c`.
#[derive(Clone)]
pub struct ContainerService {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// `<root>/containers`: one directory per container (record, logs, /etc files).
    root: PathBuf,
    /// `<exec-root>/c`: one shim state directory and bundle per container.
    run: PathBuf,
    /// berth-runtime's state root for the shims.
    runtime_root: PathBuf,
    shim_bin: PathBuf,
    images: ImageService,
    host: berth_spec::HostFacts,
    table: Mutex<Table>,
    execs: Mutex<HashMap<String, ExecEntry>>,
    events: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl std::fmt::Debug for ContainerService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContainerService")
            .field("root", &self.inner.root)
            .field("run", &self.inner.run)
            .finish_non_exhaustive()
    }
}

/// The daemon's `--init` settings.
#[derive(Debug, Clone, Default)]
pub struct InitSettings {
    /// The init bind-mounted at `/sbin/docker-init`; `None`: `--init` is refused.
    pub binary: Option<PathBuf>,
    /// Whether containers with `HostConfig.Init: null` get it (`berthd --init`).
    pub by_default: bool,
}

/// The default cgroup parent of berth's containers (dockerd's is `/docker`).
pub const CGROUP_PARENT: &str = "/berth";

impl ContainerService {
    /// Loads the records under `root/containers` (their shims are found again by
    /// [`ContainerService::recover`]).
    pub fn open(
        root: &Path,
        exec_root: &Path,
        shim_bin: PathBuf,
        cgroup_parent: &str,
        init: InitSettings,
        images: ImageService,
    ) -> Result<ContainerService, EngineError> {
        let croot = root.join("containers");
        // Short: the shim's socket path must fit in sun_path (108 bytes).
        let run = exec_root.join("c");
        let runtime_root = exec_root.join("runtime");
        for d in [&croot, &run, &runtime_root] {
            std::fs::create_dir_all(d).map_err(|e| EngineError::io("create", d, e))?;
        }
        let cgroup_v2 = berth_cgroups::Hierarchy::detect()
            .map(|h| h.mode() == berth_cgroups::Mode::V2)
            .unwrap_or(false);
        let host = berth_spec::HostFacts {
            cgroup_v2,
            cgroup_parent: cgroup_parent.to_owned(),
            hostname: rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            init_binary: init.binary,
            init_by_default: init.by_default,
            ..berth_spec::HostFacts::default()
        };
        let mut table = Table::default();
        let dirs = std::fs::read_dir(&croot).map_err(|e| EngineError::io("read", &croot, e))?;
        for d in dirs.flatten() {
            let dir = d.path();
            if !dir.join(record::RECORD_FILE).exists() {
                // A create that crashed before its record was written: nothing refers to it.
                tracing::warn!("removing {}: no container record", dir.display());
                let _ = std::fs::remove_dir_all(&dir);
                continue;
            }
            match Record::load(&dir) {
                Ok(r) => {
                    table.names.insert(r.name.clone(), r.id.clone());
                    table.by_id.insert(r.id.clone(), Entry::new(r));
                }
                Err(e) => tracing::error!("skipping container {}: {e}", dir.display()),
            }
        }
        Ok(ContainerService {
            inner: Arc::new(Inner {
                root: croot,
                run,
                runtime_root,
                shim_bin,
                images,
                host,
                table: Mutex::new(table),
                execs: Mutex::new(HashMap::new()),
                events: broadcast::channel(1024).0,
                history: Mutex::new(VecDeque::new()),
            }),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The container named by `name`: a full id, a name (with or without `/`), or a unique
    /// id prefix (dockerd's order).
    pub(crate) fn entry(&self, name: &str) -> Result<Arc<Entry>, EngineError> {
        let t = self.table();
        let not_found = || EngineError::NoSuchContainer {
            name: name.to_owned(),
        };
        if let Some(e) = t.by_id.get(name) {
            return Ok(e.clone());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(id) = t.names.get(bare) {
            if let Some(e) = t.by_id.get(id) {
                return Ok(e.clone());
            }
        }
        if name.is_empty() || !name.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut found = t.by_id.values().filter(|e| e.id.starts_with(name));
        match (found.next(), found.next()) {
            (Some(e), None) => Ok(e.clone()),
            (Some(_), Some(_)) => Err(EngineError::ContainerConflict(format!(
                "multiple IDs found with provided prefix: {name}"
            ))),
            _ => Err(not_found()),
        }
    }

    /// Every container, newest first.
    pub(crate) fn entries(&self) -> Vec<Arc<Entry>> {
        let t = self.table();
        let mut v: Vec<(String, Arc<Entry>)> = t
            .by_id
            .values()
            .map(|e| (e.snapshot().created, e.clone()))
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0));
        v.into_iter().map(|(_, e)| e).collect()
    }

    /// The record of `name`.
    pub async fn inspect(&self, name: &str) -> Result<Record, EngineError> {
        Ok(self.entry(name)?.snapshot())
    }

    /// Counts of containers: all, running, paused, stopped.
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let (mut all, mut running, mut paused, mut stopped) = (0, 0, 0, 0);
        for e in self.table().by_id.values() {
            all += 1;
            match e.snapshot().state.status {
                Status::Running | Status::Restarting => running += 1,
                Status::Paused => paused += 1,
                _ => stopped += 1,
            }
        }
        (all, running, paused, stopped)
    }

    /// The container's persistent directory.
    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.inner.root.join(id)
    }

    /// The container's shim state directory and bundle.
    pub(crate) fn run_dir(&self, id: &str) -> PathBuf {
        self.inner.run.join(id)
    }

    /// The container's json-file log.
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.dir(id)
            .join(berth_shim_proto::files::json_log_name(id))
    }

    /// Publishes an event about container `r`.
    pub(crate) fn emit(&self, r: &Record, action: &str, extra: &[(&str, String)]) {
        let mut attributes: BTreeMap<String, String> = r.config.labels.clone().unwrap_or_default();
        attributes.insert("image".into(), r.image_name.clone());
        attributes.insert("name".into(), r.name.clone());
        for (k, v) in extra {
            attributes.insert((*k).to_owned(), v.clone());
        }
        let ev = Event {
            kind: "container",
            action: action.to_owned(),
            id: r.id.clone(),
            attributes,
            time: SystemTime::now(),
        };
        {
            let mut h = self.inner.history.lock().unwrap_or_else(|e| e.into_inner());
            if h.len() == EVENT_HISTORY {
                h.pop_front();
            }
            h.push_back(ev.clone());
        }
        let _ = self.inner.events.send(ev);
    }

    /// The events kept so far and a receiver of the next ones (subscribed before the copy is
    /// taken, so none falls between).
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let rx = self.inner.events.subscribe();
        let past = self
            .inner
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        (past, rx)
    }

    /// Calls the shim of container `id` on the blocking pool; `timeout` bounds each read
    /// (`None` for `wait`).
    pub(crate) async fn shim<T, F>(
        &self,
        id: &str,
        timeout: Option<Duration>,
        f: F,
    ) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, ProtoError> + Send + 'static,
    {
        let dir = self.run_dir(id);
        let id2 = id.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut c = Client::connect(&dir)?;
            c.set_read_timeout(timeout)?;
            f(&mut c)
        })
        .await
        .map_err(|e| EngineError::Task(format!("shim call: {e}")))?
        .map_err(|source| EngineError::Shim { id: id2, source })
    }
}

impl ContainerService {
    /// Sends `req` to the shim of container `id` over an async connection and awaits its
    /// answer. For the requests that wait for an exit (`wait`, `exec_wait`): one is pending per
    /// running container, and none of them holds a thread of the blocking pool.
    pub(crate) async fn shim_async(
        &self,
        id: &str,
        req: &berth_shim_proto::Request,
    ) -> Result<berth_shim_proto::Response, EngineError> {
        use berth_shim_proto::frame::{encode, MAX_MESSAGE};
        use berth_shim_proto::Response;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let path = self.run_dir(id).join(berth_shim_proto::files::SOCKET);
        let err = |source: ProtoError| EngineError::Shim {
            id: id.to_owned(),
            source,
        };
        let read_err = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ProtoError::Closed
            } else {
                ProtoError::io("read message", e)
            }
        };
        let mut s = match tokio::net::UnixStream::connect(&path).await {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(err(ProtoError::NotRunning { path, source: e }))
            }
            Err(e) => return Err(err(ProtoError::io("connect to the shim", e))),
        };
        let msg = encode(req).map_err(err)?;
        s.write_all(&msg)
            .await
            .map_err(|e| err(ProtoError::io("write message", e)))?;
        let mut len = [0u8; 4];
        s.read_exact(&mut len).await.map_err(|e| err(read_err(e)))?;
        let len = u32::from_be_bytes(len);
        if len > MAX_MESSAGE {
            return Err(err(ProtoError::TooLarge(u64::from(len))));
        }
        let mut body = vec![0u8; usize::try_from(len).unwrap_or(0)];
        s.read_exact(&mut body)
            .await
            .map_err(|e| err(read_err(e)))?;
        match serde_json::from_slice::<Response>(&body).map_err(|e| err(ProtoError::Decode(e)))? {
            Response::Error { kind, message } => Err(err(ProtoError::Shim { kind, message })),
            r => Ok(r),
        }
    }
}

/// The default time a shim request may take.
pub(crate) const SHIM_TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));
