//! The container operations of the runtime: create, start, run, state, kill,
//! delete, list, ps, exec, pause and resume. Each takes the [`Store`] and
//! typed options; none knows about the command line.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use oci_spec::runtime::{Process, Spec};
use rustix::fs::{Mode, OFlags};

use crate::capabilities::{self, CapMasks};
use crate::config::Bundle;
use crate::error::{ContainerError, Result};
use crate::hooks::{self, HookState};
use crate::init::{InitConfig, InitKind};
use crate::namespaces::NamespacePlan;
use crate::spawn::{self, ParentSide};
use crate::state::{self, SavedState, StateReport, Status};
use crate::store::{Store, EXEC_FIFO};

/// Options of `create` and `run`.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

/// Options of `exec`.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub id: String,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub console_socket: Option<PathBuf>,
    pub preserve_fds: u32,
    /// Run even if the container is paused (the process then waits, frozen, for `resume`).
    pub ignore_paused: bool,
    /// Existing sub-cgroups of the container's to put the process in (`--cgroup`).
    pub sub_cgroups: berth_cgroups::SubCgroups,
}

/// What a process that supervises the container's processes itself (the
/// shim) asks of them: it holds their stdio and learns their exit as their
/// parent, so [`start_supervised`] and [`exec_supervised`] return at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Supervision<'a> {
    /// stdin, stdout and stderr of the process (a terminal, when the process
    /// has one, replaces them). `None` passes the caller's own. The caller's
    /// descriptors 0, 1 and 2 must be open (none of these may be one of them).
    pub stdio: Option<[BorrowedFd<'a>; 3]>,
    /// The process gets SIGKILL when the caller dies (its parent-death signal
    /// stays set), instead of outliving it.
    pub die_with_parent: bool,
}

/// How a container process is launched: its stdio, fate and signal mask.
#[derive(Debug)]
struct Launch<'a> {
    stdio: Option<[BorrowedFd<'a>; 3]>,
    die_with_parent: bool,
    /// The mask the process starts its program with.
    sigmask: berth_sys::signal::SignalMask,
}

impl<'a> Launch<'a> {
    /// The caller's stdio and signal mask; the process outlives the caller.
    fn inherit(sigmask: berth_sys::signal::SignalMask) -> Launch<'a> {
        Launch {
            stdio: None,
            die_with_parent: false,
            sigmask,
        }
    }

    /// A supervised process starts with no signal blocked, whatever the
    /// supervisor blocks to read its signals from a signalfd.
    fn supervised(sup: &Supervision<'a>) -> Launch<'a> {
        Launch {
            stdio: sup.stdio,
            die_with_parent: sup.die_with_parent,
            sigmask: berth_sys::signal::SignalMask::empty(),
        }
    }
}

/// A created container process.
#[derive(Debug)]
pub struct Created {
    pub pid: i32,
    /// The terminal's master side when the runtime itself relays the terminal.
    pub console: Option<OwnedFd>,
}

fn linux_namespaces(spec: &Spec) -> &[oci_spec::runtime::LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default()
}

/// Warnings about settings this host cannot honour (they do not fail creation).
pub fn warnings(spec: &Spec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = spec.process() {
        if p.apparmor_profile().as_ref().is_some_and(|s| !s.is_empty())
            && !Path::new("/sys/kernel/security/apparmor").exists()
        {
            out.push(
                "apparmor profile requested but AppArmor is not enabled on this host; ignoring it"
                    .into(),
            );
        }
        if p.selinux_label().as_ref().is_some_and(|s| !s.is_empty())
            && !Path::new("/sys/fs/selinux/enforce").exists()
        {
            out.push(
                "SELinux label requested but SELinux is not enabled on this host; ignoring it"
                    .into(),
            );
        }
    }
    out
}

fn connect_console(path: &Option<PathBuf>) -> Result<Option<OwnedFd>> {
    match path {
        None => Ok(None),
        Some(p) => {
            let s = std::os::unix::net::UnixStream::connect(p)
                .map_err(|e| ContainerError::io("connect console socket", p, e))?;
            Ok(Some(OwnedFd::from(s)))
        }
    }
}

