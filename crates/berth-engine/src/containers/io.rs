//! What moves bytes or reads the running container: logs (from the json-file), attach and
//! exec (streams from the shim), resize, top.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use berth_shim_proto::logs::{self, Entry as LogEntry, ReadOptions};
use berth_shim_proto::{AttachRequest, Client, ExecRequest};
use berth_spec::{EtcFiles, UserResolver};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};

use super::lifecycle::cgroup;
use super::record::Status;
use super::{ContainerService, ExecEntry, SHIM_TIMEOUT};
use crate::error::EngineError;

/// What `logs` asks for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub tail: Option<usize>,
}

/// What `attach` asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Replay the log first.
    pub logs: bool,
    /// Then stream.
    pub stream: bool,
}

/// An attach: the log to replay, then the shim's stream (stdcopy frames, raw with a tty).
#[derive(Debug)]
pub struct AttachStream {
    pub tty: bool,
    pub logs: Vec<LogEntry>,
    pub stream: Option<UnixStream>,
}

/// `POST /containers/{id}/exec`'s body.
#[derive(Debug, Clone, Default)]
pub struct ExecConfig {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    pub tty: bool,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    pub privileged: bool,
}

/// What `exec inspect` shows.
#[derive(Debug, Clone)]
pub struct ExecInfo {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
}

/// A started exec: its stream (unless detached), and its exit code once recorded.
#[derive(Debug)]
pub struct ExecStream {
    pub tty: bool,
    pub stream: Option<UnixStream>,
    pub exited: oneshot::Receiver<i32>,
}

