//! start, stop, kill, restart, pause, unpause, wait, delete, rename, list, prune; the monitor
//! that sees each exit; recovery of the shims after a daemon restart; restart policies.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_shim_proto::{files, ExitInfo, ProtoError};

use super::record::{Record, Status};
use super::{ContainerService, Entry, SHIM_TIMEOUT};
use crate::error::EngineError;

/// What a start or stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Done,
    /// Nothing to do (dockerd's 304): already running, or already stopped.
    NotModified,
}

/// `wait`'s `condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Option<WaitCondition> {
        match s {
            "" | "not-running" => Some(WaitCondition::NotRunning),
            "next-exit" => Some(WaitCondition::NextExit),
            "removed" => Some(WaitCondition::Removed),
            _ => None,
        }
    }
}

/// What `wait` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitResult {
    pub status_code: i32,
    pub error: Option<String>,
}

/// docker's `ps` filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    pub all: bool,
    /// Only the `n` newest (0: no limit).
    pub limit: usize,
    pub status: Vec<String>,
    pub label: Vec<String>,
    pub name: Vec<String>,
    pub id: Vec<String>,
    pub ancestor: Vec<String>,
    pub exited: Vec<i32>,
    pub before: Option<String>,
    pub since: Option<String>,
}

/// What `container prune` removed.
#[derive(Debug, Clone, Default)]
pub struct PruneResult {
    pub deleted: Vec<String>,
    pub space_reclaimed: u64,
}

/// Linux signal numbers by name, for `kill -s` and `StopSignal`.
pub fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let table: [(&str, i32); 31] = [
        ("HUP", 1),
        ("INT", 2),
        ("QUIT", 3),
        ("ILL", 4),
        ("TRAP", 5),
        ("ABRT", 6),
        ("BUS", 7),
        ("FPE", 8),
        ("KILL", 9),
        ("USR1", 10),
        ("SEGV", 11),
        ("USR2", 12),
        ("PIPE", 13),
        ("ALRM", 14),
        ("TERM", 15),
        ("STKFLT", 16),
        ("CHLD", 17),
        ("CONT", 18),
        ("STOP", 19),
        ("TSTP", 20),
        ("TTIN", 21),
        ("TTOU", 22),
        ("URG", 23),
        ("XCPU", 24),
        ("XFSZ", 25),
        ("VTALRM", 26),
        ("PROF", 27),
        ("WINCH", 28),
        ("IO", 29),
        ("PWR", 30),
        ("SYS", 31),
    ];
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn not_running(id: &str) -> EngineError {
    EngineError::ContainerConflict(format!("Container {id} is not running"))
}

