//! Compiling profiles: no root, no filter installed.

mod common;

use std::time::Instant;

use berth_seccomp::{compile, SeccompError};
use common::*;
use oci_spec::runtime::{LinuxSeccompAction, LinuxSeccompOperator};
use serde_json::json;

#[test]
fn small_profile_compiles() -> TestResult {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_NATIVE"],
        "syscalls": [rule(&["read", "write", "exit_group"], "SCMP_ACT_ALLOW", None, json!([]))],
    }))?;
    let prog = compile(&p)?;
    assert!(!prog.wants_listener());
    for allowed in ["read", "write", "exit_group"] {
        assert_eq!(answer(&prog, allowed, [0; 6]), RET_ALLOW, "{allowed}");
    }
    // The default: SCMP_ACT_ERRNO without defaultErrnoRet is EPERM, as in runc (for
    // syscalls older than exit_group, the newest the profile names: newer ones get ENOSYS).
    for denied in ["mount", "getpid", "chroot"] {
        assert_eq!(
            answer(&prog, denied, [0; 6]),
            ret_errno(libc::EPERM),
            "{denied}"
        );
    }
    // A process of an architecture the profile does not list never gets ALLOW.
    assert_ne!(
        evaluate(prog.instructions(), AUDIT_ARCH_AARCH64, 63, [0; 6]),
        RET_ALLOW
    );
    Ok(())
}

#[test]
fn typed_profile_compiles() -> TestResult {
    let mut personality = typed_rule(&["personality"], LinuxSeccompAction::ScmpActAllow, None);
    personality.set_args(Some(vec![typed_arg(
        0,
        LinuxSeccompOperator::ScmpCmpEq,
        0xffff_ffff,
    )]));
    let p = typed_profile(
        LinuxSeccompAction::ScmpActKillProcess,
        vec![
            typed_rule(&["exit_group"], LinuxSeccompAction::ScmpActAllow, None),
            personality,
        ],
    );
    let prog = compile(&p)?;
    assert_eq!(answer(&prog, "exit_group", [0; 6]), RET_ALLOW);
    assert_eq!(
        answer(&prog, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(answer(&prog, "personality", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(answer(&prog, "getpid", [0; 6]), RET_KILL_PROCESS);
    Ok(())
}

#[test]
fn unknown_action_and_arch_names_are_rejected_by_name_when_parsing() {
    let bad_action = profile(json!({ "defaultAction": "SCMP_ACT_FROBNICATE" }));
    let msg = bad_action.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("SCMP_ACT_FROBNICATE"), "{msg}");

    let bad_arch =
        profile(json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"] }));
    let msg = bad_arch.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("SCMP_ARCH_PDP11"), "{msg}");
}

#[test]
fn architecture_libseccomp_lacks_is_an_error_naming_it() -> TestResult {
    // libseccomp 2.5 has no SuperH/LoongArch backends; 2.6 does. Whichever the host
    // lacks must fail with its name; those it has must compile.
    for arch in [
        "SCMP_ARCH_SH",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_RISCV64",
    ] {
        let p = profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": [arch],
            "syscalls": [rule(&["read"], "SCMP_ACT_ALLOW", None, json!([]))],
        }))?;
        match compile(&p) {
            Ok(_) => println!("{arch}: supported by this libseccomp"),
            Err(e @ SeccompError::UnsupportedArch { .. }) => {
                println!("{arch}: {e}");
                assert!(e.to_string().contains(arch), "{e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[test]
fn notify_misuse_is_an_error_naming_the_action() -> TestResult {
    let default_notify =
        profile(json!({ "defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock" }))?;
    let e = compile(&default_notify)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("SCMP_ACT_NOTIFY") && e.contains("default"),
        "{e}"
    );

    let write_notify = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [rule(&["read", "write"], "SCMP_ACT_NOTIFY", None, json!([]))],
    }))?;
    let e = compile(&write_notify)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("SCMP_ACT_NOTIFY") && e.contains("write"), "{e}");

    let no_listener = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["getppid"], "SCMP_ACT_NOTIFY", None, json!([]))],
    }))?;
    assert!(
        matches!(compile(&no_listener), Err(SeccompError::NotifyWithoutListener { syscall }) if syscall == "getppid")
    );
    Ok(())
}

