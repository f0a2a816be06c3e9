//! The container's filesystem: read-only root, bind mounts (rw, ro, noexec), tmpfs options, the
//! standard pseudo filesystems, maskedPaths and readonlyPaths, default devices, linux.devices and
//! the device cgroup, rootfsPropagation, mount destinations that are symlinks out of the rootfs
//! (CVE-2021-30465 style), pid 1 and the container's view of /proc, leaked descriptors and a
//! working directory outside the container (CVE-2024-21626 style).

use std::fs;
use std::path::Path;

use berth_testutil::{unique_id, Bundle, Runtime};

use crate::common::{run, run_ok, sh_ok};

/// Mount points of this (host) mount namespace.
fn host_mount_points() -> Vec<String> {
    fs::read_to_string("/proc/self/mountinfo")
        .expect("read mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// `(mount point, fs type, mount options)` of every line of a mountinfo text.
fn parse_mountinfo(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let fstype = post.split(' ').next()?;
            Some((
                pre.get(4)?.to_string(),
                fstype.to_string(),
                pre.get(5)?.to_string(),
            ))
        })
        .collect()
}

conformance!(root_readonly, |rt| {
    let out = run(rt, &Bundle::new().sh("touch /x"));
    out.assert_failure();
    assert!(out.stderr.contains("Read-only file system"), "{out}");

    let rw = Bundle::new().readonly_root(false).sh("touch /x");
    run_ok(rt, &rw);
    assert!(
        rw.rootfs().join("x").exists(),
        "a writable root writes through to the bundle's rootfs"
    );
});

conformance!(bind_mount_rw_and_ro, |rt| {
    let host = tempfile::tempdir().expect("temp dir");
    fs::write(host.path().join("f"), "hello\n").expect("write");

    let out = run_ok(
        rt,
        &Bundle::new()
            .bind_mount(host.path(), "/h", false)
            .sh("cat /h/f; echo new > /h/g"),
    );
    assert_eq!(out, "hello\n");
    assert_eq!(
        fs::read_to_string(host.path().join("g")).ok().as_deref(),
        Some("new\n")
    );

    let ro = run(
        rt,
        &Bundle::new()
            .bind_mount(host.path(), "/h", true)
            .sh("cat /h/f; touch /h/z"),
    );
    ro.assert_failure();
    assert_eq!(ro.stdout, "hello\n", "{ro}");
    assert!(ro.stderr.contains("Read-only file system"), "{ro}");
    assert!(!host.path().join("z").exists());
});

conformance!(bind_mount_of_a_file, |rt| {
    let host = tempfile::tempdir().expect("temp dir");
    let file = host.path().join("file.txt");
    fs::write(&file, "one file\n").expect("write");
    let out = run_ok(
        rt,
        &Bundle::new()
            .bind_mount(&file, "/etc/berth-file", true)
            .args(&["cat", "/etc/berth-file"]),
    );
    assert_eq!(out, "one file\n");
});

conformance!(tmpfs_size_and_mode, |rt| {
    let b = Bundle::new()
        .tmpfs("/t", &["nosuid", "size=1m", "mode=700"])
        .sh("stat -c %a /t; df -k /t | tail -n 1; grep ' /t ' /proc/self/mountinfo");
    let out = run_ok(rt, &b);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some("700"), "{out}");
    let size = lines.get(1).and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(size, Some("1024"), "{out}");
    let mount = parse_mountinfo(lines.get(2).copied().unwrap_or_default());
    assert_eq!(mount.first().map(|m| m.1.as_str()), Some("tmpfs"), "{out}");
    assert!(
        mount
            .first()
            .is_some_and(|m| m.2.split(',').any(|o| o == "nosuid")),
        "{out}"
    );
});

conformance!(standard_filesystems_mounted, |rt| {
    let out = sh_ok(rt, "cat /proc/self/mountinfo");
    let mounts = parse_mountinfo(&out);
    let has = |point: &str, fstype: &str| mounts.iter().any(|(p, t, _)| p == point && t == fstype);
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
    ] {
        assert!(has(point, fstype), "no {fstype} on {point}:\n{out}");
    }
    let cgroups = mounts
        .iter()
        .filter(|(p, t, _)| p.starts_with("/sys/fs/cgroup") && t.starts_with("cgroup"))
        .count();
    assert!(
        cgroups > 0,
        "no cgroup filesystem under /sys/fs/cgroup:\n{out}"
    );
    let sys_ro = mounts
        .iter()
        .any(|(p, _, o)| p == "/sys" && o.split(',').any(|x| x == "ro"));
    assert!(sys_ro, "/sys is mounted ro in the base config:\n{out}");
});

