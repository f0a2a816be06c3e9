//! OCI hooks: programs run at points of the lifecycle with the container's
//! state on stdin, each bounded by its timeout.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use oci_spec::runtime::Hook;
use serde::Serialize;

use crate::error::{ContainerError, Result};

/// The state document hooks receive on stdin (runtime spec "State").
#[derive(Debug, Clone, Serialize)]
pub struct HookState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: &'a str,
    pub pid: i32,
    pub bundle: &'a str,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl<'a> HookState<'a> {
    /// The state of container `id` as hooks see it, with the spec's annotations.
    pub fn new(
        id: &'a str,
        status: &'a str,
        pid: i32,
        bundle: &'a str,
        spec: &oci_spec::runtime::Spec,
    ) -> Self {
        HookState {
            oci_version: crate::state::OCI_VERSION,
            id,
            status,
            pid,
            bundle,
            annotations: crate::state::annotations(spec),
        }
    }
}

/// Runs `hooks` in order; the first failure stops the sequence. A hook without
/// `env` inherits the runtime's environment (runc's hooks are Go commands,
/// which inherit their process's when `Env` is nil; an empty list is empty).
pub fn run(kind: &str, hooks: &[Hook], state: &HookState<'_>) -> Result<()> {
    run_with(kind, hooks, state, None)
}

/// Runs hooks from the container's init (createContainer, startContainer): a
/// hook without `env` gets `env`, the environment runc's init holds at that
/// point (the container process's).
pub(crate) fn run_in_container(
    kind: &str,
    hooks: &[Hook],
    state: &HookState<'_>,
    env: &[String],
) -> Result<()> {
    run_with(kind, hooks, state, Some(env))
}

fn run_with(
    kind: &str,
    hooks: &[Hook],
    state: &HookState<'_>,
    inherited: Option<&[String]>,
) -> Result<()> {
    if hooks.is_empty() {
        return Ok(());
    }
    let input = serde_json::to_vec(state).map_err(|e| ContainerError::Hook(e.to_string()))?;
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, &input, inherited)
            .map_err(|e| ContainerError::Hook(format!("error running {kind} hook #{i}: {e}")))?;
    }
    Ok(())
}

fn run_one(
    hook: &Hook,
    input: &[u8],
    inherited: Option<&[String]>,
) -> std::result::Result<(), String> {
    let path = hook.path();
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first);
            cmd.args(rest);
        }
    }
    let env = match (hook.env(), inherited) {
        (Some(env), _) => Some(env.as_slice()),
        (None, Some(env)) => Some(env),
        // The runtime's own environment, as Command leaves it.
        (None, None) => None,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input);
    }
    let timeout = hook
        .timeout()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0);
    if let Some(secs) = timeout {
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
        if let Some(pid) = pid {
            if let Ok(pidfd) =
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
            {
                let mut fds = [rustix::event::PollFd::new(
                    &pidfd,
                    rustix::event::PollFlags::IN,
                )];
                let ts = rustix::time::Timespec {
                    tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
                    tv_nsec: 0,
                };
                let ready = rustix::event::poll(&mut fds, Some(&ts)).unwrap_or(1);
                if ready == 0 {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("timeout after {secs}s"));
                }
            }
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{}, stdout: {}, stderr: {}",
        describe_status(out.status),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        String::from_utf8_lossy(&out.stderr).trim_end()
    ))
}

fn describe_status(s: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(sig)) => format!("signal: {sig}"),
        _ => "unknown status".to_string(),
    }
}
