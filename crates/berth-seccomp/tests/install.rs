//! Installing compiled programs in forked children (no root: the child sets
//! no_new_privs first) and checking what the kernel answers.

mod common;

use berth_seccomp::{compile, Program, SeccompError};
use common::*;
use serde_json::json;

const SIGSYS: i32 = libc::SIGSYS;

/// Forks, sets no_new_privs, installs `prog`, then runs `checks`. Exit code 0 means
/// every check passed; 100/101 mean no_new_privs/install failed.
fn with_filter(prog: &Program, checks: impl FnOnce() -> i32) -> Outcome {
    in_child(|| {
        if !set_no_new_privs() {
            return 100;
        }
        if prog.install().is_err() {
            return 101;
        }
        checks()
    })
}

fn raw(nr: libc::c_long, a0: libc::c_long, a1: libc::c_long) -> libc::c_long {
    // SAFETY: the tests only issue syscalls whose arguments are integers or NULL
    // (no memory is passed), and every one of them is harmless for the child.
    unsafe { libc::syscall(nr, a0, a1, 0, 0, 0, 0) }
}

#[test]
fn denied_syscalls_return_the_configured_errno() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            rule(&["getcwd"], "SCMP_ACT_ERRNO", Some(38), json!([])),
            rule(&["mkdirat", "mkdir"], "SCMP_ACT_ERRNO", None, json!([])),
        ],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getcwd, 0, 0)) != 38 {
            return 1;
        }
        // mkdirat(AT_FDCWD, NULL, 0): without the filter this would be EFAULT.
        if errno_of(raw(libc::SYS_mkdirat, libc::AT_FDCWD.into(), 0)) != libc::EPERM {
            return 2;
        }
        if errno_of(raw(libc::SYS_getpid, 0, 0)) != 0 {
            return 3;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn personality_is_allowed_only_for_the_listed_value() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            rule(&["exit_group", "exit"], "SCMP_ACT_ALLOW", None, json!([])),
            rule(&["personality"], "SCMP_ACT_ALLOW", None, json!([arg(0, "SCMP_CMP_EQ", 0xffff_ffff, 0)])),
        ],
    }))?)?;
    let outcome = with_filter(&prog, || {
        // 0xffffffff only queries the persona.
        if errno_of(raw(libc::SYS_personality, 0xffff_ffff, 0)) != 0 {
            return 1;
        }
        if errno_of(raw(libc::SYS_personality, 0x0008, 0)) != libc::EPERM {
            return 2;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn conditions_on_different_arguments_must_all_match() -> TestResult {
    // getpriority(PRIO_PROCESS, 999999) fails with ESRCH on its own; the rule turns
    // it into EACCES only when both arguments match.
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["getpriority"], "SCMP_ACT_ERRNO", Some(libc::EACCES as u32),
            json!([arg(0, "SCMP_CMP_EQ", 0, 0), arg(1, "SCMP_CMP_EQ", 999_999, 0)]))],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getpriority, 0, 999_999)) != libc::EACCES {
            return 1;
        }
        if errno_of(raw(libc::SYS_getpriority, 0, 999_998)) != libc::ESRCH {
            return 2;
        }
        if errno_of(raw(libc::SYS_getpriority, 1, 999_999)) != libc::ESRCH {
            return 3;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn conditions_on_the_same_argument_match_either_value() -> TestResult {
    // runc splits same-index conditions into separate rules, so they OR.
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["getpriority"], "SCMP_ACT_ERRNO", Some(libc::EACCES as u32),
            json!([arg(1, "SCMP_CMP_EQ", 999_999, 0), arg(1, "SCMP_CMP_EQ", 999_998, 0)]))],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getpriority, 0, 999_999)) != libc::EACCES {
            return 1;
        }
        if errno_of(raw(libc::SYS_getpriority, 0, 999_998)) != libc::EACCES {
            return 2;
        }
        if errno_of(raw(libc::SYS_getpriority, 0, 999_997)) != libc::ESRCH {
            return 3;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn masked_eq_compares_the_masked_bits() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["getpriority"], "SCMP_ACT_ERRNO", Some(libc::EACCES as u32),
            json!([arg(1, "SCMP_CMP_MASKED_EQ", 0xff00, 0x1200)]))],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getpriority, 0, 0xf12ab)) != libc::EACCES {
            return 1;
        }
        if errno_of(raw(libc::SYS_getpriority, 0, 0xf13ab)) != libc::ESRCH {
            return 2;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn kill_process_and_trap_end_the_child_with_sigsys() -> TestResult {
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let prog = compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [rule(&["getppid"], action, None, json!([]))],
        }))?)?;
        let outcome = with_filter(&prog, || {
            raw(libc::SYS_getppid, 0, 0);
            1
        });
        assert_eq!(outcome, Outcome::Signaled(SIGSYS), "{action}");
    }
    Ok(())
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [rule(&["exit_group", "exit", "getpid"], "SCMP_ACT_ALLOW", None, json!([]))],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getpid, 0, 0)) != 0 {
            return 1;
        }
        // Below the largest number the profile names: the default action.
        if errno_of(raw(libc::SYS_getppid.min(libc::SYS_exit_group - 1), 0, 0)) != libc::EPERM {
            return 2;
        }
        // Above it: "not implemented", so callers fall back.
        if errno_of(raw(libc::SYS_exit_group + 200, 0, 0)) != libc::ENOSYS {
            return 3;
        }
        if errno_of(raw(1000, 0, 0)) != libc::ENOSYS {
            return 4;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn docker_like_profile_installs_and_filters() -> TestResult {
    let prog = compile(&docker_like_profile()?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getpid, 0, 0)) != 0 {
            return 1;
        }
        // mount is not in the allow-list: defaultErrnoRet 1 (EPERM).
        if errno_of(raw(libc::SYS_umount2, 0, 0)) != libc::EPERM {
            return 2;
        }
        // clone3 is answered with ENOSYS so that libc falls back to clone.
        if errno_of(raw(libc::SYS_clone3, 0, 0)) != libc::ENOSYS {
            return 3;
        }
        if errno_of(raw(libc::SYS_personality, 0xffff_ffff, 0)) != 0 {
            return 4;
        }
        if errno_of(raw(libc::SYS_personality, 0x1234, 0)) != libc::EPERM {
            return 5;
        }
        if errno_of(raw(1000, 0, 0)) != libc::ENOSYS {
            return 6;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn flags_are_accepted_by_the_kernel() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [rule(&["getcwd"], "SCMP_ACT_ERRNO", None, json!([]))],
    }))?)?;
    let outcome = with_filter(&prog, || {
        if errno_of(raw(libc::SYS_getcwd, 0, 0)) == libc::EPERM {
            0
        } else {
            1
        }
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn notify_returns_a_listener() -> TestResult {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/seccomp-agent.sock",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [rule(&["getppid"], "SCMP_ACT_NOTIFY", None, json!([]))],
    }))?;
    let prog = match compile(&p) {
        // libseccomp's API level follows the running kernel (notify needs Linux >= 5.7).
        Err(e @ SeccompError::UnsupportedAction { .. }) => {
            berth_testutil::skip_host(&e.to_string());
            return Ok(());
        }
        r => r?,
    };
    assert!(prog.wants_listener());
    let outcome = in_child(|| {
        if !set_no_new_privs() {
            return 100;
        }
        match prog.install() {
            Ok(Some(fd)) => {
                use std::os::fd::AsRawFd;
                if fd.as_raw_fd() < 0 {
                    return 2;
                }
                0
            }
            Ok(None) => 1,
            Err(_) => 101,
        }
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

#[test]
fn trace_without_a_tracer_gives_enosys_and_log_allows() -> TestResult {
    let prog = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            rule(&["getppid"], "SCMP_ACT_TRACE", Some(7), json!([])),
            rule(&["getpid"], "SCMP_ACT_LOG", None, json!([])),
        ],
    }))?)?;
    let outcome = with_filter(&prog, || {
        // With no tracer attached the kernel fails a TRACE syscall with ENOSYS.
        if errno_of(raw(libc::SYS_getppid, 0, 0)) != libc::ENOSYS {
            return 1;
        }
        if errno_of(raw(libc::SYS_getpid, 0, 0)) != 0 {
            return 2;
        }
        0
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}

/// Clears CAP_SYS_ADMIN from the effective set of the calling thread.
fn drop_cap_sys_admin() -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_SYS_ADMIN: u32 = 21;
    let mut header = Header {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: `header` and `data` are the v3 structures capget expects (two data
    // elements for 64 capabilities), valid for the call.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return false;
    }
    data[0].effective &= !(1 << CAP_SYS_ADMIN);
    // SAFETY: as above; capset only reads them.
    unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) == 0 }
}

#[test]
fn install_without_no_new_privs_or_cap_sys_admin_fails_cleanly() -> TestResult {
    let prog = compile(&profile(
        json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [] }),
    )?)?;
    let outcome = in_child(|| {
        if !drop_cap_sys_admin() {
            return 100;
        }
        match prog.install() {
            Err(SeccompError::Install { source, .. })
                if source.raw_os_error() == Some(libc::EACCES) =>
            {
                0
            }
            Err(_) => 1,
            Ok(_) => 2,
        }
    });
    assert_eq!(outcome, Outcome::Exited(0));
    Ok(())
}
