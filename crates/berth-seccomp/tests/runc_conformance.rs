//! Conformance with runc (root only, skipped otherwise): runc runs a container with
//! a profile, the test reads the filter runc installed with
//! `PTRACE_SECCOMP_GET_FILTER` and checks that the program `compile` produces for
//! the same profile gives the same answer for every (architecture, syscall,
//! arguments) in a grid, and that the libseccomp part is instruction for instruction
//! the same (the `-ENOSYS` stubs differ in layout only).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_seccomp::compile;
use common::*;
use oci_spec::runtime::LinuxSeccomp;
use serde_json::json;

const AUDIT_X86_64: u32 = 0xc000_003e;
const AUDIT_I386: u32 = 0x4000_0003;
const AUDIT_AARCH64: u32 = 0xc000_00b7;
const X32_BIT: u32 = 0x4000_0000;
const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;

/// runc's state directory and bundle for one test, removed on drop (with the
/// container, if it is still there).
struct Runc {
    dir: PathBuf,
    id: String,
}

impl Runc {
    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
}

impl Drop for Runc {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(self.state())
            .args(["delete", "-f", &self.id])
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runc_usable() -> bool {
    Command::new("runc")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts `sleep` under runc with `profile` and returns the filter runc installed.
fn runc_filter(
    name: &str,
    profile: &LinuxSeccomp,
) -> Result<Vec<libc::sock_filter>, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("berth-seccomp-{name}-{}", std::process::id()));
    let runc = Runc {
        dir,
        id: format!("berth-seccomp-{name}-{}", std::process::id()),
    };
    let rootfs = runc.bundle().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin"))?;
    std::fs::copy(busybox()?, rootfs.join("bin/busybox"))?;
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sleep"))?;
    let ok = Command::new("runc")
        .arg("spec")
        .arg("-b")
        .arg(runc.bundle())
        .status()?
        .success();
    assert!(ok, "runc spec");
    let config_path = runc.bundle().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path)?)?;
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(["/bin/sleep", "60"]);
    config["linux"]["seccomp"] = serde_json::to_value(profile)?;
    std::fs::write(&config_path, serde_json::to_vec(&config)?)?;

    // The detached container inherits runc's stdio: a file, not a pipe we would wait on.
    let log = runc.dir.join("runc.err");
    let status = Command::new("runc")
        .arg("--root")
        .arg(runc.state())
        .args(["run", "-d", "-b"])
        .arg(runc.bundle())
        .arg(&runc.id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .status()?;
    assert!(
        status.success(),
        "runc run: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let state = Command::new("runc")
        .arg("--root")
        .arg(runc.state())
        .args(["state", &runc.id])
        .output()?;
    let state: serde_json::Value = serde_json::from_slice(&state.stdout)?;
    let pid = state["pid"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .ok_or("no pid in runc state")?;
    Ok(read_filter(pid)?)
}

fn busybox() -> Result<&'static Path, &'static str> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .ok_or("busybox not found")
}

/// The most recent seccomp filter of `pid`, read with ptrace.
fn read_filter(pid: libc::pid_t) -> std::io::Result<Vec<libc::sock_filter>> {
    let err = std::io::Error::last_os_error;
    // SAFETY: PTRACE_ATTACH on a pid takes no pointers.
    if unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) } < 0 {
        return Err(err());
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; `pid` is now our tracee.
    unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    // SAFETY: a NULL buffer asks for the instruction count of filter 0.
    let count = unsafe {
        libc::ptrace(
            PTRACE_SECCOMP_GET_FILTER,
            pid,
            0,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    let result = if count < 0 {
        Err(err())
    } else {
        let mut prog = vec![
            libc::sock_filter {
                code: 0,
                jt: 0,
                jf: 0,
                k: 0
            };
            usize::try_from(count).unwrap_or(0)
        ];
        // SAFETY: `prog` has room for the `count` instructions the kernel copies out.
        let r = unsafe { libc::ptrace(PTRACE_SECCOMP_GET_FILTER, pid, 0, prog.as_mut_ptr()) };
        if r < 0 {
            Err(err())
        } else {
            Ok(prog)
        }
    };
    // SAFETY: detaching from our tracee takes no pointers.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
    result
}

/// A classic-BPF interpreter for the instructions seccomp programs use.
fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: &[u64; 6]) -> Result<u32, String> {
    let word = |off: u32| -> Result<u32, String> {
        let lo_hi = |v: u64, high: bool| {
            if high {
                (v >> 32) as u32
            } else {
                (v & 0xffff_ffff) as u32
            }
        };
        match off {
            0 => Ok(nr),
            4 => Ok(arch),
            8 | 12 => Ok(0),
            16..=63 if off % 4 == 0 => {
                let i = ((off - 16) / 8) as usize;
                Ok(lo_hi(args[i], (off - 16) % 8 == 4))
            }
            _ => Err(format!("load at offset {off}")),
        }
    };
    let (mut pc, mut a, mut x, mut mem) = (0usize, 0u32, 0u32, [0u32; 16]);
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let jump = |taken: bool| usize::from(if taken { i.jt } else { i.jf });
        match i.code {
            0x20 => a = word(i.k)?,
            0x00 => a = i.k,
            0x01 => x = i.k,
            0x60 => a = mem[(i.k & 15) as usize],
            0x61 => x = mem[(i.k & 15) as usize],
            0x02 => mem[(i.k & 15) as usize] = a,
            0x03 => mem[(i.k & 15) as usize] = x,
            0x54 => a &= i.k,
            0x44 => a |= i.k,
            0x87 => a = x,
            0x07 => x = a,
            0x05 => pc += i.k as usize,
            0x15 => pc += jump(a == i.k),
            0x25 => pc += jump(a > i.k),
            0x35 => pc += jump(a >= i.k),
            0x45 => pc += jump(a & i.k != 0),
            0x1d => pc += jump(a == x),
            0x2d => pc += jump(a > x),
            0x3d => pc += jump(a >= x),
            0x06 => return Ok(i.k),
            0x16 => return Ok(a),
            c => return Err(format!("opcode {c:#x} at {}", pc - 1)),
        }
    }
    Err("ran off the end".into())
}