#[test]
fn errno_that_does_not_fit_is_an_error() -> TestResult {
    let p = profile(json!({ "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000 }))?;
    let e = compile(&p).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("SCMP_ACT_ERRNO") && e.contains("70000"), "{e}");
    Ok(())
}

#[test]
fn bad_argument_index_and_empty_name_are_errors() -> TestResult {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["dup3"], "SCMP_ACT_ERRNO", None, json!([arg(6, "SCMP_CMP_EQ", 1, 0)]))],
    }))?;
    assert!(
        matches!(compile(&p), Err(SeccompError::InvalidArgIndex { syscall, index: 6 }) if syscall == "dup3")
    );

    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["getpid", ""], "SCMP_ACT_ERRNO", None, json!([]))],
    }))?;
    assert!(matches!(
        compile(&p),
        Err(SeccompError::EmptySyscallName { index: 0 })
    ));
    Ok(())
}

#[test]
fn unknown_syscall_names_are_skipped_like_runc() -> TestResult {
    let base = json!({ "defaultAction": "SCMP_ACT_ALLOW", "syscalls": [] });
    let mut with_unknown = base.clone();
    with_unknown["syscalls"] = json!([rule(
        &["no_such_syscall_in_2031"],
        "SCMP_ACT_ERRNO",
        None,
        json!([])
    )]);
    assert_eq!(
        code(&compile(&profile(with_unknown)?)?),
        code(&compile(&profile(base)?)?)
    );
    // A rule mixing known and unknown names keeps the known ones.
    let mixed = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [rule(&["no_such_syscall_in_2031", "getpid"], "SCMP_ACT_ERRNO", Some(13), json!([]))],
    }))?;
    let prog = compile(&mixed)?;
    assert_eq!(answer(&prog, "getpid", [0; 6]), ret_errno(13));
    assert_eq!(answer(&prog, "getppid", [0; 6]), RET_ALLOW);
    Ok(())
}

#[test]
fn rules_equal_to_the_default_action_are_skipped() -> TestResult {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            rule(&["mount"], "SCMP_ACT_ERRNO", None, json!([])),
            rule(&["umount2"], "SCMP_ACT_ERRNO", Some(1), json!([])),
            rule(&["read"], "SCMP_ACT_ALLOW", None, json!([])),
        ],
    }))?;
    // libseccomp refuses a rule equal to the default action: left out, the two syscalls get
    // the default like any other.
    let prog = compile(&p)?;
    assert_eq!(answer(&prog, "mount", [0; 6]), ret_errno(libc::EPERM));
    assert_eq!(answer(&prog, "umount2", [0; 6]), ret_errno(libc::EPERM));
    assert_eq!(answer(&prog, "read", [0; 6]), RET_ALLOW);
    // A rule with the same action but another errno is not the default: it stays.
    let other_errno = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [rule(&["umount2"], "SCMP_ACT_ERRNO", Some(38), json!([]))],
    }))?;
    let prog = compile(&other_errno)?;
    assert_eq!(answer(&prog, "umount2", [0; 6]), ret_errno(libc::ENOSYS));
    assert_eq!(answer(&prog, "mount", [0; 6]), ret_errno(libc::EPERM));
    Ok(())
}

#[test]
fn conditions_on_the_same_argument_become_separate_rules() -> TestResult {
    // Two conditions on argument 0 cannot share a libseccomp rule; runc splits them.
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [rule(&["personality"], "SCMP_ACT_ALLOW", None,
            json!([arg(0, "SCMP_CMP_EQ", 0, 0), arg(0, "SCMP_CMP_EQ", 0xffff_ffff, 0), arg(1, "SCMP_CMP_EQ", 3, 0)]))],
    }))?;
    let prog = compile(&p)?;
    // As runc does, every condition becomes a rule of its own: any one of them matching is
    // enough.
    for args in [[0, 4], [0xffff_ffff, 4], [8, 3]] {
        assert_eq!(
            answer(&prog, "personality", [args[0], args[1], 0, 0, 0, 0]),
            RET_ALLOW,
            "{args:?}"
        );
    }
    let eperm = ret_errno(libc::EPERM);
    assert_eq!(answer(&prog, "personality", [8, 4, 0, 0, 0, 0]), eperm);
    assert_eq!(answer(&prog, "personality", [1, 0, 0, 0, 0, 0]), eperm);
    Ok(())
}

#[test]
fn wait_killable_recv_needs_a_notify_rule() -> TestResult {
    let p = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    }))?;
    let e = compile(&p).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"), "{e}");
    Ok(())
}

