//! The child side of container creation: the init process (and, when
//! namespaces must be joined first, the short-lived stage one that creates it).
//!
//! These functions run in a forked copy of the single-threaded runtime, so
//! ordinary Rust (allocation included) is fine. Each step reports failure back
//! over the sync channel, and the init ends by exec'ing the container's program.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, PosixRlimitType, Process, Spec};
use rustix::fs::{Mode, OFlags};
use rustix::process::{Gid, Resource, Rlimit, Uid};
use rustix::thread::LinkNameSpaceType;

use crate::capabilities::{self, CapMasks};
use crate::channel::{Channel, Msg};
use crate::mount_plan::RootfsInputs;
use crate::namespaces::NamespacePlan;
use crate::rootfs::{self, CgroupMount, InitError, InitResult};

/// Whether the init builds a new container or joins a running one.
#[derive(Debug)]
pub(crate) enum InitKind {
    /// `create`: set up the rootfs, then wait on `exec.fifo` in the state
    /// directory (held open as an `O_PATH` descriptor) before exec'ing; with
    /// no directory (`run`, which starts the container itself) the parent's
    /// `Saved` is the start signal and no fifo exists.
    Create { state_dir: Option<OwnedFd> },
    /// `exec`: the namespaces (mount included) are joined; exec right away.
    Exec,
}

/// Everything the init needs, computed by the parent before the fork.
#[derive(Debug)]
pub(crate) struct InitConfig<'a> {
    pub id: &'a str,
    pub kind: InitKind,
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub plan: &'a NamespacePlan,
    pub seccomp: Option<&'a berth_seccomp::Program>,
    pub caps: Option<CapMasks>,
    pub last_cap: u32,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup_mounts: Vec<CgroupMount>,
    pub sigmask: berth_sys::signal::SignalMask,
    /// How the init joins its cgroup (it moves itself; see berth-cgroups' join.rs).
    pub cgroup_join: Option<&'a berth_cgroups::JoinHandles>,
    /// Descriptors of the parent (its state lock) that the children must close.
    pub close_after_fork: Vec<std::os::fd::RawFd>,
    /// The process's stdin, stdout and stderr when the caller gives them (the shim's pipes);
    /// `None` inherits the caller's. A terminal replaces them either way.
    pub stdio: Option<[std::os::fd::BorrowedFd<'a>; 3]>,
    /// Keep the parent-death signal (SIGKILL) after setup: the process dies with the
    /// process that started it (the shim), instead of outliving it (`berth-runtime`).
    pub die_with_parent: bool,
}

trait Ctx<T> {
    fn ctx(self, what: &str) -> InitResult<T>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> InitResult<T> {
        self.map_err(|e| InitError::new(what, e))
    }
}

fn link_type(t: LinuxNamespaceType) -> LinkNameSpaceType {
    match t {
        LinuxNamespaceType::Mount => LinkNameSpaceType::Mount,
        LinuxNamespaceType::Cgroup => LinkNameSpaceType::ControlGroup,
        LinuxNamespaceType::Uts => LinkNameSpaceType::HostNameAndNISDomainName,
        LinuxNamespaceType::Ipc => LinkNameSpaceType::InterProcessCommunication,
        LinuxNamespaceType::User => LinkNameSpaceType::User,
        LinuxNamespaceType::Pid => LinkNameSpaceType::ProcessID,
        LinuxNamespaceType::Network => LinkNameSpaceType::Network,
        LinuxNamespaceType::Time => LinkNameSpaceType::Time,
    }
}

fn fail(chan: &Channel, e: InitError) -> ! {
    let _ = chan.send(&Msg::Error(e.0));
    berth_sys::process::exit_immediately(1)
}

/// Stage one: join the namespaces given by path, create the user namespace
/// (the parent writes its id maps), unshare the rest, then fork the init as a
/// sibling (`CLONE_PARENT`) so that the runtime can wait for it.
/// Asks the parent for this process's user-namespace id maps and waits for
/// them. The process is dumpable meanwhile: a non-root parent can write the
/// /proc files of a non-dumpable child no more than any other (runc toggles
/// it the same way).
fn request_id_maps(chan: &Channel) -> InitResult {
    use rustix::process::{set_dumpable_behavior, DumpableBehavior};
    set_dumpable_behavior(DumpableBehavior::Dumpable).ctx("prctl(PR_SET_DUMPABLE, 1)")?;
    chan.send(&Msg::NeedIdMaps)
        .map_err(|e| InitError(e.to_string()))?;
    chan.expect(&Msg::IdMapsDone)
        .map_err(|e| InitError(e.to_string()))?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable).ctx("prctl(PR_SET_DUMPABLE, 0)")
}