impl ContainerService {
    /// `docker start`.
    pub async fn start(&self, name: &str) -> Result<StartOutcome, EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        match r.state.status {
            Status::Running | Status::Restarting => return Ok(StartOutcome::NotModified),
            Status::Paused => {
                return Err(EngineError::ContainerConflict(
                    "cannot start a paused container, try unpause instead".into(),
                ))
            }
            Status::Removing => {
                return Err(EngineError::ContainerConflict(format!(
                    "container is marked for removal and cannot be started: {}",
                    r.id
                )))
            }
            Status::Created | Status::Exited | Status::Dead => {}
        }
        self.start_locked(&entry).await
    }

    async fn start_locked(&self, entry: &Arc<Entry>) -> Result<StartOutcome, EngineError> {
        let id = entry.id.clone();
        if let Err(e) = self.ensure_shim(entry).await {
            entry.update(|r| r.state.error = e.to_string());
            let _ = self.save(entry).await;
            return Err(e);
        }
        match self.shim(&id, SHIM_TIMEOUT, |c| c.start()).await {
            Ok(pid) => {
                let r = entry.update(|r| {
                    let s = &mut r.state;
                    s.status = Status::Running;
                    s.pid = pid;
                    s.exit_code = 0;
                    s.error.clear();
                    s.oom_killed = false;
                    s.stopped_by_user = false;
                    s.started_at = berth_shim_proto::time::format(SystemTime::now());
                    s.finished_at = super::record::ZERO_TIME.into();
                    r.clone()
                });
                self.save(entry).await?;
                self.emit(&r, "start", &[]);
                self.spawn_monitor(entry.clone());
                Ok(StartOutcome::Done)
            }
            Err(e) => {
                let exit = self.recorded_exit(&id);
                self.teardown(entry).await;
                let message = match &e {
                    EngineError::Shim {
                        source: ProtoError::Shim { message, .. },
                        ..
                    } => message.clone(),
                    other => other.to_string(),
                };
                let code = exit.as_ref().map_or(128, |x| x.exit_code);
                let r = entry.update(|r| {
                    let s = &mut r.state;
                    s.exit_code = code;
                    s.error = message.clone();
                    s.exits += 1;
                    s.finished_at = berth_shim_proto::time::format(SystemTime::now());
                    r.clone()
                });
                let _ = self.save(entry).await;
                self.emit(&r, "die", &[("exitCode", code.to_string())]);
                if r.host_config.auto_remove {
                    self.spawn_delete(entry.clone());
                }
                Err(EngineError::StartFailed(message))
            }
        }
    }

    /// Writes the record of `entry` (on the blocking pool).
    pub(crate) async fn save(&self, entry: &Arc<Entry>) -> Result<(), EngineError> {
        let r = entry.snapshot();
        let dir = self.dir(&r.id);
        tokio::task::spawn_blocking(move || r.save(&dir))
            .await
            .map_err(|e| EngineError::Task(format!("save: {e}")))?
    }

    /// The exit the shim recorded in its state directory, if any.
    fn recorded_exit(&self, id: &str) -> Option<ExitInfo> {
        let text = std::fs::read(self.run_dir(id).join(files::EXIT)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Watches the running container's shim for its exit.
    pub(crate) fn spawn_monitor(&self, entry: Arc<Entry>) {
        let svc = self.clone();
        tokio::spawn(async move {
            let id = entry.id.clone();
            let exit = match svc.shim_async(&id, &berth_shim_proto::Request::Wait).await {
                Ok(berth_shim_proto::Response::Exit(e)) => e,
                Ok(other) => svc.lost_exit(&id, &format!("unexpected answer {other:?}")),
                Err(e) => svc.lost_exit(&id, &e.to_string()),
            };
            svc.finish_run(&entry, exit).await;
        });
    }

    /// The exit of a container whose shim is gone: its recorded exit, else 255 and the reason.
    fn lost_exit(&self, id: &str, why: &str) -> ExitInfo {
        self.recorded_exit(id).unwrap_or_else(|| ExitInfo {
            exit_code: 255,
            signal: None,
            oom_killed: false,
            exited_at: berth_shim_proto::time::format(SystemTime::now()),
            error: Some(format!(
                "the shim of container {id} died without recording the container's exit \
                 (the container was killed with it): {why}"
            )),
        })
    }

    /// Ends the shim of the container's run (deleting its runtime state, killing what is
    /// left) and unmounts its rootfs. Best effort: the pieces of a shim that died are removed
    /// by hand.
    pub(crate) async fn teardown(&self, entry: &Arc<Entry>) {
        let id = entry.id.clone();
        let shut = self.shim(&id, SHIM_TIMEOUT, |c| c.shutdown(true)).await;
        let run = self.run_dir(&id);
        let runtime_state = self.inner.runtime_root.join(&id);
        let parent = self.inner.host.cgroup_parent.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if shut.is_err() {
                // No shim to ask: its container died with it; remove its cgroup and the
                // runtime's state directory ourselves.
                if let Ok(m) = cgroup(&parent, &id) {
                    let _ = m.destroy();
                }
                let _ = std::fs::remove_dir_all(&runtime_state);
            }
            if let Err(e) = berth_snapshot::unmount(&run.join("rootfs")) {
                tracing::warn!("unmount the rootfs of {id}: {e}");
            }
        })
        .await;
        entry.set_shim_up(false);
    }

    /// Records an exit: the shim is shut down, the rootfs unmounted, the state saved, `die`
    /// published; then `--rm` and restart policies act.
    async fn finish_run(&self, entry: &Arc<Entry>, exit: ExitInfo) {
        self.teardown(entry).await;
        let r = entry.update_quiet(|r| {
            let s = &mut r.state;
            s.status = Status::Exited;
            s.pid = 0;
            s.exit_code = exit.exit_code;
            s.oom_killed = exit.oom_killed;
            s.finished_at = exit.exited_at.clone();
            s.error = exit.error.clone().unwrap_or_default();
            s.exits += 1;
            r.clone()
        });
        if let Err(e) = self.save(entry).await {
            tracing::error!("save container {}: {e}", r.id);
        }
        // Saved before anyone waiting for the exit hears of it.
        entry.publish();
        if exit.oom_killed {
            self.emit(&r, "oom", &[]);
        }
        self.emit(&r, "die", &[("exitCode", exit.exit_code.to_string())]);
        if r.host_config.auto_remove {
            self.spawn_delete(entry.clone());
        } else if should_restart(&r) {
            self.spawn_restart(entry.clone());
        }
    }

    fn spawn_delete(&self, entry: Arc<Entry>) {
        let svc = self.clone();
        tokio::spawn(async move {
            let _op = entry.op.lock().await;
            if let Err(e) = svc.delete_locked(&entry).await {
                tracing::error!("auto-remove {}: {e}", entry.id);
            }
        });
    }

    /// Restarts by policy after docker's back-off (100 ms doubling, reset after 10 s up).
    fn spawn_restart(&self, entry: Arc<Entry>) {
        let svc = self.clone();
        tokio::spawn(async move {
            let r = entry.snapshot();
            let ran = match (
                berth_shim_proto::time::parse(&r.state.started_at),
                berth_shim_proto::time::parse(&r.state.finished_at),
            ) {
                (Some(a), Some(b)) => b.duration_since(a).unwrap_or_default(),
                _ => Duration::ZERO,
            };
            let n = if ran >= Duration::from_secs(10) {
                0
            } else {
                r.restart_count.min(20)
            };
            let delay = Duration::from_millis(100)
                .saturating_mul(1u32 << n.min(16))
                .min(Duration::from_secs(60));
            entry.update(|r| r.state.status = Status::Restarting);
            tokio::time::sleep(delay).await;
            let _op = entry.op.lock().await;
            let r = entry.snapshot();
            if r.state.status != Status::Restarting || r.state.stopped_by_user {
                if r.state.status == Status::Restarting {
                    entry.update(|r| r.state.status = Status::Exited);
                }
                return;
            }
            // Still `restarting` while the start runs, as dockerd shows it.
            entry.update(|r| r.restart_count += 1);
            if let Err(e) = svc.start_locked(&entry).await {
                tracing::warn!("restart {}: {e}", entry.id);
                entry.update(|r| r.state.status = Status::Exited);
                let _ = svc.save(&entry).await;
            } else {
                svc.emit(&entry.snapshot(), "restart", &[]);
            }
        });
    }

    /// `docker stop`: the stop signal, `timeout` seconds (`None`: the container's
    /// StopTimeout, else 10; negative: forever), then SIGKILL.
    pub async fn stop(
        &self,
        name: &str,
        timeout: Option<i64>,
    ) -> Result<StartOutcome, EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let status = entry.snapshot().state.status;
        if !status.is_running() {
            return Ok(StartOutcome::NotModified);
        }
        if status == Status::Restarting {
            // Between two runs: the pending restart sees the flag and gives up.
            let r = entry.update(|r| {
                r.state.stopped_by_user = true;
                r.state.status = Status::Exited;
                r.clone()
            });
            self.save(&entry).await?;
            self.emit(&r, "stop", &[]);
            return Ok(StartOutcome::Done);
        }
        self.stop_locked(&entry, timeout).await?;
        Ok(StartOutcome::Done)
    }

    async fn stop_locked(
        &self,
        entry: &Arc<Entry>,
        timeout: Option<i64>,
    ) -> Result<(), EngineError> {
        let r = entry.update(|r| {
            r.state.stopped_by_user = true;
            r.clone()
        });
        let sig = if r.config.stop_signal.is_empty() {
            15
        } else {
            signal_number(&r.config.stop_signal).unwrap_or(15)
        };
        let t = timeout.or(r.config.stop_timeout).unwrap_or(10);
        let mut rx = entry.watch.subscribe();
        let before = rx.borrow().exits;
        if r.state.status == Status::Paused {
            let _ = self.thaw(&r.id).await;
        }
        self.emit(&r, "kill", &[("signal", sig.to_string())]);
        let _ = self.send_signal(&r.id, sig).await;
        let exited = async {
            while rx.borrow_and_update().exits == before {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let done = if t < 0 {
            exited.await;
            true
        } else {
            tokio::time::timeout(Duration::from_secs(t.unsigned_abs()), exited)
                .await
                .is_ok()
        };
        if !done {
            self.emit(&r, "kill", &[("signal", "9".into())]);
            let _ = self.send_signal(&r.id, 9).await;
            let exited = async {
                while rx.borrow_and_update().exits == before {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(30), exited)
                .await
                .is_err()
            {
                return Err(EngineError::ContainerConflict(format!(
                    "container {} did not exit 30 seconds after SIGKILL",
                    r.id
                )));
            }
        }
        self.emit(&entry.snapshot(), "stop", &[]);
        Ok(())
    }

    async fn send_signal(&self, id: &str, sig: i32) -> Result<(), EngineError> {
        self.shim(id, SHIM_TIMEOUT, move |c| c.signal(sig, None))
            .await
    }

    /// `docker kill -s SIGNAL`.
    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), EngineError> {
        let sig = if signal.is_empty() {
            9
        } else {
            signal_number(signal)
                .ok_or_else(|| EngineError::InvalidParameter(format!("Invalid signal: {signal}")))?
        };
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        if !r.state.status.is_running() {
            return Err(EngineError::ContainerConflict(format!(
                "Cannot kill container: {name}: Container {} is not running",
                r.id
            )));
        }
        let mut rx = entry.watch.subscribe();
        let before = rx.borrow().exits;
        if sig == 9 || sig == 15 {
            entry.update(|r| r.state.stopped_by_user = true);
        }
        self.emit(&r, "kill", &[("signal", sig.to_string())]);
        self.send_signal(&r.id, sig).await?;
        if sig == 9 {
            // As dockerd: a SIGKILL returns once the container is gone.
            let exited = async {
                while rx.borrow_and_update().exits == before {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), exited).await;
        }
        Ok(())
    }

    /// `docker restart`.
    pub async fn restart(&self, name: &str, timeout: Option<i64>) -> Result<(), EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        if entry.snapshot().state.status.is_running() {
            self.stop_locked(&entry, timeout).await?;
        }
        self.start_locked(&entry).await?;
        self.emit(&entry.snapshot(), "restart", &[]);
        Ok(())
    }

    /// `docker pause`: freezes the container's cgroup.
    pub async fn pause(&self, name: &str) -> Result<(), EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        match r.state.status {
            Status::Running => {}
            Status::Paused => {
                return Err(EngineError::ContainerConflict(format!(
                    "Container {} is already paused",
                    r.id
                )))
            }
            _ => return Err(not_running(&r.id)),
        }
        // The shim freezes the cgroup (and knows its container is paused).
        self.shim(&r.id, SHIM_TIMEOUT, |c| c.pause()).await?;
        let r = entry.update(|r| {
            r.state.status = Status::Paused;
            r.clone()
        });
        self.save(&entry).await?;
        self.emit(&r, "pause", &[]);
        Ok(())
    }

    async fn thaw(&self, id: &str) -> Result<(), EngineError> {
        self.shim(id, SHIM_TIMEOUT, |c| c.resume()).await
    }

    /// `docker unpause`.
    pub async fn unpause(&self, name: &str) -> Result<(), EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        if r.state.status != Status::Paused {
            return Err(EngineError::ContainerConflict(format!(
                "Container {} is not paused",
                r.id
            )));
        }
        self.thaw(&r.id).await?;
        let r = entry.update(|r| {
            r.state.status = Status::Running;
            r.clone()
        });
        self.save(&entry).await?;
        self.emit(&r, "unpause", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/wait`: checks the container exists now, and returns the
    /// future that resolves when `condition` holds.
    pub fn wait(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<impl Future<Output = WaitResult> + Send + 'static, EngineError> {
        let entry = self.entry(name)?;
        let mut rx = entry.watch.subscribe();
        let start = *rx.borrow();
        drop(entry);
        Ok(async move {
            loop {
                let w = *rx.borrow_and_update();
                let done = match condition {
                    WaitCondition::NotRunning => !w.status.is_running() || w.removed,
                    WaitCondition::NextExit => w.exits > start.exits || w.removed,
                    WaitCondition::Removed => w.removed,
                };
                if done {
                    return WaitResult {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
                if rx.changed().await.is_err() {
                    let w = *rx.borrow();
                    return WaitResult {
                        status_code: w.exit_code,
                        error: None,
                    };
                }
            }
        })
    }

    /// `docker rm [-f]`.
    pub async fn delete(&self, name: &str, force: bool) -> Result<(), EngineError> {
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let r = entry.snapshot();
        if r.state.status.is_running() {
            if !force {
                let what = if r.state.status == Status::Paused {
                    "paused"
                } else {
                    "running"
                };
                return Err(EngineError::ContainerConflict(format!(
                    "You cannot remove a {what} container {}. Stop the container before \
                     attempting removal or force remove",
                    r.id
                )));
            }
            entry.update(|r| r.state.stopped_by_user = true);
            let mut rx = entry.watch.subscribe();
            let before = rx.borrow().exits;
            if r.state.status == Status::Paused {
                let _ = self.thaw(&r.id).await;
            }
            self.emit(&r, "kill", &[("signal", "9".into())]);
            if self.send_signal(&r.id, 9).await.is_ok() {
                let exited = async {
                    while rx.borrow_and_update().exits == before {
                        if rx.changed().await.is_err() {
                            break;
                        }
                    }
                };
                if tokio::time::timeout(Duration::from_secs(30), exited)
                    .await
                    .is_err()
                {
                    return Err(EngineError::ContainerConflict(format!(
                        "could not kill running container {}, cannot remove",
                        r.id
                    )));
                }
            }
        }
        self.delete_locked(&entry).await
    }

    pub(crate) async fn delete_locked(&self, entry: &Arc<Entry>) -> Result<(), EngineError> {
        if entry.watch.borrow().removed {
            return Ok(());
        }
        let r = entry.update(|r| {
            r.state.status = Status::Removing;
            r.clone()
        });
        // Saved first: a crash from here on finishes the removal at the next start.
        self.save(entry).await?;
        if entry.shim_up() {
            self.teardown(entry).await;
        }
        self.remove_storage(&r.id).await;
        {
            let mut t = self.table();
            t.by_id.remove(&r.id);
            if t.names.get(&r.name) == Some(&r.id) {
                t.names.remove(&r.name);
            }
        }
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, x| x.container_id != r.id);
        entry.watch.send_modify(|w| w.removed = true);
        self.emit(&r, "destroy", &[]);
        Ok(())
    }

    /// `docker rename`.
    pub async fn rename(&self, name: &str, new_name: &str) -> Result<(), EngineError> {
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name).to_owned();
        if !super::names::valid_name(&new_name) {
            return Err(EngineError::InvalidParameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let entry = self.entry(name)?;
        let _op = entry.op.lock().await;
        let old = entry.snapshot().name;
        if old == new_name {
            return Err(EngineError::ContainerConflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        {
            let mut t = self.table();
            if let Some(other) = t.names.get(&new_name) {
                return Err(EngineError::ContainerConflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by \
                     container \"{other}\". You have to remove (or rename) that container to \
                     be able to reuse that name."
                )));
            }
            t.names.remove(&old);
            t.names.insert(new_name.clone(), entry.id.clone());
        }
        let r = entry.update(|r| {
            r.name = new_name.clone();
            r.clone()
        });
        self.save(&entry).await?;
        self.emit(&r, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `docker ps`: the records that pass `f`, newest first.
    pub fn list(&self, f: &ListFilters) -> Result<Vec<Record>, EngineError> {
        let all: Vec<Record> = self.entries().iter().map(|e| e.snapshot()).collect();
        let created_of = |name: &str| -> Result<String, EngineError> {
            Ok(self.entry(name)?.snapshot().created)
        };
        let before = f.before.as_deref().map(created_of).transpose()?;
        let since = f.since.as_deref().map(created_of).transpose()?;
        let include_stopped = f.all
            || f.limit > 0
            || before.is_some()
            || since.is_some()
            || !f.status.is_empty()
            || !f.exited.is_empty();
        for s in &f.status {
            if !matches!(
                s.as_str(),
                "created" | "restarting" | "running" | "removing" | "paused" | "exited" | "dead"
            ) {
                return Err(EngineError::InvalidParameter(format!(
                    "Invalid filter 'status={s}'"
                )));
            }
        }
        let mut out = Vec::new();
        for r in all {
            if !include_stopped && !r.state.status.is_running() {
                continue;
            }
            if !f.status.is_empty() && !f.status.iter().any(|s| s == r.state.status.as_str()) {
                continue;
            }
            if !f.id.is_empty() && !f.id.iter().any(|p| r.id.starts_with(p.as_str())) {
                continue;
            }
            if !f.name.is_empty() && !f.name.iter().any(|n| name_matches(&r.name, n)) {
                continue;
            }
            let exited_match =
                r.state.status == Status::Exited && f.exited.contains(&r.state.exit_code);
            if !f.exited.is_empty() && !exited_match {
                continue;
            }
            let labels = r.config.labels.clone().unwrap_or_default();
            if !f.label.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(l.as_str()),
            }) {
                continue;
            }
            if !f.ancestor.is_empty() && !f.ancestor.iter().any(|a| ancestor_matches(&r, a)) {
                continue;
            }
            if before.as_ref().is_some_and(|b| r.created >= *b) {
                continue;
            }
            if since.as_ref().is_some_and(|s| r.created <= *s) {
                continue;
            }
            out.push(r);
            if f.limit > 0 && out.len() == f.limit {
                break;
            }
        }
        Ok(out)
    }

    /// `docker container prune`: removes every container that is not running.
    pub async fn prune(&self) -> Result<PruneResult, EngineError> {
        let mut out = PruneResult::default();
        for e in self.entries() {
            let _op = e.op.lock().await;
            let r = e.snapshot();
            if r.state.status.is_running() || r.state.status == Status::Removing {
                continue;
            }
            if self.delete_locked(&e).await.is_ok() {
                out.deleted.push(r.id);
            }
        }
        Ok(out)
    }

    /// After a daemon restart: reconnects to every shim, records the exits that happened
    /// meanwhile, finishes interrupted removals, shuts down shims of containers that never
    /// started, and starts `always` and `unless-stopped` containers that are down.
    pub async fn recover(&self) {
        for entry in self.entries() {
            let r = entry.snapshot();
            let id = r.id.clone();
            match r.state.status {
                Status::Removing => {
                    if let Err(e) = self.delete_locked(&entry).await {
                        tracing::error!("finish removing {id}: {e}");
                    }
                }
                Status::Running | Status::Paused | Status::Restarting => {
                    match self.shim(&id, SHIM_TIMEOUT, |c| c.state()).await {
                        Ok(st)
                            if matches!(
                                st.status,
                                berth_shim_proto::Status::Running
                                    | berth_shim_proto::Status::Paused
                            ) =>
                        {
                            entry.set_shim_up(true);
                            entry.update(|r| {
                                r.state.pid = st.pid;
                                r.state.status = if st.status == berth_shim_proto::Status::Paused {
                                    Status::Paused
                                } else {
                                    Status::Running
                                };
                            });
                            tracing::info!("container {id}: reconnected to its shim");
                            self.spawn_monitor(entry.clone());
                        }
                        Ok(st) => {
                            entry.set_shim_up(true);
                            let exit = st
                                .exit
                                .unwrap_or_else(|| self.lost_exit(&id, "no exit in its state"));
                            tracing::info!(
                                "container {id} exited while berthd was down ({})",
                                exit.exit_code
                            );
                            self.finish_run(&entry, exit).await;
                        }
                        Err(e) => {
                            let exit = self.lost_exit(&id, &e.to_string());
                            tracing::warn!("container {id}: shim gone ({e})");
                            self.finish_run(&entry, exit).await;
                        }
                    }
                }
                Status::Created | Status::Exited | Status::Dead => {
                    // A shim waiting for a start that never came, or one not shut down.
                    if Path::new(&self.run_dir(&id).join(files::SOCKET)).exists() {
                        self.teardown(&entry).await;
                    }
                    let restart = matches!(
                        r.host_config.restart_policy.name.as_str(),
                        "always" | "unless-stopped"
                    ) && r.state.status == Status::Exited
                        && !(r.host_config.restart_policy.name == "unless-stopped"
                            && r.state.stopped_by_user);
                    if restart {
                        let _op = entry.op.lock().await;
                        if let Err(e) = self.start_locked(&entry).await {
                            tracing::warn!("restart {id} at daemon start: {e}");
                        }
                    }
                }
            }
        }
    }

    /// Containers that use each image id, for `rmi`.
    pub fn image_users(&self) -> HashMap<String, Vec<(String, bool)>> {
        let mut out: HashMap<String, Vec<(String, bool)>> = HashMap::new();
        for e in self.entries() {
            let r = e.snapshot();
            out.entry(r.image_id.clone())
                .or_default()
                .push((r.id.clone(), r.state.status.is_running()));
        }
        out
    }
}

/// Whether a restart policy restarts the container after this exit.
fn should_restart(r: &Record) -> bool {
    let p = &r.host_config.restart_policy;
    if r.state.stopped_by_user {
        return false;
    }
    match p.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            r.state.exit_code != 0
                && (p.maximum_retry_count <= 0
                    || r.restart_count < u64::try_from(p.maximum_retry_count).unwrap_or(0))
        }
        _ => false,
    }
}

/// docker's `name` filter: a regular expression on the name; berth takes it as a substring,
/// with `^` and `$` anchors.
fn name_matches(name: &str, pattern: &str) -> bool {
    let p = pattern.strip_prefix('/').unwrap_or(pattern);
    match (p.strip_prefix('^'), p.strip_suffix('$')) {
        (Some(rest), _) => match rest.strip_suffix('$') {
            Some(exact) => name == exact,
            None => name.starts_with(rest),
        },
        (None, Some(end)) => name.ends_with(end),
        (None, None) => name.contains(p),
    }
}

/// docker's `ancestor` filter: the image by name (with or without its tag) or id.
fn ancestor_matches(r: &Record, a: &str) -> bool {
    let strip_latest = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_owned();
    strip_latest(&r.image_name) == strip_latest(a)
        || r.image_id == a
        || r.image_id
            .strip_prefix("sha256:")
            .is_some_and(|h| h.starts_with(a) && a.len() >= 4)
}

/// The cgroup of container `id` under the daemon's cgroup parent (berth-spec puts it at
/// `PARENT/ID`).
pub(crate) fn cgroup(parent: &str, id: &str) -> Result<berth_cgroups::Manager, EngineError> {
    let h = berth_cgroups::Hierarchy::detect()?;
    let path = format!("{}/{id}", parent.trim_end_matches('/'));
    let p = berth_cgroups::CgroupPath::parse(Some(Path::new(&path)), id)?;
    Ok(berth_cgroups::Manager::new(&h, &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(signal_number("SIGKILL"), Some(9));
        assert_eq!(signal_number("term"), Some(15));
        assert_eq!(signal_number("28"), Some(28));
        assert_eq!(signal_number("WINCH"), Some(28));
        assert_eq!(signal_number("nope"), None);
        assert_eq!(signal_number("0"), None);
    }

    #[test]
    fn name_filter() {
        assert!(name_matches("web-1", "web"));
        assert!(name_matches("web-1", "^web-1$"));
        assert!(!name_matches("web-12", "^web-1$"));
        assert!(name_matches("a_web", "/a_"));
    }
}
