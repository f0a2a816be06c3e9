//! Containers through berthd, driven by the real docker CLI: each test has its own berthd
//! (temp root and exec root) and a busybox image imported offline (busybox-static's binary
//! and its applet links, `docker import`). Containers use `--network none` (bridges belong
//! to the network issue). Needs docker.io (the CLI) and busybox-static; runs as root.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::Berthd;

const NONE: &str = "--network=none";

/// A berthd with `busybox:latest` imported.
fn setup() -> Option<Berthd> {
    if !berth_testutil::require_root()
        || !berth_testutil::require_files(&["/bin/busybox"], "busybox-static")
        || !berth_testutil::require(
            Command::new("docker").arg("--version").output().is_ok(),
            "docker (docker.io)",
        )
    {
        return None;
    }
    common::shim_bin();
    let d = Berthd::start();
    common::import_busybox(&d);
    Some(d)
}

/// Polls `f` until it is true or `secs` pass.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Nothing of container `id` is left on the host: mount, cgroup, shim, state.
fn assert_gone(d: &Berthd, id: &str) {
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id), "a mount of {id} is left");
    for p in d.cgroup_dirs(id) {
        assert!(!p.exists(), "{} is left", p.display());
    }
    assert!(!d.exec_root().join("c").join(id).exists());
    assert!(!d.root().join("containers").join(id).exists());
    let out = Command::new("pgrep").args(["-f", id]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "processes of {id} are left"
    );
}

#[test]
fn run_rm_output_and_exit_codes() {
    let Some(d) = setup() else { return };
    let out = d.docker(&["run", "--rm", NONE, "busybox", "echo", "hi"]);
    out.assert_success();
    assert_eq!(out.stdout, "hi\n");
    d.docker(&["run", "--rm", NONE, "busybox", "sh", "-c", "exit 42"])
        .assert_code(42);
    let out = d.docker(&["run", "--rm", NONE, "busybox", "nosuch"]);
    out.assert_code(127);
    assert!(
        out.stderr
            .contains("exec: \"nosuch\": executable file not found in $PATH"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["run", "--rm", NONE, "busybox", "/etc"]);
    out.assert_code(126);
    assert!(
        out.stderr.contains("exec: \"/etc\": permission denied"),
        "{}",
        out.stderr
    );
    // No bridge networking yet: a clear 400 naming what works.
    let out = d.docker(&["run", "--rm", "busybox", "true"]);
    out.assert_code(125);
    assert!(out.stderr.contains("--network none|host"), "{}", out.stderr);
    // --network host: the host's network namespace and name.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/net",
    ]);
    out.assert_success();
    let host_ns = fs::read_link("/proc/self/ns/net").unwrap();
    let host_name = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(out.stdout, format!("{}{}\n", host_name, host_ns.display()));
    // --rm removed every container.
    let out = d.docker(&["ps", "-aq"]);
    out.assert_success();
    assert_eq!(out.stdout, "");

    // logs: the streams apart, --tail, -t.
    d.docker(&[
        "run",
        "--name",
        "lg",
        NONE,
        "busybox",
        "sh",
        "-c",
        "echo one; echo two >&2; echo three",
    ])
    .assert_success();
    let out = d.docker(&["logs", "lg"]);
    assert_eq!(out.stdout, "one\nthree\n");
    assert_eq!(out.stderr, "two\n");
    // The last message of either stream (the shim reads the two pipes in turn).
    let out = d.docker(&["logs", "--tail", "1", "lg"]);
    assert_eq!(
        out.stdout.lines().count() + out.stderr.lines().count(),
        1,
        "{out}"
    );
    let out = d.docker(&["logs", "-t", "lg"]);
    let first = out.stdout.lines().next().unwrap_or_default().to_owned();
    let (ts, msg) = first.split_once(' ').unwrap();
    assert_eq!(msg, "one");
    // RFC 3339 with nanoseconds, trailing zeros trimmed as Go prints them.
    assert!(
        ts.ends_with('Z') && ts.contains('T') && (21..=30).contains(&ts.len()),
        "{ts}"
    );
    // logs -f ends when the container does, with every line.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "brief",
        NONE,
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b",
    ])
    .assert_success();
    let out = d.docker(&["logs", "-f", "brief"]);
    out.assert_success();
    assert_eq!(out.stdout, "a\nb\n");
    d.docker(&["rm", "brief"]).assert_success();
    // create, then start -a twice: each run attached before its start.
    d.docker(&[
        "create", "--name", "twice", NONE, "busybox", "echo", "started",
    ])
    .assert_success();
    for _ in 0..2 {
        let out = d.docker(&["start", "-a", "twice"]);
        out.assert_success();
        assert_eq!(out.stdout, "started\n");
    }
    assert_eq!(d.docker(&["logs", "twice"]).stdout, "started\nstarted\n");
    d.docker(&["rm", "twice"]).assert_success();
    // rmi -f of an image a stopped container uses untags it only, as dockerd.
    let out = d.docker(&["rmi", "-f", "busybox"]);
    out.assert_success();
    assert_eq!(out.stdout, "Untagged: busybox:latest\n");
    let out = d.docker(&["inspect", "-f", "{{.State.Status}}", "lg"]);
    assert_eq!(out.stdout_trimmed(), "exited");
    d.docker(&["rm", "lg"]).assert_success();
}