conformance!(cgroup_mount_shows_own_cgroup, |rt| {
    // With the cgroup mount, the container sees the hierarchies; its own cgroup is the root of
    // what it sees when it has a cgroup namespace.
    let b = Bundle::new()
        .namespace("cgroup", None)
        .sh("cat /proc/self/cgroup");
    let out = run_ok(rt, &b);
    assert!(
        out.lines().count() > 1,
        "one line per hierarchy expected:\n{out}"
    );
    for line in out.lines() {
        assert!(
            line.ends_with(":/"),
            "cgroup namespace root expected: {line}\n{out}"
        );
    }
});

conformance!(masked_paths, |rt| {
    // A file and a directory of the rootfs itself, so the test does not depend on the kernel.
    let b = Bundle::new()
        .masked_paths(&["/etc/hostname", "/home", "/proc/timer_list", "/sys/firmware"])
        .sh("wc -c < /etc/hostname; ls -A /home | wc -l; wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l");
    assert!(!fs::read_to_string(b.rootfs().join("etc/hostname"))
        .unwrap_or_default()
        .is_empty());
    let out = run_ok(rt, &b);
    let counts: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(counts, ["0", "0", "0", "0"], "{out}");
});

conformance!(readonly_paths, |rt| {
    // With CAP_SYS_ADMIN and a UTS namespace, writing the hostname through /proc/sys works
    // unless /proc/sys is read-only.
    let write_hostname =
        "echo changed > /proc/sys/kernel/hostname && cat /proc/sys/kernel/hostname";
    let ro = run(
        rt,
        &Bundle::new()
            .capabilities(&["CAP_SYS_ADMIN"])
            .sh(write_hostname),
    );
    ro.assert_failure();
    assert!(ro.stderr.contains("Read-only file system"), "{ro}");

    let rw = Bundle::new()
        .capabilities(&["CAP_SYS_ADMIN"])
        .readonly_paths(&[])
        .sh(write_hostname);
    assert_eq!(run_ok(rt, &rw).trim(), "changed");

    // A directory of the rootfs made read-only while the root stays writable.
    let b = Bundle::new()
        .readonly_root(false)
        .readonly_paths(&["/home"])
        .sh("touch /x && touch /home/y");
    let out = run(rt, &b);
    out.assert_failure();
    assert!(out.stderr.contains("Read-only file system"), "{out}");
    assert!(b.rootfs().join("x").exists() && !b.rootfs().join("home/y").exists());
});

conformance!(default_devices, |rt| {
    let script = "for d in null zero full random urandom tty; do \
                      test -c /dev/$d && echo \"$d $(stat -c '%t,%T %a' /dev/$d)\"; \
                  done; \
                  for l in fd stdin stdout stderr ptmx; do echo \"$l -> $(readlink /dev/$l)\"; done; \
                  test -d /dev/shm && echo shm; test -d /dev/pts && echo pts; \
                  echo x > /dev/null && head -c 4 /dev/zero | wc -c; \
                  echo x > /dev/full || echo full-refused";
    let out = sh_ok(rt, script);
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        "null 1,3 666",
        "zero 1,5 666",
        "full 1,7 666",
        "random 1,8 666",
        "urandom 1,9 666",
        "tty 5,0 666",
        "fd -> /proc/self/fd",
        "stdin -> /proc/self/fd/0",
        "stdout -> /proc/self/fd/1",
        "stderr -> /proc/self/fd/2",
        "ptmx -> pts/ptmx",
        "shm",
        "pts",
        "4",
        "full-refused",
    ];
    assert_eq!(lines, expected, "{out}");
});

conformance!(device_from_config, |rt| {
    let b = Bundle::new()
        .device("/dev/berth-null", "c", 1, 3, 0o666)
        .sh(
            "stat -c '%F %t,%T %a %u:%g' /dev/berth-null; echo x > /dev/berth-null && echo written",
        );
    let out = run_ok(rt, &b);
    assert_eq!(out, "character special file 1,3 666 0:0\nwritten\n");
});

conformance!(device_cgroup_denies_unlisted_device, |rt| {
    // The container may create any device node (runc allows mknod for all devices), but the
    // device cgroup (`linux.resources.devices` deny-all) refuses to open one it does not allow.
    // runc always allows its default devices (null, zero, full, tty, random, urandom, ptmx...)
    // and the ones in `linux.devices`; 240:0 (a local/experimental major with no driver here)
    // is none of them. Were it allowed, opening it would fail with ENXIO/ENODEV instead.
    let b = Bundle::new()
        .capabilities(&["CAP_MKNOD"])
        .sh("mknod /dev/unlisted c 240 0 && echo made; cat /dev/unlisted");
    let out = run(rt, &b);
    out.assert_failure();
    assert_eq!(out.stdout, "made\n", "{out}");
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
});