/// Compares two programs on every input of the grid; returns how many inputs were tried.
fn same_answers(ours: &[libc::sock_filter], theirs: &[libc::sock_filter]) -> Result<usize, String> {
    let arg_sets: Vec<[u64; 6]> = [
        0u64,
        0xffff_ffff,
        8,
        0x20008,
        0x7e02_0000,
        0x0001_0000,
        0x1234,
        0x1_0000_0008,
    ]
    .into_iter()
    .map(|a0| [a0, 16, 9, 0, 0, 0])
    .collect();
    let mut inputs = Vec::new();
    for arch in [AUDIT_X86_64, AUDIT_I386, AUDIT_AARCH64] {
        inputs.extend(
            (0..=520)
                .chain([600, 1000, 0xffff_ffff])
                .map(|nr| (arch, nr)),
        );
    }
    inputs.extend(
        (0..=560)
            .chain([1000])
            .map(|nr| (AUDIT_X86_64, X32_BIT | nr)),
    );
    let mut n = 0;
    for (arch, nr) in inputs {
        for args in &arg_sets {
            let (o, t) = (run(ours, arch, nr, args)?, run(theirs, arch, nr, args)?);
            if o != t {
                return Err(format!(
                    "arch {arch:#x} nr {nr:#x} args {args:x?}: ours {o:#x}, runc {t:#x}"
                ));
            }
            n += 1;
        }
    }
    Ok(n)
}

fn common_suffix(a: &[libc::sock_filter], b: &[libc::sock_filter]) -> usize {
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
        .count()
}

fn check(name: &str, profile: &LinuxSeccomp) -> TestResult {
    let ours = compile(profile)?.instructions().to_vec();
    let theirs = runc_filter(name, profile)?;
    let n = same_answers(&ours, &theirs)?;
    let suffix = common_suffix(&ours, &theirs);
    println!(
        "{name}: ours {} instructions, runc {}; identical tail {suffix}; {n} inputs agree",
        ours.len(),
        theirs.len()
    );
    // runc 1.1.5 (Debian's, on this kind of host) does not turn on libseccomp's binary
    // tree, which newer runc (and berth) do above 32 names: below that the libseccomp
    // part must be the same instructions and only the -ENOSYS stubs in front may differ.
    let names: usize = profile
        .syscalls()
        .iter()
        .flatten()
        .map(|s| s.names().len())
        .sum();
    if names <= 32 {
        assert!(
            suffix + 64 >= ours.len().min(theirs.len()),
            "libseccomp parts differ"
        );
    }
    Ok(())
}

#[test]
fn same_filter_as_runc() -> TestResult {
    if !berth_testutil::require_root()
        || !berth_testutil::require(runc_usable(), "runc (apt-get install runc)")
    {
        return Ok(());
    }
    let mut single = docker_like_profile()?;
    single.set_architectures(Some(vec![oci_spec::runtime::Arch::ScmpArchX86_64]));
    check("docker-like-x86_64", &single)?;
    check("docker-like", &docker_like_profile()?)?;
    // Few enough names that neither runc nor berth use the binary tree: the
    // libseccomp parts must then be identical. (An ALLOW default, because runc's own
    // init runs Go code between installing the filter and exec.)
    check(
        "conditions",
        &profile(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                rule(&["personality"], "SCMP_ACT_ERRNO", None,
                     json!([arg(0, "SCMP_CMP_EQ", 8, 0), arg(0, "SCMP_CMP_EQ", 0x20008, 0)])),
                rule(&["socket"], "SCMP_ACT_ERRNO", Some(22), json!([arg(0, "SCMP_CMP_EQ", 16, 0), arg(2, "SCMP_CMP_EQ", 9, 0)])),
                rule(&["clone", "unshare"], "SCMP_ACT_ERRNO", Some(1),
                     json!([arg(0, "SCMP_CMP_MASKED_EQ", 0x1000_0000, 0x1000_0000)])),
                rule(&["mkdirat"], "SCMP_ACT_TRACE", Some(5), json!([arg(2, "SCMP_CMP_GT", 0o700, 0)])),
                rule(&["umask", "sethostname"], "SCMP_ACT_LOG", None, json!([])),
                rule(&["kill"], "SCMP_ACT_TRAP", None, json!([arg(1, "SCMP_CMP_LE", 9, 0), arg(0, "SCMP_CMP_GE", 0x1_0000_0000, 0)])),
                rule(&["reboot", "kexec_load"], "SCMP_ACT_KILL_PROCESS", None, json!([])),
                rule(&["acct", "swapon"], "SCMP_ACT_KILL", None, json!([])),
                rule(&["getcwd"], "SCMP_ACT_ERRNO", Some(38), json!([arg(1, "SCMP_CMP_LT", 4, 0)])),
                rule(&["no_such_syscall_in_2031", "s390_pci_mmio_read"], "SCMP_ACT_ERRNO", None, json!([])),
            ],
        }))?,
    )?;
    if let Ok(text) = std::fs::read_to_string("/usr/share/containers/seccomp.json") {
        check(
            "containers-common",
            &oci_from_docker_format(&serde_json::from_str(&text)?)?,
        )?;
    }
    Ok(())
}