pub(crate) fn stage_one(cfg: &InitConfig<'_>, chan: &Channel) -> ! {
    match stage_one_steps(cfg, chan) {
        Ok(never) => match never {},
        Err(e) => fail(chan, e),
    }
}

fn stage_one_steps(cfg: &InitConfig<'_>, chan: &Channel) -> InitResult<Infallible> {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    for (t, path) in &cfg.plan.join {
        let f = std::fs::File::open(path).ctx(&format!("open namespace {}", path.display()))?;
        rustix::thread::move_into_link_name_space(f.as_fd(), Some(link_type(*t))).ctx(&format!(
            "join {} namespace {}",
            crate::namespaces::proc_name(*t),
            path.display()
        ))?;
    }
    if cfg.plan.isolates(LinuxNamespaceType::User) {
        if cfg.plan.creates(LinuxNamespaceType::User) {
            berth_sys::ns::unshare_namespaces(libc::CLONE_NEWUSER).ctx("create user namespace")?;
            request_id_maps(chan)?;
        }
        become_root()?;
    }
    let flags = cfg.plan.clone_flags() & !libc::CLONE_NEWUSER;
    if flags != 0 {
        berth_sys::ns::unshare_namespaces(flags).ctx("create namespaces")?;
    }
    // A new time namespace takes its offsets before any process enters it; `exec` joins the
    // container's, whose offsets are set already (and can no longer be written).
    let offsets = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
        .filter(|_| cfg.plan.creates(LinuxNamespaceType::Time));
    if let Some(offsets) = offsets {
        let mut text = String::new();
        for (clock, off) in offsets {
            text.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        if !text.is_empty() {
            std::fs::write("/proc/self/timens_offsets", text)
                .ctx("write time namespace offsets")?;
        }
    }
    match fork_init(cfg, libc::CLONE_PARENT as libc::c_ulong).ctx("clone init")? {
        (berth_sys::process::CloneResult::Child, in_v2) => container_init(cfg, chan, in_v2),
        (berth_sys::process::CloneResult::Parent(pid), _) => {
            chan.send(&Msg::InitPid(pid))
                .map_err(|e| InitError(e.to_string()))?;
            berth_sys::process::exit_immediately(0)
        }
    }
}

fn become_root() -> InitResult {
    rustix::thread::set_thread_res_gid(Gid::ROOT, Gid::ROOT, Gid::ROOT)
        .ctx("setresgid(0) in the user namespace")?;
    rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT)
        .ctx("setresuid(0) in the user namespace")
}

/// Forks the init: straight into its cgroup v2 directory when the kernel
/// can (`clone3`), else with a plain `clone`. Returns whether the child
/// already sits in its v2 cgroup.
pub(crate) fn fork_init(
    cfg: &InitConfig<'_>,
    flags: libc::c_ulong,
) -> std::io::Result<(berth_sys::process::CloneResult, bool)> {
    if let Some(dir) = cfg.cgroup_join.and_then(|j| j.v2_dir()) {
        // SAFETY: called from the single-threaded runtime or its single-threaded child.
        match unsafe { berth_sys::process::clone_into_cgroup(flags, dir) } {
            Ok(r) => return Ok((r, true)),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS) | Some(libc::E2BIG) | Some(libc::EINVAL)
                ) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: as above.
    unsafe { berth_sys::process::clone_process(flags) }.map(|r| (r, false))
}

/// The container's init: builds the container, waits to be started, execs.
/// `in_v2` tells whether it was created inside its cgroup v2 directory.
pub(crate) fn container_init(cfg: &InitConfig<'_>, chan: &Channel, in_v2: bool) -> ! {
    if let Some(join) = cfg.cgroup_join {
        if let Err(e) = join.join_self(in_v2) {
            fail(chan, InitError::new("join the container's cgroup", e));
        }
    }
    match init_steps(cfg, chan) {
        Ok(never) => match never {},
        Err(e) => fail(chan, e),
    }
}