conformance!(rootfs_propagation_keeps_mounts_inside, |rt| {
    for propagation in [
        "private", "rprivate", "slave", "rslave", "shared", "rshared",
    ] {
        let b = Bundle::new()
            .rootfs_propagation(propagation)
            .capabilities(&["CAP_SYS_ADMIN"])
            .sh("mount -t tmpfs inner /mnt && grep -c ' /mnt ' /proc/self/mountinfo");
        let out = run(rt, &b);
        assert!(out.success(), "rootfsPropagation {propagation}:\n{out}");
        assert_eq!(out.stdout_trimmed(), "1", "{out}");
        let inner = b.rootfs().join("mnt").to_string_lossy().into_owned();
        assert!(
            !host_mount_points().contains(&inner),
            "{propagation}: the container's mount reached the host"
        );
    }
});

/// Mounts a host dir holding `marker` at `/escape`, a symlink in the rootfs to `target`, and
/// checks the mount landed on the rootfs's `/etc` and not outside it.
fn symlink_destination_stays_inside(rt: &Runtime, target: &str) {
    let host = tempfile::tempdir().expect("temp dir");
    let marker = unique_id("marker");
    fs::write(host.path().join("marker"), &marker).expect("write marker");
    let b = Bundle::new()
        .bind_mount(host.path(), "/escape", true)
        .sh("cat /etc/marker; test -e /etc/passwd || echo hidden");
    std::os::unix::fs::symlink(target, b.rootfs().join("escape")).expect("symlink");
    let host_etc_before = fs::read_dir("/etc").map(Iterator::count).unwrap_or(0);

    let out = run_ok(rt, &b);
    assert_eq!(
        out,
        format!("{marker}hidden\n"),
        "the mount must cover the rootfs's /etc"
    );
    assert!(
        b.rootfs().join("etc/passwd").exists(),
        "the rootfs itself is untouched"
    );
    assert!(!Path::new("/etc/marker").exists(), "host /etc was touched");
    assert_eq!(
        fs::read_dir("/etc").map(Iterator::count).unwrap_or(0),
        host_etc_before
    );
    assert!(
        !host_mount_points().contains(&"/etc".to_string()),
        "host /etc got a mount"
    );
}

conformance!(mount_on_absolute_symlink_resolves_in_rootfs, |rt| {
    symlink_destination_stays_inside(rt, "/etc");
});

conformance!(mount_on_dotdot_symlink_resolves_in_rootfs, |rt| {
    symlink_destination_stays_inside(rt, "../../../../../../../../etc");
});

conformance!(container_process_is_pid_1, |rt| {
    assert_eq!(sh_ok(rt, "echo $$").trim(), "1");
});

conformance!(host_processes_are_invisible, |rt| {
    let out = sh_ok(rt, "ls /proc; echo; ps -o pid,comm");
    let pids: Vec<u32> = out
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(pids.contains(&1), "{out}");
    // Only the shell, ls and ps exist in a fresh pid namespace.
    assert!(pids.iter().all(|p| *p < 10), "host pids visible:\n{out}");
    assert!(!out.contains("cargo") && !out.contains("nextest"), "{out}");
});

conformance!(no_descriptor_leaks, |rt| {
    // ls opens the directory itself as fd 3; nothing else may be open.
    let out = run_ok(rt, &Bundle::new().args(&["ls", "/proc/self/fd"]));
    let mut fds: Vec<&str> = out.split_whitespace().collect();
    fds.sort_unstable();
    assert_eq!(fds, ["0", "1", "2", "3"], "{out}");

    let id = unique_id("fdexec");
    let sleeper = Bundle::new().args(&["sleep", "1000"]);
    rt.run_detached(&sleeper, &id).assert_success();
    let exec = rt.exec(&id, &["ls", "/proc/self/fd"]);
    exec.assert_success();
    let mut fds: Vec<&str> = exec.stdout.split_whitespace().collect();
    fds.sort_unstable();
    assert_eq!(fds, ["0", "1", "2", "3"], "{exec}");
});

conformance!(cwd_is_inside_container, |rt| {
    assert_eq!(sh_ok(rt, "readlink /proc/self/cwd").trim(), "/");
    let out = run_ok(
        rt,
        &Bundle::new()
            .cwd("/home/berth")
            .args(&["readlink", "/proc/self/cwd"]),
    );
    assert_eq!(out.trim(), "/home/berth");
});

