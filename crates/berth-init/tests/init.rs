//! berth-init as the pid 1 of real containers (berth-runtime), and the same scenarios under a
//! private dockerd's `docker run --init` (its docker-init is tini), compared.
//!
//! The static musl build is what gets bind-mounted into containers (busybox images have no
//! libc); the tests build it (`cargo build --profile release-init --target
//! x86_64-unknown-linux-musl`, a no-op when fresh) unless `BERTH_INIT` names one.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use berth_testutil::{require, require_root, unique_id, Bundle, Dockerd, Runtime};

const INIT_PATH: &str = "/sbin/docker-init";

/// berth-runtime (the debug build beside this test) and the static init, or `None`.
fn setup() -> Option<(Runtime, PathBuf)> {
    if !require_root() {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let runtime = exe.parent()?.parent()?.join("berth-runtime");
    if !require(
        runtime.is_file(),
        &format!("{} (cargo build -p berth-runtime)", runtime.display()),
    ) {
        return None;
    }
    let init = berth_testutil::static_berth_init()?;
    Some((Runtime::berth_at(runtime), init))
}

/// A bundle whose pid 1 is `/sbin/docker-init -- ARGS` with the init bind-mounted read-only,
/// as dockerd writes the spec for `--init`.
fn init_bundle(init: &Path, args: &[&str]) -> Bundle {
    let bundle = Bundle::new();
    let sbin = bundle.rootfs().join("sbin");
    fs::create_dir_all(&sbin).unwrap();
    fs::write(sbin.join("docker-init"), b"").unwrap();
    let mut full = vec![INIT_PATH, "--"];
    full.extend_from_slice(args);
    bundle.bind_mount(init, INIT_PATH, true).args(&full)
}

/// Exit code and stderr of a container running `args` under the init.
fn berth_run(rt: &Runtime, init: &Path, args: &[&str]) -> (Option<i32>, String) {
    let bundle = init_bundle(init, args);
    let out = rt.run(&bundle, &unique_id("init"));
    (out.code(), out.stderr)
}

/// Orphans (double-forked sleeps) and one control zombie (a sleep's child that the sleep never
/// reaps): the states of every process before and after the orphans die, one `pid comm state
/// ppid` line each.
const ZOMBIE_SCRIPT: &str = r#"
states() { for f in /proc/[0-9]*/stat; do read -r pid comm st ppid rest < "$f" && echo "$1 $pid $comm $st $ppid"; done; }
sh -c 'sleep 0.05 & exec sleep 3' &
(sleep 0.4 &); (sleep 0.4 &); (sleep 0.4 &)
sleep 0.2; states BEFORE
sleep 0.8; states AFTER
"#;

/// Checks the output of [`ZOMBIE_SCRIPT`]: three orphans reparented to pid 1 before, no
/// zombie child of pid 1 after, and the control zombie seen in both (so a zombie would show).
fn check_zombies(who: &str, stdout: &str) {
    let rows = |phase: &str| -> Vec<Vec<String>> {
        stdout
            .lines()
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|f| f.len() == 5 && f[0] == phase)
            .collect()
    };
    let before = rows("BEFORE");
    let after = rows("AFTER");
    let orphans = before
        .iter()
        .filter(|f| f[2] == "(sleep)" && f[4] == "1" && f[3] != "Z")
        .count();
    assert_eq!(
        orphans, 3,
        "{who}: three orphans under pid 1 expected:\n{stdout}"
    );
    let control = |rows: &[Vec<String>]| rows.iter().any(|f| f[3] == "Z" && f[4] != "1");
    assert!(
        control(&before) && control(&after),
        "{who}: the control zombie must show:\n{stdout}"
    );
    let zombies: Vec<_> = after
        .iter()
        .filter(|f| f[3] == "Z" && f[4] == "1")
        .collect();
    assert!(
        zombies.is_empty(),
        "{who}: zombies left under pid 1: {zombies:?}\n{stdout}"
    );
    assert!(
        !after.iter().any(|f| f[2] == "(sleep)" && f[4] == "1"),
        "{who}: the orphans should be gone:\n{stdout}"
    );
}

/// Waits until `cond` holds (10 s at most).
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn exit_codes_pass_through() {
    let Some((rt, init)) = setup() else { return };
    for (script, code) in [("exit 0", 0), ("exit 42", 42), ("kill -KILL $$", 137)] {
        let (got, stderr) = berth_run(&rt, &init, &["sh", "-c", script]);
        assert_eq!(got, Some(code), "{script}: {stderr}");
    }
}

#[test]
fn missing_and_non_executable_commands() {
    let Some((rt, init)) = setup() else { return };
    let (code, stderr) = berth_run(&rt, &init, &["nope"]);
    assert_eq!(code, Some(127), "{stderr}");
    assert!(
        stderr.contains("exec nope failed: No such file or directory"),
        "{stderr}"
    );
    let (code, stderr) = berth_run(&rt, &init, &["/etc/passwd"]);
    assert_eq!(code, Some(126), "{stderr}");
    assert!(
        stderr.contains("exec /etc/passwd failed: Permission denied"),
        "{stderr}"
    );
}

