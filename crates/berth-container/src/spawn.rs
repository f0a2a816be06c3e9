//! The parent side of starting a container process: fork the init (in one or
//! two stages), write its user-namespace id maps, place it in its cgroup, run
//! the createRuntime hooks when it asks, and collect its terminal and its
//! verdict over the sync channel.

use std::os::fd::OwnedFd;

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use crate::channel::{Channel, Msg};
use crate::error::{ContainerError, Result};
use crate::init::{self, InitConfig};

/// A container process that finished its setup.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub pid: i32,
    /// The terminal's master side, when the process has a terminal and no
    /// console socket took it.
    pub console: Option<OwnedFd>,
}

/// What the parent does at the sync points.
pub(crate) struct ParentSide<'a> {
    pub uid_mappings: &'a [LinuxIdMapping],
    pub gid_mappings: &'a [LinuxIdMapping],
    pub create_runtime_hooks: &'a dyn Fn(i32) -> Result<()>,
    /// Records the init (its state) as soon as its pid is known, while it sets itself up:
    /// the write overlaps the init's mounts instead of delaying its start.
    pub on_spawned: &'a dyn Fn(i32) -> Result<()>,
    /// Records the ready init (pid file) before it is let go on.
    pub on_ready: &'a dyn Fn(&Spawned) -> Result<()>,
    /// Hands the init's seccomp listener to the spec's `listenerPath`.
    pub on_seccomp_listener: &'a dyn Fn(i32, OwnedFd) -> Result<()>,
}

impl std::fmt::Debug for ParentSide<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentSide").finish_non_exhaustive()
    }
}

pub(crate) fn spawn(cfg: &InitConfig<'_>, parent: &ParentSide<'_>) -> Result<Spawned> {
    let (ours, theirs) = Channel::pair()?;
    let two_stages = cfg.plan.needs_two_stages();
    let flags = if two_stages {
        0
    } else {
        cfg.plan.clone_flags()
    };
    // The runtime is single-threaded (berth-runtime never starts threads, and
    // the library documents that it must be called so): forking is safe.
    let res = if two_stages {
        // SAFETY: single-threaded caller, see above.
        unsafe { berth_sys::process::clone_process(0) }.map(|r| (r, false))
    } else {
        init::fork_init(cfg, libc::c_ulong::try_from(flags).unwrap_or(0))
    }
    .map_err(|e| ContainerError::sys("clone", e))?;
    let first = match res {
        (berth_sys::process::CloneResult::Child, in_v2) => {
            drop(ours);
            for fd in &cfg.close_after_fork {
                // SAFETY: the child never uses or drops the parent's lock object.
                unsafe { berth_sys::fd::close_in_child(*fd) };
            }
            if two_stages {
                init::stage_one(cfg, &theirs)
            } else {
                init::container_init(cfg, &theirs, in_v2)
            }
        }
        (berth_sys::process::CloneResult::Parent(pid), _) => pid,
    };
    drop(theirs);
    let mut init_pid = None;
    let result = drive(cfg, parent, &ours, first, two_stages, &mut init_pid);
    if result.is_err() {
        for pid in [Some(first), init_pid].into_iter().flatten() {
            kill_and_reap(pid);
        }
    }
    result
}