/// Hands a seccomp listener of process `pid` to the spec's `listenerPath`.
fn seccomp_listener(
    spec: &Spec,
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    fd: OwnedFd,
) -> Result<()> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Err(ContainerError::Init(
            "a seccomp listener without a seccomp profile".into(),
        ));
    };
    let Some(path) = profile.listener_path() else {
        return Err(ContainerError::InvalidConfig(
            "linux.seccomp uses SCMP_ACT_NOTIFY but has no listenerPath".into(),
        ));
    };
    let bundle = bundle.to_string_lossy();
    let state = HookState::new(id, status, pid, &bundle, spec);
    let metadata = profile.listener_metadata().as_deref().unwrap_or("");
    crate::seccomp_agent::send_listener(path, metadata, &state, fd.as_fd())
}

/// The seccomp program of `spec`, compiled once per host and kept in the
/// state root (see [`Store::seccomp_cache`]).
fn compile_seccomp(store: &Store, spec: &Spec) -> Result<Option<berth_seccomp::Program>> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(None);
    };
    Ok(Some(store.seccomp_cache().get_or_compile(profile)?))
}

fn cap_masks(p: &Process, last_cap: u32) -> Result<Option<CapMasks>> {
    match p.capabilities() {
        Some(c) => Ok(Some(CapMasks::from_spec(c)?.limit_to(last_cap))),
        None => Ok(None),
    }
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| ContainerError::io("write pid file", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| ContainerError::io("write pid file", path, e))
}

/// `create`: builds the container and leaves its init waiting for `start`.
/// `foreground` is set by `run`, where the runtime itself relays the terminal.
pub fn create(
    store: &Store,
    bundle: &Bundle,
    opts: &CreateOptions,
    foreground: bool,
) -> Result<Created> {
    let launch = Launch::inherit(current_sigmask());
    create_with(store, bundle, opts, foreground, StartBy::Fifo, &launch)
}

/// How a created init is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartBy {
    /// A later `start` opens `exec.fifo` (runc's create/start split).
    Fifo,
    /// `run`: the init goes on as soon as its state is saved; no fifo.
    Saved,
}

fn create_with(
    store: &Store,
    bundle: &Bundle,
    opts: &CreateOptions,
    foreground: bool,
    start_by: StartBy,
    launch: &Launch<'_>,
) -> Result<Created> {
    let terminal = bundle
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    if terminal && opts.console_socket.is_none() && !foreground {
        return Err(ContainerError::InvalidConfig(
            "cannot allocate tty if berth-runtime will detach without setting console socket"
                .into(),
        ));
    }
    if !terminal && opts.console_socket.is_some() {
        return Err(ContainerError::InvalidConfig(
            "cannot use console socket if berth-runtime will not detach or allocate tty".into(),
        ));
    }
    let lock = store.create_dir(&opts.id)?;
    let mut cgroup = None;
    let res = create_locked(store, opts, bundle, &lock, &mut cgroup, start_by, launch);
    if res.is_err() {
        if let Some(cg) = &cgroup {
            let _ = cg.destroy();
        }
        let _ = store.remove(&opts.id);
    }
    res
}

