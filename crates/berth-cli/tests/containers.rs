//! The container verbs of `berth` against a real private dockerd (Debian's docker.io, run with
//! `--bridge none` in its own network and mount namespaces; every container uses
//! `--network none`), each scenario run through the real `docker` CLI and through `berth`
//! and the outputs and exit codes compared. Ids, names and times are masked where the two runs
//! necessarily differ.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use berth_testutil::pty::PtyChild;
use berth_testutil::{run_command, Dockerd, Output};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const TIMEOUT: Duration = Duration::from_secs(60);

struct Env {
    dockerd: Dockerd,
}

/// Which CLI runs a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cli {
    Docker,
    Berth,
}

const BOTH: [Cli; 2] = [Cli::Docker, Cli::Berth];

impl Cli {
    /// A container name for this CLI's run of a scenario.
    fn name(self, base: &str) -> String {
        match self {
            Cli::Docker => format!("{base}-docker"),
            Cli::Berth => format!("{base}-berth"),
        }
    }
}

impl Env {
    fn start() -> Env {
        assert!(
            Dockerd::available(),
            "dockerd, docker or unshare is not installed: apt-get install docker.io"
        );
        let dockerd = Dockerd::start(&[]).unwrap_or_else(|e| panic!("start dockerd: {e}"));
        dockerd.import_busybox("busybox:latest");
        Env { dockerd }
    }

    fn command(&self, cli: Cli, args: &[&str]) -> Command {
        match cli {
            Cli::Docker => {
                let mut cmd = self.dockerd.docker_command(args);
                cmd.env("TZ", "UTC");
                cmd
            }
            Cli::Berth => {
                let mut cmd = Command::new(BERTH);
                cmd.env_remove("BERTH_HOST")
                    .env("DOCKER_CONFIG", self.dockerd.dir().join("cli"))
                    .arg("-H")
                    .arg(self.dockerd.host())
                    .args(args);
                cmd
            }
        }
    }

    fn cli(&self, cli: Cli, args: &[&str]) -> Output {
        self.cli_stdin(cli, args, None)
    }

    fn cli_stdin(&self, cli: Cli, args: &[&str], stdin: Option<&[u8]>) -> Output {
        run_command(&mut self.command(cli, args), stdin, TIMEOUT).unwrap()
    }

    /// Runs `args` (with `NAME` replaced by each CLI's container name for `base`) through
    /// both CLIs; asserts the same exit code and stdout (each CLI's name masked back to
    /// `NAME`), returns berth's output.
    #[track_caller]
    fn same_run(&self, base: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
        let outs: Vec<Output> = BOTH
            .iter()
            .map(|&cli| {
                let name = cli.name(base);
                let args: Vec<&str> = args
                    .iter()
                    .map(|a| if *a == "NAME" { name.as_str() } else { a })
                    .collect();
                self.cli_stdin(cli, &args, stdin)
            })
            .collect();
        let [d, b] = [&outs[0], &outs[1]];
        assert_eq!(b.code(), d.code(), "exit codes differ\n{b}\n{d}");
        assert_eq!(
            b.stdout.replace(&Cli::Berth.name(base), "NAME"),
            d.stdout.replace(&Cli::Docker.name(base), "NAME"),
            "stdout differs\n{b}\n{d}"
        );
        outs[1].clone()
    }

    /// `berth ARGS` and `docker ARGS` print the same stdout with the same exit code;
    /// retried when a second ticked between the two (a "2 seconds ago" column).
    #[track_caller]
    fn same(&self, args: &[&str]) -> String {
        let mut last = None;
        for _ in 0..3 {
            let d = self.cli(Cli::Docker, args);
            let b = self.cli(Cli::Berth, args);
            if b.stdout == d.stdout && b.code() == d.code() {
                return b.stdout;
            }
            last = Some((b, d));
            std::thread::sleep(Duration::from_millis(300));
        }
        let (b, d) = last.unwrap();
        panic!("berth {args:?} differs from docker:\n--- berth\n{b}\n--- docker\n{d}");
    }

