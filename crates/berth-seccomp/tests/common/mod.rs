//! Profile builders and a fork helper shared by the integration tests.
#![allow(dead_code)]

use libseccomp::{ScmpArch, ScmpSyscall};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall,
};
use serde_json::json;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One syscall entry in OCI form.
pub fn rule(
    names: &[&str],
    action: &str,
    errno_ret: Option<u32>,
    args: serde_json::Value,
) -> serde_json::Value {
    let mut r = json!({ "names": names, "action": action, "args": args });
    if let Some(e) = errno_ret {
        r["errnoRet"] = json!(e);
    }
    r
}

pub fn arg(index: usize, op: &str, value: u64, value_two: u64) -> serde_json::Value {
    json!({ "index": index, "op": op, "value": value, "valueTwo": value_two })
}

/// A profile in the JSON form of `config.json`, parsed the way the runtime parses it.
pub fn profile(v: serde_json::Value) -> Result<LinuxSeccomp, serde_json::Error> {
    serde_json::from_value(v)
}

/// Names Docker's default profile leaves to the default action (ERRNO) on an
/// unprivileged container, or allows only under conditions.
const DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "clone",
    "clone3",
    "create_module",
    "delete_module",
    "fanotify_init",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "migrate_pages",
    "mount",
    "mount_setattr",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "personality",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "syslog",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vhangup",
    "vm86",
    "vm86old",
    "afs_syscall",
    "tuxcall",
    "security",
    "putpmsg",
    "getpmsg",
    "vserver",
    "lookup_dcookie",
    "set_mempolicy_home_node",
];

/// Syscalls of other architectures (and one nobody has) that Docker-style profiles
/// list too: they must be resolved per architecture or skipped.
const FOREIGN: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "sync_file_range2",
    "s390_pci_mmio_read",
    "s390_pci_mmio_write",
    "s390_runtime_instr",
    "riscv_flush_icache",
    "socketcall",
    "ipc",
    "_llseek",
    "_newselect",
    "fadvise64_64",
    "fstat64",
    "fstatat64",
    "ugetrlimit",
    "waitpid",
    "sigreturn",
    "chown32",
    "fchown32",
    "lchown32",
    "fcntl64",
    "fstatfs64",
    "ftruncate64",
    "getegid32",
    "geteuid32",
    "getgid32",
    "getgroups32",
    "getresgid32",
    "getresuid32",
    "getuid32",
    "mmap2",
    "sendfile64",
    "setfsgid32",
    "setfsuid32",
    "setgid32",
    "setgroups32",
    "setregid32",
    "setresgid32",
    "setresuid32",
    "setreuid32",
    "setuid32",
    "statfs64",
    "truncate64",
    "stat64",
    "lstat64",
    "no_such_syscall_in_2031",
];

/// A realistic large profile shaped like the OCI form of Docker's default profile
/// on amd64: an allow-list (every x86_64 syscall libseccomp knows, minus the ones
/// Docker denies, plus names of other architectures) under SCMP_ACT_ERRNO, Docker's
/// personality and clone conditions, and clone3 answered with ENOSYS.
pub fn docker_like_profile() -> Result<LinuxSeccomp, serde_json::Error> {
    let mut allowed: Vec<String> = (0..1024)
        .filter_map(|nr| ScmpSyscall::from(nr).get_name_by_arch(ScmpArch::X8664).ok())
        .filter(|n| !DENIED.contains(&n.as_str()))
        .collect();
    allowed.extend(FOREIGN.iter().map(|s| s.to_string()));
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    let mut syscalls = vec![rule(&allowed, "SCMP_ACT_ALLOW", None, json!([]))];
    for persona in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(rule(
            &["personality"],
            "SCMP_ACT_ALLOW",
            None,
            json!([arg(0, "SCMP_CMP_EQ", persona, 0)]),
        ));
    }
    // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET must all be clear.
    syscalls.push(rule(
        &["clone"],
        "SCMP_ACT_ALLOW",
        None,
        json!([arg(0, "SCMP_CMP_MASKED_EQ", 0x7e02_0000, 0)]),
    ));
    syscalls.push(rule(&["clone3"], "SCMP_ACT_ERRNO", Some(38), json!([])));
    profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    }))
}

