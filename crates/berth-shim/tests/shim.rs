//! berth-shim against real containers (root): busybox bundles from berth-testutil, the shim's
//! state and the runtime root in temp dirs, everything (shim, container, cgroup) removed in Drop.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use berth_shim_proto::frame::{read_frame, StreamId};
use berth_shim_proto::logs;
use berth_shim_proto::{
    files, AttachRequest, Client, ExecRequest, LogConfig, ProtoError, ShimConfig, Status,
};
use berth_testutil::{cgroup, Bundle};
use serde_json::json;

const SHIM: &str = env!("CARGO_BIN_EXE_berth-shim");

/// One shim: its state dir, the runtime root, the bundle; Drop shuts it down and cleans up.
struct Fixture {
    state: tempfile::TempDir,
    root: tempfile::TempDir,
    logs: tempfile::TempDir,
    bundle: Bundle,
    id: String,
    cfg: ShimConfig,
}

fn fixture(bundle: Bundle, edit: impl FnOnce(&mut ShimConfig)) -> Fixture {
    let tmp = |p: &str| {
        tempfile::Builder::new()
            .prefix(p)
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"))
    };
    let (state, root, logs) = (
        tmp("berth-shim-state-"),
        tmp("berth-shim-root-"),
        tmp("berth-shim-logs-"),
    );
    if let Err(e) = bundle.write_config() {
        panic!("write config: {e}");
    }
    let id = berth_testutil::unique_id("shim");
    let mut cfg = ShimConfig {
        id: id.clone(),
        bundle: bundle.path().to_path_buf(),
        runtime_root: root.path().to_path_buf(),
        log: Some(LogConfig {
            path: logs.path().join(files::json_log_name(&id)),
            max_size: None,
            max_file: 1,
        }),
        open_stdin: false,
        stdin_once: false,
        start: true,
    };
    edit(&mut cfg);
    let text = serde_json::to_vec(&cfg).unwrap_or_default();
    if let Err(e) = std::fs::write(state.path().join(files::CONFIG), text) {
        panic!("write shim config: {e}");
    }
    Fixture {
        state,
        root,
        logs,
        bundle,
        id,
        cfg,
    }
}

impl Fixture {
    fn dir(&self) -> &Path {
        self.state.path()
    }

    /// Runs the launcher; returns the shim's pid.
    fn launch(&self) -> i32 {
        let out = Command::new(SHIM)
            .arg(self.dir())
            .output()
            .unwrap_or_else(|e| panic!("run {SHIM}: {e}"));
        assert!(
            out.status.success(),
            "berth-shim failed: {}\nshim.log: {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.dir().join("shim.log")).unwrap_or_default()
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("launcher output {:?}: {e}", out.stdout));
        let pid = v["pid"].as_i64().and_then(|p| i32::try_from(p).ok());
        pid.unwrap_or_else(|| panic!("no pid in {v}"))
    }

    fn client(&self) -> Client {
        let c = Client::connect(self.dir()).unwrap_or_else(|e| panic!("connect: {e}"));
        let _ = c.set_read_timeout(Some(Duration::from_secs(60)));
        c
    }

    fn log_path(&self) -> PathBuf {
        self.cfg
            .log
            .as_ref()
            .map(|l| l.path.clone())
            .unwrap_or_default()
    }

    fn log_text(&self) -> String {
        logs::read_all(&self.log_path())
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.log)
            .collect()
    }

    fn shim_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir().join(files::PID))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let pid = self.shim_pid();
        if let Ok(mut c) = Client::connect(self.dir()) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(15)));
            let _ = c.shutdown(true);
        }
        if let Some(pid) = pid {
            if alive(pid) && !gone_within(pid, Duration::from_secs(5)) {
                // SAFETY: kill(2) takes integers; the pid is the shim this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                gone_within(pid, Duration::from_secs(5));
            }
        }
        if let Some(p) = self.bundle.cgroups_path() {
            let _ = cgroup::remove_everywhere(p);
        }

        let _ = (&self.root, &self.logs, &self.id);
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is dead for our purpose.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn gone_within(pid: i32, t: Duration) -> bool {
    let end = Instant::now() + t;
    while Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !alive(pid)
}