fn init_steps(cfg: &InitConfig<'_>, chan: &Channel) -> InitResult<Infallible> {
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if let Some(fds) = cfg.stdio {
        set_stdio(fds)?;
    }
    if cfg.plan.creates(LinuxNamespaceType::User) && !cfg.plan.needs_two_stages() {
        // The clone made the user namespace: its id maps come first.
        request_id_maps(chan)?;
    }
    chan.expect(&Msg::Go)
        .map_err(|e| InitError(e.to_string()))?;
    if cfg.plan.isolates(LinuxNamespaceType::User) {
        become_root()?;
    }
    if matches!(cfg.kind, InitKind::Create { .. }) && cfg.plan.creates(LinuxNamespaceType::Cgroup) {
        berth_sys::ns::unshare_namespaces(libc::CLONE_NEWCGROUP).ctx("create cgroup namespace")?;
    }
    rustix::process::setsid().ctx("setsid")?;
    match &cfg.kind {
        InitKind::Create { .. } => build_container(cfg, chan)?,
        InitKind::Exec => {
            if cfg.process.terminal().unwrap_or(false) {
                setup_terminal(cfg, chan, false)?;
            }
        }
    }
    let process = cfg.process;
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).ctx("set oom_score_adj")?;
    }
    for rl in process.rlimits().iter().flatten() {
        let lim = Rlimit {
            current: (rl.soft() != u64::MAX).then_some(rl.soft()),
            maximum: (rl.hard() != u64::MAX).then_some(rl.hard()),
        };
        rustix::process::setrlimit(rlimit_resource(rl.typ()), lim)
            .ctx(&format!("set rlimit {:?}", rl.typ()))?;
    }
    if let Some(p) = cfg
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.personality().as_ref())
    {
        let persona = match p.domain() {
            oci_spec::runtime::LinuxPersonalityDomain::PerLinux32 => 0x0008,
            _ => 0,
        };
        berth_sys::process::set_personality(persona).ctx("set personality")?;
    }
    if matches!(cfg.kind, InitKind::Create { .. }) && !cfg.no_new_keyring {
        let name = CString::new(format!("_ses.{}", cfg.id)).unwrap_or_default();
        match berth_sys::keyring::join_new_session_keyring(&name) {
            Ok(()) => {}
            // Keyrings may be unavailable (or not namespaced) here; runc ignores that too.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOSYS)
                        | Some(libc::EACCES)
                        | Some(libc::EPERM)
                        | Some(libc::EDQUOT)
                ) => {}
            Err(e) => return Err(InitError::new("join session keyring", e)),
        }
    }
    let nnp = process.no_new_privileges().unwrap_or(false);
    if nnp {
        rustix::thread::set_no_new_privs(true).ctx("set no_new_privs")?;
    }
    let env = environment(process);
    let args: Vec<CString> = process
        .args()
        .iter()
        .flatten()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let arg0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let exe = lookup_executable(&arg0, &env)?;
    let env_c: Vec<CString> = env
        .iter()
        .map(|e| CString::new(e.as_bytes()).unwrap_or_default())
        .collect();
    // No descriptor but stdio and the preserved ones survives the exec. Marked before a filter
    // is loaded: a profile need not allow close_range (older Docker profiles do not).
    berth_sys::fd::cloexec_from(3 + cfg.preserve_fds).ctx("mark descriptors close-on-exec")?;
    if let (Some(prog), false) = (cfg.seccomp, nnp) {
        // Without no_new_privs the filter needs CAP_SYS_ADMIN: load it before dropping it.
        install_seccomp(prog, chan)?;
    }
    finalize_process(cfg)?;
    // A listener must reach the parent while it still listens (before Ready).
    let late_seccomp = match cfg.seccomp {
        Some(prog) if nnp && prog.wants_listener() => {
            install_seccomp(prog, chan)?;
            None
        }
        Some(prog) if nnp => Some(prog),
        _ => None,
    };
    // From here on the init outlives the runtime (create returns): stop
    // dying with it, then wait until the runtime has recorded us. If the
    // runtime died before that, nobody knows this init: exit quietly.
    if !cfg.die_with_parent {
        let _ = rustix::process::set_parent_process_death_signal(None);
    }
    chan.send(&Msg::Ready)
        .map_err(|e| InitError(e.to_string()))?;
    match chan.recv() {
        Ok(Some((Msg::Saved, _))) => {}
        _ => berth_sys::process::exit_immediately(1),
    }
    if let InitKind::Create { state_dir } = &cfg.kind {
        if let Some(dir) = state_dir {
            wait_for_start(dir)?;
        }
        // runc 1.1.5 reports "created" to startContainer hooks: the process has not started.
        container_hooks(cfg, "startContainer", "created", &env, |h| {
            h.start_container().as_ref()
        })?;
    }
    if let Some(prog) = late_seccomp {
        // As late as possible, so that the profile need not allow the runtime's own syscalls.
        prog.install().ctx("load seccomp filter")?;
    }
    let umask = process.user().umask().unwrap_or(0o022);
    rustix::process::umask(Mode::from_raw_mode(umask & 0o777));
    berth_sys::signal::reset_dispositions();
    let _ = berth_sys::signal::set_mask(&cfg.sigmask);
    let err = berth_sys::process::execve(&exe, &args, &env_c);
    Err(InitError(format!("exec {:?}: {err}", arg0)))
}

