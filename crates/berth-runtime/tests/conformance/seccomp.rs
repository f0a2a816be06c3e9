//! Seccomp: a profile that denies mkdir with a chosen errno makes `mkdir` fail with that errno
//! while everything else works; the filter shows in /proc/self/status; a default-deny profile
//! with an allow list; SCMP_ACT_KILL kills the process.

use berth_testutil::Bundle;
use serde_json::{json, Value};

use crate::common::{run, run_ok, status_field};

fn deny(names: &[&str], action: &str, errno: Option<u32>) -> Value {
    let mut rule = json!({ "names": names, "action": action });
    if let Some(e) = errno {
        rule["errnoRet"] = json!(e);
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [rule]
    })
}

conformance!(seccomp_denies_mkdir_with_errno, |rt| {
    let script = "mkdir /tmp/x; echo mkdir=$?; touch /tmp/f && echo touch=ok";
    let allowed = run_ok(rt, &Bundle::new().tmpfs("/tmp", &[]).sh(script));
    assert_eq!(
        allowed, "mkdir=0\ntouch=ok\n",
        "without seccomp mkdir works"
    );

    // EACCES (13) rather than the default EPERM proves errnoRet is honoured.
    let b = Bundle::new()
        .tmpfs("/tmp", &[])
        .seccomp(deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", Some(13)))
        .sh(script);
    let out = run(rt, &b);
    out.assert_success();
    assert_eq!(out.stdout, "mkdir=1\ntouch=ok\n", "{out}");
    assert!(out.stderr.contains("Permission denied"), "{out}");
});

conformance!(seccomp_errno_defaults_to_eperm, |rt| {
    let b = Bundle::new()
        .tmpfs("/tmp", &[])
        .seccomp(deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", None))
        .sh("mkdir /tmp/x");
    let out = run(rt, &b);
    out.assert_failure();
    assert!(out.stderr.contains("Operation not permitted"), "{out}");
});

conformance!(seccomp_filter_is_visible_in_status, |rt| {
    let b = Bundle::new()
        .seccomp(deny(&["mkdir"], "SCMP_ACT_ERRNO", Some(1)))
        .args(&["cat", "/proc/self/status"]);
    let out = run_ok(rt, &b);
    assert_eq!(
        status_field(&out, "Seccomp"),
        Some("2"),
        "filter mode expected:\n{out}"
    );
    let without = run_ok(rt, &Bundle::new().args(&["cat", "/proc/self/status"]));
    assert_eq!(status_field(&without, "Seccomp"), Some("0"), "{without}");
});

conformance!(seccomp_kill_action, |rt| {
    let b = Bundle::new()
        .tmpfs("/tmp", &[])
        .seccomp(deny(&["mkdir", "mkdirat"], "SCMP_ACT_KILL", None))
        .sh("mkdir /tmp/x; echo status=$?; test -d /tmp/x || echo not-created");
    // SCMP_ACT_KILL kills the calling thread with SIGSYS: mkdir (a child of the shell) dies, the
    // shell reports 128 + 31 and goes on.
    let out = run_ok(rt, &b);
    assert_eq!(out, "status=159\nnot-created\n");
});

/// What the runtime's last steps and busybox need to start, print and run a child (close_range
/// included: the runtime marks its descriptors close-on-exec with it).
const ALLOW_LIST: &[&str] = &[
    "execve",
    "brk",
    "arch_prctl",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "mprotect",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getpid",
    "getppid",
    "write",
    "writev",
    "exit",
    "exit_group",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "read",
    "close",
    "fstat",
    "newfstatat",
    "openat",
    "ioctl",
    "fcntl",
    "mmap",
    "munmap",
    "futex",
    "getcwd",
    "dup2",
    "dup3",
    "capget",
    "capset",
    "prctl",
    "setgroups",
    "setgid",
    "setuid",
    "setresuid",
    "setresgid",
    "getdents64",
    "lseek",
    "poll",
    "ppoll",
    "sigaltstack",
    "getrandom",
    "statx",
    "readlink",
    "readlinkat",
    "access",
    "faccessat",
    "faccessat2",
    "sched_getaffinity",
    "clone",
    "clone3",
    "wait4",
    "pipe",
    "pipe2",
    "fchdir",
    "chdir",
    "umask",
    "fstatfs",
    "statfs",
    "close_range",
    "nanosleep",
    "clock_nanosleep",
    "sched_yield",
    "madvise",
    "gettid",
    "tgkill",
    "getpgrp",
    "setsid",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "fchown",
    "fchmod",
    "stat",
    "lstat",
    "open",
    "dup",
    "getpgid",
    "setpgid",
    "vfork",
    "fork",
    "execveat",
];

/// A profile that fails every system call but `allowed` with EPERM.
fn default_errno(allowed: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [ { "names": allowed, "action": "SCMP_ACT_ALLOW" } ]
    })
}

conformance!(seccomp_default_errno_with_allow_list, |rt| {
    // Deny everything but ALLOW_LIST: mkdir is not among it, so it fails with defaultErrnoRet
    // while echo works.
    let b = Bundle::new()
        .seccomp(default_errno(ALLOW_LIST))
        .sh("echo started; mkdir /dev/shm/x || echo mkdir-denied");
    let out = run(rt, &b);
    out.assert_success();
    assert_eq!(out.stdout, "started\nmkdir-denied\n", "{out}");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "defaultErrnoRet 1 is EPERM:\n{out}"
    );
});