fn create_locked(
    store: &Store,
    opts: &CreateOptions,
    bundle: &Bundle,
    lock: &crate::store::Lock,
    cgroup_out: &mut Option<berth_cgroups::Manager>,
    start_by: StartBy,
    launch: &Launch<'_>,
) -> Result<Created> {
    let spec = &bundle.spec;
    let id = opts.id.as_str();
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| ContainerError::InvalidConfig("process must be specified".into()))?;
    let plan = NamespacePlan::from_spec(linux_namespaces(spec))?;
    let seccomp = compile_seccomp(store, spec)?;
    let last_cap = capabilities::last_cap();
    let caps = cap_masks(process, last_cap)?;
    let console_socket = connect_console(&opts.console_socket)?;

    let mut manager = crate::cgroup::manager_for(spec, id)?;
    if let Some(m) = &manager {
        *cgroup_out = Some(m.clone());
        match m.create() {
            Ok(()) => {
                if let Some(r) = crate::cgroup::effective_resources(spec) {
                    m.apply(&r)?;
                }
            }
            Err(e) if e.is_permission_denied() && crate::cgroup::can_run_without(spec) => {
                // A non-root caller without a delegated cgroup, and nothing to
                // limit: run without one, as runc's rootless mode does.
                let _ = m.destroy();
                *cgroup_out = None;
                manager = None;
            }
            Err(e) => return Err(e.into()),
        }
    }
    let cgroup_mounts = manager
        .as_ref()
        .map(crate::cgroup::mounts)
        .unwrap_or_default();
    let cgroup_join = manager
        .as_ref()
        .map(berth_cgroups::Manager::join_handles)
        .transpose()?;

    let state_dir = match start_by {
        StartBy::Fifo => Some(make_exec_fifo(&store.dir(id))?),
        StartBy::Saved => None,
    };

    let bundle_str = bundle.path.to_string_lossy().into_owned();
    let linux = spec.linux().as_ref();
    let create_runtime_hooks = |pid: i32| -> Result<()> {
        let Some(h) = spec.hooks() else { return Ok(()) };
        let st = HookState::new(id, "creating", pid, &bundle_str, spec);
        hooks::run("prestart", h.prestart().as_deref().unwrap_or_default(), &st)?;
        hooks::run(
            "createRuntime",
            h.create_runtime().as_deref().unwrap_or_default(),
            &st,
        )
    };
    let cfg = InitConfig {
        id,
        kind: InitKind::Create { state_dir },
        spec,
        process,
        rootfs: &bundle.rootfs,
        bundle: &bundle.path,
        plan: &plan,
        seccomp: seccomp.as_ref(),
        caps,
        last_cap,
        console_socket,
        preserve_fds: opts.preserve_fds,
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        cgroup_mounts,
        sigmask: launch.sigmask,
        cgroup_join: cgroup_join.as_ref(),
        close_after_fork: vec![lock.raw_fd()],
        stdio: launch.stdio,
        die_with_parent: launch.die_with_parent,
    };
    let created = crate::time::rfc3339_nano(SystemTime::now());
    // The state is written while the init mounts its root (a failed create removes the
    // whole directory); the pid file only once the init is ready.
    let save = |pid: i32| -> Result<()> {
        let start_time = state::read_stat(pid).map(|(_, t)| t).unwrap_or(0);
        let saved = SavedState {
            id: id.to_string(),
            pid,
            pid_start_time: start_time,
            bundle: bundle.path.clone(),
            rootfs: bundle.rootfs.clone(),
            created: created.clone(),
            annotations: state::annotations(spec),
            cgroup: manager.clone(),
            spec: spec.clone(),
        };
        store.save(&saved)
    };
    let ready = |spawned: &spawn::Spawned| -> Result<()> {
        match &opts.pid_file {
            Some(p) => write_pid_file(p, spawned.pid),
            None => Ok(()),
        }
    };
    let parent = ParentSide {
        uid_mappings: linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default(),
        gid_mappings: linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default(),
        create_runtime_hooks: &create_runtime_hooks,
        on_spawned: &save,
        on_ready: &ready,
        on_seccomp_listener: &|pid, fd| {
            seccomp_listener(spec, id, "creating", pid, &bundle.path, fd)
        },
    };
    let spawned = spawn::spawn(&cfg, &parent)?;
    Ok(Created {
        pid: spawned.pid,
        console: spawned.console,
    })
}

/// Makes `exec.fifo` in the container's state directory and returns the
/// directory as an `O_PATH` descriptor for the init to open the fifo in.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let fifo = dir.join(EXEC_FIFO);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &fifo,
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o622),
        0,
    )
    .map_err(|e| ContainerError::io("create exec fifo", &fifo, e.into()))?;
    let _ = std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o622));
    rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ContainerError::io("open", dir, e.into()))
}

/// The signal mask of the calling thread (blocked signals are restored in the
/// container's process before it execs).
fn current_sigmask() -> berth_sys::signal::SignalMask {
    // Blocking everything and putting the old mask back reads it atomically.
    match berth_sys::signal::block_all() {
        Ok(old) => {
            let _ = berth_sys::signal::set_mask(&old);
            old
        }
        Err(_) => berth_sys::signal::SignalMask::empty(),
    }
}