/// Makes the caller's descriptors this process's stdin, stdout and stderr
/// (the copies are not close-on-exec; the originals are, and close at exec).
/// The caller keeps its own 0, 1 and 2 open, so none of `fds` is one of them.
fn set_stdio([i, o, e]: [std::os::fd::BorrowedFd<'_>; 3]) -> InitResult {
    rustix::stdio::dup2_stdin(i).ctx("set stdin")?;
    rustix::stdio::dup2_stdout(o).ctx("set stdout")?;
    rustix::stdio::dup2_stderr(e).ctx("set stderr")
}

/// The container side of `create`: mounts, devices, pivot_root, hostname,
/// terminal, sysctls, masked and read-only paths.
fn build_container(cfg: &InitConfig<'_>, chan: &Channel) -> InitResult {
    let linux = cfg.spec.linux().as_ref();
    let mounts = cfg.spec.mounts().as_deref().unwrap_or_default();
    let propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(crate::mount_options::root_propagation)
        .unwrap_or(libc::MS_SLAVE | libc::MS_REC);
    let devices = linux
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    let inputs = RootfsInputs {
        bundle: cfg.bundle,
        mounts,
        devices,
        in_userns: cfg.plan.isolates(LinuxNamespaceType::User),
        new_netns: cfg.plan.isolates(LinuxNamespaceType::Network),
        new_cgroupns: cfg.plan.creates(LinuxNamespaceType::Cgroup),
        cgroup_mounts: &cfg.cgroup_mounts,
    };
    let plan = crate::mount_plan::plan(&inputs).map_err(|e| InitError(e.to_string()))?;
    // In a mount namespace of its own, new or joined by path, the init makes the rootfs a
    // mount point to pivot into. Without one it shares its caller's mounts: their propagation
    // stays as it is (runc would make the caller's / a slave), the init only chroots, and the
    // rootfs is bound onto itself (as runc does) only when it must be remounted read-only.
    let mount_ns = cfg.plan.isolates(LinuxNamespaceType::Mount);
    let readonly_root = cfg
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if mount_ns {
        rootfs::prepare_root(cfg.rootfs, propagation | libc::MS_REC)?;
    } else if readonly_root {
        rootfs::bind_rootfs(cfg.rootfs)?;
    }
    let root = rootfs::open_root(cfg.rootfs)?;
    rootfs::mount_all(&plan, root.as_fd())?;
    if let Some(dev) = &plan.dev {
        rootfs::setup_dev(dev, root.as_fd())?;
    }
    drop(root);
    // The runtime's prestart/createRuntime hooks run now, in its namespaces; without any,
    // skip the round trip.
    let runtime_hooks = cfg.spec.hooks().as_ref().is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if runtime_hooks {
        chan.send(&Msg::RunCreateRuntimeHooks)
            .map_err(|e| InitError(e.to_string()))?;
        chan.expect(&Msg::HooksDone)
            .map_err(|e| InitError(e.to_string()))?;
    }
    if cfg
        .spec
        .hooks()
        .as_ref()
        .is_some_and(|h| h.create_container().is_some())
    {
        // runc's init holds the process's environment by now, HOME not yet filled in.
        let env = merge_env(cfg.process.env().as_deref().unwrap_or_default());
        container_hooks(cfg, "createContainer", "creating", &env, |h| {
            h.create_container().as_ref()
        })?;
    }
    rootfs::enter_root(cfg.rootfs, cfg.no_pivot, mount_ns)?;
    if let Some(h) = cfg.spec.hostname().as_ref().filter(|h| !h.is_empty()) {
        rustix::system::sethostname(h.as_bytes()).ctx("sethostname")?;
    }
    if let Some(d) = cfg.spec.domainname().as_ref().filter(|h| !h.is_empty()) {
        rustix::system::setdomainname(d.as_bytes()).ctx("setdomainname")?;
    }
    if cfg.process.terminal().unwrap_or(false) {
        setup_terminal(cfg, chan, true)?;
    }
    if let Some(sysctl) = linux.and_then(|l| l.sysctl().as_ref()) {
        rootfs::write_sysctls(sysctl.iter())?;
    }
    if let Some(paths) = linux.and_then(|l| l.readonly_paths().as_ref()) {
        rootfs::readonly_paths(paths)?;
    }
    if let Some(paths) = linux.and_then(|l| l.masked_paths().as_ref()) {
        rootfs::mask_paths(paths)?;
    }
    if readonly_root {
        rootfs::readonly_root()?;
    }
    Ok(())
}

/// Runs the hooks that execute in the container's namespaces (the init is pid 1 there).
fn container_hooks(
    cfg: &InitConfig<'_>,
    kind: &str,
    status: &str,
    env: &[String],
    pick: impl Fn(&oci_spec::runtime::Hooks) -> Option<&Vec<oci_spec::runtime::Hook>>,
) -> InitResult {
    let Some(hooks) = cfg.spec.hooks().as_ref().and_then(pick) else {
        return Ok(());
    };
    let bundle = cfg.bundle.to_string_lossy();
    let state = crate::hooks::HookState::new(cfg.id, status, 1, &bundle, cfg.spec);
    crate::hooks::run_in_container(kind, hooks, &state, env).map_err(|e| InitError(e.to_string()))
}

/// Allocates the container's terminal and hands its master side over: to the
/// `--console-socket` peer if there is one, else back to the runtime.
fn setup_terminal(cfg: &InitConfig<'_>, chan: &Channel, console: bool) -> InitResult {
    let size = cfg.process.console_size().as_ref().map(|b| {
        (
            u16::try_from(b.height()).unwrap_or(u16::MAX),
            u16::try_from(b.width()).unwrap_or(u16::MAX),
        )
    });
    let pty = crate::terminal::open_pty(size).ctx("allocate terminal")?;
    if console {
        rootfs::setup_console(&pty.slave_path)?;
    }
    crate::terminal::attach_stdio(pty.slave.as_fd()).ctx("attach terminal")?;
    match &cfg.console_socket {
        Some(sock) => {
            crate::terminal::send_console(sock.as_fd(), pty.master.as_fd(), &pty.slave_path)
                .ctx("send terminal to console socket")?
        }
        None => chan
            .send_with_fd(&Msg::Console, Some(pty.master.as_fd()))
            .map_err(|e| InitError(e.to_string()))?,
    }
    Ok(())
}

/// Capabilities, user and groups, working directory.
fn finalize_process(cfg: &InitConfig<'_>) -> InitResult {
    if let Some(caps) = &cfg.caps {
        capabilities::drop_bounding(caps.bounding, cfg.last_cap)
            .ctx("drop bounding capabilities")?;
    }
    let user = cfg.process.user();
    berth_sys::caps::set_keep_caps(true).ctx("set keepcaps")?;
    let groups: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    let setgroups_allowed =
        std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny");
    if setgroups_allowed {
        rustix::thread::set_thread_groups(&groups).ctx("setgroups")?;
    }
    let gid = Gid::from_raw(user.gid());
    let uid = Uid::from_raw(user.uid());
    rustix::thread::set_thread_res_gid(gid, gid, gid).ctx(&format!("setgid {}", user.gid()))?;
    rustix::thread::set_thread_res_uid(uid, uid, uid).ctx(&format!("setuid {}", user.uid()))?;
    berth_sys::caps::set_keep_caps(false).ctx("clear keepcaps")?;
    if let Some(caps) = &cfg.caps {
        capabilities::apply(caps, cfg.last_cap).ctx("set capabilities")?;
    }
    let cwd = cfg.process.cwd();
    rustix::process::chdir(cwd).ctx(&format!("chdir to cwd ({})", cwd.display()))?;
    // CVE-2024-21626: the working directory must be inside the container.
    let real = rustix::process::getcwd(Vec::new()).ctx("getcwd")?;
    if !real.as_bytes().starts_with(b"/") {
        return Err(InitError(format!(
            "current working directory {real:?} is outside of the container"
        )));
    }
    Ok(())
}

/// Loads the filter; a user-notification listener goes to the parent, which
/// hands it to the agent at `listenerPath` before the init goes on.
fn install_seccomp(prog: &berth_seccomp::Program, chan: &Channel) -> InitResult {
    let Some(listener) = prog.install().ctx("load seccomp filter")? else {
        return Ok(());
    };
    chan.send_with_fd(&Msg::SeccompListener, Some(listener.as_fd()))
        .map_err(|e| InitError(e.to_string()))?;
    drop(listener);
    match chan.recv() {
        Ok(Some((Msg::SeccompDone, _))) => Ok(()),
        Ok(Some((Msg::Error(e), _))) => Err(InitError(e)),
        _ => Err(InitError(
            "the runtime did not hand the seccomp listener to the agent".into(),
        )),
    }
}

/// Blocks until `start` opens `exec.fifo` for reading, then signals it.
fn wait_for_start(state_dir: &OwnedFd) -> InitResult {
    let fifo = rustix::fs::openat(
        state_dir,
        crate::store::EXEC_FIFO,
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx("open exec fifo")?;
    rustix::io::write(&fifo, b"0").ctx("write exec fifo")?;
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::Cpu,
        PosixRlimitType::RlimitFsize => Resource::Fsize,
        PosixRlimitType::RlimitData => Resource::Data,
        PosixRlimitType::RlimitStack => Resource::Stack,
        PosixRlimitType::RlimitCore => Resource::Core,
        PosixRlimitType::RlimitRss => Resource::Rss,
        PosixRlimitType::RlimitNproc => Resource::Nproc,
        PosixRlimitType::RlimitNofile => Resource::Nofile,
        PosixRlimitType::RlimitMemlock => Resource::Memlock,
        PosixRlimitType::RlimitAs => Resource::As,
        PosixRlimitType::RlimitLocks => Resource::Locks,
        PosixRlimitType::RlimitSigpending => Resource::Sigpending,
        PosixRlimitType::RlimitMsgqueue => Resource::Msgqueue,
        PosixRlimitType::RlimitNice => Resource::Nice,
        PosixRlimitType::RlimitRtprio => Resource::Rtprio,
        PosixRlimitType::RlimitRttime => Resource::Rttime,
    }
}

/// `env` with each name once, holding its last value in the place of its first
/// (as runc's init builds it with setenv): `exec --env NAME=x` overrides the
/// spec's NAME.
fn merge_env(env: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for kv in env {
        let name = kv.split_once('=').map_or(kv.as_str(), |(n, _)| n);
        match out
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == name)
        {
            Some(slot) => slot.clone_from(kv),
            None => out.push(kv.clone()),
        }
    }
    out
}

