//! What the container process gets from `process`: args, env (and HOME from /etc/passwd), cwd,
//! user (uid, gid, additionalGids, umask), rlimits, noNewPrivileges, capabilities, hostname,
//! domainname, oomScoreAdj, linux.sysctl.

use berth_testutil::Bundle;

use crate::common::{run_ok, sh_ok, status_field};

/// The capability bit mask of a set of capability numbers.
fn cap_mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | (1u64 << c))
}

fn parse_mask(text: &str, key: &str) -> u64 {
    let value = status_field(text, key).unwrap_or_else(|| panic!("no {key} in:\n{text}"));
    u64::from_str_radix(value, 16).unwrap_or_else(|e| panic!("{key} {value:?}: {e}"))
}

conformance!(args_are_passed_verbatim, |rt| {
    let out = run_ok(rt, &Bundle::new().args(&["echo", "a  b", "c", "", "$HOME"]));
    assert_eq!(out, "a  b c  $HOME\n");
});

conformance!(env_is_exactly_process_env, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .env(&["FOO=bar baz", "PATH=/bin", "EMPTY="])
            .args(&["env"]),
    );
    let mut vars: Vec<&str> = out.lines().collect();
    vars.sort_unstable();
    assert!(vars.contains(&"FOO=bar baz"), "{out}");
    assert!(vars.contains(&"PATH=/bin"), "{out}");
    assert!(vars.contains(&"EMPTY="), "{out}");
    // Nothing from the runtime's own environment leaks in; runtimes may add HOME.
    let extra: Vec<&&str> = vars
        .iter()
        .filter(|v| {
            !["FOO=", "PATH=", "EMPTY=", "HOME="]
                .iter()
                .any(|k| v.starts_with(k))
        })
        .collect();
    assert!(extra.is_empty(), "unexpected variables {extra:?}");
});

conformance!(home_comes_from_passwd, |rt| {
    // runc sets HOME from the container's /etc/passwd when process.env has none.
    let root = run_ok(rt, &Bundle::new().env(&["PATH=/bin"]).sh("echo $HOME"));
    assert_eq!(root.trim(), "/root");
    let berth = run_ok(
        rt,
        &Bundle::new()
            .env(&["PATH=/bin"])
            .user(1000, 1000)
            .sh("echo $HOME"),
    );
    assert_eq!(berth.trim(), "/home/berth");
    let given = run_ok(
        rt,
        &Bundle::new()
            .env(&["PATH=/bin", "HOME=/elsewhere"])
            .sh("echo $HOME"),
    );
    assert_eq!(given.trim(), "/elsewhere");
});

conformance!(cwd_is_set, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new().cwd("/tmp").sh("pwd; readlink /proc/self/cwd"),
    );
    assert_eq!(out, "/tmp\n/tmp\n");
});

conformance!(user_uid_gid_additional_gids, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .user(1000, 1000)
            .additional_gids(&[5, 65534])
            .args(&["id"]),
    );
    assert_eq!(
        out.trim(),
        "uid=1000(berth) gid=1000(berth) groups=5(tty),65534(nogroup)"
    );
    let status = run_ok(
        rt,
        &Bundle::new()
            .user(1000, 1000)
            .additional_gids(&[5, 65534])
            .args(&["cat", "/proc/self/status"]),
    );
    let uids: Vec<&str> = status_field(&status, "Uid")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(uids, ["1000"; 4], "real, effective, saved and fs uid");
    let gids: Vec<&str> = status_field(&status, "Gid")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(gids, ["1000"; 4]);
    let mut groups: Vec<&str> = status_field(&status, "Groups")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    groups.sort_unstable();
    assert_eq!(groups, ["5", "65534"]);
});

conformance!(user_without_passwd_entry, |rt| {
    // No supplementary groups at all: the runtime's own (root's) groups must not leak in.
    let out = run_ok(
        rt,
        &Bundle::new()
            .user(4242, 4343)
            .sh("id; grep Groups: /proc/self/status"),
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines, ["uid=4242 gid=4343", "Groups:"], "{out}");
});

conformance!(non_root_user_has_no_capabilities, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .user(1000, 1000)
            .args(&["cat", "/proc/self/status"]),
    );
    assert_eq!(parse_mask(&out, "CapEff"), 0, "{out}");
    assert_eq!(parse_mask(&out, "CapPrm"), 0, "{out}");
});