#[test]
fn detached_logs_stop_ps_inspect_exec_wait_rename_pause_rm() {
    let Some(d) = setup() else { return };
    let script = "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done";
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "tier=front",
        NONE,
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    out.assert_success();
    let id = out.stdout_trimmed().to_owned();
    assert_eq!(id.len(), 64);
    eventually(10, "three log lines", || {
        d.docker(&["logs", "web"]).stdout.lines().count() >= 3
    });
    let logs = d.docker(&["logs", "web"]).stdout;
    assert!(logs.starts_with("line 0\nline 1\nline 2\n"), "{logs}");
    // logs -f follows; a bounded read ends it.
    let mut cmd = Command::new("timeout");
    cmd.env("DOCKER_HOST", d.host())
        .args(["3", "docker", "logs", "-f", "--tail", "1", "web"]);
    let followed = cmd.output().unwrap();
    let n = String::from_utf8_lossy(&followed.stdout).lines().count();
    assert!(n >= 5, "logs -f gave {n} lines in 3 s");

    let pid = d.docker(&["inspect", "-f", "{{.State.Pid}}", "web"]);
    pid.assert_success();
    let pid: i32 = pid.stdout_trimmed().parse().unwrap();
    assert!(pid > 0 && Path::new(&format!("/proc/{pid}")).exists());
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.Name}} {{.Config.Labels.tier}}",
        "web",
    ]);
    assert_eq!(out.stdout_trimmed(), "running /web front");

    let out = d.docker(&["exec", "web", "sh", "-c", "echo in-exec; exit 7"]);
    out.assert_code(7);
    assert_eq!(out.stdout, "in-exec\n");

    d.docker(&["pause", "web"]).assert_success();
    let out = d.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(out.stdout.contains("(Paused)"), "{}", out.stdout);
    d.docker(&["unpause", "web"]).assert_success();
    let top = d.docker(&["top", "web"]);
    top.assert_success();
    assert!(top.stdout.contains("while true"), "{}", top.stdout);

    // A second container that exits, for the filters.
    d.docker(&[
        "run", "--name", "done", NONE, "busybox", "sh", "-c", "exit 3",
    ])
    .assert_code(3);
    let out = d.docker(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}|{{.Status}}|{{.Command}}",
    ]);
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(lines[0].starts_with("done|Exited (3) "), "{}", lines[0]);
    assert!(lines[1].starts_with("web|Up "), "{}", lines[1]);
    let names = |f: &str| {
        let out = d.docker(&["ps", "-a", "--format", "{{.Names}}", "-f", f]);
        out.assert_success();
        out.stdout.clone()
    };
    assert_eq!(names("status=exited"), "done\n");
    assert_eq!(names("status=running"), "web\n");
    assert_eq!(names("exited=3"), "done\n");
    assert_eq!(names("label=tier=front"), "web\n");
    assert_eq!(names("name=we"), "web\n");
    assert_eq!(names("ancestor=busybox"), "done\nweb\n");
    assert_eq!(d.docker(&["ps", "-q"]).stdout_trimmed(), &id[..12]);

    // Errors: unknown id 404, name in use 409, removing a running container 409, an image
    // in use 409.
    let out = d.docker(&["inspect", "--type", "container", "nosuch"]);
    out.assert_failure();
    let out = d.curl(&["-i", "http://x/v1.41/containers/nosuch/json"]);
    let (status, _, body) = common::parse_response(&out.stdout);
    assert_eq!(status, 404);
    assert!(body.contains("No such container: nosuch"), "{body}");
    let out = d.docker(&["create", "--name", "web", NONE, "busybox"]);
    out.assert_failure();
    assert!(
        out.stderr.contains("is already in use by container"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["rm", "web"]);
    assert!(
        out.stderr.contains("You cannot remove a running container"),
        "{}",
        out.stderr
    );
    let out = d.docker(&["rmi", "busybox"]);
    assert!(
        out.stderr.contains(
            "conflict: unable to remove repository reference \"busybox\" (must force) - container"
        ),
        "{}",
        out.stderr
    );

    // The wait's 200 header goes out at once (the CLI waits for it before it starts a
    // container); the body at the exit.
    {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
        s.write_all(
            b"POST /v1.41/containers/web/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\
              Content-Length: 0\r\n\r\n",
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(!head.contains("StatusCode"), "{head}");
    }
    // wait before the stop answers with the exit code; stop kills sh (pid 1 ignores TERM).
    let waiter = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .args(["wait", "web"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    d.docker(&["stop", "-t", "1", "web"]).assert_success();
    let w = waiter.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&w.stdout).trim(), "137");
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(out.stdout_trimmed(), "exited 137");

    d.docker(&["rename", "web", "web2"]).assert_success();
    assert_eq!(
        d.docker(&["inspect", "-f", "{{.Name}}", &id])
            .stdout_trimmed(),
        "/web2"
    );
    d.docker(&["rm", "web2", "done"]).assert_success();
    assert_gone(&d, &id);
    d.docker(&["rmi", "busybox"]).assert_success();
}

#[test]
fn containers_survive_a_berthd_kill_and_their_exits_and_logs_are_kept() {
    let Some(mut d) = setup() else { return };
    let printer = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.01; done";
    let mut ids = Vec::new();
    for (name, cmd) in [
        ("p1", printer),
        ("p2", printer),
        ("s1", "sleep 1000"),
        ("s2", "sleep 1000"),
        ("quitter", "sleep 3; exit 5"),
    ] {
        let out = d.docker(&[
            "run", "-d", "--name", name, NONE, "busybox", "sh", "-c", cmd,
        ]);
        out.assert_success();
        ids.push(out.stdout_trimmed().to_owned());
    }
    d.docker(&["pause", "s2"]).assert_success();
    thread::sleep(Duration::from_millis(500));
    common::signal(d.pid(), libc::SIGKILL);
    let mut child = d.child.take().unwrap();
    child.wait().unwrap();
    // The quitter exits while berthd is down.
    thread::sleep(Duration::from_secs(4));
    let child = d.command(&[]).spawn().unwrap();
    d.child = Some(child);
    eventually(20, "berthd to listen again", || {
        std::os::unix::net::UnixStream::connect(d.socket()).is_ok()
    });
    let out = d.docker(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    out.assert_success();
    for name in ["p1", "p2", "s1"] {
        assert!(
            out.stdout.contains(&format!("{name} running")),
            "{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("s2 paused"), "{}", out.stdout);
    d.docker(&["unpause", "s2"]).assert_success();
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "quitter",
    ]);
    assert_eq!(out.stdout_trimmed(), "exited 5");
    // The printers' logs: every number, in order, across the outage.
    thread::sleep(Duration::from_millis(500));
    for name in ["p1", "p2"] {
        d.docker(&["stop", "-t", "1", name]).assert_success();
        let logs = d.docker(&["logs", name]);
        logs.assert_success();
        let nums: Vec<u64> = logs.stdout.lines().map(|l| l.parse().unwrap()).collect();
        assert!(nums.len() > 100, "{name}: only {} lines", nums.len());
        for (i, n) in nums.iter().enumerate() {
            assert_eq!(*n, i as u64, "{name}: line {i} is {n}");
        }
    }
    let mut args = vec!["rm", "-f"];
    args.extend(ids.iter().map(String::as_str));
    d.docker(&args).assert_success();
    for id in &ids {
        assert_gone(&d, id);
    }
}

#[test]
fn events_stats_attach_restart_policies_and_a_lost_shim() {
    let Some(d) = setup() else { return };
    // Events during a run, with their exit code.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    d.docker(&[
        "run", "--rm", "--name", "ev", NONE, "busybox", "sh", "-c", "exit 4",
    ])
    .assert_code(4);
    let until = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1)
    .to_string();
    let mut cmd = Command::new("timeout");
    cmd.env("DOCKER_HOST", d.host()).args([
        "-s",
        "KILL",
        "10",
        "docker",
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "container=ev",
        "--format",
        "{{.Action}}{{with .Actor.Attributes.exitCode}} {{.}}{{end}}",
    ]);
    // --until: the stream ends by itself.
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let actions: Vec<&str> = text.lines().map(str::trim).collect();
    for want in ["create", "attach", "start", "die 4", "destroy"] {
        assert!(actions.contains(&want), "no {want:?} in {actions:?}");
    }

    // stats --no-stream of a busy container: a CPU % from two real samples.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        NONE,
        "busybox",
        "sh",
        "-c",
        "while true; do :; done",
    ])
    .assert_success();
    let out = d.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.PIDs}}",
        "busy",
    ]);
    out.assert_success();
    let fields: Vec<&str> = out.stdout_trimmed().split(' ').collect();
    assert_eq!(fields[0], "busy");
    let cpu: f64 = fields[1].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 5.0, "cpu {cpu}% for a busy loop");
    assert_eq!(fields[2], "1");

    // Attach to a running container sees its new output.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "talker",
        NONE,
        "busybox",
        "sh",
        "-c",
        "i=0; while true; do echo t$i; i=$((i+1)); sleep 0.1; done",
    ])
    .assert_success();
    let mut cmd = Command::new("timeout");
    cmd.env("DOCKER_HOST", d.host()).args([
        "-s",
        "KILL",
        "2",
        "docker",
        "attach",
        "--sig-proxy=false",
        "talker",
    ]);
    let out = cmd.output().unwrap();
    let n = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('t'))
        .count();
    assert!(n >= 3, "attach saw {n} lines");
    // stdin through attach: `run -i`.
    let mut child = Command::new("docker")
        .env("DOCKER_HOST", d.host())
        .args([
            "run",
            "-i",
            "--rm",
            NONE,
            "busybox",
            "sh",
            "-c",
            "read x; echo got $x",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got hello\n");

    // update: the new limit is recorded and reaches the running container's cgroup.
    d.docker(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--restart",
        "on-failure:3",
        "talker",
    ])
    .assert_success();
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}",
        "talker",
    ]);
    assert_eq!(out.stdout_trimmed(), format!("{} on-failure", 64 << 20));
    let tid = d
        .docker(&["inspect", "-f", "{{.Id}}", "talker"])
        .stdout_trimmed()
        .to_owned();
    let parent = d.cgroup_parent();
    let v1 = format!("/sys/fs/cgroup/memory/{parent}/{tid}/memory.limit_in_bytes");
    let v2 = format!("/sys/fs/cgroup/{parent}/{tid}/memory.max");
    let limit = fs::read_to_string(&v1)
        .or_else(|_| fs::read_to_string(&v2))
        .unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    // restart, and the policies.
    let before = d
        .docker(&["inspect", "-f", "{{.State.Pid}}", "talker"])
        .stdout;
    d.docker(&["restart", "-t", "1", "talker"]).assert_success();
    let after = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Pid}}",
        "talker",
    ]);
    assert!(after.stdout.starts_with("running "), "{}", after.stdout);
    assert_ne!(
        before.trim(),
        after.stdout_trimmed().trim_start_matches("running ")
    );
    d.docker(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        NONE,
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ])
    .assert_success();
    eventually(20, "two restarts of flaky", || {
        let out = d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}",
            "flaky",
        ]);
        out.stdout_trimmed() == "exited 3 2"
    });

    // --network container:NAME joins the other's network namespace and takes its hostname.
    let pid = d.docker(&["inspect", "-f", "{{.State.Pid}}", "talker"]);
    let netns = fs::read_link(format!("/proc/{}/ns/net", pid.stdout_trimmed())).unwrap();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "container:talker",
        "busybox",
        "sh",
        "-c",
        "hostname; readlink /proc/self/ns/net",
    ]);
    out.assert_success();
    let talker_host = d.docker(&["inspect", "-f", "{{.Config.Hostname}}", "talker"]);
    assert_eq!(
        out.stdout,
        format!("{}\n{}\n", talker_host.stdout_trimmed(), netns.display())
    );

    // The shim SIGKILLed: the container dies with it and is reported exited 255, with an
    // error naming the shim; nothing hangs.
    d.docker(&[
        "run", "-d", "--name", "orphan", NONE, "busybox", "sleep", "1000",
    ])
    .assert_success();
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "orphan"])
        .stdout_trimmed()
        .to_owned();
    let shim_pid = fs::read_to_string(d.exec_root().join("c").join(&id).join("shim.pid")).unwrap();
    common::signal(shim_pid.trim().parse().unwrap(), libc::SIGKILL);
    eventually(10, "orphan to be reported dead", || {
        d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "orphan",
        ])
        .stdout_trimmed()
            == "exited 255"
    });
    let err = d.docker(&["inspect", "-f", "{{.State.Error}}", "orphan"]);
    assert!(err.stdout.contains("shim"), "{}", err.stdout);

    // prune removes the stopped ones; rm -f the rest; nothing left.
    let ids: Vec<String> = d
        .docker(&["ps", "-aq", "--no-trunc"])
        .stdout_lines()
        .iter()
        .map(|s| s.to_string())
        .collect();
    d.docker(&["container", "prune", "-f"]).assert_success();
    let left = d.docker(&["ps", "-a", "--format", "{{.Names}}"]).stdout;
    let mut left: Vec<&str> = left.lines().collect();
    left.sort_unstable();
    assert_eq!(left, ["busy", "talker"]);
    d.docker(&["rm", "-f", "busy", "talker"]).assert_success();
    for id in &ids {
        assert_gone(&d, id);
    }
}