/// The status of a saved container, derived from its live process.
pub fn status_of(store: &Store, s: &SavedState) -> Status {
    if !state::process_alive(s.pid, s.pid_start_time) {
        return Status::Stopped;
    }
    if store.dir(&s.id).join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    if let Some(cg) = &s.cgroup {
        if cg
            .state()
            .is_ok_and(|st| st == berth_cgroups::FreezerState::Frozen)
        {
            return Status::Paused;
        }
    }
    Status::Running
}

fn owner_of(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(dir) else {
        return String::new();
    };
    let uid = meta.uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}

fn report(store: &Store, s: &SavedState) -> StateReport {
    let status = status_of(store, s);
    StateReport {
        oci_version: s.spec.version().clone(),
        id: s.id.clone(),
        pid: if status == Status::Stopped { 0 } else { s.pid },
        status,
        bundle: s.bundle.clone(),
        rootfs: s.rootfs.clone(),
        created: s.created.clone(),
        owner: owner_of(&store.dir(&s.id)),
        annotations: s.annotations.clone(),
    }
}

/// `state`.
pub fn state(store: &Store, id: &str) -> Result<StateReport> {
    let s = store.load(id)?;
    Ok(report(store, &s))
}

/// `list`.
pub fn list(store: &Store) -> Result<Vec<StateReport>> {
    let mut out = Vec::new();
    for id in store.ids()? {
        if let Ok(s) = store.load(&id) {
            out.push(report(store, &s));
        }
    }
    Ok(out)
}

fn pidfd_of(s: &SavedState) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(s.pid)?;
    let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
    // The pid may have been recycled between our check and the open: check again.
    state::process_alive(s.pid, s.pid_start_time).then_some(fd)
}