conformance!(
    seccomp_default_errno_without_close_range_nor_no_new_privileges,
    |rt| {
        // Older Docker profiles and many hand-written ones do not know close_range. Without
        // no_new_privs the filter is loaded before the runtime drops its privileges (and before it
        // marks its descriptors close-on-exec): the start must not depend on close_range.
        let allowed: Vec<&str> = ALLOW_LIST
            .iter()
            .copied()
            .filter(|s| *s != "close_range")
            .collect();
        let b = Bundle::new()
            .no_new_privileges(false)
            .seccomp(default_errno(&allowed))
            .sh("echo started; mkdir /dev/shm/x || echo mkdir-denied; ls /proc/self/fd");
        let out = run(rt, &b);
        out.assert_success();
        // Still no descriptor of the runtime reaches the container: only stdio (and the one
        // `ls` opens to read the directory).
        assert_eq!(out.stdout, "started\nmkdir-denied\n0\n1\n2\n3\n", "{out}");
    }
);

conformance!(
    a_profile_is_compiled_once_and_the_cached_program_holds,
    |rt| {
        // berth keeps compiled programs under its root (`@seccomp-cache`); every start with the
        // same profile must behave the same, from the cache or not, and a damaged entry must
        // neither fail a start nor weaken the filter.
        let b = Bundle::new()
            .tmpfs("/tmp", &[])
            .seccomp(deny(&["mkdir", "mkdirat"], "SCMP_ACT_ERRNO", Some(13)))
            .sh("mkdir /tmp/x; echo mkdir=$?");
        let cache = rt.root().join("@seccomp-cache");
        for round in 0..3 {
            assert_eq!(run_ok(rt, &b), "mkdir=1\n", "round {round}");
            if rt.name() != "berth" {
                continue;
            }
            let entries: Vec<_> = std::fs::read_dir(&cache)
                .expect("berth stores compiled programs")
                .flatten()
                .map(|e| e.path())
                .collect();
            assert_eq!(entries.len(), 1, "one profile, one entry: {entries:?}");
            if round == 1 {
                std::fs::write(&entries[0], b"BSC1 not a program").expect("damage the entry");
            }
        }
        assert!(rt.list_json().is_empty(), "the cache is not a container");
    }
);

/// Receives the one message of a seccomp agent connection: the JSON state and the listener.
fn receive_listener(
    stream: &std::os::unix::net::UnixStream,
) -> std::io::Result<(Value, std::os::fd::OwnedFd)> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; 64 * 1024];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        stream,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            fd = fds.into_iter().next().or(fd);
        }
    }
    let state = serde_json::from_slice(&buf[..got.bytes]).map_err(std::io::Error::other)?;
    let fd = fd.ok_or_else(|| std::io::Error::other("no descriptor with the message"))?;
    Ok((state, fd))
}

/// errno 18, "Invalid cross-device link": an answer only the agent gives to mkdir.
const EXDEV: i32 = 18;

conformance!(seccomp_notify_hands_the_listener_to_the_agent, |rt| {
    notify_agent(rt, false);
});

conformance!(seccomp_notify_with_no_new_privileges, |rt| {
    // With no_new_privs the filter loads late; the listener must still reach the agent.
    notify_agent(rt, true);
});

/// An agent at listenerPath receives the container's state and the listener, and answers
/// every mkdir with EXDEV: the container sees the agent's answer.
fn notify_agent(rt: &berth_testutil::Runtime, no_new_privileges: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind agent socket");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        let (state, fd) = match receive_listener(&stream) {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
                return;
            }
        };
        let _ = tx.send(Ok(state));
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        // Until the last process of the filter is gone (receive fails).
        while let Ok(req) = libseccomp::ScmpNotifReq::receive(raw) {
            let resp = libseccomp::ScmpNotifResp::new_error(
                req.id,
                -EXDEV,
                libseccomp::ScmpNotifRespFlags::empty(),
            );
            let _ = resp.respond(raw);
        }
    });
    let mut profile = deny(&["mkdir", "mkdirat"], "SCMP_ACT_NOTIFY", None);
    profile["listenerPath"] = json!(socket.to_string_lossy());
    profile["listenerMetadata"] = json!("agent=test");
    let b = Bundle::new()
        .tmpfs("/tmp", &[])
        .seccomp(profile)
        .no_new_privileges(no_new_privileges)
        .sh("mkdir /tmp/x; echo mkdir=$?; touch /tmp/f && echo touch=ok");
    let id = berth_testutil::unique_id("notify");
    let out = rt.run(&b, &id);
    out.assert_success();
    assert_eq!(out.stdout, "mkdir=1\ntouch=ok\n", "{out}");
    assert!(out.stderr.contains("Invalid cross-device link"), "{out}");

    let state = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the agent was called")
        .expect("the agent got state and listener");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "agent=test", "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    assert_eq!(state["state"]["status"], "creating", "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert_eq!(state["pid"], state["state"]["pid"], "{state}");
}

conformance!(seccomp_notify_without_an_agent_fails_cleanly, |rt| {
    let mut profile = deny(&["mkdir"], "SCMP_ACT_NOTIFY", None);
    let dir = tempfile::tempdir().expect("temp dir");
    profile["listenerPath"] = json!(dir.path().join("nobody.sock").to_string_lossy());
    let b = Bundle::new().seccomp(profile).args(&["true"]);
    let out = run(rt, &b);
    out.assert_failure();
    crate::common::assert_nothing_left(rt, &b);
});
