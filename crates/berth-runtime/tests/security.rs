//! The container escapes runc, crun and youki fixed, as tests (root only):
//! - CVE-2019-5736: the executable behind a container's init is never the
//!   runtime's host binary, and cannot be written through /proc/PID/exe;
//! - CVE-2021-30465: mount destinations that are symlinks inside the rootfs
//!   (absolute or `..`-escaping) land inside the rootfs, never on the host;
//! - CVE-2024-21626: descriptors the runtime inherited do not reach the
//!   container, and a working directory through such a descriptor is refused.
//!
//! The mount and descriptor tests run against every runtime in
//! BERTH_TEST_RUNTIMES (default berth,runc). The CVE-2019-5736 and the
//! CVE-2024-21626 cwd tests run against berth only: Debian's runc 1.1.5 is the
//! behavioural reference, not the security one (its `runc init` runs straight
//! from the host's /usr/sbin/runc inode, as the first test would report).

use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use berth_testutil::{runtime_selected, unique_id, Bundle, Runtime};

const BERTH: &str = env!("CARGO_BIN_EXE_berth-runtime");

fn runtimes() -> Vec<Runtime> {
    ["berth", "runc"]
        .into_iter()
        .filter(|n| runtime_selected(n))
        .map(|n| Runtime::by_name(n, BERTH))
        .collect()
}

fn is_root() -> bool {
    berth_testutil::require_root()
}

#[test]
fn cve_2019_5736_init_exe_is_not_the_host_binary() {
    if !is_root() || !runtime_selected("berth") {
        return;
    }
    {
        let rt = Runtime::berth_at(BERTH);
        let bundle = Bundle::new().args(&["sleep", "30"]);
        let id = unique_id("exe");
        rt.create(&bundle, &id).assert_success();
        let state = rt.state(&id);
        let pid = state["pid"].as_i64().expect("pid in state");
        let exe_path = format!("/proc/{pid}/exe");
        // Hold the executable the container's init runs, as an attacker would.
        let held = std::fs::File::options()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&exe_path)
            .expect("open /proc/PID/exe");
        let host = std::fs::metadata(rt.binary()).expect("stat runtime binary");
        let seen = std::fs::metadata(format!("/proc/self/fd/{}", held.as_raw_fd()))
            .expect("stat held exe");
        assert!(
            (seen.dev(), seen.ino()) != (host.dev(), host.ino()),
            "{}: the container's init runs the host binary {} itself",
            rt.name(),
            rt.binary().display()
        );
        rt.delete(&id, true).assert_success();
        // Once nothing runs it, try to write through the held reference.
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", held.as_raw_fd()));
        if let Ok(mut f) = reopened {
            use std::io::Write;
            assert!(
                f.write_all(b"x").is_err(),
                "{}: wrote through the init's executable",
                rt.name()
            );
        }
    }
}

#[test]
fn cve_2021_30465_symlinked_mount_destination_stays_in_rootfs() {
    if !is_root() {
        return;
    }
    for rt in runtimes() {
        let host_dir = tempfile::Builder::new()
            .prefix("berth-test-escape-")
            .tempdir()
            .expect("host dir");
        let target = host_dir.path().to_str().expect("utf-8 path").to_string();
        let bundle = Bundle::new();
        let rootfs = bundle.rootfs();
        // Absolute and relative links that point at the host directory if followed outside the root.
        std::os::unix::fs::symlink(&target, rootfs.join("abs")).expect("symlink");
        std::os::unix::fs::symlink(format!("../../../../../../..{target}"), rootfs.join("rel"))
            .expect("symlink");
        let bundle = bundle
            .tmpfs("/abs", &["size=1m"])
            .tmpfs("/rel", &["size=1m"])
            .sh(&format!("touch /abs/a /rel/r && ls {target}"));
        let id = unique_id("mnt");
        let out = rt.run(&bundle, &id);
        out.assert_success();
        assert!(
            out.stdout.contains('a') && out.stdout.contains('r'),
            "{}: {}",
            rt.name(),
            out.stdout
        );
        assert!(
            std::fs::read_dir(host_dir.path())
                .expect("read host dir")
                .next()
                .is_none(),
            "{}: the container wrote into the host directory {target}",
            rt.name()
        );
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        assert!(
            !mountinfo.contains(&target),
            "{}: a mount landed on the host at {target}",
            rt.name()
        );
        assert!(
            rootfs.join(target.trim_start_matches('/')).is_dir(),
            "{}: target not created inside the rootfs",
            rt.name()
        );
    }
}

/// Runs `rt run` with an extra, inheritable descriptor 7 open on a host directory.
fn run_with_leaked_fd(
    rt: &Runtime,
    bundle: &Bundle,
    id: &str,
    host_dir: &Path,
) -> std::process::Output {
    let dir = std::fs::File::open(host_dir).expect("open host dir");
    let raw = dir.as_raw_fd();
    let mut cmd = rt.bundle_command(&["run"], bundle, id);
    // SAFETY: dup2 and fcntl are async-signal-safe; they only touch descriptors.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run runtime");
    drop(dir);
    out
}

#[test]
fn cve_2024_21626_inherited_descriptors_do_not_reach_the_container() {
    if !is_root() {
        return;
    }
    for rt in runtimes() {
        let host_dir = tempfile::tempdir().expect("host dir");
        let bundle = Bundle::new().sh("ls /proc/self/fd; readlink /proc/self/cwd");
        let id = unique_id("fd");
        let out = run_with_leaked_fd(&rt, &bundle, &id, host_dir.path());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}: {}",
            rt.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        let fds: Vec<&str> = stdout
            .lines()
            .take_while(|l| l.chars().all(|c| c.is_ascii_digit()))
            .collect();
        assert!(
            !fds.contains(&"7"),
            "{}: descriptor 7 leaked into the container: {fds:?}",
            rt.name()
        );
        assert!(
            fds.len() <= 4,
            "{}: unexpected descriptors {fds:?}",
            rt.name()
        );
        assert_eq!(
            stdout.lines().last(),
            Some("/"),
            "{}: cwd {stdout}",
            rt.name()
        );
    }
}

#[test]
fn cve_2024_21626_cwd_through_a_leaked_descriptor_is_refused() {
    if !is_root() || !runtime_selected("berth") {
        return;
    }
    let rt = Runtime::berth_at(BERTH);
    let host_dir = tempfile::tempdir().expect("host dir");
    std::fs::write(host_dir.path().join("secret"), "host").expect("write secret");
    let bundle = Bundle::new().cwd("/proc/self/fd/7").sh("cat secret");
    let id = unique_id("cwd");
    let out = run_with_leaked_fd(&rt, &bundle, &id, host_dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("host"),
        "the container read a host file through its cwd"
    );
    assert!(
        !out.status.success(),
        "a cwd outside the container must fail the run"
    );
    assert!(
        rt.list(&["-q"]).stdout.trim().is_empty(),
        "a failed run left a container behind"
    );
}
