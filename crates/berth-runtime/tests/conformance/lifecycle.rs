//! Lifecycle verbs and states: create → created → start → running → kill → stopped → delete;
//! `run` (exit status, stdin, detach); `list` in its three formats; `exec`; `ps`; `spec`;
//! `kill` with signal names and numbers; refusals (duplicate id, id with '/', deleting a running
//! container without --force, state of an unknown id, starting twice).

use berth_testutil::{unique_id, Bundle};
use serde_json::Value;

/// A bundle whose process runs until killed and dies on SIGTERM too (pid 1 ignores signals it
/// has no handler for, so the shell traps TERM itself).
fn long_running() -> Bundle {
    Bundle::new().sh("trap 'exit 143' TERM; touch /dev/shm/ready; while true; do sleep 0.1; done")
}

/// Waits until the `long_running` process of `id` has installed its TERM trap.
fn wait_trap_installed(rt: &berth_testutil::Runtime, id: &str) {
    let pid = state_pid(&rt.state(id));
    let ready = format!("/proc/{pid}/root/dev/shm/ready");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::path::Path::new(&ready).exists() {
        assert!(std::time::Instant::now() < deadline, "{id} never got ready");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

fn state_pid(state: &Value) -> u64 {
    state["pid"].as_u64().unwrap_or(0)
}

conformance!(create_start_kill_delete, |rt| {
    let bundle = long_running();
    let id = unique_id("life");
    rt.create(&bundle, &id).assert_success();

    let created = rt.state(&id);
    assert_eq!(created["status"], "created", "{created}");
    assert_eq!(created["id"], id.as_str(), "{created}");
    assert!(state_pid(&created) > 0, "{created}");
    assert_eq!(
        created["bundle"].as_str().map(std::path::Path::new),
        Some(bundle.path()),
        "{created}"
    );
    assert!(
        created["ociVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{created}"
    );

    rt.start(&id).assert_success();
    let running = rt.state(&id);
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(
        state_pid(&running),
        state_pid(&created),
        "the init process is the one created"
    );

    rt.kill(&id, "SIGKILL").assert_success();
    rt.wait_for_status(&id, "stopped");

    rt.delete(&id, false).assert_success();
    let gone = rt.state_output(&id);
    gone.assert_failure();
    assert!(
        !gone.stderr.is_empty(),
        "state of a deleted container should say why it fails"
    );
});

conformance!(run_passes_exit_status, |rt| {
    crate::common::sh(rt, "exit 7").assert_code(7);
    crate::common::sh(rt, "true").assert_code(0);
});

conformance!(run_reports_death_by_signal, |rt| {
    // The shell kills itself with SIGKILL; runtimes report 128 + signal like a shell. (Without
    // a pid namespace, as the init of one cannot be killed from inside.)
    let bundle = Bundle::new().remove_namespace("pid").sh("kill -9 $$");
    crate::common::run(rt, &bundle).assert_code(137);
});

conformance!(run_passes_stdin_and_stdout, |rt| {
    let out = rt.run_with_input(
        &Bundle::new().args(&["cat"]),
        &unique_id("stdin"),
        b"hello from stdin\n",
    );
    out.assert_success();
    assert_eq!(out.stdout, "hello from stdin\n");
});

conformance!(run_separates_stdout_and_stderr, |rt| {
    let out = crate::common::sh(rt, "echo out; echo err >&2");
    out.assert_success();
    assert_eq!(out.stdout, "out\n");
    assert!(out.stderr.contains("err\n"), "{out}");
});

conformance!(run_detached, |rt| {
    let id = unique_id("detach");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let state = rt.state(&id);
    assert_eq!(state["status"], "running", "{state}");
    rt.kill(&id, "KILL").assert_success();
    rt.wait_for_status(&id, "stopped");
    rt.delete(&id, false).assert_success();
});

conformance!(run_deletes_container_when_done, |rt| {
    let id = unique_id("gone");
    rt.run(&Bundle::new().args(&["true"]), &id).assert_success();
    rt.state_output(&id).assert_failure();
    // The id is free again.
    rt.run(&Bundle::new().args(&["true"]), &id).assert_success();
});

conformance!(list_formats, |rt| {
    let a = unique_id("lista");
    let b = unique_id("listb");
    let bundle_a = long_running();
    let bundle_b = long_running();
    rt.create(&bundle_a, &a).assert_success();
    rt.run_detached(&bundle_b, &b).assert_success();

    let table = rt.list(&[]);
    table.assert_success();
    let header = table.stdout.lines().next().unwrap_or_default();
    for column in ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"] {
        assert!(header.contains(column), "missing column {column}:\n{table}");
    }
    let row_a = table
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(a.as_str()));
    assert!(row_a.is_some_and(|r| r.contains("created")), "{table}");
    let row_b = table
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(b.as_str()));
    assert!(row_b.is_some_and(|r| r.contains("running")), "{table}");

    let json = rt.list_json();
    assert_eq!(json.len(), 2, "{json:?}");
    let entry = |id: &str| {
        json.iter()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(entry(&a)["status"], "created");
    assert_eq!(entry(&b)["status"], "running");
    assert_eq!(
        entry(&a)["bundle"].as_str().map(std::path::Path::new),
        Some(bundle_a.path())
    );
    assert!(entry(&b)["pid"].as_u64().is_some_and(|p| p > 0));

    let quiet = rt.list(&["-q"]);
    quiet.assert_success();
    let mut ids = quiet.stdout_lines();
    ids.sort_unstable();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected, "{quiet}");
});