/// Waits until the process behind `pidfd` has exited.
fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> bool {
    let mut fds = [rustix::event::PollFd::new(
        pidfd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::time::Timespec {
        tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(timeout.subsec_nanos()),
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(n) => return n > 0,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return false,
        }
    }
}

/// `start`: releases a created container's process.
pub fn start(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let s = store.load(id)?;
    match status_of(store, &s) {
        Status::Created => {}
        Status::Stopped => {
            return Err(ContainerError::WrongState(
                "cannot start a container that has stopped".into(),
            ))
        }
        _ => {
            return Err(ContainerError::WrongState(
                "cannot start an already running container".into(),
            ))
        }
    }
    // Take the pidfd before opening the fifo: opening it releases the init,
    // which may exec and exit at once.
    let pidfd = pidfd_of(&s).ok_or_else(|| {
        ContainerError::WrongState("cannot start a container that has stopped".into())
    })?;
    let fifo_path = store.dir(id).join(EXEC_FIFO);
    let fifo = rustix::fs::open(
        &fifo_path,
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ContainerError::io("open", &fifo_path, e.into()))?;
    loop {
        let mut fds = [
            rustix::event::PollFd::new(&fifo, rustix::event::PollFlags::IN),
            rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(ContainerError::sys("poll exec fifo", e.into())),
            Ok(_) => {}
        }
        let mut b = [0u8; 1];
        match rustix::io::read(&fifo, &mut b) {
            Ok(1) => break,
            Ok(_) | Err(rustix::io::Errno::AGAIN) => {
                if !fds[1].revents().is_empty() {
                    return Err(ContainerError::WrongState(
                        "container init exited before it was started".into(),
                    ));
                }
                // No writer yet (or a spurious wakeup): the init is about to open the fifo.
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(ContainerError::io("read", &fifo_path, e.into())),
        }
    }
    let _ = std::fs::remove_file(&fifo_path);
    poststart(id, s.pid, &s.bundle, &s.spec, || {
        let _ = berth_sys::process::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
    })
}

/// Runs the poststart hooks of a started container; if one fails the
/// container is killed, as runc does.
fn poststart(id: &str, pid: i32, bundle: &Path, spec: &Spec, kill: impl FnOnce()) -> Result<()> {
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()) {
        let bundle = bundle.to_string_lossy();
        let st = HookState::new(id, "running", pid, &bundle, spec);
        if let Err(e) = hooks::run("poststart", h, &st) {
            kill();
            return Err(e);
        }
    }
    Ok(())
}

/// `create` then start in one process: the init is released when its state
/// is saved (no exec.fifo), then the poststart hooks run.
fn create_and_start(
    store: &Store,
    bundle: &Bundle,
    opts: &CreateOptions,
    foreground: bool,
    launch: &Launch<'_>,
) -> Result<Created> {
    let created = create_with(store, bundle, opts, foreground, StartBy::Saved, launch)?;
    // The init is our child and not yet reaped: its pid cannot be reused.
    let kill = || {
        if let Some(p) = rustix::process::Pid::from_raw(created.pid) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    };
    if let Err(e) = poststart(&opts.id, created.pid, &bundle.path, &bundle.spec, kill) {
        let _ = delete(store, &opts.id, true);
        return Err(e);
    }
    Ok(created)
}

/// `run`: create, start, and (unless `detach`) wait for the process and
/// delete the container (unless `keep`). Returns the process's exit code.
pub fn run(
    store: &Store,
    bundle: &Bundle,
    opts: &CreateOptions,
    detach: bool,
    keep: bool,
) -> Result<i32> {
    if detach {
        let launch = Launch::inherit(current_sigmask());
        let created = create_and_start(store, bundle, opts, false, &launch)?;
        drop(created.console);
        return Ok(0);
    }
    let old =
        berth_sys::signal::block_all().map_err(|e| ContainerError::sys("block signals", e))?;
    let result = (|| {
        // The container starts with the mask we had before blocking everything.
        let launch = Launch::inherit(old);
        let created = create_and_start(store, bundle, opts, true, &launch)?;
        let code = crate::foreground::wait_foreground(created.pid, created.console)?;
        if !keep {
            delete(store, &opts.id, true)?;
        }
        Ok(code)
    })();
    let _ = berth_sys::signal::set_mask(&old);
    result
}

/// `run` for a supervisor (the shim): creates and starts the container with
/// the given stdio and returns at once; the caller is the init's parent and
/// reaps it. A terminal's master side comes back in [`Created::console`]
/// unless `opts.console_socket` takes it.
pub fn start_supervised(
    store: &Store,
    bundle: &Bundle,
    opts: &CreateOptions,
    sup: &Supervision<'_>,
) -> Result<Created> {
    create_and_start(store, bundle, opts, true, &Launch::supervised(sup))
}

/// `kill`: signals the init, or with `all` every process of the container.
pub fn kill(store: &Store, id: &str, sig: i32, all: bool) -> Result<()> {
    let _lock = store.lock(id)?;
    let s = store.load(id)?;
    if status_of(store, &s) == Status::Stopped && !all {
        return Err(ContainerError::WrongState("container not running".into()));
    }
    if all {
        if let Some(cg) = &s.cgroup {
            return Ok(cg.kill_all(sig)?);
        }
    }
    let pidfd =
        pidfd_of(&s).ok_or_else(|| ContainerError::WrongState("container not running".into()))?;
    berth_sys::process::pidfd_send_signal(pidfd.as_fd(), sig)
        .map_err(|e| ContainerError::sys("kill", e))
}

/// `delete`: removes a stopped (or, with `force`, any) container.
pub fn delete(store: &Store, id: &str, force: bool) -> Result<()> {
    let _lock = store.lock(id)?;
    let s = match store.load(id) {
        Ok(s) => s,
        // A directory without state: a create that died half-way. Nothing runs.
        Err(ContainerError::NotFound(_)) | Err(ContainerError::CorruptState { .. }) => {
            return store.remove(id)
        }
        Err(e) => return Err(e),
    };
    let status = status_of(store, &s);
    match status {
        Status::Stopped => {}
        Status::Created => stop_init(&s)?,
        Status::Running | Status::Paused | Status::Creating => {
            if !force {
                return Err(ContainerError::WrongState(format!(
                    "cannot delete container {id} that is not stopped: {status}"
                )));
            }
            stop_init(&s)?;
        }
    }
    destroy(store, &s)
}

/// Kills every process of the container and waits for the init to exit.
fn stop_init(s: &SavedState) -> Result<()> {
    let pidfd = pidfd_of(s);
    if let Some(cg) = &s.cgroup {
        let _ = cg.kill_all(libc::SIGKILL);
        let _ = cg.thaw();
    }
    if let Some(fd) = &pidfd {
        let _ = berth_sys::process::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
        if !wait_exit(fd, Duration::from_secs(10)) {
            return Err(ContainerError::WrongState(format!(
                "container init {} did not exit after SIGKILL",
                s.pid
            )));
        }
    }
    Ok(())
}

fn destroy(store: &Store, s: &SavedState) -> Result<()> {
    let mut first_err = None;
    if let Some(cg) = &s.cgroup {
        if let Err(e) = cg.destroy() {
            first_err = Some(ContainerError::from(e));
        }
    }
    if let Some(h) = s.spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()) {
        let bundle = s.bundle.to_string_lossy();
        let st = HookState::new(&s.id, "stopped", 0, &bundle, &s.spec);
        // Poststop failures are logged, not fatal (runtime spec).
        if let Err(e) = hooks::run("poststop", h, &st) {
            eprintln!("warning: {e}");
        }
    }
    store.remove(&s.id)?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `ps`: the pids of the container's processes.
pub fn pids(store: &Store, id: &str) -> Result<Vec<i32>> {
    let s = store.load(id)?;
    match &s.cgroup {
        Some(cg) => Ok(cg.pids()?),
        None => Ok(if state::process_alive(s.pid, s.pid_start_time) {
            vec![s.pid]
        } else {
            vec![]
        }),
    }
}

/// `pause`.
pub fn pause(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let s = store.load(id)?;
    match status_of(store, &s) {
        Status::Running | Status::Created => {}
        _ => return Err(ContainerError::WrongState("container not running".into())),
    }
    let cg = s
        .cgroup
        .as_ref()
        .ok_or_else(|| ContainerError::Unsupported("container has no cgroup to freeze".into()))?;
    Ok(cg.freeze()?)
}

/// `resume`.
pub fn resume(store: &Store, id: &str) -> Result<()> {
    let _lock = store.lock(id)?;
    let s = store.load(id)?;
    if status_of(store, &s) != Status::Paused {
        return Err(ContainerError::WrongState("container not paused".into()));
    }
    let cg = s
        .cgroup
        .as_ref()
        .ok_or_else(|| ContainerError::Unsupported("container has no cgroup to thaw".into()))?;
    Ok(cg.thaw()?)
}

/// Loads a container's saved state (for callers such as `exec` option merging).
pub fn load(store: &Store, id: &str) -> Result<SavedState> {
    store.load(id)
}

/// `exec`: runs a new process in a running container. Returns its exit code
/// (or 0 with `detach`).
pub fn exec(store: &Store, opts: &ExecOptions) -> Result<i32> {
    let terminal = opts.process.terminal().unwrap_or(false);
    if terminal && opts.detach && opts.console_socket.is_none() {
        return Err(ContainerError::InvalidConfig(
            "cannot allocate tty if berth-runtime will detach without setting console socket"
                .into(),
        ));
    }
    if opts.detach {
        exec_spawn(store, opts, &Launch::inherit(current_sigmask()))?;
        return Ok(0);
    }
    let old =
        berth_sys::signal::block_all().map_err(|e| ContainerError::sys("block signals", e))?;
    let result = exec_spawn(store, opts, &Launch::inherit(old))
        .and_then(|spawned| crate::foreground::wait_foreground(spawned.pid, spawned.console));
    let _ = berth_sys::signal::set_mask(&old);
    result
}

/// `exec` for a supervisor (the shim): starts the process with the given
/// stdio and returns at once (`opts.detach` is not used); the caller is its
/// parent and reaps it. A terminal's master side comes back in
/// [`Created::console`] unless `opts.console_socket` takes it.
pub fn exec_supervised(
    store: &Store,
    opts: &ExecOptions,
    sup: &Supervision<'_>,
) -> Result<Created> {
    let spawned = exec_spawn(store, opts, &Launch::supervised(sup))?;
    Ok(Created {
        pid: spawned.pid,
        console: spawned.console,
    })
}

/// Starts an `exec` process: joins the container's namespaces and cgroup.
fn exec_spawn(store: &Store, opts: &ExecOptions, launch: &Launch<'_>) -> Result<spawn::Spawned> {
    let s = store.load(&opts.id)?;
    match status_of(store, &s) {
        Status::Running | Status::Created => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => {
            return Err(ContainerError::WrongState(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        _ => {
            return Err(ContainerError::WrongState(
                "cannot exec in a stopped container".into(),
            ))
        }
    }
    let mut join = Vec::new();
    for ns in linux_namespaces(&s.spec) {
        let t = ns.typ();
        join.push((
            t,
            PathBuf::from(format!(
                "/proc/{}/ns/{}",
                s.pid,
                crate::namespaces::proc_name(t)
            )),
        ));
    }
    let plan = NamespacePlan::from_spec(
        &join
            .iter()
            .map(|(t, p)| {
                oci_spec::runtime::LinuxNamespaceBuilder::default()
                    .typ(*t)
                    .path(p.clone())
                    .build()
                    .map_err(|e| ContainerError::InvalidConfig(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?,
    )?;
    let seccomp = compile_seccomp(store, &s.spec)?;
    let last_cap = capabilities::last_cap();
    let caps = cap_masks(&opts.process, last_cap)?;
    let console_socket = connect_console(&opts.console_socket)?;
    let cgroup = match &s.cgroup {
        Some(cg) if !opts.sub_cgroups.is_empty() => Some(cg.sub_cgroup(&opts.sub_cgroups)?),
        Some(cg) => Some(cg.clone()),
        None if !opts.sub_cgroups.is_empty() => {
            return Err(ContainerError::Unsupported(
                "exec --cgroup: the container has no cgroup".into(),
            ))
        }
        None => None,
    };
    let cgroup_join = cgroup
        .as_ref()
        .map(berth_cgroups::Manager::join_handles)
        .transpose()?;
    let no_hooks = |_pid: i32| Ok(());
    let cfg = InitConfig {
        id: &opts.id,
        kind: InitKind::Exec,
        spec: &s.spec,
        process: &opts.process,
        rootfs: &s.rootfs,
        bundle: &s.bundle,
        plan: &plan,
        seccomp: seccomp.as_ref(),
        caps,
        last_cap,
        console_socket,
        preserve_fds: opts.preserve_fds,
        no_pivot: false,
        no_new_keyring: true,
        cgroup_mounts: Vec::new(),
        sigmask: launch.sigmask,
        cgroup_join: cgroup_join.as_ref(),
        close_after_fork: Vec::new(),
        stdio: launch.stdio,
        die_with_parent: launch.die_with_parent,
    };
    let record = |spawned: &spawn::Spawned| -> Result<()> {
        match &opts.pid_file {
            Some(p) => write_pid_file(p, spawned.pid),
            None => Ok(()),
        }
    };
    let parent = ParentSide {
        uid_mappings: &[],
        gid_mappings: &[],
        create_runtime_hooks: &no_hooks,
        on_spawned: &|_| Ok(()),
        on_ready: &record,
        on_seccomp_listener: &|pid, fd| {
            seccomp_listener(&s.spec, &opts.id, "running", pid, &s.bundle, fd)
        },
    };
    spawn::spawn(&cfg, &parent)
}

fn running_cgroup(store: &Store, id: &str) -> Result<(SavedState, berth_cgroups::Manager)> {
    let s = store.load(id)?;
    if status_of(store, &s) == Status::Stopped {
        return Err(ContainerError::WrongState("container not running".into()));
    }
    let cg = s
        .cgroup
        .clone()
        .ok_or_else(|| ContainerError::Unsupported("container has no cgroup".into()))?;
    Ok((s, cg))
}

/// `update`: applies new resource limits to a running container.
pub fn update(
    store: &Store,
    id: &str,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let _lock = store.lock(id)?;
    let (_, cg) = running_cgroup(store, id)?;
    Ok(cg.apply(resources)?)
}

/// `events --stats`: the container's resource usage, read from its cgroup.
pub fn stats(store: &Store, id: &str) -> Result<berth_cgroups::Stats> {
    let (_, cg) = running_cgroup(store, id)?;
    Ok(cg.stats()?)
}

/// `events`: a subscription to the OOM kills of a running container.
pub fn watch_oom(store: &Store, id: &str) -> Result<berth_cgroups::OomWatch> {
    let (_, cg) = running_cgroup(store, id)?;
    Ok(cg.watch_oom()?)
}