#[test]
fn tty_parallel_runs_df_and_always_containers_after_a_daemon_restart() {
    let Some(mut d) = setup() else { return };
    // run -it in a real pty (util-linux's script): the container sees the client's size.
    let docker = format!(
        "stty rows 33 cols 99; DOCKER_HOST={} docker run -it --rm {NONE} busybox sh -c 'stty size'",
        d.host()
    );
    let out = Command::new("timeout")
        .args(["-s", "KILL", "20", "script", "-qec", &docker, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("33 99"), "{text:?}");

    // 50 parallel `run --rm`, all answered, nothing left.
    let children: Vec<_> = (0..50)
        .map(|i| {
            Command::new("docker")
                .env("DOCKER_HOST", d.host())
                .args(["run", "--rm", NONE, "busybox", "echo", &format!("ok{i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (i, c) in children.into_iter().enumerate() {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("ok{i}\n"));
    }
    assert_eq!(d.docker(&["ps", "-aq"]).stdout, "");
    assert_eq!(fs::read_dir(d.exec_root().join("c")).unwrap().count(), 0);

    // system df counts containers.
    d.docker(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "--restart",
        "always",
        NONE,
        "busybox",
        "sleep",
        "1000",
    ])
    .assert_success();
    d.docker(&[
        "run",
        "-d",
        "--name",
        "stopped-always",
        "--restart",
        "always",
        NONE,
        "busybox",
        "sleep",
        "1000",
    ])
    .assert_success();
    d.docker(&["stop", "-t", "0", "stopped-always"])
        .assert_success();
    let out = d.docker(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    out.assert_success();
    assert!(out.stdout.contains("Containers 2 1"), "{}", out.stdout);

    // berthd stopped, an `always` container killed meanwhile (its shim SIGKILLed), berthd
    // started again: both `always` containers run again, the one `docker stop`ped too
    // (dockerd's rule: `always` comes back when the daemon starts).
    let id = d
        .docker(&["inspect", "-f", "{{.Id}}", "keeper"])
        .stdout_trimmed()
        .to_owned();
    let shim_pid = fs::read_to_string(d.exec_root().join("c").join(&id).join("shim.pid")).unwrap();
    d.terminate();
    common::signal(shim_pid.trim().parse().unwrap(), libc::SIGKILL);
    thread::sleep(Duration::from_millis(300));
    let child = d.command(&[]).spawn().unwrap();
    d.child = Some(child);
    eventually(20, "berthd to listen again", || {
        std::os::unix::net::UnixStream::connect(d.socket()).is_ok()
    });
    eventually(20, "keeper to run again", || {
        d.docker(&["inspect", "-f", "{{.State.Status}}", "keeper"])
            .stdout_trimmed()
            == "running"
    });
    let count = d.docker(&["inspect", "-f", "{{.RestartCount}}", "keeper"]);
    assert_eq!(count.stdout_trimmed(), "1");
    eventually(20, "stopped-always to run again", || {
        d.docker(&["inspect", "-f", "{{.State.Status}}", "stopped-always"])
            .stdout_trimmed()
            == "running"
    });
    let ids: Vec<String> = d
        .docker(&["ps", "-aq", "--no-trunc"])
        .stdout_lines()
        .iter()
        .map(|s| s.to_string())
        .collect();
    d.docker(&["rm", "-f", "keeper", "stopped-always"])
        .assert_success();
    for id in &ids {
        assert_gone(&d, id);
    }
}
