//! A driver for runc-compatible runtime binaries (berth-runtime, runc), each with a private
//! `--root` and a guard that force-deletes every container it created.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::bundle::Bundle;
use crate::cgroup;
use crate::command::{run_command, run_or_panic, Output, DEFAULT_TIMEOUT};

/// Where runc is looked for unless `BERTH_TEST_RUNC` names another binary.
pub const RUNC: &str = "/usr/sbin/runc";

/// A runc-compatible runtime binary with its own temp state directory (`--root`).
///
/// Every command runs with a timeout ([`DEFAULT_TIMEOUT`] unless changed with
/// [`Runtime::with_timeout`]) and panics if it is exceeded, after killing the command's process
/// group. Dropping the runtime runs `delete --force` for every container id it was asked to
/// create or run, removes their cgroups if the runtime left any, and removes `--root`.
///
/// Keep a [`Bundle`] alive as long as its container exists: the container's rootfs lives in it,
/// and runc's `exec` changes into the bundle directory.
pub struct Runtime {
    name: String,
    binary: PathBuf,
    root: TempDir,
    timeout: Duration,
    /// Container ids created through this driver, with their bundle's cgroups path.
    created: Mutex<Vec<(String, Option<String>)>>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("name", &self.name)
            .field("binary", &self.binary)
            .field("root", &self.root.path())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Drives `binary`, calling it `name` in messages.
    #[track_caller]
    pub fn with_binary(name: &str, binary: impl Into<PathBuf>) -> Self {
        let root = match tempfile::Builder::new()
            .prefix(&format!("berth-test-{name}-root-"))
            .tempdir()
        {
            Ok(r) => r,
            Err(e) => panic!("create runtime root: {e}"),
        };
        Self {
            name: name.to_string(),
            binary: binary.into(),
            root,
            timeout: DEFAULT_TIMEOUT,
            created: Mutex::new(Vec::new()),
        }
    }

    /// runc: `BERTH_TEST_RUNC` if set, else `/usr/sbin/runc`.
    #[track_caller]
    pub fn runc() -> Self {
        let bin =
            std::env::var_os("BERTH_TEST_RUNC").map_or_else(|| PathBuf::from(RUNC), PathBuf::from);
        Self::with_binary("runc", bin)
    }

    /// berth-runtime at `path`; integration tests of the berth-runtime crate pass
    /// `env!("CARGO_BIN_EXE_berth-runtime")`.
    #[track_caller]
    pub fn berth_at(path: impl Into<PathBuf>) -> Self {
        Self::with_binary("berth", path)
    }

    /// berth-runtime: `BERTH_RUNTIME` if set, else `berth-runtime` in the target directory of
    /// the running test binary (`target/<profile>/deps/<test>` → `target/<profile>/berth-runtime`).
    #[track_caller]
    pub fn berth() -> Self {
        if let Some(p) = std::env::var_os("BERTH_RUNTIME") {
            return Self::berth_at(PathBuf::from(p));
        }
        let exe = std::env::current_exe().ok();
        let guess = exe.as_deref().and_then(Path::parent).map(|dir| {
            let dir = if dir.file_name() == Some(OsStr::new("deps")) {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            dir.join("berth-runtime")
        });
        match guess {
            Some(p) if p.exists() => Self::berth_at(p),
            other => panic!("berth-runtime not found (looked at {other:?}); set BERTH_RUNTIME"),
        }
    }

    /// The runtime for a name in `BERTH_TEST_RUNTIMES`: `runc`, or `berth` at `BERTH_RUNTIME`
    /// if set (e.g. a release build), else at `berth_path`.
    #[track_caller]
    pub fn by_name(name: &str, berth_path: &str) -> Self {
        match name {
            "runc" => Self::runc(),
            "berth" => match std::env::var_os("BERTH_RUNTIME") {
                Some(p) => Self::berth_at(PathBuf::from(p)),
                None => Self::berth_at(berth_path),
            },
            other => panic!("unknown runtime {other:?} (expected berth or runc)"),
        }
    }

    /// Changes the per-command timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `berth` or `runc`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The private `--root` state directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A command for `binary --root ROOT args...`, for callers that need their own stdio (e.g. a
    /// pty); prefer the methods, which apply the timeout.
    pub fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(self.root.path()).args(args);
        cmd
    }