conformance!(cwd_cannot_be_a_leaked_descriptor, |rt| {
    // CVE-2024-21626: with cwd /proc/self/fd/N naming a descriptor the runtime leaked (a host
    // directory), the process started outside the container root. The container must fail or
    // be unable to reach a file next to the rootfs.
    for n in 3..=12 {
        let b = Bundle::new().cwd(&format!("/proc/self/fd/{n}"));
        let marker = b.path().join("outside-marker");
        fs::write(&marker, "escaped").expect("write marker");
        let ups = "../".repeat(12);
        let script = format!(
            "cat {ups}{} 2>/dev/null; readlink /proc/self/cwd",
            marker.display()
        );
        let out = run(rt, &b.sh(&script));
        assert!(
            !out.stdout.contains("escaped"),
            "cwd /proc/self/fd/{n} escaped the container:\n{out}"
        );
        // Refusing to start is fine; starting without running the process is not.
        assert!(
            !out.success() || out.stdout.starts_with('/'),
            "the container neither failed nor ran:\n{out}"
        );
    }
});

conformance!(bind_mount_noexec_option, |rt| {
    let host = tempfile::tempdir().expect("temp dir");
    fs::copy("/bin/busybox", host.path().join("busybox")).expect("copy busybox");
    let script = "/h/busybox echo exec-ok";
    let exec = run_ok(
        rt,
        &Bundle::new().bind_mount(host.path(), "/h", true).sh(script),
    );
    assert_eq!(exec, "exec-ok\n");
    let b = Bundle::new()
        .add_mount(serde_json::json!({
            "destination": "/h", "type": "bind", "source": host.path(),
            "options": ["rbind", "ro", "noexec", "nosuid", "nodev"]
        }))
        .sh(script);
    let out = run(rt, &b);
    out.assert_failure();
    assert!(out.stderr.contains("Permission denied"), "{out}");
});

conformance!(recursive_atime_attributes_reach_submounts, |rt| {
    // /a is a tmpfs with a tmpfs on /a/b; /n and /s bind it recursively with rnoatime and
    // rstrictatime: the submounts /n/b and /s/b must carry the attribute too.
    let probe = Bundle::new();
    let a = probe.rootfs().join("a");
    let b = probe
        .tmpfs("/a", &[])
        .tmpfs("/a/b", &[])
        .add_mount(serde_json::json!({
            "destination": "/n", "type": "bind", "source": a, "options": ["rbind", "rnoatime"]
        }))
        .add_mount(serde_json::json!({
            "destination": "/s", "type": "bind", "source": a,
            "options": ["rbind", "rstrictatime"]
        }))
        .args(&["cat", "/proc/self/mountinfo"]);
    let out = run_ok(rt, &b);
    let mounts = parse_mountinfo(&out);
    let options = |at: &str| -> Vec<String> {
        let (_, _, opts) = mounts
            .iter()
            .find(|(mp, _, _)| mp == at)
            .unwrap_or_else(|| panic!("{at} is not mounted:\n{out}"));
        opts.split(',').map(str::to_string).collect()
    };
    for at in ["/n", "/n/b"] {
        assert!(options(at).contains(&"noatime".to_string()), "{at}: {out}");
    }
    for at in ["/s", "/s/b"] {
        let o = options(at);
        assert!(
            !o.iter().any(|x| x == "noatime" || x == "relatime"),
            "{at} should be strictatime: {out}"
        );
    }
    assert!(options("/a/b").contains(&"relatime".to_string()), "{out}");
});

conformance!(proc_and_sysfs_on_a_symlink_are_refused, |rt| {
    // Tools match on runc's words: "must be mounted on ordinary directory". sysfs without a
    // network namespace of its own is the host's bound, and checked the same.
    for (kind, target, own_netns) in [
        ("proc", "/proc", true),
        ("sysfs", "/sys", true),
        ("sysfs", "/sys", false),
    ] {
        let mut b = Bundle::new()
            .mount("/evil", kind, kind, &[])
            .args(&["true"]);
        if !own_netns {
            b = b.remove_namespace("network");
        }
        std::os::unix::fs::symlink(target, b.rootfs().join("evil")).expect("symlink");
        let out = run(rt, &b);
        out.assert_failure();
        // The text log quotes the message (`filesystem \"proc\" must be ...`).
        let words = format!("{kind}\\\" must be mounted on ordinary directory");
        assert!(out.stderr.contains(&words), "{out}");
        crate::common::assert_nothing_left(rt, &b);
    }
});
