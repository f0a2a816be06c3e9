//! Invalid input: a malformed config.json, a missing rootfs, an unknown namespace type, an
//! unknown seccomp action or syscall, a missing executable, a hostname without a UTS namespace,
//! empty args, a missing bundle. Each must exit non-zero with a message and leave nothing behind
//! (`list` empty, no cgroup directory).

use berth_testutil::{unique_id, Bundle, Runtime};
use serde_json::json;

use crate::common::assert_nothing_left;

/// `create` and `run` of `bundle` both fail with a message and leave nothing behind.
#[track_caller]
fn rejected(rt: &Runtime, bundle: &Bundle) {
    for verb in ["create", "run"] {
        let id = unique_id("bad");
        let out = if verb == "create" {
            rt.create(bundle, &id)
        } else {
            rt.run(bundle, &id)
        };
        out.assert_failure();
        assert!(
            !out.stderr.trim().is_empty(),
            "{verb}: no error message:\n{out}"
        );
        rt.state_output(&id).assert_failure();
        assert_nothing_left(rt, bundle);
    }
}

conformance!(malformed_config_json, |rt| {
    rejected(
        rt,
        &Bundle::new().raw_config("{ \"ociVersion\": \"1.0.2\", \"process\": "),
    );
});

conformance!(config_json_not_an_object, |rt| {
    rejected(rt, &Bundle::new().raw_config("[1, 2, 3]"));
});

conformance!(missing_rootfs, |rt| {
    rejected(
        rt,
        &Bundle::new().config_mut(|c| c["root"]["path"] = json!("no-such-rootfs")),
    );
});

conformance!(unknown_namespace_type, |rt| {
    rejected(rt, &Bundle::new().namespace("bogus", None));
});

conformance!(namespace_path_that_does_not_exist, |rt| {
    rejected(
        rt,
        &Bundle::new().namespace(
            "network",
            Some(std::path::Path::new("/proc/nonexistent/ns/net")),
        ),
    );
});

conformance!(unknown_seccomp_action, |rt| {
    rejected(
        rt,
        &Bundle::new().seccomp(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [ { "names": ["mkdir"], "action": "SCMP_ACT_BOGUS" } ]
        })),
    );
});

conformance!(unknown_seccomp_default_action, |rt| {
    rejected(
        rt,
        &Bundle::new().seccomp(json!({ "defaultAction": "SCMP_ACT_NOPE" })),
    );
});

conformance!(missing_executable, |rt| {
    let bundle = Bundle::new().args(&["/no/such/binary"]);
    let out = rt.run(&bundle, &unique_id("noexec"));
    out.assert_failure();
    assert!(
        out.stderr.contains("/no/such/binary"),
        "the message should name the binary:\n{out}"
    );
    assert_nothing_left(rt, &bundle);
});

conformance!(program_that_is_a_directory, |rt| {
    // Refused before the start with EACCES's text, as Go's exec.LookPath (runc) does: the
    // docker CLI turns "permission denied" into exit code 126.
    let bundle = Bundle::new().args(&["/etc"]);
    let out = rt.run(&bundle, &unique_id("direxec"));
    out.assert_failure();
    assert!(
        out.stderr.contains("/etc") && out.stderr.contains("permission denied"),
        "the message should say permission denied:\n{out}"
    );
    assert_nothing_left(rt, &bundle);
});

conformance!(hostname_without_uts_namespace, |rt| {
    rejected(
        rt,
        &Bundle::new().remove_namespace("uts").hostname("needs-uts"),
    );
});

conformance!(empty_args, |rt| {
    rejected(rt, &Bundle::new().args(&[]));
});

conformance!(missing_bundle_directory, |rt| {
    let out = rt.raw(&[
        "create",
        "--bundle",
        "/nonexistent/bundle",
        &unique_id("nobundle"),
    ]);
    out.assert_failure();
    assert!(!out.stderr.is_empty(), "{out}");
    assert!(rt.list_json().is_empty());
});

conformance!(user_namespace_without_mappings, |rt| {
    rejected(rt, &Bundle::new().namespace("user", None));
});

conformance!(systemd_cgroup_driver_without_systemd, |rt| {
    // This host runs no systemd: the systemd driver cannot place the container anywhere.
    if std::path::Path::new("/run/systemd/system").exists() {
        berth_testutil::skip_host("systemd runs on this host: the test is of its absence");
        return;
    }
    let bundle = Bundle::new().args(&["true"]);
    bundle.write_config().expect("write config");
    let id = unique_id("systemd");
    rt.track(&id, Some(&bundle));
    let out = rt.raw(&[
        "--systemd-cgroup",
        "run",
        "--bundle",
        &bundle.path().to_string_lossy(),
        &id,
    ]);
    out.assert_failure();
    assert!(!out.stderr.trim().is_empty(), "no error message:\n{out}");
    if rt.name() == "berth" {
        assert!(out.stderr.contains("systemd is not running"), "{out}");
    }
    assert_nothing_left(rt, &bundle);
});

conformance!(cpuset_outside_the_host_cpus, |rt| {
    rejected(
        rt,
        &Bundle::new().resources(json!({ "cpu": { "cpus": "4096" } })),
    );
});

conformance!(device_rule_with_bad_syntax, |rt| {
    rejected(
        rt,
        &Bundle::new().resources(json!({
            "devices": [ { "allow": true, "type": "q", "major": 1, "minor": 3, "access": "rwm" } ]
        })),
    );
});

conformance!(memory_limit_below_usage_or_minimum, |rt| {
    rejected(
        rt,
        &Bundle::new().resources(json!({ "memory": { "limit": 4096, "swap": 1024 } })),
    );
});