fn sh(script: &str) -> Bundle {
    Bundle::with_shared_rootfs().args(&["sh", "-c", script])
}

/// Reads stdcopy frames until `want` shows up in `stream`'s bytes.
fn read_until(s: &mut UnixStream, stream: StreamId, want: &str) -> String {
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let mut got = String::new();
    while !got.contains(want) {
        match read_frame(s) {
            Ok(Some((id, data))) if id == stream => got.push_str(&String::from_utf8_lossy(&data)),
            Ok(Some(_)) => {}
            other => panic!("stream ended before {want:?} (got {got:?}): {other:?}"),
        }
    }
    got
}

#[test]
fn echo_hi_logs_and_durable_exit() {
    let f = fixture(Bundle::with_shared_rootfs().args(&["echo", "hi"]), |_| {});
    f.launch();
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    assert_eq!(exit.signal, None);
    // Recorded on disk before it was reported.
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.dir().join(files::EXIT)).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(on_disk["exit_code"], json!(0));
    assert_eq!(on_disk["exited_at"], json!(exit.exited_at));
    let raw = std::fs::read_to_string(f.log_path()).unwrap_or_default();
    let line: serde_json::Value = serde_json::from_str(raw.trim_end()).unwrap_or_default();
    assert_eq!(line["log"], json!("hi\n"), "log file: {raw:?}");
    assert_eq!(line["stream"], json!("stdout"));
    assert!(line["time"]
        .as_str()
        .is_some_and(|t| berth_shim_proto::time::parse(t).is_some()));
    let st = f.client().state().unwrap_or_else(|e| panic!("state: {e}"));
    assert_eq!(st.status, Status::Stopped);
}

#[test]
fn exit_codes_and_kill() {
    let f = fixture(sh("echo out; echo err >&2; exit 42"), |_| {});
    f.launch();
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 42);
    let entries = logs::read_all(&f.log_path()).unwrap_or_default();
    let streams: Vec<(logs::Stream, &str)> =
        entries.iter().map(|e| (e.stream, e.log.as_str())).collect();
    assert!(
        streams.contains(&(logs::Stream::Stdout, "out\n")),
        "{streams:?}"
    );
    assert!(
        streams.contains(&(logs::Stream::Stderr, "err\n")),
        "{streams:?}"
    );

    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    f.launch();
    let st = f.client().state().unwrap_or_else(|e| panic!("state: {e}"));
    assert_eq!(st.status, Status::Running);
    assert!(st.pid > 0 && alive(st.pid));
    f.client()
        .signal(libc::SIGKILL, None)
        .unwrap_or_else(|e| panic!("signal: {e}"));
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 137);
    assert_eq!(exit.signal, Some(libc::SIGKILL));
}

#[test]
fn start_failure_is_an_exit() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["/no/such/program"]),
        |c| c.start = false,
    );
    f.launch();
    let mut c = f.client();
    let err = c.start().err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("/no/such/program"), "{err}");
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 127);
    assert!(exit.error.is_some());
}