/// `top`'s table.
#[derive(Debug, Clone)]
pub struct TopResult {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

fn into_tokio(s: std::os::unix::net::UnixStream) -> Result<UnixStream, EngineError> {
    s.set_nonblocking(true)
        .and_then(|()| UnixStream::from_std(s))
        .map_err(|e| EngineError::io("use", "the shim's stream", e))
}

impl ContainerService {
    /// `docker logs`: whether the container has a tty, and the selected messages (followed
    /// until the container stops when `follow`).
    pub async fn logs(
        &self,
        name: &str,
        opts: LogOptions,
    ) -> Result<(bool, mpsc::Receiver<LogEntry>), EngineError> {
        let entry = self.entry(name)?;
        let r = entry.snapshot();
        if r.host_config.log_config.kind == "none" {
            return Err(EngineError::InvalidParameter(
                "configured logging driver does not support reading".into(),
            ));
        }
        let path = self.log_path(&r.id);
        let ropts = ReadOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            since: opts.since,
            until: opts.until,
            tail: opts.tail,
        };
        let (entries, mut follower) = tokio::task::spawn_blocking({
            let path = path.clone();
            move || logs::read(&path, &ropts)
        })
        .await
        .map_err(|e| EngineError::Task(format!("logs: {e}")))?
        .map_err(|e| EngineError::io("read", &path, e))?;
        let (tx, rx) = mpsc::channel(256);
        let mut watch = entry.watch.subscribe();
        drop(entry);
        tokio::spawn(async move {
            for e in entries {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            if !opts.follow {
                return;
            }
            loop {
                let w = *watch.borrow_and_update();
                let last = !w.status.is_running() && w.status != Status::Created || w.removed;
                let polled = tokio::task::spawn_blocking(move || {
                    let r = follower.poll();
                    (follower, r)
                })
                .await;
                let Ok((f, Ok(batch))) = polled else { return };
                follower = f;
                for e in batch {
                    if opts.until.is_some_and(|u| e.time > u) {
                        return;
                    }
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
                if last {
                    return;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = watch.changed() => {}
                    () = tx.closed() => return,
                }
            }
        });
        Ok((r.config.tty, rx))
    }

    /// `docker attach` (and the attach of `docker run`, made before the start).
    pub async fn attach(
        &self,
        name: &str,
        opts: AttachOptions,
    ) -> Result<AttachStream, EngineError> {
        let entry = self.entry(name)?;
        let r = entry.snapshot();
        let mut out = AttachStream {
            tty: r.config.tty,
            logs: Vec::new(),
            stream: None,
        };
        if opts.logs {
            let (_, mut rx) = self
                .logs(
                    name,
                    LogOptions {
                        stdout: opts.stdout,
                        stderr: opts.stderr,
                        ..LogOptions::default()
                    },
                )
                .await?;
            while let Some(e) = rx.recv().await {
                out.logs.push(e);
            }
        }
        if !opts.stream {
            return Ok(out);
        }
        {
            let _op = entry.op.lock().await;
            let r = entry.snapshot();
            match r.state.status {
                // An attach before a start (`docker run`, `docker start -a`): the run's shim
                // is made now and waits for the start.
                Status::Created | Status::Exited | Status::Dead => self.ensure_shim(&entry).await?,
                Status::Running | Status::Paused => {}
                Status::Restarting | Status::Removing => {
                    return Err(EngineError::ContainerConflict(format!(
                        "cannot attach to a {} container",
                        r.state.status.as_str()
                    )))
                }
            }
        }
        let req = AttachRequest {
            stdin: opts.stdin,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        let dir = self.run_dir(&r.id);
        let id = r.id.clone();
        let (tty, stream) = tokio::task::spawn_blocking(move || {
            let c = Client::connect(&dir)?;
            c.attach(req)
        })
        .await
        .map_err(|e| EngineError::Task(format!("attach: {e}")))?
        .map_err(|source| EngineError::Shim { id, source })?;
        out.tty = tty;
        out.stream = Some(into_tokio(stream)?);
        self.emit(&r, "attach", &[]);
        Ok(out)
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<(), EngineError> {
        let r = self.entry(name)?.snapshot();
        if !r.state.status.is_running() {
            return Err(EngineError::ContainerConflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        self.shim(&r.id, SHIM_TIMEOUT, move |c| c.resize(height, width, None))
            .await
    }

    /// `docker exec` part one: records the exec; returns its id.
    pub async fn exec_create(&self, name: &str, cfg: ExecConfig) -> Result<String, EngineError> {
        let r = self.entry(name)?.snapshot();
        if r.state.status != Status::Running {
            return Err(if r.state.status == Status::Paused {
                EngineError::ContainerConflict(format!(
                    "Container {} is paused, unpause the container before exec",
                    r.id
                ))
            } else {
                EngineError::ContainerConflict(format!("Container {} is not running", r.id))
            });
        }
        if cfg.cmd.is_empty() {
            return Err(EngineError::InvalidParameter(
                "No exec command specified".into(),
            ));
        }
        if cfg.privileged {
            return Err(EngineError::Spec(berth_spec::SpecError::Unsupported {
                field: "exec Privileged",
                value: "true".into(),
            }));
        }
        let id = super::names::new_id().map_err(|e| EngineError::io("read", "/dev/urandom", e))?;
        let cmd = cfg.cmd.join(" ");
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                id.clone(),
                ExecEntry {
                    container_id: r.id.clone(),
                    config: cfg,
                    running: false,
                    started: false,
                    exit_code: None,
                    pid: 0,
                },
            );
        self.emit(
            &r,
            &format!("exec_create: {cmd}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    fn exec_entry(&self, id: &str) -> Result<ExecEntry, EngineError> {
        self.inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchExec { id: id.to_owned() })
    }

    fn update_exec(&self, id: &str, f: impl FnOnce(&mut ExecEntry)) {
        if let Some(e) = self
            .inner
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(id)
        {
            f(e);
        }
    }

    /// `docker exec` part two: starts the process in the container.
    pub async fn exec_start(&self, exec_id: &str, detach: bool) -> Result<ExecStream, EngineError> {
        let ex = self.exec_entry(exec_id)?;
        if ex.started {
            return Err(EngineError::ContainerConflict(format!(
                "Error: Exec command {exec_id} has already run"
            )));
        }
        let r = self.entry(&ex.container_id)?.snapshot();
        if r.state.status != Status::Running {
            return Err(EngineError::ContainerConflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        self.update_exec(exec_id, |e| e.started = true);
        let run = self.run_dir(&r.id);
        let process = exec_process(&run, &ex.config)?;
        let req = ExecRequest {
            exec_id: exec_id.to_owned(),
            process,
            stdin: ex.config.attach_stdin,
            detach,
        };
        let cid = r.id.clone();
        let dir = run.clone();
        let started = tokio::task::spawn_blocking(move || {
            let c = Client::connect(&dir)?;
            c.exec(req)
        })
        .await
        .map_err(|e| EngineError::Task(format!("exec: {e}")))?
        .map_err(|source| EngineError::Shim {
            id: cid.clone(),
            source,
        });
        let (pid, tty, stream) = match started {
            Ok(x) => x,
            Err(e) => {
                self.update_exec(exec_id, |x| x.exit_code = Some(126));
                return Err(e);
            }
        };
        self.update_exec(exec_id, |e| {
            e.running = true;
            e.pid = pid;
        });
        let cmd = ex.config.cmd.join(" ");
        self.emit(
            &r,
            &format!("exec_start: {cmd}"),
            &[("execID", exec_id.to_owned())],
        );
        let (tx, rx) = oneshot::channel();
        let svc = self.clone();
        let eid = exec_id.to_owned();
        tokio::spawn(async move {
            let req = berth_shim_proto::Request::ExecWait {
                exec_id: eid.clone(),
            };
            let code = match svc.shim_async(&cid, &req).await {
                Ok(berth_shim_proto::Response::ExecExit { exit_code }) => exit_code,
                _ => 126,
            };
            svc.update_exec(&eid, |e| {
                e.running = false;
                e.exit_code = Some(code);
            });
            if let Ok(r) = svc.entry(&cid).map(|e| e.snapshot()) {
                svc.emit(
                    &r,
                    "exec_die",
                    &[("execID", eid.clone()), ("exitCode", code.to_string())],
                );
            }
            let _ = tx.send(code);
        });
        Ok(ExecStream {
            tty,
            stream: stream.map(into_tokio).transpose()?,
            exited: rx,
        })
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInfo, EngineError> {
        let e = self.exec_entry(exec_id)?;
        Ok(ExecInfo {
            id: exec_id.to_owned(),
            container_id: e.container_id,
            config: e.config,
            running: e.running,
            exit_code: e.exit_code,
            pid: e.pid,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, exec_id: &str, h: u16, w: u16) -> Result<(), EngineError> {
        let e = self.exec_entry(exec_id)?;
        let id = exec_id.to_owned();
        self.shim(&e.container_id, SHIM_TIMEOUT, move |c| {
            c.resize(h, w, Some(&id))
        })
        .await
    }

    /// `docker top`: `ps ps_args` filtered to the container's processes.
    pub async fn top(&self, name: &str, ps_args: &str) -> Result<TopResult, EngineError> {
        let r = self.entry(name)?.snapshot();
        if !r.state.status.is_running() {
            return Err(EngineError::ContainerConflict(format!(
                "Container {} is not running",
                r.id
            )));
        }
        let id = r.id.clone();
        let parent = self.inner.host.cgroup_parent.clone();
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.split_whitespace().map(str::to_owned).collect()
        };
        tokio::task::spawn_blocking(move || {
            let pids = cgroup(&parent, &id)?.pids()?;
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| EngineError::io("run", "ps", e))?;
            if !out.status.success() {
                return Err(EngineError::InvalidParameter(format!(
                    "Error running ps: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
        })
        .await
        .map_err(|e| EngineError::Task(format!("top: {e}")))?
    }
}

/// The exec's process: the container's (capabilities, rlimits, apparmor...) with the exec's
/// args, env, terminal, working directory and user.
fn exec_process(
    run: &std::path::Path,
    cfg: &ExecConfig,
) -> Result<oci_spec::runtime::Process, EngineError> {
    let path = run.join("config.json");
    let text = std::fs::read(&path).map_err(|e| EngineError::io("read", &path, e))?;
    let spec: oci_spec::runtime::Spec =
        serde_json::from_slice(&text).map_err(|e| EngineError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(cfg.cmd.clone()));
    p.set_terminal(Some(cfg.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &cfg.env {
        let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
        env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if !cfg.working_dir.is_empty() {
        p.set_cwd(PathBuf::from(&cfg.working_dir));
    }
    if !cfg.user.is_empty() {
        let rootfs = run.join("rootfs");
        let read = |f: &str| std::fs::read_to_string(rootfs.join(f)).ok();
        let users = EtcFiles {
            passwd: read("etc/passwd"),
            group: read("etc/group"),
        };
        let u = users.user(&cfg.user)?;
        let mut user = p.user().clone();
        user.set_uid(u.uid);
        user.set_gid(u.gid);
        user.set_additional_gids(Some(u.supplementary_gids));
        p.set_user(user);
    }
    Ok(p)
}

/// `ps` output reduced to the rows whose PID column is one of `pids`.
fn parse_ps(out: &str, pids: &[i32]) -> Result<TopResult, EngineError> {
    let mut lines = out.lines();
    let header = lines.next().unwrap_or("");
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_col = titles.iter().position(|t| t == "PID").ok_or_else(|| {
        EngineError::InvalidParameter("Couldn't find PID field in ps output".into())
    })?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column takes the rest of the line (the command with its spaces).
        let n = titles.len();
        let mut row: Vec<String> = fields
            .iter()
            .take(n.saturating_sub(1))
            .map(|s| (*s).to_owned())
            .collect();
        row.push(
            fields
                .get(n.saturating_sub(1)..)
                .unwrap_or_default()
                .join(" "),
        );
        processes.push(row);
    }
    Ok(TopResult { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_of_the_container() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 42 1 0 10:01 ? 00:00:00 sleep 100\n";
        let t = parse_ps(out, &[42]).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
    }
}

/// One statistics sample of a container.
#[derive(Debug, Clone)]
pub struct StatsSample {
    pub read: SystemTime,
    /// berth-cgroups' numbers (runc's `events --stats`); `None` when the container is not
    /// running.
    pub cgroup: Option<berth_cgroups::Stats>,
    /// The host's CPU time in nanoseconds (/proc/stat), docker's `system_cpu_usage`.
    pub system_cpu: u64,
    pub online_cpus: u32,
    /// The host's memory, the cap of the reported limit (as dockerd).
    pub host_memory: u64,
    pub id: String,
    pub name: String,
}

/// The host's CPU time (all fields of /proc/stat's `cpu` line) in nanoseconds, assuming
/// USER_HZ 100 as docker does.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|f| f.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks.saturating_mul(10_000_000)
}

impl ContainerService {
    /// One sample of the container's statistics (from its shim).
    pub async fn stats(&self, name: &str) -> Result<StatsSample, EngineError> {
        let r = self.entry(name)?.snapshot();
        let running = r.state.status.is_running();
        let cgroup = if running {
            let v = self.shim(&r.id, SHIM_TIMEOUT, |c| c.stats()).await?;
            Some(
                serde_json::from_value::<berth_cgroups::Stats>(v).map_err(|e| {
                    EngineError::Corrupt {
                        path: self.run_dir(&r.id),
                        reason: format!("the shim's stats: {e}"),
                    }
                })?,
            )
        } else {
            None
        };
        let (system_cpu, host_memory) = tokio::task::spawn_blocking(|| {
            let mem = crate::system::HostInfo::probe()
                .map(|h| h.mem_total)
                .unwrap_or(u64::MAX);
            (system_cpu_ns(), mem)
        })
        .await
        .map_err(|e| EngineError::Task(format!("stats: {e}")))?;
        Ok(StatsSample {
            read: SystemTime::now(),
            online_cpus: cgroup
                .as_ref()
                .map(|c| c.cpu.usage.percpu.len())
                .filter(|n| *n > 0)
                .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(1),
            cgroup,
            system_cpu,
            host_memory,
            id: r.id,
            name: r.name,
        })
    }
}
