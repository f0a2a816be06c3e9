//! Rootless containers: the runtime run by an unprivileged user (uid 65534 here) with the
//! config `spec --rootless` writes: a user namespace mapping root to the caller, no cgroup
//! (the user cannot create one on this host), and a clear failure when the config asks for a
//! limit that needs a cgroup.

use std::path::Path;
use std::process::Command;

use berth_testutil::{run_command, unique_id, Bundle, Output, Runtime};
use serde_json::{json, Value};

const NOBODY: u32 = 65534;

/// A bundle with the runtime's own rootless config, mapping root to `NOBODY`, reachable by it.
fn rootless_bundle(rt: &Runtime, script: &str) -> Bundle {
    let dir = tempfile::tempdir().expect("temp dir");
    rt.raw(&[
        "spec".as_ref(),
        "--rootless".as_ref(),
        "--bundle".as_ref(),
        dir.path().as_os_str(),
    ])
    .assert_success();
    let spec: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("config.json")).expect("read rootless config"),
    )
    .expect("rootless config is JSON");
    let b = Bundle::new().config_mut(|c| {
        *c = spec;
        c["root"] = json!({ "path": "rootfs", "readonly": true });
        c["process"]["terminal"] = json!(false);
        c["process"]["args"] = json!(["sh", "-c", script]);
        for maps in ["uidMappings", "gidMappings"] {
            c["linux"][maps] = json!([{ "containerID": 0, "hostID": NOBODY, "size": 1 }]);
        }
    });
    b.write_config().expect("write config");
    for p in [b.path(), &b.path().join("config.json")] {
        std::os::unix::fs::lchown(p, Some(NOBODY), Some(NOBODY)).expect("chown bundle");
    }
    b
}

/// `RUNTIME --root ROOT run --bundle B ID` as `NOBODY`.
fn run_as_nobody(rt: &Runtime, b: &Bundle, id: &str) -> Output {
    std::os::unix::fs::chown(rt.root(), Some(NOBODY), Some(NOBODY)).expect("chown state root");
    rt.track(id, Some(b));
    let mut cmd: Command = rt.command(&[
        "run".as_ref(),
        "--bundle".as_ref(),
        b.path().as_os_str(),
        id.as_ref(),
    ]);
    std::os::unix::process::CommandExt::uid(&mut cmd, NOBODY);
    std::os::unix::process::CommandExt::gid(&mut cmd, NOBODY);
    cmd.env_remove("XDG_RUNTIME_DIR")
        .current_dir(Path::new("/"));
    run_command(&mut cmd, None, berth_testutil::DEFAULT_TIMEOUT).expect("run the runtime")
}

conformance!(rootless_run_as_an_unprivileged_user, |rt| {
    let b = rootless_bundle(rt, "id; cat /proc/self/uid_map; echo $$");
    let out = run_as_nobody(rt, &b, &unique_id("rootless"));
    out.assert_success();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines,
        [
            vec!["uid=0(root)", "gid=0(root)"],
            vec!["0", "65534", "1"],
            vec!["1"],
        ],
        "{out}"
    );
    assert!(rt.list_json().is_empty(), "run removed the container");
});

conformance!(rootless_limits_without_a_cgroup_fail_cleanly, |rt| {
    let b = rootless_bundle(rt, "true");
    let b = b.resources(json!({ "memory": { "limit": 67_108_864 } }));
    b.write_config().expect("write config");
    let out = run_as_nobody(rt, &b, &unique_id("rootlesslim"));
    out.assert_failure();
    assert!(!out.stderr.trim().is_empty(), "no message:\n{out}");
    crate::common::assert_nothing_left(rt, &b);
});