#[test]
fn continuous_output_in_order_with_rotation() {
    let f = fixture(
        sh("i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done"),
        |c| {
            if let Some(l) = c.log.as_mut() {
                l.max_size = Some(20_000);
                l.max_file = 3;
            }
        },
    );
    f.launch();
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    let path = f.log_path();
    assert_eq!(logs::files(&path).len(), 3, "{:?}", logs::files(&path));
    assert!(!logs::rotated(&path, 3).exists());
    let (entries, _) = logs::read(
        &path,
        &logs::ReadOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("read logs: {e}"));
    let lines: Vec<&str> = entries.iter().map(|e| e.log.as_str()).collect();
    assert!(lines.len() > 100, "{}", lines.len());
    let first: usize = lines[0]
        .trim_end()
        .strip_prefix("line ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("first line {:?}", lines[0]));
    let want: Vec<String> = (first..5000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(lines, want);
    for p in logs::files(&path) {
        let size = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(size < 20_000 + 200, "{} is {size} bytes", p.display());
    }
}

#[test]
fn nobody_reading_does_not_block_the_container() {
    // 50 MiB of 1000-byte lines, as fast as the container can write them.
    let f = fixture(
        sh("yes $(printf '%0999d' 0) | head -c 52428800; echo; echo done"),
        |c| {
            if let Some(l) = c.log.as_mut() {
                l.max_size = Some(10 << 20);
                l.max_file = 2;
            }
        },
    );
    let t = Instant::now();
    f.launch();
    let mut c = f.client();
    let _ = c.set_read_timeout(Some(Duration::from_secs(300)));
    let exit = c.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    let last = logs::read_all(&f.log_path())
        .unwrap_or_default()
        .pop()
        .map(|e| e.log);
    assert_eq!(last.as_deref(), Some("done\n"));
    eprintln!("50 MiB through the shim in {:?}", t.elapsed());
}

#[test]
fn survives_its_parent_and_a_new_client_reconnects() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    // An intermediate process starts the shim, then is SIGKILLed.
    let mut parent = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" \"$1\" >/dev/null && exec sleep 1000")
        .arg(SHIM)
        .arg(f.dir())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let end = Instant::now() + Duration::from_secs(20);
    while f.shim_pid().is_none() {
        assert!(Instant::now() < end, "the shim did not come up");
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = parent.kill();
    let _ = parent.wait();
    std::thread::sleep(Duration::from_millis(100));
    let shim = f.shim_pid().unwrap_or(0);
    assert!(alive(shim), "the shim died with its parent");
    let st = f.client().state().unwrap_or_else(|e| panic!("state: {e}"));
    assert_eq!(st.status, Status::Running);
    // Its own session, so no terminal or group signal of the parent reaches it.
    let sid = rustix::process::getsid(rustix::process::Pid::from_raw(shim))
        .map(|p| p.as_raw_nonzero().get())
        .unwrap_or(0);
    assert_eq!(sid, shim);
    f.client()
        .signal(libc::SIGKILL, None)
        .unwrap_or_else(|e| panic!("signal: {e}"));
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 137);
}

#[test]
fn sigkill_of_the_shim_kills_the_container_and_clients_get_an_error() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    let shim = f.launch();
    let st = f.client().state().unwrap_or_else(|e| panic!("state: {e}"));
    let waiter = {
        let mut c = f.client();
        std::thread::spawn(move || c.wait())
    };
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) takes integers; the pid is the shim this test started.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    assert!(gone_within(shim, Duration::from_secs(5)));
    // The container dies with its shim.
    assert!(
        gone_within(st.pid, Duration::from_secs(5)),
        "container {} outlived its shim",
        st.pid
    );
    // A waiting client hears of it, a new one gets a clear error.
    match waiter.join() {
        Ok(Err(ProtoError::Closed)) => {}
        other => panic!("waiting client: {other:?}"),
    }
    match Client::connect(f.dir()) {
        Err(e @ ProtoError::NotRunning { .. }) => {
            assert!(e.to_string().contains("not running"), "{e}")
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("connected to a dead shim"),
    }
}

#[test]
fn attach_stdin_and_stdout_of_cat() {
    let f = fixture(Bundle::with_shared_rootfs().args(&["cat"]), |c| {
        c.start = false;
        c.open_stdin = true;
        c.stdin_once = true;
    });
    f.launch();
    let attach = |stdin| AttachRequest {
        stdin,
        stdout: true,
        stderr: true,
    };
    let (tty, mut s) = f
        .client()
        .attach(attach(true))
        .unwrap_or_else(|e| panic!("attach: {e}"));
    assert!(!tty);
    // A second client at once, output only.
    let (_, mut s2) = f
        .client()
        .attach(attach(false))
        .unwrap_or_else(|e| panic!("attach: {e}"));
    f.client().start().unwrap_or_else(|e| panic!("start: {e}"));
    s.write_all(b"hello shim\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    read_until(&mut s, StreamId::Stdout, "hello shim\n");
    read_until(&mut s2, StreamId::Stdout, "hello shim\n");
    // EOF on stdin closes cat's stdin (StdinOnce): it exits 0, the streams end.
    let _ = s.shutdown(std::net::Shutdown::Write);
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    let mut rest = Vec::new();
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.read_to_end(&mut rest)
        .unwrap_or_else(|e| panic!("stream did not end: {e}"));
    assert_eq!(f.log_text(), "hello shim\n");
}

#[test]
fn tty_resize_seen_by_stty() {
    let f = fixture(
        Bundle::with_shared_rootfs().terminal(true).args(&[
            "sh",
            "-c",
            "read x; stty size; echo bye",
        ]),
        |c| {
            c.start = false;
            c.open_stdin = true;
        },
    );
    f.launch();
    let (tty, mut s) = f
        .client()
        .attach(AttachRequest {
            stdin: true,
            stdout: true,
            stderr: true,
        })
        .unwrap_or_else(|e| panic!("attach: {e}"));
    assert!(tty);
    f.client().start().unwrap_or_else(|e| panic!("start: {e}"));
    f.client()
        .resize(37, 111, None)
        .unwrap_or_else(|e| panic!("resize: {e}"));
    s.write_all(b"go\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("bye") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read: {e} (got {:?})", String::from_utf8_lossy(&got)),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("37 111"), "{text:?}");
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    assert!(f.log_text().contains("37 111"));
}