/// The process environment (see [`merge_env`]), with HOME from the
/// container's /etc/passwd when the spec leaves it unset or empty (as runc does).
fn environment(p: &Process) -> Vec<String> {
    let mut env = merge_env(p.env().as_deref().unwrap_or_default());
    env.retain(|e| e != "HOME=");
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let uid = p.user().uid();
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|text| {
                text.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
                        .then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Finds the program as `execvp` would, with the container's PATH.
fn lookup_executable(arg0: &str, env: &[String]) -> InitResult<CString> {
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).unwrap_or_default();
    if arg0.contains('/') {
        use std::os::unix::fs::PermissionsExt;
        // As runc (Go's exec.LookPath): a directory or a file without an execute bit is
        // refused here, before the start, with EACCES's text.
        return match std::fs::metadata(arg0) {
            Ok(m) if !m.is_dir() && m.permissions().mode() & 0o111 != 0 => Ok(c(Path::new(arg0))),
            Ok(_) => Err(InitError(format!("exec: {arg0:?}: permission denied"))),
            Err(e) => Err(InitError(format!("exec: {arg0:?}: stat {arg0}: {e}"))),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate: PathBuf = Path::new(dir).join(arg0);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(c(&candidate));
            }
        }
    }
    Err(InitError(format!(
        "exec: {arg0:?}: executable file not found in $PATH"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn later_values_win_in_the_first_place() {
        let env = strings(&["PATH=/bin", "NAME=spec", "A=1", "NAME=exec", "B=", "A=2"]);
        assert_eq!(
            merge_env(&env),
            strings(&["PATH=/bin", "NAME=exec", "A=2", "B="])
        );
        // A prefix of a name is another name.
        let env = strings(&["NAME=1", "NAMES=2", "NAME=3"]);
        assert_eq!(merge_env(&env), strings(&["NAME=3", "NAMES=2"]));
    }
}
