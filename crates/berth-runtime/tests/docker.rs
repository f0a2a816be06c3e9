//! berth-runtime under Docker: a private dockerd (own data/exec roots, own network and mount
//! namespaces, `--add-runtime berth=<this crate's binary>`) runs the same `docker run` with
//! `--runtime runc` and `--runtime berth`, checks each output and, when both run, that they
//! agree. Covers: echo, env, workdir, user, exit status, hostname, read-only root, cap-drop /
//! cap-add, no-new-privileges, seccomp (default and unconfined), tmpfs, bind volumes, memory
//! limit, `--memory/--cpus/--pids-limit`, `docker stats/update/pause/unpause`, `--pid host`,
//! `--network none`, `docker exec` into a detached container, and `-it`
//! under a real pty. Needs root and docker.io: a missing dockerd fails every test (CI installs
//! docker.io, so a silent skip would hide a broken setup); deselect both runtimes to skip.
//!
//! Runtimes come from `BERTH_TEST_RUNTIMES` (default `berth,runc`); `berth` is registered with
//! dockerd only when selected.

use std::time::Duration;

use berth_testutil::pty::PtyChild;
use berth_testutil::{selected_runtimes, unique_name, Dockerd, Output};

const BERTH_BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");
const IMAGE: &str = "berth-test/busybox:latest";

/// A private dockerd with the busybox image, and the runtimes to compare.
struct DockerEnv {
    dockerd: Dockerd,
    runtimes: Vec<String>,
}

/// Starts the daemon, or returns `None` (recorded as a skip) when no known runtime is selected
/// or, outside CI, when docker is not installed.
fn setup() -> Option<DockerEnv> {
    let runtimes: Vec<String> = selected_runtimes()
        .into_iter()
        .filter(|r| r == "runc" || r == "berth")
        .collect();
    if runtimes.is_empty() {
        berth_testutil::prereq::skip_deselected("neither runc nor berth in BERTH_TEST_RUNTIMES");
        return None;
    }
    if !berth_testutil::require(
        Dockerd::available(),
        "dockerd, docker or unshare (apt-get install docker.io)",
    ) {
        return None;
    }
    // BERTH_RUNTIME overrides the binary cargo built, as in the conformance suite.
    let berth = std::env::var_os("BERTH_RUNTIME").map_or_else(
        || std::path::PathBuf::from(BERTH_BIN),
        std::path::PathBuf::from,
    );
    let extra: Vec<(&str, &std::path::Path)> = if runtimes.iter().any(|r| r == "berth") {
        vec![("berth", berth.as_path())]
    } else {
        Vec::new()
    };
    let dockerd = Dockerd::start(&extra).unwrap_or_else(|e| panic!("start dockerd: {e}"));
    dockerd.import_busybox(IMAGE);
    Some(DockerEnv { dockerd, runtimes })
}

impl DockerEnv {
    /// `docker run --rm --runtime RT OPTIONS... IMAGE CMD...`.
    fn run(&self, runtime: &str, options: &[&str], cmd: &[&str]) -> Output {
        let mut args = vec!["run", "--rm", "--runtime", runtime];
        args.extend_from_slice(options);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        self.dockerd.docker(&args)
    }

    /// Runs the same container with every selected runtime, applies `check` to each output and,
    /// if `same_output`, asserts that all runtimes printed the same thing.
    fn compare(&self, options: &[&str], cmd: &[&str], same_output: bool, check: impl Fn(&Output)) {
        let mut outputs: Vec<(String, Output)> = Vec::new();
        for rt in &self.runtimes {
            let out = self.run(rt, options, cmd);
            eprintln!("--- {rt} ---\n{out}");
            check(&out);
            outputs.push((rt.clone(), out));
        }
        if same_output {
            if let Some(((first_rt, first), rest)) = outputs.split_first() {
                for (rt, out) in rest {
                    assert_eq!(
                        (out.code(), &out.stdout),
                        (first.code(), &first.stdout),
                        "{rt} and {first_rt} differ"
                    );
                }
            }
        }
    }
}

/// The `key:` value of a /proc status text.
fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

macro_rules! docker_test {
    ($name:ident, |$env:ident| $body:block) => {
        #[test]
        fn $name() {
            let Some($env) = setup() else { return };
            $body
        }
    };
}

docker_test!(echo_hi, |env| {
    env.compare(&[], &["echo", "hi"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout, "hi\n");
    });
});

docker_test!(exit_status_passes_through, |env| {
    env.compare(&[], &["sh", "-c", "exit 7"], true, |o| {
        o.assert_code(7);
    });
});

docker_test!(env_var, |env| {
    env.compare(&["-e", "FOO=bar"], &["sh", "-c", "echo $FOO"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout, "bar\n");
    });
});

docker_test!(workdir, |env| {
    env.compare(&["-w", "/tmp"], &["pwd"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout, "/tmp\n");
    });
});