fn exec_process(f: &Fixture, args: &[&str], tty: bool) -> oci_spec::runtime::Process {
    let cfg: serde_json::Value = f.bundle.config().clone();
    let mut p: oci_spec::runtime::Process =
        serde_json::from_value(cfg["process"].clone()).unwrap_or_else(|e| panic!("process: {e}"));
    p.set_args(Some(args.iter().map(|s| s.to_string()).collect()));
    p.set_terminal(Some(tty));
    p
}

#[test]
fn exec_streams_and_exit_code() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    f.launch();
    let process = exec_process(
        &f,
        &["sh", "-c", "read x; echo out $x; echo err >&2; exit 3"],
        false,
    );
    let (pid, tty, s) = f
        .client()
        .exec(ExecRequest {
            exec_id: "e1".into(),
            process,
            stdin: true,
            detach: false,
        })
        .unwrap_or_else(|e| panic!("exec: {e}"));
    assert!(pid > 0 && !tty);
    let mut s = s.unwrap_or_else(|| panic!("no stream"));
    s.write_all(b"in\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let mut out = String::new();
    let mut err = String::new();
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    loop {
        match read_frame(&mut s) {
            Ok(Some((StreamId::Stdout, data))) => out.push_str(&String::from_utf8_lossy(&data)),
            Ok(Some((_, data))) => err.push_str(&String::from_utf8_lossy(&data)),
            Ok(None) => break,
            Err(e) => panic!("the exec stream did not end: {e} (out {out:?}, err {err:?})"),
        }
    }
    assert_eq!(out, "out in\n");
    assert_eq!(err, "err\n");
    let code = f
        .client()
        .exec_wait("e1")
        .unwrap_or_else(|e| panic!("exec wait: {e}"));
    assert_eq!(code, 3);
    // Exec output is not the container's log.
    assert_eq!(f.log_text(), "");
    // A detached exec and a signal to it.
    let process = exec_process(&f, &["sleep", "1000"], false);
    let _ = f
        .client()
        .exec(ExecRequest {
            exec_id: "e2".into(),
            process,
            stdin: false,
            detach: true,
        })
        .unwrap_or_else(|e| panic!("exec: {e}"));
    f.client()
        .signal(libc::SIGKILL, Some("e2"))
        .unwrap_or_else(|e| panic!("signal: {e}"));
    let code = f
        .client()
        .exec_wait("e2")
        .unwrap_or_else(|e| panic!("exec wait: {e}"));
    assert_eq!(code, 137);
}

