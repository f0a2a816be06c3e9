//! Hooks: prestart, createRuntime, poststart and poststop receive the container state on stdin
//! (checked field by field), run in order and at the right verb; createContainer runs in the
//! container's mount namespace and startContainer inside the container; hook env is passed; a
//! failing or timed-out hook makes create fail and leaves nothing behind.

use std::fs;
use std::path::Path;

use berth_testutil::{unique_id, Bundle};
use serde_json::{json, Value};

use crate::common::{assert_nothing_left, run_ok};

/// A host hook that saves its stdin to `DIR/NAME.json` and appends NAME to `DIR/order`.
fn recording_hook(dir: &Path, name: &str) -> Value {
    let d = dir.display();
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {d}/{name}.json && echo {name} >> {d}/order")]
    })
}

fn read_state(dir: &Path, name: &str) -> Value {
    let text = fs::read_to_string(dir.join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} hook got no JSON ({e}): {text:?}"))
}

fn order(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn with_recording_hooks(bundle: Bundle, dir: &Path, kinds: &[&str]) -> Bundle {
    kinds
        .iter()
        .fold(bundle, |b, k| b.hook(k, recording_hook(dir, k)))
}

const HOST_HOOKS: &[&str] = &["prestart", "createRuntime", "poststart", "poststop"];

conformance!(hooks_receive_state_in_order, |rt| {
    let dir = tempfile::tempdir().expect("temp dir");
    let b = with_recording_hooks(Bundle::new().args(&["true"]), dir.path(), HOST_HOOKS);
    let id = unique_id("hooks");
    rt.run(&b, &id).assert_success();

    assert_eq!(order(dir.path()), HOST_HOOKS, "hooks ran in another order");
    let mut pids = Vec::new();
    for name in HOST_HOOKS {
        let state = read_state(dir.path(), name);
        assert_eq!(state["id"], id.as_str(), "{name}: {state}");
        assert_eq!(
            state["bundle"].as_str().map(Path::new),
            Some(b.path()),
            "{name}: {state}"
        );
        assert!(
            state["ociVersion"].as_str().is_some_and(|v| !v.is_empty()),
            "{name}: {state}"
        );
        if *name != "poststop" {
            let pid = state["pid"].as_u64().unwrap_or(0);
            assert!(pid > 0, "{name}: {state}");
            pids.push(pid);
        }
    }
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "hooks saw different pids: {pids:?}"
    );
    assert_eq!(read_state(dir.path(), "prestart")["status"], "creating");
    assert_eq!(
        read_state(dir.path(), "createRuntime")["status"],
        "creating"
    );
    // runc 1.1.5 reports "created" to poststart; the spec's lifecycle has started the process.
    let poststart = read_state(dir.path(), "poststart");
    assert!(
        matches!(poststart["status"].as_str(), Some("created" | "running")),
        "{poststart}"
    );
    assert_eq!(read_state(dir.path(), "poststop")["status"], "stopped");
});

conformance!(
    hooks_run_at_their_verbs,
    runc_ignored = "runc 1.1.5 runs poststart hooks during create, not start",
    |rt| {
        let dir = tempfile::tempdir().expect("temp dir");
        let b = with_recording_hooks(
            Bundle::new().args(&["sleep", "1000"]),
            dir.path(),
            HOST_HOOKS,
        );
        let id = unique_id("hookverbs");
        rt.create(&b, &id).assert_success();
        assert_eq!(
            order(dir.path()),
            ["prestart", "createRuntime"],
            "after create"
        );
        rt.start(&id).assert_success();
        assert_eq!(
            order(dir.path()),
            ["prestart", "createRuntime", "poststart"],
            "after start"
        );
        rt.kill(&id, "KILL").assert_success();
        rt.wait_for_status(&id, "stopped");
        rt.delete(&id, false).assert_success();
        assert_eq!(order(dir.path()), HOST_HOOKS, "after delete");
    }
);

conformance!(
    create_container_hook_runs_in_container_mount_namespace,
    |rt| {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display();
        let b = Bundle::new()
        .hook("createContainer", json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("cat > {d}/createContainer.json; readlink /proc/self/ns/mnt > {d}/mnt")]
        }))
        .args(&["readlink", "/proc/self/ns/mnt"]);
        let id = unique_id("cchook");
        let out = rt.run(&b, &id);
        out.assert_success();
        let state = read_state(dir.path(), "createContainer");
        assert_eq!(state["id"], id.as_str(), "{state}");
        let hook_mnt =
            fs::read_to_string(dir.path().join("mnt")).expect("hook wrote its mount namespace");
        assert_eq!(
            hook_mnt.trim(),
            out.stdout_trimmed(),
            "createContainer must run in the container's mount namespace"
        );
    }
);