/// Capabilities Docker grants by default, used to resolve `includes`/`excludes`.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Converts a profile in Docker's format (archMap, includes/excludes) into the OCI
/// form Docker generates for an amd64 container with the default capabilities.
pub fn oci_from_docker_format(
    docker: &serde_json::Value,
) -> Result<LinuxSeccomp, Box<dyn std::error::Error>> {
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let mut arches = Vec::new();
    for m in docker["archMap"].as_array().into_iter().flatten() {
        if m["architecture"] == "SCMP_ARCH_X86_64" {
            arches.push("SCMP_ARCH_X86_64".to_string());
            arches.extend(strings(&m["subArchitectures"]));
        }
    }
    let in_caps = |c: &String| DOCKER_CAPS.contains(&c.as_str());
    let included = |cond: &serde_json::Value| {
        let archs = strings(&cond["arches"]);
        strings(&cond["caps"]).iter().all(in_caps)
            && (archs.is_empty() || archs.iter().any(|a| a == "amd64"))
    };
    let excluded = |cond: &serde_json::Value| {
        strings(&cond["caps"]).iter().any(in_caps)
            || strings(&cond["arches"]).iter().any(|a| a == "amd64")
    };
    let mut syscalls = Vec::new();
    for s in docker["syscalls"].as_array().into_iter().flatten() {
        if !included(&s["includes"]) || excluded(&s["excludes"]) {
            continue;
        }
        let mut entry = json!({ "names": s["names"], "action": s["action"], "args": s["args"] });
        if s["args"].is_null() {
            entry["args"] = json!([]);
        }
        if let Some(e) = s.get("errnoRet").filter(|e| !e.is_null()) {
            entry["errnoRet"] = e.clone();
        }
        syscalls.push(entry);
    }
    let mut oci = json!({
        "defaultAction": docker["defaultAction"],
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(e) = docker.get("defaultErrnoRet") {
        oci["defaultErrnoRet"] = e.clone();
    }
    Ok(serde_json::from_value(oci)?)
}

/// Builds a profile directly with the spec's types (the form callers hold).
pub fn typed_profile(default: LinuxSeccompAction, syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut p = LinuxSeccomp::default();
    p.set_default_action(default);
    p.set_architectures(Some(vec![Arch::ScmpArchNative]));
    p.set_syscalls(Some(syscalls));
    p
}

pub fn typed_rule(
    names: &[&str],
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
) -> LinuxSyscall {
    let mut r = LinuxSyscall::default();
    r.set_names(names.iter().map(|s| s.to_string()).collect());
    r.set_action(action);
    r.set_errno_ret(errno_ret);
    r
}

pub fn typed_arg(index: usize, op: LinuxSeccompOperator, value: u64) -> LinuxSeccompArg {
    serde_json::from_value::<LinuxSeccompArg>(json!({ "index": index, "op": op, "value": value }))
        .unwrap_or_default()
}

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
}

/// Runs `f` in a forked child and reports how it ended. `f` runs after `fork` in a
/// multithreaded test process, so it must stay async-signal-safe: raw syscalls,
/// [`berth_seccomp::Program::install`], no allocation. Its return value is the exit
/// code: 0 for success, the number of the failed check otherwise.
pub fn in_child(f: impl FnOnce() -> i32) -> Outcome {
    // SAFETY: the child runs only `f` (async-signal-safe by this function's contract)
    // and `_exit`; the parent only waits for it.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: `_exit` ends the child without running the parent's atexit handlers
        // or destructors, which must not run twice.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child and `status` a valid out-pointer.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid, "waitpid: {}", std::io::Error::last_os_error());
    if libc::WIFSIGNALED(status) {
        Outcome::Signaled(libc::WTERMSIG(status))
    } else {
        Outcome::Exited(libc::WEXITSTATUS(status))
    }
}

/// `prctl(PR_SET_NO_NEW_PRIVS, 1)`, which lets an unprivileged process install a filter.
pub fn set_no_new_privs() -> bool {
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 }
}

/// errno of a raw syscall result: 0 on success.
pub fn errno_of(ret: libc::c_long) -> i32 {
    if ret >= 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    }
}