#[test]
fn signals_to_the_shim_are_forwarded() {
    let f = fixture(
        sh("trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.1; done"),
        |_| {},
    );
    let shim = f.launch();
    let end = Instant::now() + Duration::from_secs(20);
    while !f.log_text().contains("ready") {
        assert!(Instant::now() < end, "the container did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: kill(2) takes integers; the pid is the shim this test started.
    unsafe { libc::kill(shim, libc::SIGTERM) };
    let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 7);
    assert!(f.log_text().contains("got TERM\n"));
}

#[test]
fn stats_are_numbers() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    f.launch();
    let stats = f.client().stats().unwrap_or_else(|e| panic!("stats: {e}"));
    let pids = stats["pids"]["current"].as_u64().unwrap_or(0);
    assert!(pids >= 1, "{stats}");
    assert!(
        stats["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "{stats}"
    );
}

#[test]
fn shutdown_refuses_a_running_container_unless_kill() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    let shim = f.launch();
    let err = f
        .client()
        .shutdown(false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("running"), "{err}");
    f.client()
        .shutdown(true)
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    assert!(gone_within(shim, Duration::from_secs(10)));
    // The runtime's state is gone, the exit recorded.
    assert!(!f.root.path().join(&f.id).exists());
    assert!(f.dir().join(files::EXIT).exists());
    assert!(!f.dir().join(files::SOCKET).exists());
}

#[test]
fn twenty_shims_in_parallel() {
    let fixtures: Vec<Fixture> = (0..20)
        .map(|i| fixture(sh(&format!("echo container {i}")), |_| {}))
        .collect();
    std::thread::scope(|s| {
        for f in &fixtures {
            s.spawn(move || {
                f.launch();
                let exit = f.client().wait().unwrap_or_else(|e| panic!("wait: {e}"));
                assert_eq!(exit.exit_code, 0);
            });
        }
    });
    for (i, f) in fixtures.iter().enumerate() {
        assert_eq!(f.log_text(), format!("container {i}\n"));
    }
}

#[test]
fn keeps_no_descriptor_of_its_starter() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    // A pipe the starter leaks (not close-on-exec): once the launcher is gone and we close our
    // write end, the read end must see EOF, so the shim (and its container) hold no copy.
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::empty())
        .unwrap_or_else(|e| panic!("pipe: {e}"));
    f.launch();
    assert_eq!(
        f.client().state().map(|s| s.status).ok(),
        Some(Status::Running)
    );
    drop(wr);
    let mut file = std::fs::File::from(rd);
    let mut buf = Vec::new();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(file.read_to_end(&mut buf).map(|_| buf.len()));
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(0)) => {}
        other => panic!("the shim kept the starter's pipe open: {other:?}"),
    }
}

#[test]
fn a_client_that_does_not_read_is_dropped_not_waited_for() {
    let f = fixture(
        sh("yes $(printf '%0999d' 0) | head -c 31457280; echo; echo done"),
        |c| {
            c.start = false;
            c.log = None;
        },
    );
    f.launch();
    let (_, mut lazy) = f
        .client()
        .attach(AttachRequest {
            stdin: false,
            stdout: true,
            stderr: true,
        })
        .unwrap_or_else(|e| panic!("attach: {e}"));
    f.client().start().unwrap_or_else(|e| panic!("start: {e}"));
    let mut c = f.client();
    let _ = c.set_read_timeout(Some(Duration::from_secs(300)));
    let exit = c.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert_eq!(exit.exit_code, 0);
    // The lazy client got at most its buffer (and the socket's), then the end.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let _ = lazy.set_read_timeout(Some(Duration::from_secs(20)));
    loop {
        match lazy.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => panic!("the dropped client's stream did not end: {e}"),
        }
    }
    assert!(got < 10 << 20, "a client that did not read got {got} bytes");
}

#[test]
fn logs_followed_while_the_container_writes_and_rotates() {
    let f = fixture(
        // Paced (a pause every 40 lines, ~half a file), so that the reader is never a whole
        // max-file of rotations behind: files rotated away unread are lost, as with docker.
        sh("i=0; while [ $i -lt 3000 ]; do echo line $i; i=$((i+1)); \
            [ $((i % 40)) = 0 ] && sleep 0.02; done; true"),
        |c| {
            c.start = false;
            if let Some(l) = c.log.as_mut() {
                l.max_size = Some(8_000);
                l.max_file = 4;
            }
        },
    );
    f.launch();
    let opts = logs::ReadOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let (mut seen, mut follower) =
        logs::read(&f.log_path(), &opts).unwrap_or_else(|e| panic!("read: {e}"));
    f.client().start().unwrap_or_else(|e| panic!("start: {e}"));
    let end = Instant::now() + Duration::from_secs(60);
    while seen.len() < 3000 && Instant::now() < end {
        seen.extend(follower.poll().unwrap_or_else(|e| panic!("follow: {e}")));
        std::thread::sleep(Duration::from_millis(1));
    }
    let lines: Vec<&str> = seen.iter().map(|e| e.log.as_str()).collect();
    let want: Vec<String> = (0..3000).map(|i| format!("line {i}\n")).collect();
    if lines != want {
        let first_bad = lines.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{} lines followed, first difference at {first_bad:?}",
            lines.len()
        );
    }
    assert_eq!(f.client().wait().map(|e| e.exit_code).ok(), Some(0));
    assert_eq!(logs::files(&f.log_path()).len(), 4);
}