    /// Runs `binary --root ROOT args...` and returns its output, whatever the exit status.
    #[track_caller]
    pub fn raw<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        run_or_panic(&mut self.command(args), None, self.timeout)
    }

    /// Like [`Runtime::raw`] with `input` on standard input.
    #[track_caller]
    pub fn raw_with_input<S: AsRef<OsStr>>(&self, args: &[S], input: &[u8]) -> Output {
        run_or_panic(&mut self.command(args), Some(input), self.timeout)
    }

    /// Remembers `id` for the drop guard.
    pub fn track(&self, id: &str, bundle: Option<&Bundle>) {
        let cg = bundle.and_then(Bundle::cgroups_path).map(str::to_string);
        if let Ok(mut list) = self.created.lock() {
            list.push((id.to_string(), cg));
        }
    }

    /// The command `VERB... --bundle B ID`, after writing the bundle's config and remembering
    /// `id` for the drop guard; for callers that need their own stdio (a pty). No timeout applies.
    #[track_caller]
    pub fn bundle_command(&self, verb: &[&str], bundle: &Bundle, id: &str) -> Command {
        if let Err(e) = bundle.write_config() {
            panic!("write config.json: {e}");
        }
        self.track(id, Some(bundle));
        let mut args: Vec<&OsStr> = verb.iter().map(OsStr::new).collect();
        args.push(OsStr::new("--bundle"));
        args.push(bundle.path().as_os_str());
        args.push(OsStr::new(id));
        self.command(&args)
    }

    #[track_caller]
    fn with_bundle(&self, verb: &[&str], bundle: &Bundle, id: &str) -> Output {
        run_or_panic(
            &mut self.bundle_command(verb, bundle, id),
            None,
            self.timeout,
        )
    }

    /// `run --bundle B ID` with `input` on the container's standard input.
    #[track_caller]
    pub fn run_with_input(&self, bundle: &Bundle, id: &str, input: &[u8]) -> Output {
        run_or_panic(
            &mut self.bundle_command(&["run"], bundle, id),
            Some(input),
            self.timeout,
        )
    }

    /// `run --bundle B ID` (foreground: returns when the container exits).
    #[track_caller]
    pub fn run(&self, bundle: &Bundle, id: &str) -> Output {
        self.with_bundle(&["run"], bundle, id)
    }

    /// `run --detach --bundle B ID`.
    #[track_caller]
    pub fn run_detached(&self, bundle: &Bundle, id: &str) -> Output {
        self.with_bundle(&["run", "--detach"], bundle, id)
    }

    /// `create --bundle B ID`.
    #[track_caller]
    pub fn create(&self, bundle: &Bundle, id: &str) -> Output {
        self.with_bundle(&["create"], bundle, id)
    }

    /// `create OPTIONS... --bundle B ID`, e.g. with `--console-socket PATH` or `--pid-file PATH`.
    #[track_caller]
    pub fn create_with(&self, bundle: &Bundle, id: &str, options: &[&str]) -> Output {
        let mut verb = vec!["create"];
        verb.extend_from_slice(options);
        self.with_bundle(&verb, bundle, id)
    }

    /// `start ID`.
    #[track_caller]
    pub fn start(&self, id: &str) -> Output {
        self.raw(&["start", id])
    }

    /// `state ID`, whatever its exit status.
    #[track_caller]
    pub fn state_output(&self, id: &str) -> Output {
        self.raw(&["state", id])
    }

    /// `state ID` parsed; panics if it fails or does not print JSON.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.state_output(id);
        out.assert_success();
        match serde_json::from_str(&out.stdout) {
            Ok(v) => v,
            Err(e) => panic!("state is not JSON ({e}):\n{out}"),
        }
    }

    /// `state.status` of `id`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Polls `state` until its status is `status`; panics after the timeout with the last state.
    #[track_caller]
    pub fn wait_for_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + self.timeout;
        loop {
            let state = self.state(id);
            if state["status"] == status {
                return state;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never reached {status:?}; last state {state}"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// `kill ID SIGNAL`.
    #[track_caller]
    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.raw(&["kill", id, signal])
    }

    /// `delete [--force] ID`.
    #[track_caller]
    pub fn delete(&self, id: &str, force: bool) -> Output {
        if force {
            self.raw(&["delete", "--force", id])
        } else {
            self.raw(&["delete", id])
        }
    }

    /// `list OPTIONS...` (e.g. `&["--format", "json"]`, `&["-q"]`).
    #[track_caller]
    pub fn list(&self, options: &[&str]) -> Output {
        let mut args = vec!["list"];
        args.extend_from_slice(options);
        self.raw(&args)
    }

    /// `list --format json` parsed into its array (runc prints `null` when empty: that gives an
    /// empty vector).
    #[track_caller]
    pub fn list_json(&self) -> Vec<Value> {
        let out = self.list(&["--format", "json"]);
        out.assert_success();
        match serde_json::from_str::<Value>(&out.stdout) {
            Ok(Value::Array(a)) => a,
            Ok(Value::Null) => Vec::new(),
            Ok(other) => panic!("list --format json printed {other}"),
            Err(e) => panic!("list --format json is not JSON ({e}):\n{out}"),
        }
    }

    /// `exec ID ARGS...`.
    #[track_caller]
    pub fn exec(&self, id: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", id];
        all.extend_from_slice(args);
        self.raw(&all)
    }

    /// `exec OPTIONS... ID ARGS...`.
    #[track_caller]
    pub fn exec_with(&self, options: &[&str], id: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec"];
        all.extend_from_slice(options);
        all.push(id);
        all.extend_from_slice(args);
        self.raw(&all)
    }

    /// `ps OPTIONS... ID`.
    #[track_caller]
    pub fn ps(&self, id: &str, options: &[&str]) -> Output {
        let mut all = vec!["ps"];
        all.extend_from_slice(options);
        all.push(id);
        self.raw(&all)
    }

    /// `spec --bundle DIR`.
    #[track_caller]
    pub fn spec(&self, dir: &Path) -> Output {
        self.raw(&[OsStr::new("spec"), OsStr::new("--bundle"), dir.as_os_str()])
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let created = match self.created.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => return,
        };
        for (id, cgroups_path) in created {
            // Errors are expected here (the container is often gone already); never panic in Drop.
            let _ = run_command(
                &mut self.command(&["delete", "--force", &id]),
                None,
                self.timeout,
            );
            if let Some(path) = cgroups_path {
                if let Ok(left) = cgroup::remove_everywhere(&path) {
                    if !left.is_empty() {
                        eprintln!("cleanup: {} left cgroup dirs of {id}: {left:?}", self.name);
                    }
                }
            }
        }
    }
}