conformance!(list_empty, |rt| {
    assert!(rt.list_json().is_empty());
    let quiet = rt.list(&["-q"]);
    quiet.assert_success();
    assert_eq!(quiet.stdout_trimmed(), "");
});

conformance!(duplicate_id_refused, |rt| {
    let id = unique_id("dup");
    let bundle = long_running();
    rt.create(&bundle, &id).assert_success();
    let bundle2 = long_running();
    let second = rt.create(&bundle2, &id);
    second.assert_failure();
    assert!(!second.stderr.is_empty(), "{second}");
    assert_eq!(
        rt.status(&id),
        "created",
        "the first container must be untouched"
    );
});

conformance!(id_with_slash_refused, |rt| {
    let bundle = long_running();
    for id in ["a/b", "../escape", "/abs"] {
        let out = rt.create(&bundle, id);
        out.assert_failure();
        assert!(!out.stderr.is_empty(), "{out}");
    }
    crate::common::assert_nothing_left(rt, &bundle);
});

conformance!(delete_running_refused_without_force, |rt| {
    let id = unique_id("delrun");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let refused = rt.delete(&id, false);
    refused.assert_failure();
    assert!(!refused.stderr.is_empty(), "{refused}");
    assert_eq!(rt.status(&id), "running");
    rt.delete(&id, true).assert_success();
    rt.state_output(&id).assert_failure();
});

conformance!(delete_force_created_container, |rt| {
    let id = unique_id("delcreated");
    let bundle = long_running();
    rt.create(&bundle, &id).assert_success();
    let pid = state_pid(&rt.state(&id));
    rt.delete(&id, true).assert_success();
    rt.state_output(&id).assert_failure();
    assert!(!alive(pid), "init process {pid} survived delete --force");
    crate::common::assert_nothing_left(rt, &bundle);
});

conformance!(kill_signal_names_and_numbers, |rt| {
    for signal in ["KILL", "SIGKILL", "9", "TERM", "SIGTERM", "15"] {
        let id = unique_id("kill");
        let bundle = long_running();
        rt.run_detached(&bundle, &id).assert_success();
        wait_trap_installed(rt, &id);
        let out = rt.kill(&id, signal);
        assert!(out.success(), "kill {signal}:\n{out}");
        rt.wait_for_status(&id, "stopped");
        rt.delete(&id, false).assert_success();
    }
});

conformance!(kill_unknown_signal_fails, |rt| {
    let id = unique_id("killbad");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    rt.kill(&id, "SIGNOPE").assert_failure();
    assert_eq!(rt.status(&id), "running");
});

conformance!(kill_created_container, |rt| {
    let id = unique_id("killcreated");
    let bundle = long_running();
    rt.create(&bundle, &id).assert_success();
    rt.kill(&id, "KILL").assert_success();
    rt.wait_for_status(&id, "stopped");
});

conformance!(start_twice_fails, |rt| {
    let id = unique_id("start2");
    let bundle = long_running();
    rt.create(&bundle, &id).assert_success();
    rt.start(&id).assert_success();
    rt.start(&id).assert_failure();
    assert_eq!(rt.status(&id), "running");
});