#[test]
fn pause_resume_and_update() {
    let f = fixture(
        sh("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.05; done"),
        |_| {},
    );
    f.launch();
    f.client().pause().unwrap_or_else(|e| panic!("pause: {e}"));
    assert_eq!(
        f.client().state().map(|s| s.status).ok(),
        Some(Status::Paused)
    );
    let before = f.log_text().len();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        f.log_text().len(),
        before,
        "a paused container kept printing"
    );
    let err = f
        .client()
        .exec(ExecRequest {
            exec_id: "x".into(),
            process: exec_process(&f, &["true"], false),
            stdin: false,
            detach: true,
        })
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("paused"), "{err}");
    f.client()
        .resume()
        .unwrap_or_else(|e| panic!("resume: {e}"));
    let end = Instant::now() + Duration::from_secs(10);
    while f.log_text().len() == before {
        assert!(Instant::now() < end, "the container did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
    let resources: oci_spec::runtime::LinuxResources =
        serde_json::from_value(json!({ "pids": { "limit": 77 } }))
            .unwrap_or_else(|e| panic!("resources: {e}"));
    f.client()
        .update(resources)
        .unwrap_or_else(|e| panic!("update: {e}"));
    let stats = f.client().stats().unwrap_or_else(|e| panic!("stats: {e}"));
    assert_eq!(stats["pids"]["limit"].as_u64(), Some(77), "{stats}");
    // A paused container is killed by shutdown with kill, not left frozen.
    f.client().pause().unwrap_or_else(|e| panic!("pause: {e}"));
    let shim = f.shim_pid().unwrap_or(0);
    f.client()
        .shutdown(true)
        .unwrap_or_else(|e| panic!("shutdown: {e}"));
    assert!(gone_within(shim, Duration::from_secs(10)));
}

#[test]
fn exec_with_a_terminal_is_resized() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    f.launch();
    let (_, tty, s) = f
        .client()
        .exec(ExecRequest {
            exec_id: "t".into(),
            process: exec_process(&f, &["sh", "-c", "read x; stty size; exit 5"], true),
            stdin: true,
            detach: false,
        })
        .unwrap_or_else(|e| panic!("exec: {e}"));
    assert!(tty);
    let mut s = s.unwrap_or_else(|| panic!("no stream"));
    f.client()
        .resize(21, 83, Some("t"))
        .unwrap_or_else(|e| panic!("resize: {e}"));
    s.write_all(b"go\n")
        .unwrap_or_else(|e| panic!("write: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .unwrap_or_else(|e| panic!("the exec stream did not end: {e}"));
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("21 83"), "{text:?}");
    assert_eq!(f.client().exec_wait("t").ok(), Some(5));
}

#[test]
fn a_new_shim_takes_over_after_one_was_killed() {
    let f = fixture(
        Bundle::with_shared_rootfs().args(&["sleep", "1000"]),
        |_| {},
    );
    let shim = f.launch();
    let first = f.client().state().map(|s| s.pid).unwrap_or(0);
    // SAFETY: kill(2) takes integers; the pid is the shim this test started.
    unsafe { libc::kill(shim, libc::SIGKILL) };
    assert!(gone_within(first, Duration::from_secs(5)));
    // The dead shim left the runtime's state and the cgroup behind; the next one clears them
    // and runs the container again (a restart).
    assert!(f.root.path().join(&f.id).exists());
    f.launch();
    let st = f.client().state().unwrap_or_else(|e| panic!("state: {e}"));
    assert_eq!(st.status, Status::Running);
    assert!(st.pid != first && alive(st.pid));
}
