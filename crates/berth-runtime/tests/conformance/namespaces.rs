//! Namespaces: each of uts, ipc, network, pid, mount and cgroup is new when listed and shared
//! with the host when not (compared through `/proc/self/ns/*` links); joining a namespace by
//! path; a user namespace with uid/gid mappings; the time namespace with offsets (runc 1.1.5 has
//! no time namespace: its variant is ignored).

use berth_testutil::ns::{host_link, proc_name, NsHolder};
use berth_testutil::{Bundle, Runtime};

use crate::common::run_ok;

/// The container's `/proc/self/ns/<name>` link for `bundle`.
fn container_link(rt: &Runtime, bundle: Bundle, name: &str) -> String {
    let out = run_ok(
        rt,
        &bundle.args(&["readlink", &format!("/proc/self/ns/{name}")]),
    );
    out.trim().to_string()
}

fn assert_new(rt: &Runtime, oci_type: &str) {
    let name = proc_name(oci_type);
    let inside = container_link(rt, Bundle::new().namespace(oci_type, None), name);
    let host = host_link(name).expect("host namespace");
    assert!(inside.starts_with(&format!("{name}:[")), "{inside}");
    assert_ne!(inside, host, "{oci_type} namespace should be new");
}

fn assert_shared(rt: &Runtime, oci_type: &str) {
    let name = proc_name(oci_type);
    let mut bundle = Bundle::new().remove_namespace(oci_type);
    if oci_type == "uts" {
        // A hostname needs a UTS namespace of its own.
        bundle.edit(|c| {
            if let Some(o) = c.as_object_mut() {
                o.remove("hostname");
            }
        });
    }
    let inside = container_link(rt, bundle, name);
    assert_eq!(
        inside,
        host_link(name).expect("host namespace"),
        "{oci_type} namespace should be the host's"
    );
}

conformance!(uts_new, |rt| { assert_new(rt, "uts") });
conformance!(ipc_new, |rt| { assert_new(rt, "ipc") });
conformance!(network_new, |rt| { assert_new(rt, "network") });
conformance!(pid_new, |rt| { assert_new(rt, "pid") });
conformance!(mount_new, |rt| { assert_new(rt, "mount") });
conformance!(cgroup_new, |rt| { assert_new(rt, "cgroup") });

conformance!(uts_shared, |rt| { assert_shared(rt, "uts") });
conformance!(ipc_shared, |rt| { assert_shared(rt, "ipc") });
conformance!(network_shared, |rt| { assert_shared(rt, "network") });
conformance!(pid_shared, |rt| { assert_shared(rt, "pid") });
conformance!(cgroup_shared, |rt| { assert_shared(rt, "cgroup") });

conformance!(new_network_namespace_has_only_lo, |rt| {
    let out = run_ok(rt, &Bundle::new().args(&["cat", "/proc/net/dev"]));
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{out}");
});

conformance!(join_network_namespace_by_path, |rt| {
    let holder = NsHolder::new(&["--net"], "net").expect("unshare --net");
    let inside = container_link(
        rt,
        Bundle::new().namespace("network", Some(&holder.path("net"))),
        "net",
    );
    assert_eq!(inside, holder.link("net").expect("holder ns"));
});

conformance!(join_uts_and_ipc_namespaces_by_path, |rt| {
    let holder = NsHolder::new(&["--uts", "--ipc"], "uts").expect("unshare --uts --ipc");
    let b = Bundle::new()
        .namespace("uts", Some(&holder.path("uts")))
        .namespace("ipc", Some(&holder.path("ipc")))
        .sh("readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc");
    let out = run_ok(rt, &b);
    let expected = format!(
        "{}\n{}\n",
        holder.link("uts").expect("uts"),
        holder.link("ipc").expect("ipc")
    );
    assert_eq!(out, expected);
});

conformance!(user_namespace_with_mappings, |rt| {
    let b = Bundle::new()
        .namespace("user", None)
        .id_mappings(0, 100_000, 65_536)
        .sh("id; cat /proc/self/uid_map /proc/self/gid_map; readlink /proc/self/ns/user");
    b.chown_rootfs(100_000, 100_000).expect("chown rootfs");
    let out = run_ok(rt, &b);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("uid=0(root) gid=0(root)")),
        "{out}"
    );
    assert_eq!(
        lines.get(1).map(String::as_str),
        Some("0 100000 65536"),
        "{out}"
    );
    assert_eq!(
        lines.get(2).map(String::as_str),
        Some("0 100000 65536"),
        "{out}"
    );
    let host = host_link("user").expect("host user ns");
    assert!(
        lines
            .get(3)
            .is_some_and(|l| l.starts_with("user:[") && *l != host),
        "{out}"
    );
});

conformance!(user_namespace_files_owned_by_mapped_root, |rt| {
    let b = Bundle::new()
        .namespace("user", None)
        .id_mappings(0, 100_000, 65_536)
        .readonly_root(false)
        .sh("touch /created-inside; stat -c %u:%g /created-inside /bin/busybox");
    b.chown_rootfs(100_000, 100_000).expect("chown rootfs");
    let out = run_ok(rt, &b);
    assert_eq!(out, "0:0\n0:0\n");
    let meta = std::fs::metadata(b.rootfs().join("created-inside")).expect("file created");
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 100_000);
});