fn drive(
    cfg: &InitConfig<'_>,
    parent: &ParentSide<'_>,
    chan: &Channel,
    first: i32,
    two_stages: bool,
    init_pid: &mut Option<i32>,
) -> Result<Spawned> {
    let new_userns = cfg.plan.creates(LinuxNamespaceType::User);
    let pid = if two_stages {
        let pid = loop {
            match chan.recv()? {
                Some((Msg::NeedIdMaps, _)) => {
                    write_id_maps(first, parent.uid_mappings, parent.gid_mappings)?;
                    chan.send(&Msg::IdMapsDone)?;
                }
                Some((Msg::InitPid(p), _)) => break p,
                Some((Msg::Error(e), _)) => return Err(ContainerError::Init(e)),
                Some((m, _)) => {
                    return Err(ContainerError::Init(format!(
                        "unexpected message {m:?} from stage one"
                    )))
                }
                None => return Err(ContainerError::Init(exit_reason(first))),
            }
        };
        *init_pid = Some(pid);
        reap(first);
        pid
    } else {
        if new_userns {
            match chan.recv()? {
                Some((Msg::NeedIdMaps, _)) => {}
                Some((Msg::Error(e), _)) => return Err(ContainerError::Init(e)),
                Some((m, _)) => {
                    return Err(ContainerError::Init(format!(
                        "unexpected message {m:?} from init, expected NeedIdMaps"
                    )))
                }
                None => return Err(ContainerError::Init(exit_reason(first))),
            }
            write_id_maps(first, parent.uid_mappings, parent.gid_mappings)?;
            chan.send(&Msg::IdMapsDone)?;
        }
        first
    };
    chan.send(&Msg::Go)?;
    (parent.on_spawned)(pid)?;
    let mut console = None;
    loop {
        match chan.recv()? {
            Some((Msg::RunCreateRuntimeHooks, _)) => {
                (parent.create_runtime_hooks)(pid)?;
                chan.send(&Msg::HooksDone)?;
            }
            Some((Msg::Console, fd)) => console = fd,
            Some((Msg::SeccompListener, fd)) => {
                let fd = fd.ok_or_else(|| {
                    ContainerError::Init(
                        "the seccomp listener message carried no descriptor".into(),
                    )
                })?;
                if let Err(e) = (parent.on_seccomp_listener)(pid, fd) {
                    let _ = chan.send(&Msg::Error(e.to_string()));
                    return Err(e);
                }
                chan.send(&Msg::SeccompDone)?;
            }
            Some((Msg::Ready, _)) => {
                let spawned = Spawned { pid, console };
                (parent.on_ready)(&spawned)?;
                chan.send(&Msg::Saved)?;
                return Ok(spawned);
            }
            Some((Msg::Error(e), _)) => return Err(ContainerError::Init(e)),
            Some((m, _)) => {
                return Err(ContainerError::Init(format!(
                    "unexpected message {m:?} from init"
                )))
            }
            None => return Err(ContainerError::Init(exit_reason(pid))),
        }
    }
}

fn mapping_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_id_maps(pid: i32, uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<()> {
    let base = std::path::PathBuf::from(format!("/proc/{pid}"));
    if !rustix::process::geteuid().is_root() {
        // An unprivileged caller may only map its own gid after denying setgroups.
        let p = base.join("setgroups");
        std::fs::write(&p, "deny").map_err(|e| ContainerError::io("write", &p, e))?;
    }
    for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
        let p = base.join(file);
        std::fs::write(&p, mapping_text(maps)).map_err(|e| ContainerError::io("write", &p, e))?;
    }
    Ok(())
}

/// Why a child closed the channel without a word: its exit status.
fn exit_reason(pid: i32) -> String {
    match wait(pid) {
        Some(code) => format!("container init exited early ({})", describe_exit(code)),
        None => "container init exited early".to_string(),
    }
}

pub(crate) fn describe_exit(code: i32) -> String {
    if code > 128 {
        format!("killed by signal {}", code - 128)
    } else {
        format!("exit status {code}")
    }
}

/// Waits for a child and returns its exit code (128+signal when killed).
pub(crate) fn wait(pid: i32) -> Option<i32> {
    let p = rustix::process::Pid::from_raw(pid)?;
    loop {
        match rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => return Some(exit_code(status)),
            Ok(None) => return None,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return None,
        }
    }
}

pub(crate) fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(code) = status.exit_status() {
        code
    } else if let Some(sig) = status.terminating_signal() {
        128 + sig
    } else {
        255
    }
}

fn reap(pid: i32) {
    let _ = wait(pid);
}

fn kill_and_reap(pid: i32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::empty());
    }
}