conformance!(ps_json_lists_container_pids, |rt| {
    let id = unique_id("ps");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let pid = state_pid(&rt.state(&id));
    let out = rt.ps(&id, &["--format", "json"]);
    out.assert_success();
    let pids: Vec<u64> = match serde_json::from_str::<Value>(&out.stdout) {
        Ok(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        other => panic!("ps --format json is not an array of pids ({other:?}):\n{out}"),
    };
    assert!(pids.contains(&pid), "init pid {pid} missing from {pids:?}");
});

conformance!(exec_in_running_container, |rt| {
    let id = unique_id("exec");
    let bundle = long_running().hostname("exec-host");
    rt.run_detached(&bundle, &id).assert_success();
    let out = rt.exec(&id, &["sh", "-c", "hostname; echo $PATH; exit 3"]);
    out.assert_code(3);
    let lines = out.stdout_lines();
    assert_eq!(lines.first().copied(), Some("exec-host"), "{out}");
    // exec takes the process config of the container unless told otherwise.
    assert_eq!(
        lines.get(1).copied(),
        Some("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{out}"
    );
    let env = rt.exec_with(
        &["--env", "FOO=bar", "--cwd", "/tmp"],
        &id,
        &["sh", "-c", "echo $FOO; pwd"],
    );
    env.assert_success();
    assert_eq!(env.stdout_lines(), vec!["bar", "/tmp"], "{env}");
});

conformance!(exec_into_stopped_container_fails, |rt| {
    let id = unique_id("execstopped");
    let bundle = long_running();
    rt.create(&bundle, &id).assert_success();
    rt.kill(&id, "KILL").assert_success();
    rt.wait_for_status(&id, "stopped");
    rt.exec(&id, &["true"]).assert_failure();
});

conformance!(spec_writes_config, |rt| {
    let dir = tempfile::tempdir().expect("temp dir");
    rt.spec(dir.path()).assert_success();
    let text =
        std::fs::read_to_string(dir.path().join("config.json")).expect("spec wrote config.json");
    let spec: Value = serde_json::from_str(&text).expect("config.json is JSON");
    assert_eq!(spec["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(spec["process"]["terminal"], true);
    assert_eq!(spec["root"]["path"], "rootfs");
    // The same namespaces and mount points as runc's template (the base bundle is runc's).
    let base = berth_testutil::base_spec();
    let kinds = |v: &Value| {
        let mut k: Vec<String> = v["linux"]["namespaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["type"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(kinds(&spec), kinds(&base));
    let dests = |v: &Value| -> Vec<String> {
        v["mounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["destination"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(dests(&spec), dests(&base));
    // A second spec must not overwrite the file.
    rt.spec(dir.path()).assert_failure();
});

conformance!(state_of_unknown_id_fails, |rt| {
    let out = rt.state_output("no-such-container");
    out.assert_failure();
    assert!(!out.stderr.is_empty(), "{out}");
    assert_eq!(out.stdout_trimmed(), "", "{out}");
});

conformance!(delete_unknown_id_fails, |rt| {
    rt.delete("no-such-container", false).assert_failure();
});

conformance!(pause_and_resume, |rt| {
    let id = unique_id("pause");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    rt.raw(&["pause", &id]).assert_success();
    assert_eq!(rt.status(&id), "paused");
    let pid = state_pid(&rt.state(&id));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let proc_state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    assert_eq!(
        proc_state,
        Some(Some('D')),
        "a frozen task sleeps uninterruptibly: {stat}"
    );
    rt.raw(&["resume", &id]).assert_success();
    assert_eq!(rt.status(&id), "running");
});

conformance!(pid_file_holds_init_pid, |rt| {
    // containerd and docker read the init pid from --pid-file.
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("init.pid");
    let path = pid_file.to_string_lossy().into_owned();
    let id = unique_id("pidfile");
    let bundle = long_running();
    rt.create_with(&bundle, &id, &["--pid-file", &path])
        .assert_success();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(
        written.trim().parse::<u64>().ok(),
        Some(state_pid(&rt.state(&id)))
    );
});

conformance!(errors_go_to_json_log, |rt| {
    // containerd runs the runtime with `--log FILE --log-format json` and reads the error of a
    // failed create from the last "error" line of that file.
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("log.json");
    let log_path = log.to_string_lossy().into_owned();
    let bundle = Bundle::new().args(&["/no/such/binary"]);
    bundle.write_config().expect("write config");
    let bundle_path = bundle.path().to_string_lossy().into_owned();
    let id = unique_id("log");
    rt.track(&id, Some(&bundle));
    let out = rt.raw(&[
        "--log",
        &log_path,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &bundle_path,
        &id,
    ]);
    out.assert_failure();
    let text = std::fs::read_to_string(&log).expect("log file written");
    let errors: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["level"] == "error")
        .collect();
    let last = errors
        .last()
        .unwrap_or_else(|| panic!("no error line in the log:\n{text}"));
    assert!(
        last["msg"]
            .as_str()
            .is_some_and(|m| m.contains("/no/such/binary")),
        "{last}"
    );
});

conformance!(exec_with_process_json, |rt| {
    // containerd's exec: `exec --process FILE --detach --pid-file FILE ID`.
    let id = unique_id("execjson");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let dir = tempfile::tempdir().expect("temp dir");
    let process = serde_json::json!({
        "terminal": false,
        "user": { "uid": 1000, "gid": 1000, "additionalGids": [5] },
        "args": ["sh", "-c", "id; pwd; echo $FOO; exit 5"],
        "env": ["PATH=/bin", "FOO=from-process-json"],
        "cwd": "/tmp"
    });
    let file = dir.path().join("process.json");
    std::fs::write(&file, process.to_string()).expect("write process.json");
    let path = file.to_string_lossy().into_owned();
    let out = rt.raw(&["exec", "--process", &path, &id]);
    out.assert_code(5);
    assert_eq!(
        out.stdout_lines(),
        vec![
            "uid=1000(berth) gid=1000(berth) groups=5(tty)",
            "/tmp",
            "from-process-json"
        ],
        "{out}"
    );
});

conformance!(exec_detached_with_pid_file, |rt| {
    let id = unique_id("execdetach");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("exec.pid");
    let path = pid_file.to_string_lossy().into_owned();
    rt.exec_with(&["--detach", "--pid-file", &path], &id, &["sleep", "1000"])
        .assert_success();
    let pid: u64 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(alive(pid), "exec'd process {pid} is not running");
    let init = state_pid(&rt.state(&id));
    let ns = |p: u64| std::fs::read_link(format!("/proc/{p}/ns/pid")).ok();
    assert_eq!(
        ns(pid),
        ns(init),
        "exec joins the container's pid namespace"
    );
});

conformance!(kill_all_reaches_every_process, |rt| {
    let id = unique_id("killall");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let dir = tempfile::tempdir().expect("temp dir");
    let pid_file = dir.path().join("exec.pid");
    let path = pid_file.to_string_lossy().into_owned();
    rt.exec_with(&["--detach", "--pid-file", &path], &id, &["sleep", "1000"])
        .assert_success();
    let exec_pid: u64 = std::fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    rt.raw(&["kill", "--all", &id, "KILL"]).assert_success();
    rt.wait_for_status(&id, "stopped");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(exec_pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        !alive(exec_pid),
        "kill --all left the exec'd process {exec_pid}"
    );
});

conformance!(features_json, |rt| {
    let out = rt.raw(&["features"]);
    out.assert_success();
    let features: Value = serde_json::from_str(&out.stdout).expect("features prints JSON");
    assert!(features["ociVersionMin"].is_string(), "{features}");
    assert!(features["ociVersionMax"].is_string(), "{features}");
    let hooks = features["hooks"].as_array().cloned().unwrap_or_default();
    for hook in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(
            hooks.contains(&serde_json::json!(hook)),
            "{hook} missing: {features}"
        );
    }
    let namespaces = features["linux"]["namespaces"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(
            namespaces.contains(&serde_json::json!(ns)),
            "{ns} missing: {features}"
        );
    }
});

conformance!(events_stats, |rt| {
    let id = unique_id("stats");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    let out = rt.raw(&["events", "--stats", &id]);
    out.assert_success();
    let event: Value = serde_json::from_str(&out.stdout).expect("events --stats prints JSON");
    assert_eq!(event["type"], "stats", "{event}");
    assert_eq!(event["id"], id.as_str(), "{event}");
    let pids = event["data"]["pids"]["current"].as_u64().unwrap_or(0);
    assert!(pids >= 1, "{event}");
});

conformance!(update_memory_limit, |rt| {
    let id = unique_id("update");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    rt.raw(&["update", "--memory", "50331648", "--pids-limit", "77", &id])
        .assert_success();
    let rel = bundle
        .cgroups_path()
        .expect("cgroups path")
        .trim_start_matches('/')
        .to_string();
    let read = |controller: &str, file: &str| {
        let hierarchy = berth_testutil::cgroup::hierarchies()
            .expect("hierarchies")
            .into_iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .unwrap_or_else(|| panic!("no {controller} hierarchy"));
        std::fs::read_to_string(hierarchy.mount.join(&rel).join(file)).unwrap_or_default()
    };
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), "50331648");
    assert_eq!(read("pids", "pids.max").trim(), "77");
});

conformance!(exec_env_overrides_the_containers_value, |rt| {
    let id = unique_id("execenv");
    let bundle = long_running()
        .add_env("NAME=from-spec")
        .add_env("KEEP=kept");
    rt.run_detached(&bundle, &id).assert_success();
    let out = rt.exec_with(
        &["--env", "NAME=from-exec", "--env", "NEW=new"],
        &id,
        &["cat", "/proc/self/environ"],
    );
    out.assert_success();
    // What the program was given, not what a shell made of it: one NAME, the exec's.
    let env: Vec<&str> = out.stdout.split('\0').filter(|e| !e.is_empty()).collect();
    let names: Vec<&str> = env
        .iter()
        .filter(|e| e.starts_with("NAME="))
        .copied()
        .collect();
    assert_eq!(names, vec!["NAME=from-exec"], "{env:?}");
    assert!(
        env.contains(&"KEEP=kept") && env.contains(&"NEW=new"),
        "{env:?}"
    );
});

conformance!(exec_into_a_paused_container_needs_ignore_paused, |rt| {
    let id = unique_id("execpaused");
    let bundle = long_running();
    rt.run_detached(&bundle, &id).assert_success();
    rt.raw(&["pause", &id]).assert_success();
    let refused = rt.exec(&id, &["true"]);
    refused.assert_failure();
    assert!(refused.stderr.contains("paused"), "{refused}");
    // With --ignore-paused the process joins the frozen cgroup, so it only runs once the
    // container is resumed.
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("out");
    let out_file = std::fs::File::create(&out_path).expect("output file");
    let mut child = rt
        .command(&["exec", "--ignore-paused", &id, "echo", "ran"])
        .stdin(std::process::Stdio::null())
        .stdout(out_file)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("spawn exec");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let resumed = rt.raw(&["resume", &id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for exec") {
            break Some(s);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    resumed.assert_success();
    assert!(
        status.is_some_and(|s| s.success()),
        "exec --ignore-paused: {status:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap_or_default(),
        "ran\n"
    );
});

conformance!(exec_into_a_sub_cgroup, |rt| {
    // `exec --cgroup [CONTROLLER:]PATH` puts the process in an existing sub-cgroup of the
    // container's: a v1 controller's on a v1 or hybrid host, the unified one on a v2 host.
    let id = unique_id("execcg");
    let bundle = long_running();
    let cg_path = bundle.cgroups_path().expect("cgroupsPath").to_string();
    rt.run_detached(&bundle, &id).assert_success();
    let hierarchies = berth_testutil::cgroup::hierarchies().expect("cgroup hierarchies");
    let (hierarchy, arg) = match hierarchies
        .iter()
        .find(|h| h.controllers.iter().any(|c| c == "pids"))
    {
        Some(h) => (h.clone(), "pids:sub".to_string()),
        None => (
            hierarchies
                .iter()
                .find(|h| h.unified)
                .expect("a cgroup2 hierarchy")
                .clone(),
            "sub".to_string(),
        ),
    };
    let sub = hierarchy
        .mount
        .join(cg_path.trim_start_matches('/'))
        .join("sub");
    std::fs::create_dir(&sub).expect("create the sub-cgroup");
    let out = rt.exec_with(&["--cgroup", &arg], &id, &["cat", "/proc/self/cgroup"]);
    let inside = berth_testutil::cgroup::parse_memberships(&out.stdout).unwrap_or_default();
    let _ = std::fs::remove_dir(&sub);
    out.assert_success();
    let m = inside
        .iter()
        .find(|m| hierarchy.matches(m))
        .unwrap_or_else(|| panic!("no line for {hierarchy:?}:\n{out}"));
    assert_eq!(m.path, format!("{cg_path}/sub"), "{out}");

    let escape = rt.exec_with(&["--cgroup", "pids:../.."], &id, &["true"]);
    escape.assert_failure();
});