conformance!(
    time_namespace_offsets,
    runc_ignored = "runc 1.1.5 has no time namespace",
    |rt| {
        let b = Bundle::new()
            .namespace("time", None)
            .config_mut(|c| {
                c["linux"]["timeOffsets"] = serde_json::json!({
                    "monotonic": { "secs": 86_400, "nanosecs": 0 },
                    "boottime": { "secs": 172_800, "nanosecs": 0 }
                });
            })
            .sh("readlink /proc/self/ns/time; cat /proc/self/timens_offsets");
        let out = run_ok(rt, &b);
        let mut lines = out.lines();
        let link = lines.next().unwrap_or_default();
        assert!(
            link.starts_with("time:[") && link != host_link("time").expect("host time ns"),
            "{out}"
        );
        let offsets: Vec<String> = lines
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert!(offsets.contains(&"monotonic 86400 0".to_string()), "{out}");
        assert!(offsets.contains(&"boottime 172800 0".to_string()), "{out}");
    }
);

conformance!(join_mount_namespace_by_path, |rt| {
    // The bundle is made first: the holder's mount namespace is a copy of the host's and sees
    // its files. The container pivots inside the holder's namespace (as runc does), so the holder
    // is a throwaway process of this test.
    let b = Bundle::new().args(&["readlink", "/proc/self/ns/mnt"]);
    let holder =
        NsHolder::new(&["--mount", "--propagation", "private"], "mnt").expect("unshare --mount");
    let want = holder.link("mnt").expect("holder ns");
    let b = b.namespace("mount", Some(&holder.path("mnt")));
    assert_eq!(run_ok(rt, &b).trim(), want);
});

conformance!(without_a_mount_namespace_the_callers_is_used, |rt| {
    // Without a mount namespace the container lives in its caller's: the runtime is started in a
    // private mount namespace made for this test (`unshare --mount`), so that whatever it mounts
    // or changes there never reaches the host's mounts, and the container must share that one.
    let b = Bundle::new()
        .remove_namespace("mount")
        .masked_paths(&[])
        .readonly_paths(&[])
        .config_mut(|c| {
            c["mounts"] =
                serde_json::json!([{ "destination": "/proc", "type": "proc", "source": "proc" }]);
        })
        .sh("readlink /proc/self/ns/mnt; ls /inside-marker; touch /x 2>/dev/null && echo rw || echo ro");
    std::fs::write(b.rootfs().join("inside-marker"), "").expect("marker");
    b.write_config().expect("config.json");
    let id = berth_testutil::unique_id("nomntns");
    rt.track(&id, Some(&b));
    let script = "readlink /proc/self/ns/mnt; exec \"$@\"";
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(rt.binary())
    .arg("--root")
    .arg(rt.root())
    .args(["run", "--bundle"])
    .arg(b.path())
    .arg(&id);
    let out = berth_testutil::run_command(&mut cmd, None, berth_testutil::DEFAULT_TIMEOUT)
        .expect("run in a private mount namespace");
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 4, "{out}");
    assert_ne!(lines[0], host_link("mnt").expect("host ns"), "{out}");
    assert_eq!(
        lines[1], lines[0],
        "the container shares its caller's mount namespace: {out}"
    );
    assert_eq!(
        lines[2], "/inside-marker",
        "the container's root is its rootfs: {out}"
    );
    // runc 1.1.5 ignores root.readonly without a mount namespace (it remounts the root only
    // with one); berth-runtime binds the rootfs onto itself in the caller's namespace and
    // remounts that, so the root stays read-only as asked.
    let want = if rt.name() == "berth" { "ro" } else { "rw" };
    assert_eq!(lines[3], want, "root.readonly: {out}");
});

conformance!(
    exec_into_a_time_namespace,
    runc_ignored = "runc 1.1.5 has no time namespace",
    |rt| {
        // The offsets can only be written before the first process enters the namespace: an
        // exec'd process joins it with the container's offsets.
        let b = Bundle::new()
            .namespace("time", None)
            .config_mut(|c| {
                c["linux"]["timeOffsets"] =
                    serde_json::json!({ "monotonic": { "secs": 86_400, "nanosecs": 0 } });
            })
            .args(&["sleep", "1000"]);
        let id = berth_testutil::unique_id("timeexec");
        rt.run_detached(&b, &id).assert_success();
        let pid = rt.state(&id)["pid"].as_u64().unwrap_or(0);
        let init_ns = berth_testutil::ns::link(&pid.to_string(), "time").expect("init time ns");
        let out = rt.exec(
            &id,
            &[
                "sh",
                "-c",
                "readlink /proc/self/ns/time; cat /proc/self/timens_offsets",
            ],
        );
        out.assert_success();
        let lines: Vec<String> = out
            .stdout_lines()
            .iter()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(lines.first(), Some(&init_ns), "{out}");
        assert!(lines.contains(&"monotonic 86400 0".to_string()), "{out}");
    }
);