/// `AUDIT_ARCH_X86_64`, the `seccomp_data.arch` of an x86_64 process.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_AARCH64`, an architecture the profiles in these tests do not list.
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;

/// `seccomp(2)` return values, as the filter answers them.
pub const RET_ALLOW: u32 = 0x7fff_0000;
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;

/// `SECCOMP_RET_ERRNO | errno`.
pub fn ret_errno(errno: i32) -> u32 {
    0x0005_0000 | (u32::try_from(errno).unwrap_or(0) & 0xffff)
}

/// `SECCOMP_RET_TRACE | data`.
pub fn ret_trace(data: u32) -> u32 {
    0x7ff0_0000 | (data & 0xffff)
}

/// The x86_64 number of syscall `name`, from libseccomp's tables.
pub fn nr(name: &str) -> i32 {
    ScmpSyscall::from_name_by_arch(name, ScmpArch::X8664)
        .map(i32::from)
        .unwrap_or_else(|e| panic!("no x86_64 syscall {name}: {e}"))
}

/// What the classic-BPF `filter` answers for a syscall `nr` with `args` made by a process
/// of architecture `arch`: the kernel's seccomp evaluation, done in the test without
/// installing anything, so that a compiled program can be checked rule by rule.
pub fn evaluate(filter: &[libc::sock_filter], arch: u32, nr: i32, args: [u64; 6]) -> u32 {
    // struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6].
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let word = |k: u32| -> u32 {
        let k = k as usize;
        let bytes = data
            .get(k..k + 4)
            .unwrap_or_else(|| panic!("load outside seccomp_data at {k}"));
        u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    };
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    loop {
        let ins = filter
            .get(pc)
            .unwrap_or_else(|| panic!("fell off the program at {pc}"));
        let (code, k) = (ins.code, ins.k);
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k }; // BPF_X : BPF_K
        match code & 0x07 {
            // BPF_LD
            0x00 => match code & 0xe0 {
                0x20 => a = word(k), // BPF_ABS (always BPF_W for seccomp)
                0x00 => a = k,       // BPF_IMM
                0x60 => a = mem[k as usize],
                0x80 => a = 64, // BPF_LEN
                m => panic!("unsupported ld mode {m:#x}"),
            },
            // BPF_LDX
            0x01 => match code & 0xe0 {
                0x00 => x = k,
                0x60 => x = mem[k as usize],
                0x80 => x = 64,
                m => panic!("unsupported ldx mode {m:#x}"),
            },
            0x02 => mem[k as usize] = a, // BPF_ST
            0x03 => mem[k as usize] = x, // BPF_STX
            // BPF_ALU
            0x04 => {
                a = match code & 0xf0 {
                    0x00 => a.wrapping_add(src),
                    0x10 => a.wrapping_sub(src),
                    0x20 => a.wrapping_mul(src),
                    0x30 => a.checked_div(src).expect("division by zero"),
                    0x40 => a | src,
                    0x50 => a & src,
                    0x60 => a.wrapping_shl(src),
                    0x70 => a.wrapping_shr(src),
                    0x80 => a.wrapping_neg(),
                    0x90 => a.checked_rem(src).expect("modulo by zero"),
                    0xa0 => a ^ src,
                    op => panic!("unsupported alu op {op:#x}"),
                }
            }
            // BPF_JMP
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize; // BPF_JA
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    op => panic!("unsupported jmp op {op:#x}"),
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            // BPF_RET
            0x06 => return if code & 0x18 == 0x10 { a } else { k },
            // BPF_MISC: TAX / TXA
            _ => {
                if code & 0xf8 == 0 {
                    x = a;
                } else {
                    a = x;
                }
            }
        }
    }
}

/// [`evaluate`] for an x86_64 process calling `name` with `args`.
pub fn answer(prog: &berth_seccomp::Program, name: &str, args: [u64; 6]) -> u32 {
    evaluate(prog.instructions(), AUDIT_ARCH_X86_64, nr(name), args)
}

/// The instructions of `prog` as comparable tuples (`sock_filter` has no `PartialEq`).
pub fn code(prog: &berth_seccomp::Program) -> Vec<(u16, u8, u8, u32)> {
    prog.instructions()
        .iter()
        .map(|i| (i.code, i.jt, i.jf, i.k))
        .collect()
}