/// Every catchable signal sent to pid 1 reaches the child shell (pid 2, not pid 1: it is the
/// init's child), which records it; SIGTERM makes it exit 7, which is the container's code.
#[test]
fn signals_are_forwarded() {
    let Some((rt, init)) = setup() else { return };
    let names = [
        "HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "ALRM", "CONT",
    ];
    let mut script = String::from("echo pid=$$\n");
    for n in names {
        script.push_str(&format!("trap 'echo {n} >> /got' {n}\n"));
    }
    script.push_str(
        "trap 'echo TERM >> /got; exit 7' TERM\ntouch /ready\nwhile :; do sleep 0.05; done\n",
    );
    let bundle = init_bundle(&init, &["sh", "-c", &script]).readonly_root(false);
    let got = bundle.rootfs().join("got");
    let ready = bundle.rootfs().join("ready");
    let id = unique_id("init");
    let out = thread::scope(|s| {
        let run = s.spawn(|| rt.run(&bundle, &id));
        wait_until("the child's traps", || ready.exists());
        for n in names.iter().chain(["TERM"].iter()) {
            rt.kill(&id, n).assert_success();
            wait_until(&format!("SIG{n} in the child"), || {
                fs::read_to_string(&got).is_ok_and(|t| t.lines().any(|l| l == *n))
            });
        }
        run.join().unwrap()
    });
    assert_eq!(out.code(), Some(7), "{out:?}");
    assert_eq!(out.stdout_trimmed(), "pid=2", "{out:?}");
}

#[test]
fn zombies_are_reaped() {
    let Some((rt, init)) = setup() else { return };
    let bundle = init_bundle(&init, &["sh", "-c", ZOMBIE_SCRIPT]);
    let out = rt.run(&bundle, &unique_id("init"));
    assert_eq!(out.code(), Some(0), "{out:?}");
    check_zombies("berth-init", &out.stdout);
}

/// The same scenarios under dockerd's `docker run --init` (tini): the same codes, the same
/// messages after tini's `[FATAL tini (7)]` prefix, the same reaping and forwarding.
#[test]
fn same_as_docker_run_init() {
    let Some((rt, init)) = setup() else { return };
    if !require(Dockerd::available(), "dockerd (docker.io)") {
        return;
    }
    let dockerd = Dockerd::start(&[]).unwrap();
    dockerd.import_busybox("berth-init-bb:latest");
    let docker_run = |args: &[&str]| {
        let mut full = vec![
            "run",
            "--rm",
            "--init",
            "--network",
            "none",
            "berth-init-bb",
        ];
        full.extend_from_slice(args);
        let out = dockerd.docker(&full);
        (out.code(), out.stderr)
    };
    for args in [
        &["sh", "-c", "exit 0"][..],
        &["sh", "-c", "exit 42"],
        &["sh", "-c", "kill -KILL $$"],
        &["nope"],
        &["/etc/passwd"],
    ] {
        let (docker_code, docker_err) = docker_run(args);
        let (berth_code, berth_err) = berth_run(&rt, &init, args);
        assert_eq!(
            berth_code, docker_code,
            "{args:?}: docker said {docker_err}, berth {berth_err}"
        );
        // tini: "[FATAL tini (7)] exec nope failed: ...", berth-init: "berth-init: exec ...".
        let message = |e: &str| {
            e.lines()
                .find_map(|l| l.split_once("exec ").map(|(_, m)| m.to_owned()))
        };
        assert_eq!(message(&berth_err), message(&docker_err), "{args:?}");
    }

    let out = dockerd.docker(&[
        "run",
        "--rm",
        "--init",
        "--network",
        "none",
        "berth-init-bb",
        "sh",
        "-c",
        ZOMBIE_SCRIPT,
    ]);
    assert_eq!(out.code(), Some(0), "{out:?}");
    check_zombies("docker run --init", &out.stdout);

    let script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done";
    let id = dockerd
        .docker(&[
            "run",
            "-d",
            "--init",
            "--network",
            "none",
            "berth-init-bb",
            "sh",
            "-c",
            script,
        ])
        .assert_success()
        .stdout_trimmed()
        .to_owned();
    wait_until("the docker container's trap", || {
        dockerd.docker(&["logs", &id]).stdout.contains("ready")
    });
    dockerd
        .docker(&["kill", "-s", "TERM", &id])
        .assert_success();
    let waited = dockerd.docker(&["wait", &id]);
    assert_eq!(waited.stdout_trimmed(), "7", "{waited:?}");
    assert!(dockerd.docker(&["logs", &id]).stdout.contains("got TERM"));
    dockerd.docker(&["rm", "-f", &id]).assert_success();
}