conformance!(start_container_hook_runs_inside_container, |rt| {
    let host = tempfile::tempdir().expect("temp dir");
    // The hook's path and files are resolved inside the container: busybox sh, the /hooks mount.
    let b = Bundle::new()
        .bind_mount(host.path(), "/hooks", false)
        .hook("startContainer", json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", "cat > /hooks/startContainer.json; hostname > /hooks/hostname; echo $HOOKVAR > /hooks/env"],
            "env": ["HOOKVAR=from-hook-env"]
        }))
        .hostname("hook-host")
        .args(&["true"]);
    run_ok(rt, &b);
    let state = read_state(host.path(), "startContainer");
    assert!(state["id"].is_string(), "{state}");
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(
        fs::read_to_string(host.path().join("hostname"))
            .unwrap_or_default()
            .trim(),
        "hook-host"
    );
    assert_eq!(
        fs::read_to_string(host.path().join("env"))
            .unwrap_or_default()
            .trim(),
        "from-hook-env"
    );
});

conformance!(hook_env_and_args, |rt| {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path().display();
    let b = Bundle::new()
        .hook("prestart", json!({
            "path": "/bin/sh",
            "args": ["my-hook-name", "-c", format!("{{ tr '\\0' ' ' < /proc/$$/cmdline; echo; echo $HOOKVAR; }} > {d}/out"), "zero"],
            "env": ["HOOKVAR=hook-env", "PATH=/usr/bin:/bin"]
        }))
        .args(&["true"]);
    run_ok(rt, &b);
    let out = fs::read_to_string(dir.path().join("out")).expect("hook ran");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines[0].starts_with("my-hook-name -c ") && lines[0].ends_with(" zero "),
        "argv: {out:?}"
    );
    assert_eq!(lines[1], "hook-env", "env: {out:?}");
});

fn failing_hook_fails_create(rt: &berth_testutil::Runtime, kind: &str, hook: Value) {
    let b = Bundle::new().args(&["sleep", "1000"]).hook(kind, hook);
    let out = rt.create(&b, &unique_id("hookfail"));
    out.assert_failure();
    assert!(!out.stderr.is_empty(), "{out}");
    assert_nothing_left(rt, &b);
}

conformance!(failing_prestart_hook_fails_create, |rt| {
    failing_hook_fails_create(
        rt,
        "prestart",
        json!({ "path": "/bin/false", "args": ["false"] }),
    );
});

conformance!(failing_create_runtime_hook_fails_create, |rt| {
    failing_hook_fails_create(
        rt,
        "createRuntime",
        json!({ "path": "/bin/sh", "args": ["sh", "-c", "exit 3"] }),
    );
});

conformance!(missing_hook_binary_fails_create, |rt| {
    failing_hook_fails_create(
        rt,
        "createRuntime",
        json!({ "path": "/nonexistent/hook", "args": ["hook"] }),
    );
});

conformance!(hook_timeout_fails_create, |rt| {
    failing_hook_fails_create(
        rt,
        "prestart",
        json!({ "path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1 }),
    );
});

conformance!(hooks_without_env_inherit_as_runc_does, |rt| {
    // A hook without `env` gets the environment of the process that runs it, as Go's exec does
    // for runc: the runtime's for prestart, the container process's for createContainer (before
    // HOME is filled in) and startContainer (after).
    let host = tempfile::tempdir().expect("temp dir");
    let d = host.path().display();
    let report = "echo \"${FOO-unset}|${HOME-unset}|${TERM-unset}|${RUNTIME_ONLY-unset}\"";
    let b = Bundle::new()
        .add_env("FOO=from-process")
        .bind_mount(host.path(), "/hooks", false)
        .hook(
            "prestart",
            json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("{report} > {d}/prestart")] }),
        )
        .hook(
            "createContainer",
            json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("{report} > {d}/createContainer")] }),
        )
        .hook(
            "startContainer",
            json!({ "path": "/bin/sh", "args": ["sh", "-c", format!("{report} > /hooks/startContainer")] }),
        )
        .args(&["true"]);
    let id = unique_id("hookenv");
    let mut cmd = rt.bundle_command(&["run"], &b, &id);
    cmd.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("RUNTIME_ONLY", "runtime");
    let out =
        berth_testutil::run_command(&mut cmd, None, berth_testutil::DEFAULT_TIMEOUT).expect("run");
    out.assert_success();
    let read = |name: &str| {
        fs::read_to_string(host.path().join(name))
            .unwrap_or_else(|e| panic!("{name} hook did not run: {e}"))
            .trim()
            .to_string()
    };
    assert_eq!(read("prestart"), "unset|unset|unset|runtime");
    assert_eq!(read("createContainer"), "from-process|unset|xterm|unset");
    assert_eq!(read("startContainer"), "from-process|/root|xterm|unset");
});