docker_test!(user, |env| {
    env.compare(&["-u", "65534"], &["id"], true, |o| {
        o.assert_success();
        assert!(
            o.stdout.starts_with("uid=65534(nobody) gid=65534(nogroup)"),
            "{o}"
        );
    });
});

docker_test!(hostname, |env| {
    env.compare(&["--hostname", "berth-docker"], &["hostname"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout, "berth-docker\n");
    });
});

docker_test!(read_only_root, |env| {
    env.compare(&["--read-only"], &["touch", "/x"], true, |o| {
        o.assert_failure();
        assert!(o.stderr.contains("Read-only file system"), "{o}");
    });
});

docker_test!(cap_drop_all, |env| {
    env.compare(
        &["--cap-drop", "ALL"],
        &["grep", "CapEff", "/proc/self/status"],
        true,
        |o| {
            o.assert_success();
            assert_eq!(status_field(&o.stdout, "CapEff"), Some("0000000000000000"));
        },
    );
});

docker_test!(cap_drop_all_add_net_admin, |env| {
    env.compare(
        &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"],
        &["grep", "Cap", "/proc/self/status"],
        true,
        |o| {
            o.assert_success();
            for key in ["CapEff", "CapPrm", "CapBnd"] {
                assert_eq!(
                    status_field(&o.stdout, key),
                    Some("0000000000001000"),
                    "{key}: {o}"
                );
            }
        },
    );
});

docker_test!(no_new_privileges, |env| {
    env.compare(
        &["--security-opt", "no-new-privileges"],
        &["grep", "NoNewPrivs", "/proc/self/status"],
        true,
        |o| {
            o.assert_success();
            assert_eq!(status_field(&o.stdout, "NoNewPrivs"), Some("1"));
        },
    );
});

docker_test!(seccomp_default_and_unconfined, |env| {
    env.compare(&[], &["grep", "Seccomp:", "/proc/self/status"], true, |o| {
        o.assert_success();
        assert_eq!(
            status_field(&o.stdout, "Seccomp"),
            Some("2"),
            "docker's default profile"
        );
    });
    env.compare(
        &["--security-opt", "seccomp=unconfined"],
        &["grep", "Seccomp:", "/proc/self/status"],
        true,
        |o| {
            o.assert_success();
            assert_eq!(status_field(&o.stdout, "Seccomp"), Some("0"));
        },
    );
});

docker_test!(tmpfs_with_size, |env| {
    env.compare(
        &["--tmpfs", "/t:size=1m"],
        &["sh", "-c", "df -k /t | tail -n 1"],
        true,
        |o| {
            o.assert_success();
            let fields: Vec<&str> = o.stdout.split_whitespace().collect();
            assert_eq!(fields.first().copied(), Some("tmpfs"), "{o}");
            assert_eq!(fields.get(1).copied(), Some("1024"), "{o}");
            assert_eq!(fields.last().copied(), Some("/t"), "{o}");
        },
    );
});

docker_test!(bind_volume, |env| {
    let host = tempfile::tempdir().expect("temp dir");
    std::fs::write(host.path().join("f"), "from the host\n").expect("write");
    let volume = format!("{}:/h", host.path().display());
    env.compare(&["-v", &volume], &["cat", "/h/f"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout, "from the host\n");
    });
    let ro = format!("{}:/h:ro", host.path().display());
    env.compare(&["-v", &ro], &["touch", "/h/new"], true, |o| {
        o.assert_failure();
    });
    assert!(!host.path().join("new").exists());
});

docker_test!(memory_limit, |env| {
    env.compare(
        &["-m", "64m"],
        &["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"],
        true,
        |o| {
            o.assert_success();
            assert_eq!(o.stdout.trim(), "67108864");
        },
    );
});

docker_test!(pid_host, |env| {
    // The shell is not pid 1 and sees the daemon's processes.
    env.compare(
        &["--pid", "host"],
        &["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"],
        false,
        |o| {
            o.assert_success();
            let lines: Vec<&str> = o.stdout.lines().collect();
            assert_ne!(lines.first().copied(), Some("1"), "{o}");
            let count: usize = lines.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            assert!(count > 3, "host processes should be visible: {o}");
        },
    );
});

docker_test!(network_none, |env| {
    env.compare(
        &["--network", "none"],
        &["cat", "/proc/net/dev"],
        true,
        |o| {
            o.assert_success();
            let ifaces: Vec<&str> = o
                .stdout
                .lines()
                .skip(2)
                .filter_map(|l| l.split(':').next())
                .map(str::trim)
                .collect();
            assert_eq!(ifaces, ["lo"], "{o}");
        },
    );
    env.compare(&["--network", "none"], &["ip", "-o", "link"], true, |o| {
        o.assert_success();
        assert_eq!(o.stdout.lines().count(), 1, "{o}");
        assert!(o.stdout.starts_with("1: lo:"), "{o}");
    });
});