    /// Waits until `name` is running.
    fn wait_running(&self, name: &str) {
        for _ in 0..100 {
            let o = self
                .dockerd
                .docker(&["inspect", "-f", "{{.State.Running}}", name]);
            if o.stdout_trimmed() == "true" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{name} never ran");
    }
}

#[test]
fn run_output_and_exit_codes_match_docker() {
    let env = Env::start();
    let rm = ["run", "--rm", "--network", "none"];
    let with = |more: &[&'static str]| -> Vec<&'static str> {
        rm.iter().chain(more.iter()).copied().collect()
    };
    let b = env.same_run("a", &with(&["busybox", "echo", "hello"]), None);
    assert_eq!(b.stdout, "hello\n");
    b.assert_code(0);
    let b = env.same_run(
        "a",
        &with(&["busybox", "sh", "-c", "echo out; echo err >&2; exit 42"]),
        None,
    );
    b.assert_code(42);
    assert_eq!(b.stdout, "out\n");
    assert_eq!(b.stderr, "err\n", "{b}");
    // A directory cannot be executed: 126; a command that is not there: 127.
    let b = env.same_run("a", &with(&["busybox", "/etc"]), None);
    b.assert_code(126);
    let b = env.same_run("a", &with(&["busybox", "no-such-command"]), None);
    b.assert_code(127);
    assert!(b.stderr.contains("no-such-command"), "{b}");
    // A daemon error: 125.
    let b = env.same_run("a", &with(&["--cap-add", "NOPE", "busybox", "true"]), None);
    b.assert_code(125);
    // A tty without stdin: the output is the terminal's raw bytes, and so is its log.
    let b = env.same_run("a", &with(&["-t", "busybox", "echo", "on-a-tty"]), None);
    assert_eq!(b.stdout, "on-a-tty\r\n");
    for cli in BOTH {
        env.cli(
            cli,
            &[
                "run",
                "-t",
                "--name",
                &cli.name("tl"),
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "echo out; echo err >&2",
            ],
        )
        .assert_success();
    }
    let b = env.same_run("tl", &["logs", "NAME"], None);
    assert_eq!(b.stdout, "out\r\nerr\r\n");
    env.same_run("tl", &["rm", "NAME"], None);
    // -a: only the streams named.
    let b = env.same_run(
        "a",
        &with(&[
            "-a",
            "stderr",
            "busybox",
            "sh",
            "-c",
            "echo out; echo err >&2",
        ]),
        None,
    );
    assert_eq!((b.stdout.as_str(), b.stderr.as_str()), ("", "err\n"), "{b}");
    // -it with a stdin that is no terminal is refused before anything is created.
    let b = env.same_run("a", &with(&["-it", "busybox", "true"]), None);
    assert!(b.stderr.contains("the input device is not a TTY"), "{b}");
    // A missing image is pulled first, as docker does ("Unable to find image"); here the
    // registry (on dockerd's own loopback) refuses, and both fail with 125.
    let b = env.same_run("a", &with(&["127.0.0.1:9/nope:1", "true"]), None);
    b.assert_code(125);
    assert!(
        b.stderr
            .starts_with("Unable to find image '127.0.0.1:9/nope:1' locally\n"),
        "{b}"
    );
    let b = env.same_run("a", &with(&["--pull", "never", "nope:1", "true"]), None);
    b.assert_code(125);
    assert!(b.stderr.contains("No such image: nope:1"), "{b}");
    // The process flags.
    let b = env.same_run(
        "a",
        &with(&[
            "-e",
            "A=1",
            "-u",
            "1:2",
            "-w",
            "/tmp",
            "-h",
            "box",
            "--entrypoint",
            "/bin/sh",
            "busybox",
            "-c",
            "echo $A $(id -u):$(id -g) $(pwd) $(hostname)",
        ]),
        None,
    );
    assert_eq!(b.stdout, "1 1:2 /tmp box\n");
    // Stdin copied and closed at its end.
    let b = env.same_run(
        "a",
        &with(&["-i", "busybox", "sh", "-c", "cat; echo end"]),
        Some(b"piped\n"),
    );
    assert_eq!(b.stdout, "piped\nend\n");
    // Signals sent to the CLI reach the container (--sig-proxy, on by default without a tty).
    for cli in BOTH {
        let mut cmd = env.command(
            cli,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done",
            ],
        );
        let out = env.dockerd.dir().join(format!("sig-{cli:?}.out"));
        cmd.stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .stdin(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&out).unwrap().contains("ready") {
            assert!(std::time::Instant::now() < deadline, "{cli:?}: never ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{cli:?}: did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(status.code(), Some(7), "{cli:?}");
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "ready\ngot-term\n",
            "{cli:?}"
        );
    }
    // --rm removed them all.
    assert_eq!(env.same(&["ps", "-a", "-q"]), "");

    // create, then start -a; create prints the id.
    for cli in BOTH {
        let name = cli.name("c");
        let o = env.cli(
            cli,
            &[
                "create",
                "--name",
                &name,
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "echo created; exit 3",
            ],
        );
        o.assert_success();
        assert_eq!(o.stdout_trimmed().len(), 64, "{o}");
    }
    let b = env.same_run("c", &["start", "-a", "NAME"], None);
    b.assert_code(3);
    assert_eq!(b.stdout, "created\n");
    // A plain start prints the name; an unknown one fails as docker's does.
    let b = env.same_run("c", &["start", "NAME"], None);
    assert_eq!(b.stdout, "c-berth\n");
    let b = env.same_run("x", &["start", "nothing-here"], None);
    b.assert_code(1);
    assert!(b.stderr.contains("No such container: nothing-here"), "{b}");
}

#[test]
fn detached_containers_lifecycle_matches_docker() {
    let env = Env::start();
    // sleep as pid 1 ignores SIGTERM: stop -t 1 kills it after a second.
    for cli in BOTH {
        let name = cli.name("d");
        let o = env.cli(
            cli,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "-l",
                "team=a",
                "busybox",
                "sh",
                "-c",
                "echo line1; sleep 0.2; echo line2 >&2; exec sleep 1000",
            ],
        );
        o.assert_success();
        assert_eq!(o.stdout_trimmed().len(), 64, "{o}");
        env.wait_running(&name);
    }
    std::thread::sleep(Duration::from_millis(300));
    for args in [
        &["logs", "NAME"][..],
        &["logs", "--tail", "1", "NAME"],
        &["logs", "--since", "1h", "NAME"],
        &["logs", "-n", "0", "NAME"],
        &["container", "logs", "NAME"],
    ] {
        env.same_run("d", args, None);
    }
    let b = env.same_run("d", &["logs", "NAME"], None);
    assert_eq!(b.stdout, "line1\n");
    assert_eq!(b.stderr, "line2\n", "{b}");
    let b = env.cli(Cli::Berth, &["logs", "-t", "d-berth"]);
    assert!(
        b.stdout.starts_with("20") && b.stdout.contains("Z line1\n"),
        "{b}"
    );
    // ps in its forms, on the same daemon.
    for args in [
        &["ps"][..],
        &["ps", "-a"],
        &["ps", "-q"],
        &["ps", "--no-trunc"],
        &["ps", "-s"],
        &[
            "container",
            "ps",
            "-a",
            "--format",
            "table {{.Names}}\\t{{.Size}}",
        ],
        &["ps", "-n", "1"],
        &["ps", "-l", "-q"],
        &["ps", "-f", "name=d-berth"],
        &["ps", "-a", "-f", "status=exited", "-q"],
        &[
            "ps",
            "-f",
            "label=team=a",
            "--format",
            "{{.Names}} {{.Labels}} {{.Image}} {{.State}}",
        ],
        &[
            "ps",
            "--format",
            "table {{.ID}}\\t{{.Names}}\\t{{.Command}}",
        ],
        &["ps", "--format", "{{json .}}"],
        &[
            "container",
            "ls",
            "--format",
            "{{.Command}}|{{.CreatedAt}}|{{.Ports}}|{{.Networks}}",
        ],
    ] {
        env.same(args);
    }
    // inspect, top-level and container.
    for f in [
        "{{.State.Status}} {{.Name}} {{.Config.Image}} {{.HostConfig.NetworkMode}}",
        "{{json .Config.Cmd}} {{.Config.Labels}}",
        "{{.State.Running}} {{.RestartCount}} {{len .Id}}",
    ] {
        env.same_run("d", &["inspect", "-f", f, "NAME"], None);
        env.same_run("d", &["container", "inspect", "-f", f, "NAME"], None);
    }
    env.same_run(
        "d",
        &["inspect", "--type", "image", "-f", "{{.Os}}", "busybox"],
        None,
    );
    let b = env.same_run("d", &["inspect", "nothing-here"], None);
    b.assert_code(1);
    assert!(b.stderr.contains("No such object: nothing-here"), "{b}");
    let full = env.same(&["inspect", "d-berth"]);
    assert!(full.starts_with("[\n    {\n        \"Id\": \""), "{full}");
    // top.
    let b = env.same(&["top", "d-berth"]);
    assert!(b.starts_with("UID"), "{b}");
    // exec.
    let b = env.same_run("d", &["exec", "NAME", "echo", "hi"], None);
    assert_eq!(b.stdout, "hi\n");
    let b = env.same_run(
        "d",
        &["exec", "NAME", "sh", "-c", "echo e >&2; exit 3"],
        None,
    );
    b.assert_code(3);
    assert_eq!(b.stderr, "e\n");
    let b = env.same_run(
        "d",
        &[
            "exec",
            "-e",
            "X=1",
            "-u",
            "7",
            "-w",
            "/tmp",
            "NAME",
            "sh",
            "-c",
            "echo $X $(id -u) $(pwd)",
        ],
        None,
    );
    assert_eq!(b.stdout, "1 7 /tmp\n");
    let b = env.same_run("d", &["exec", "-i", "NAME", "cat"], Some(b"in\n"));
    assert_eq!(b.stdout, "in\n");
    env.same_run("d", &["exec", "-d", "NAME", "touch", "/tmp/x"], None);
    // pause, unpause, rename, restart.
    env.same_run("d", &["pause", "NAME"], None);
    let b = env.same(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(b.contains("d-berth paused"), "{b}");
    env.same_run("d", &["unpause", "NAME"], None);
    for cli in BOTH {
        env.cli(cli, &["rename", &cli.name("d"), &cli.name("r")])
            .assert_success();
    }
    let b = env.same_run("r", &["restart", "-t", "1", "NAME"], None);
    assert_eq!(b.stdout, "r-berth\n");
    // stop (twice: the second is already stopped), wait, kill, rm.
    let b = env.same_run("r", &["stop", "-t", "1", "NAME"], None);
    assert_eq!(b.stdout, "r-berth\n");
    env.same_run("r", &["stop", "NAME"], None);
    let b = env.same_run("r", &["wait", "NAME"], None);
    assert_eq!(b.stdout, "137\n");
    env.same(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    let b = env.same_run("r", &["kill", "NAME"], None);
    b.assert_code(1);
    assert!(b.stderr.contains("is not running"), "{b}");
    let b = env.same_run("r", &["rm", "-v", "NAME"], None);
    assert_eq!(b.stdout, "r-berth\n");
    let b = env.same_run("r", &["rm", "NAME"], None);
    b.assert_code(1);
    assert!(b.stderr.contains("No such container: r-berth"), "{b}");

    // logs -f follows until the container stops; kill -s, rm -f.
    for cli in BOTH {
        env.cli(
            cli,
            &["run", "-d", "--name", &cli.name("f"), "--network", "none", "busybox", "sh", "-c",
              "echo a; sleep 1; echo b; trap 'echo got-hup; exit 5' HUP; while true; do sleep 0.1; done"],
        )
        .assert_success();
    }
    std::thread::sleep(Duration::from_millis(1500));
    for cli in BOTH {
        let o = env.cli(cli, &["kill", "-s", "HUP", &cli.name("f")]);
        o.assert_success();
        assert_eq!(o.stdout, format!("{}\n", cli.name("f")));
    }
    let b = env.same_run("f", &["logs", "-f", "NAME"], None);
    assert_eq!(b.stdout, "a\nb\ngot-hup\n");
    let b = env.same_run("f", &["wait", "NAME"], None);
    assert_eq!(b.stdout, "5\n");
    env.same_run("f", &["rm", "-f", "NAME"], None);
    assert_eq!(env.same(&["ps", "-a", "-q"]), "");
}

/// `create` with the remaining flags stores the same configuration from both CLIs.
#[test]
fn create_flags_match_docker() {
    let env = Env::start();
    let env_file = env.dockerd.dir().join("env.list");
    std::fs::write(&env_file, "# comment\nFROM_FILE=1\n\nB=2\n").unwrap();
    let env_file = env_file.to_string_lossy().into_owned();
    let flags = [
        "create",
        "--name",
        "NAME",
        "--network",
        "none",
        "-m",
        "64m",
        "--cpus",
        "1.5",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "100",
        "--read-only",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "MKNOD",
        "--security-opt",
        "no-new-privileges",
        "--ulimit",
        "nofile=1024:2048",
        "--init",
        "-l",
        "a=b",
        "--label",
        "c",
        "--health-cmd",
        "true",
        "--health-interval",
        "5s",
        "--health-timeout",
        "2s",
        "--health-retries",
        "3",
        "--health-start-period",
        "1m30s",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "5",
        "--log-opt",
        "max-size=1m",
        "--restart",
        "on-failure:3",
        "-e",
        "A=1",
        "--env-file",
        &env_file,
        "-u",
        "1:2",
        "-w",
        "/tmp",
        "-h",
        "box",
        "--entrypoint",
        "/bin/sh",
        "-i",
        "busybox",
        "-c",
        "echo hi",
    ];
    for cli in BOTH {
        let name = cli.name("k");
        let args: Vec<&str> = flags
            .iter()
            .map(|a| if *a == "NAME" { name.as_str() } else { a })
            .collect();
        let o = env.cli(cli, &args);
        o.assert_success();
        assert_eq!(o.stdout_trimmed().len(), 64, "{o}");
    }
    // docker 28 prints HostConfig through its own struct (its field order, without the
    // KernelMemory fields dockerd 20.10 still stores): compared as JSON objects.
    let host_config = |cli: Cli| {
        let o = env.cli(
            cli,
            &["inspect", "-f", "{{json .HostConfig}}", &cli.name("k")],
        );
        o.assert_success();
        let mut v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        let m = v.as_object_mut().unwrap();
        m.remove("KernelMemory");
        m.remove("KernelMemoryTCP");
        v
    };
    assert_eq!(host_config(Cli::Berth), host_config(Cli::Docker));
    for f in [
        "{{json .Config}}",
        "{{.Path}} {{json .Args}}",
        "{{.HostConfig.NetworkMode}} {{.State.Status}}",
    ] {
        let b = env.same_run("k", &["container", "inspect", "-f", f, "NAME"], None);
        assert!(!b.stdout.trim().is_empty(), "{b}");
    }
    let b = env.same_run(
        "k",
        &["inspect", "-f", "{{json .Config.Env}}", "NAME"],
        None,
    );
    assert!(b.stdout.contains("\"FROM_FILE=1\",\"B=2\",\"A=1\""), "{b}");
    let b = env.same_run("k", &["start", "-a", "NAME"], None);
    assert_eq!(b.stdout, "hi\n");
}

/// A CLI on a pty: `run -it` shows the forwarded size, Ctrl-P Ctrl-Q detaches, `attach`
/// comes back, `exec -it` gets a tty of the same size.
#[test]
fn interactive_tty_matches_docker() {
    let env = Env::start();
    let wait = Duration::from_secs(30);
    for cli in BOTH {
        let mut run = PtyChild::spawn(env.command(
            cli,
            &["run", "-it", "--rm", "--network", "none", "busybox", "sh"],
        ))
        .unwrap();
        run.expect("# ", wait).unwrap();
        run.write(b"stty size\r").unwrap();
        run.expect("24 80", wait).unwrap();
        // A resized window reaches the container (SIGWINCH, then the resize endpoint).
        run.resize(30, 100).unwrap();
        let resized = (0..20).any(|_| {
            run.write(b"stty size\r").unwrap();
            run.expect("30 100", Duration::from_secs(1)).is_ok()
        });
        assert!(resized, "{cli:?}: {:?}", run.output());
        run.write(b"exit 3\r").unwrap();
        let status = run.wait(wait).unwrap();
        assert_eq!(status.code(), Some(3), "{cli:?}: {}", run.output());
        // The whole terminal is raw, output included: the container's "\r\n" comes as it is.
        assert!(
            !run.output().contains("\r\r\n"),
            "{cli:?}: {:?}",
            run.output()
        );

        let name = cli.name("t");
        let mut run = PtyChild::spawn(env.command(
            cli,
            &[
                "run",
                "-it",
                "--name",
                &name,
                "--network",
                "none",
                "busybox",
                "sh",
            ],
        ))
        .unwrap();
        run.expect("# ", wait).unwrap();
        run.write(b"\x10\x11").unwrap();
        let status = run.wait(wait).unwrap();
        assert_eq!(status.code(), Some(0), "{cli:?}: {}", run.output());
        env.wait_running(&name);
        // Other detach keys; a lone first key goes through to the container.
        let mut again =
            PtyChild::spawn(env.command(cli, &["attach", "--detach-keys", "ctrl-a,x", &name]))
                .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        again.write(b"echo one-$((1+1))\r").unwrap();
        again.expect("one-2", wait).unwrap();
        again.write(b"\x01x").unwrap();
        // docker's attach reports a detach as an error.
        let code = again.wait(wait).unwrap().code();
        assert_eq!(code, Some(1), "{}", again.output());
        assert!(
            again.output().contains("read escape sequence"),
            "{}",
            again.output()
        );
        env.wait_running(&name);

        let mut exec = PtyChild::spawn(env.command(cli, &["exec", "-it", &name, "sh"])).unwrap();
        exec.expect("# ", wait).unwrap();
        exec.write(b"stty size; tty\r").unwrap();
        let seen = exec.expect("/dev/pts/", wait).unwrap();
        assert!(seen.contains("24 80"), "{cli:?}: {seen:?}");
        exec.write(b"exit 4\r").unwrap();
        assert_eq!(
            exec.wait(wait).unwrap().code(),
            Some(4),
            "{}",
            exec.output()
        );

        let mut attach = PtyChild::spawn(env.command(cli, &["attach", &name])).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        attach.write(b"echo back-$((40+2))\r").unwrap();
        attach.expect("back-42", wait).unwrap();
        attach.write(b"exit 6\r").unwrap();
        assert_eq!(
            attach.wait(wait).unwrap().code(),
            Some(6),
            "{}",
            attach.output()
        );
    }
    env.same(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
}

/// `stats` (one sample, and the live view), `update`, `events`, `container prune`.
#[test]
fn stats_update_events_prune_match_docker() {
    let env = Env::start();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    for cli in BOTH {
        let name = cli.name("s");
        env.cli(
            cli,
            &[
                "run",
                "-d",
                "--name",
                &name,
                "--network",
                "none",
                "busybox",
                "sleep",
                "1000",
            ],
        )
        .assert_success();
        env.wait_running(&name);
    }
    // One sample: the same header and rows; values differ between samples, not their shape.
    let d = env.cli(Cli::Docker, &["stats", "--no-stream"]);
    let b = env.cli(Cli::Berth, &["stats", "--no-stream"]);
    b.assert_success();
    // Column widths follow the sampled values, which differ between two samples.
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(
        words(b.stdout_lines()[0]),
        words(d.stdout_lines()[0]),
        "{b}\n{d}"
    );
    assert_eq!(
        words(b.stdout_lines()[0]),
        "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
    );
    assert_eq!(b.stdout_lines().len(), 3, "{b}");
    for line in &b.stdout_lines()[1..] {
        let cols: Vec<&str> = line
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(cols.len(), 8, "{line}");
        assert!(cols[2].ends_with('%') && cols[2].contains('.'), "{line}");
        assert!(cols[3].contains("iB / "), "{line}");
        assert_eq!(cols[5], "0B / 0B", "{line}");
        assert_eq!(cols[7], "1", "{line}");
    }
    env.same(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.ID}} {{.Name}} {{.Container}} {{.PIDs}} {{.NetIO}}",
    ]);
    env.same(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Container}}: {{.Name}}",
        "s-berth",
        "s-docker",
    ]);
    // The live view redraws in place.
    let mut live = PtyChild::spawn(env.command(Cli::Berth, &["stats", "s-berth"])).unwrap();
    let seen = live.expect("s-berth", Duration::from_secs(20)).unwrap();
    assert!(
        seen.contains("\x1b[2J\x1b[H") && seen.contains("CONTAINER ID"),
        "{seen:?}"
    );
    drop(live);

    // update.
    let b = env.same_run(
        "s",
        &[
            "update",
            "-m",
            "64m",
            "--memory-swap",
            "128m",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:2",
            "NAME",
        ],
        None,
    );
    assert_eq!(b.stdout, "s-berth\n");
    let b = env.same_run(
        "s",
        &["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}", "NAME"],
        None,
    );
    assert_eq!(b.stdout, "67108864 134217728 50 on-failure\n");

    // events, up to now, of one container: the same lines from both.
    std::thread::sleep(Duration::from_millis(1100));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let out = env.same(&[
        "events",
        "--since",
        &since,
        "--until",
        &now,
        "--filter",
        "container=s-berth",
    ]);
    assert!(out.contains(" container create "), "{out}");
    assert!(out.contains(" container start "), "{out}");
    assert!(out.contains("(image=busybox, name=s-berth)"), "{out}");
    env.same(&[
        "events",
        "--since",
        &since,
        "--until",
        &now,
        "--filter",
        "type=container",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);

    // container prune.
    for cli in BOTH {
        env.cli(cli, &["kill", &cli.name("s")]).assert_success();
    }
    let b = env.cli(Cli::Berth, &["container", "prune", "-f"]);
    b.assert_success();
    assert!(b.stdout.starts_with("Deleted Containers:\n"), "{b}");
    assert_eq!(b.stdout.lines().filter(|l| l.len() == 64).count(), 2, "{b}");
    assert!(b.stdout.ends_with("\nTotal reclaimed space: 0B\n"), "{b}");
    assert_eq!(
        env.same(&["container", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    assert_eq!(env.same(&["ps", "-a", "-q"]), "");
}
