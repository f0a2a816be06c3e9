//! Cgroups on this hybrid host (v1 controllers under /sys/fs/cgroup/*, cgroup2 at
//! /sys/fs/cgroup/unified): the container's init is in `linux.cgroupsPath` in every v1 hierarchy
//! (and in the unified one, as runc does), a relative path nests under the runtime's own cgroup,
//! resources are written to the controllers, exec'd processes join the same cgroups, and delete
//! (or the end of `run`) removes the directories.

use berth_testutil::cgroup::{self, hierarchies, memberships};
use berth_testutil::{unique_id, Bundle};
use serde_json::json;

fn sleeper() -> Bundle {
    Bundle::new().args(&["sleep", "1000"])
}

conformance!(init_is_in_cgroups_path_everywhere, |rt| {
    let b = sleeper();
    let path = b
        .cgroups_path()
        .expect("base bundle has a cgroups path")
        .to_string();
    let id = unique_id("cg");
    rt.run_detached(&b, &id).assert_success();
    let pid = u32::try_from(rt.state(&id)["pid"].as_u64().unwrap_or(0)).unwrap_or(0);
    assert!(pid > 0);

    let rel = path.trim_start_matches('/');
    for h in hierarchies().expect("cgroup hierarchies") {
        let dir = h.mount.join(rel);
        let procs = cgroup::procs(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(
            procs.contains(&pid),
            "pid {pid} not in {} ({procs:?})",
            dir.display()
        );
    }
    for m in memberships(pid).expect("read /proc/pid/cgroup") {
        assert_eq!(m.path, path, "{m:?}");
    }

    rt.delete(&id, true).assert_success();
    let left = cgroup::existing_dirs(&path).expect("cgroup dirs");
    assert!(left.is_empty(), "delete left {left:?}");
});

conformance!(run_removes_cgroups_when_done, |rt| {
    let b = Bundle::new().args(&["cat", "/proc/self/cgroup"]);
    let path = b.cgroups_path().expect("cgroups path").to_string();
    let out = rt.run(&b, &unique_id("cgrun"));
    out.assert_success();
    assert!(
        out.stdout.contains(&format!(":{path}\n")),
        "the process ran in {path}:\n{out}"
    );
    let left = cgroup::existing_dirs(&path).expect("cgroup dirs");
    assert!(left.is_empty(), "run left {left:?}");
});

conformance!(resources_are_applied, |rt| {
    let b = sleeper().resources(json!({
        "devices": [ { "allow": false, "access": "rwm" } ],
        "memory": { "limit": 67_108_864 },
        "pids": { "limit": 42 },
        "cpu": { "shares": 512, "quota": 50_000, "period": 100_000 }
    }));
    let rel = b
        .cgroups_path()
        .expect("cgroups path")
        .trim_start_matches('/')
        .to_string();
    let id = unique_id("cgres");
    rt.run_detached(&b, &id).assert_success();
    let read = |controller: &str, file: &str| {
        let h = hierarchies()
            .expect("hierarchies")
            .into_iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .unwrap_or_else(|| panic!("no {controller} hierarchy"));
        std::fs::read_to_string(h.mount.join(&rel).join(file))
            .unwrap_or_else(|e| panic!("{controller}/{file}: {e}"))
    };
    assert_eq!(read("memory", "memory.limit_in_bytes").trim(), "67108864");
    assert_eq!(read("pids", "pids.max").trim(), "42");
    assert_eq!(read("cpu", "cpu.shares").trim(), "512");
    assert_eq!(read("cpu", "cpu.cfs_quota_us").trim(), "50000");
    assert_eq!(read("cpu", "cpu.cfs_period_us").trim(), "100000");
});

conformance!(pids_limit_is_enforced, |rt| {
    let b = Bundle::new()
        .resources(
            json!({ "devices": [ { "allow": false, "access": "rwm" } ], "pids": { "limit": 3 } }),
        )
        .sh("for i in 1 2 3 4 5; do sleep 100 & done; wait");
    let out = crate::common::run(rt, &b);
    assert!(
        out.stderr.contains("Resource temporarily unavailable")
            || out.stderr.contains("can't fork"),
        "{out}"
    );
});

conformance!(exec_joins_container_cgroups, |rt| {
    let b = sleeper();
    let path = b.cgroups_path().expect("cgroups path").to_string();
    let id = unique_id("cgexec");
    rt.run_detached(&b, &id).assert_success();
    let out = rt.exec(&id, &["cat", "/proc/self/cgroup"]);
    out.assert_success();
    // Without a cgroup namespace the exec'd process sees full paths.
    let lines = cgroup::parse_memberships(&out.stdout).expect("parse");
    assert!(!lines.is_empty());
    for m in lines {
        assert_eq!(m.path, path, "{out}");
    }
});

conformance!(delete_force_removes_cgroups_of_created_container, |rt| {
    let b = sleeper();
    let path = b.cgroups_path().expect("cgroups path").to_string();
    let id = unique_id("cgcreated");
    rt.create(&b, &id).assert_success();
    assert!(
        !cgroup::existing_dirs(&path).expect("dirs").is_empty(),
        "create makes the cgroups"
    );
    rt.delete(&id, true).assert_success();
    let left = cgroup::existing_dirs(&path).expect("cgroup dirs");
    assert!(left.is_empty(), "delete --force left {left:?}");
});

conformance!(relative_cgroups_path_nests_under_runtime_cgroup, |rt| {
    // dockerd's cgroupfs driver passes a relative path (`<cgroup-parent>/<id>`); runc puts it
    // below the runtime's own cgroup in every hierarchy.
    let name = berth_testutil::unique_name("berth-test-rel");
    let b = sleeper().with_cgroups_path(Some(&name));
    let id = unique_id("cgrel");
    rt.run_detached(&b, &id).assert_success();
    let pid = u32::try_from(rt.state(&id)["pid"].as_u64().unwrap_or(0)).unwrap_or(0);
    let own = memberships(std::process::id()).expect("own cgroups");
    let theirs = memberships(pid).expect("container cgroups");
    for h in hierarchies().expect("hierarchies") {
        let mine = own.iter().find(|m| h.matches(m)).expect("own membership");
        let container = theirs
            .iter()
            .find(|m| h.matches(m))
            .expect("container membership");
        let expected = format!("{}/{name}", mine.path.trim_end_matches('/'));
        assert_eq!(container.path, expected, "{}", h.mount.display());
    }
    rt.delete(&id, true).assert_success();
    let left = cgroup::existing_dirs(&name).expect("cgroup dirs");
    assert!(left.is_empty(), "delete left {left:?}");
});