docker_test!(exec_into_detached_container, |env| {
    for rt in &env.runtimes {
        let name = unique_name("exec");
        let started = env.dockerd.docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--runtime",
            rt,
            "--hostname",
            "exec-target",
            IMAGE,
            "sleep",
            "1000",
        ]);
        started.assert_success();
        let out = env.dockerd.docker(&[
            "exec",
            "-e",
            "X=y",
            &name,
            "sh",
            "-c",
            "hostname; echo $X; ls /proc/self/fd; exit 4",
        ]);
        eprintln!("--- {rt} ---\n{out}");
        out.assert_code(4);
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.get(..2), Some(&["exec-target", "y"][..]), "{out}");
        let mut fds: Vec<&str> = lines.get(2..).unwrap_or_default().to_vec();
        fds.sort_unstable();
        assert_eq!(
            fds,
            ["0", "1", "2", "3"],
            "no leaked descriptors in exec: {out}"
        );
        env.dockerd.docker(&["rm", "-f", &name]).assert_success();
    }
});

docker_test!(interactive_tty, |env| {
    for rt in &env.runtimes {
        let cmd = env
            .dockerd
            .docker_command(&["run", "-it", "--rm", "--runtime", rt, IMAGE, "sh"]);
        let mut child = PtyChild::spawn(cmd).expect("spawn docker on a pty");
        child
            .expect("# ", Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{rt}: no prompt: {e}"));
        child.write(b"tty; exit 3\n").expect("type");
        let status = child.wait(Duration::from_secs(60)).expect("docker exits");
        let output = child.output();
        eprintln!("--- {rt} ---\n{output:?}");
        assert!(output.contains("/dev/pts/0"), "{rt}: {output:?}");
        assert_eq!(status.code(), Some(3), "{rt}: {output:?}");
    }
});

docker_test!(resource_flags_reach_the_cgroups, |env| {
    let script = "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us \
                  cpu/cpu.cfs_period_us pids/pids.max";
    env.compare(
        &["--memory", "32m", "--cpus", "0.5", "--pids-limit", "20"],
        &["sh", "-c", script],
        true,
        |o| {
            o.assert_success();
            assert_eq!(o.stdout, "33554432\n50000\n100000\n20\n", "{o}");
        },
    );
});

docker_test!(stats_update_pause_unpause, |env| {
    let mut transcripts: Vec<(String, Vec<String>)> = Vec::new();
    for rt in &env.runtimes {
        let name = unique_name("res");
        let docker = |args: &[&str]| {
            let out = env.dockerd.docker(args);
            eprintln!("--- {rt}: docker {} ---\n{out}", args.join(" "));
            out
        };
        let started = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--runtime",
            rt,
            "--memory",
            "32m",
            IMAGE,
            "sleep",
            "1000",
        ]);
        started.assert_success();
        let mut seen = Vec::new();

        let stats = docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.MemUsage}} {{.PIDs}}",
            &name,
        ]);
        stats.assert_success();
        let fields: Vec<&str> = stats.stdout.split_whitespace().collect();
        assert_eq!(fields.first().copied(), Some(name.as_str()), "{stats}");
        assert!(
            stats.stdout.contains("/ 32MiB"),
            "stats shows the limit: {stats}"
        );
        seen.push(format!("pids {}", fields.last().copied().unwrap_or("")));

        docker(&["update", "--memory", "64m", "--memory-swap", "128m", &name]).assert_success();
        let limit = docker(&[
            "exec",
            &name,
            "cat",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ]);
        limit.assert_success();
        seen.push(format!("limit after update {}", limit.stdout.trim()));
        let inspect = docker(&["inspect", "-f", "{{.HostConfig.Memory}}", &name]);
        seen.push(format!("inspect {}", inspect.stdout.trim()));

        docker(&["pause", &name]).assert_success();
        let state = docker(&["inspect", "-f", "{{.State.Status}}", &name]);
        seen.push(format!("after pause {}", state.stdout.trim()));
        let frozen = berth_testutil::run_command(
            &mut env.dockerd.docker_command(&["exec", &name, "true"]),
            None,
            Duration::from_secs(30),
        )
        .expect("run docker exec");
        seen.push(format!("exec while paused succeeds: {}", frozen.success()));
        docker(&["unpause", &name]).assert_success();
        let state = docker(&["inspect", "-f", "{{.State.Status}}", &name]);
        seen.push(format!("after unpause {}", state.stdout.trim()));
        docker(&["exec", &name, "true"]).assert_success();

        docker(&["rm", "-f", &name]).assert_success();
        transcripts.push((rt.clone(), seen));
    }
    for (rt, seen) in &transcripts {
        assert_eq!(
            seen.get(1..),
            Some(
                &[
                    "limit after update 67108864".to_string(),
                    "inspect 67108864".to_string(),
                    "after pause paused".to_string(),
                    "exec while paused succeeds: false".to_string(),
                    "after unpause running".to_string(),
                ][..]
            ),
            "{rt}"
        );
    }
    if let Some(((first_rt, first), rest)) = transcripts.split_first() {
        for (rt, seen) in rest {
            assert_eq!(seen, first, "{rt} and {first_rt} differ");
        }
    }
});