conformance!(umask_is_set, |rt| {
    let out = run_ok(rt, &Bundle::new().umask(0o077).sh("umask"));
    assert_eq!(out.trim(), "0077");
    let out = run_ok(
        rt,
        &Bundle::new()
            .umask(0o027)
            .tmpfs("/w", &[])
            .sh("touch /w/f; stat -c %a /w/f"),
    );
    assert_eq!(out.trim(), "640");
});

conformance!(rlimits_are_set, |rt| {
    let out = sh_ok(rt, "ulimit -n; ulimit -Hn");
    assert_eq!(out, "1024\n1024\n", "the base config's RLIMIT_NOFILE");
    let b = Bundle::new()
        .rlimits(&[
            ("RLIMIT_NOFILE", 512, 2048),
            ("RLIMIT_NPROC", 300, 400),
            ("RLIMIT_CORE", 0, 0),
        ])
        .sh("ulimit -n; ulimit -Hn; ulimit -u; ulimit -Hu; ulimit -c");
    assert_eq!(run_ok(rt, &b), "512\n2048\n300\n400\n0\n");
});

conformance!(no_new_privileges, |rt| {
    let on = run_ok(
        rt,
        &Bundle::new()
            .no_new_privileges(true)
            .args(&["cat", "/proc/self/status"]),
    );
    assert_eq!(status_field(&on, "NoNewPrivs"), Some("1"));
    let off = run_ok(
        rt,
        &Bundle::new()
            .no_new_privileges(false)
            .args(&["cat", "/proc/self/status"]),
    );
    assert_eq!(status_field(&off, "NoNewPrivs"), Some("0"));
});

conformance!(default_capabilities, |rt| {
    let out = run_ok(rt, &Bundle::new().args(&["cat", "/proc/self/status"]));
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29): runc spec's set.
    let expected = cap_mask(&[5, 10, 29]);
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(parse_mask(&out, key), expected, "{key}:\n{out}");
    }
});

conformance!(only_cap_net_admin, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .capabilities(&["CAP_NET_ADMIN"])
            .args(&["cat", "/proc/self/status"]),
    );
    for key in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(parse_mask(&out, key), cap_mask(&[12]), "{key}:\n{out}");
    }
    assert_eq!(parse_mask(&out, "CapInh"), 0, "{out}");
    assert_eq!(parse_mask(&out, "CapAmb"), 0, "{out}");
});

conformance!(ambient_capabilities, |rt| {
    let b = Bundle::new().user(1000, 1000).config_mut(|c| {
        let caps = serde_json::json!(["CAP_NET_BIND_SERVICE"]);
        c["process"]["capabilities"] = serde_json::json!({
            "bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps
        });
    });
    let out = run_ok(rt, &b.args(&["cat", "/proc/self/status"]));
    assert_eq!(parse_mask(&out, "CapAmb"), cap_mask(&[10]), "{out}");
    assert_eq!(parse_mask(&out, "CapEff"), cap_mask(&[10]), "{out}");
});

conformance!(hostname_is_set, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .hostname("berth-test-host")
            .sh("hostname; cat /proc/sys/kernel/hostname"),
    );
    assert_eq!(out, "berth-test-host\nberth-test-host\n");
});

conformance!(
    domainname_is_set,
    runc_ignored = "runc 1.1.5 ignores domainname",
    |rt| {
        let out = run_ok(
            rt,
            &Bundle::new()
                .domainname("example.org")
                .args(&["cat", "/proc/sys/kernel/domainname"]),
        );
        assert_eq!(out.trim(), "example.org");
    }
);

conformance!(oom_score_adj_is_set, |rt| {
    let out = run_ok(
        rt,
        &Bundle::new()
            .oom_score_adj(123)
            .args(&["cat", "/proc/self/oom_score_adj"]),
    );
    assert_eq!(out.trim(), "123");
});

conformance!(sysctl_is_set_in_container_only, |rt| {
    // Docker's --sysctl: namespaced sysctls are written inside the container's namespaces.
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let b = Bundle::new()
        .config_mut(|c| {
            c["linux"]["sysctl"] = serde_json::json!({
                "net.ipv4.ip_forward": "1",
                "kernel.msgmax": "4242"
            });
        })
        .sh("cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax");
    assert_eq!(run_ok(rt, &b), "1\n4242\n");
    let after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    assert_eq!(after, host, "the host's sysctl changed");
});

conformance!(process_starts_with_no_signal_blocked, |rt| {
    // `run` blocks every signal in the runtime to forward them; the container's program must
    // not inherit that mask (it could not be stopped with SIGTERM).
    let out = run_ok(rt, &Bundle::new().args(&["cat", "/proc/self/status"]));
    assert_eq!(parse_mask(&out, "SigBlk"), 0, "{out}");
});