#[test]
fn flags_default_to_spec_allow_and_explicit_lists_are_kept() -> TestResult {
    let spec_allow = u32::try_from(libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW)?;
    let implicit = compile(&profile(json!({ "defaultAction": "SCMP_ACT_ALLOW" }))?)?;
    println!("implicit flags: {:#x}", implicit.flags());
    assert_eq!(implicit.flags() & !spec_allow, 0);

    let empty = compile(&profile(
        json!({ "defaultAction": "SCMP_ACT_ALLOW", "flags": [] }),
    )?)?;
    assert_eq!(empty.flags(), 0);

    let log = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
    }))?)?;
    assert_eq!(
        log.flags(),
        u32::try_from(libc::SECCOMP_FILTER_FLAG_LOG | libc::SECCOMP_FILTER_FLAG_TSYNC)?
    );
    Ok(())
}

#[test]
fn docker_like_profile_compiles_and_reports_its_compile_time() -> TestResult {
    let p = docker_like_profile()?;
    let names: usize = p.syscalls().iter().flatten().map(|s| s.names().len()).sum();
    let first = Instant::now();
    let prog = compile(&p)?;
    let first = first.elapsed();
    let mut runs: Vec<_> = (0..10)
        .map(|_| {
            let t = Instant::now();
            compile(&p).map(|_| t.elapsed())
        })
        .collect::<Result<_, _>>()?;
    runs.sort();
    println!(
        "docker-like profile: {names} names, 3 arches -> {} BPF instructions; compile: first {first:?}, median {:?}, min {:?}",
        prog.len(),
        runs[runs.len() / 2],
        runs[0]
    );
    assert!(names > 330);
    check_docker_like_answers(&prog);
    Ok(())
}

/// What Docker's default profile (and its OCI forms) answers on x86_64.
fn check_docker_like_answers(prog: &berth_seccomp::Program) {
    let eperm = ret_errno(libc::EPERM);
    for allowed in ["read", "openat", "execve", "exit_group", "getpid"] {
        assert_eq!(answer(prog, allowed, [0; 6]), RET_ALLOW, "{allowed}");
    }
    for denied in ["mount", "kexec_load", "bpf", "ptrace", "unshare"] {
        assert_eq!(answer(prog, denied, [0; 6]), eperm, "{denied}");
    }
    // personality: only the listed personas.
    assert_eq!(answer(prog, "personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(answer(prog, "personality", [1, 0, 0, 0, 0, 0]), eperm);
    // clone: allowed without namespace flags, refused with CLONE_NEWUSER.
    assert_eq!(answer(prog, "clone", [0x11, 0, 0, 0, 0, 0]), RET_ALLOW);
    let newuser = u64::try_from(libc::CLONE_NEWUSER).unwrap_or(0x1000_0000);
    assert_eq!(
        answer(prog, "clone", [newuser | 0x11, 0, 0, 0, 0, 0]),
        eperm
    );
}

/// The containers-common package (a dependency of podman) ships a Docker-format default
/// profile; its OCI form for an amd64 container must compile and answer as Docker's does.
#[test]
fn installed_default_profile_compiles_and_filters() -> TestResult {
    let path = "/usr/share/containers/seccomp.json";
    if !berth_testutil::require_files(&[path], "golang-github-containers-common (podman)") {
        return Ok(());
    }
    let text = std::fs::read_to_string(path)?;
    let p = oci_from_docker_format(&serde_json::from_str(&text)?)?;
    let t = Instant::now();
    let prog = compile(&p)?;
    println!(
        "{path}: {} BPF instructions in {:?}",
        prog.len(),
        t.elapsed()
    );
    // containers-common's profile: ERRNO(ENOSYS) by default, EPERM for what needs a
    // capability Docker does not grant, and mount, unshare, clone allowed.
    let eperm = ret_errno(libc::EPERM);
    for allowed in ["read", "openat", "execve", "mount", "unshare", "clone"] {
        assert_eq!(answer(&prog, allowed, [0; 6]), RET_ALLOW, "{allowed}");
    }
    for denied in [
        "kexec_load",
        "bpf",
        "init_module",
        "open_by_handle_at",
        "acct",
    ] {
        assert_eq!(answer(&prog, denied, [0; 6]), eperm, "{denied}");
    }
    assert_eq!(
        answer(&prog, "add_key", [0; 6]),
        ret_errno(libc::ENOSYS),
        "add_key is not in the profile"
    );
    assert_eq!(answer(&prog, "personality", [8, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        answer(&prog, "personality", [1, 0, 0, 0, 0, 0]),
        ret_errno(libc::ENOSYS)
    );
    Ok(())
}
