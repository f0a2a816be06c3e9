//! The `-ENOSYS` stub runc prepends to every non-permissive filter (its `patchbpf`
//! package), rewritten from its description.
//!
//! A profile lists the syscalls its author knew about. A syscall added to the kernel
//! later gets the default action, typically `EPERM`, and a program that probes for
//! the new syscall (glibc's `clone3`, `faccessat2`, ...) reads that as "forbidden"
//! rather than "not implemented, fall back". The stub returns `ENOSYS` for every
//! syscall number above the largest one the profile names, per architecture.
//!
//! Layout (forward jumps only):
//!
//! ```text
//!       ld  [arch]
//!       jeq AUDIT_ARCH_a, sec_a      ; one per audit arch, native first
//!       ja  filter
//! sec_a: ld  [nr]
//!       jeq 0, enosys                ; s390/s390x: nr 0 is the multiplexer of unknown syscalls
//!       jset X32_BIT, x32, x86_64    ; AUDIT_ARCH_X86_64 only
//! x86_64: jgt max, enosys, filter
//! x32:   jgt max_x32, enosys, filter
//! enosys: ret ERRNO(ENOSYS)
//! filter: ...the libseccomp program...
//! ```
//!
//! Like runc, the stub is skipped when the default action already allows (ALLOW,
//! LOG, TRACE: a tracer should see new syscalls) or already returns `ENOSYS`; the
//! largest number comes from every name in the profile whatever its action; the
//! native architecture is always covered. Holes *below* the largest number (a
//! syscall the profile does not name but which is older than one it does) still get
//! the default action, as in runc.

use libseccomp::ScmpSyscall;
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

use crate::arch::{self, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use crate::bpf::{Asm, Target, JEQ, JGT, JSET, OFFSET_ARCH, OFFSET_NR};
use crate::SeccompError;

/// `SECCOMP_RET_ERRNO | ENOSYS`.
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS.unsigned_abs();

/// The syscall-number checks for one `AUDIT_ARCH_*` value.
#[derive(Debug)]
struct Section {
    audit: u32,
    /// Largest syscall number of the non-x32 ABI of this audit arch.
    max: Option<u32>,
    /// Largest x32 syscall number (with `X32_SYSCALL_BIT`), x86_64 only.
    max_x32: Option<u32>,
    /// s390 and s390x multiplex unknown syscalls through number 0.
    s390: bool,
}

/// Builds the stub for `profile`, or an empty program when runc would not patch.
pub(crate) fn stub(profile: &LinuxSeccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
    if !needs_stub(profile) {
        return Ok(Vec::new());
    }
    let sections = sections(profile);
    if sections.is_empty() {
        return Ok(Vec::new());
    }
    assemble(&sections)
}

fn needs_stub(profile: &LinuxSeccomp) -> bool {
    match profile.default_action() {
        LinuxSeccompAction::ScmpActAllow
        | LinuxSeccompAction::ScmpActLog
        | LinuxSeccompAction::ScmpActTrace => false,
        LinuxSeccompAction::ScmpActErrno => {
            profile.default_errno_ret() != Some(libc::ENOSYS.unsigned_abs())
        }
        _ => true,
    }
}

/// The architectures the stub covers: the profile's, with the native one added.
fn arches(profile: &LinuxSeccomp) -> Vec<Arch> {
    let mut out = vec![arch::native()];
    for a in profile.architectures().iter().flatten() {
        let a = arch::concrete(*a);
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// Largest number any name of the profile has on `arch`; names unknown there, and
/// libseccomp's negative pseudo-numbers for syscalls absent there, do not count.
fn largest_syscall(profile: &LinuxSeccomp, arch: Arch) -> Option<u32> {
    let scmp = arch::to_scmp(arch);
    profile
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|rule| rule.names())
        .filter_map(|name| ScmpSyscall::from_name_by_arch(name, scmp).ok())
        .filter_map(|nr| u32::try_from(i32::from(nr)).ok())
        .filter(|nr| *nr > 0)
        .max()
}

fn sections(profile: &LinuxSeccomp) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for a in arches(profile) {
        let Some(max) = largest_syscall(profile, a) else {
            continue;
        };
        let audit = arch::audit_arch(a);
        let idx = match sections.iter().position(|s| s.audit == audit) {
            Some(i) => i,
            None => {
                sections.push(Section {
                    audit,
                    max: None,
                    max_x32: None,
                    s390: matches!(a, Arch::ScmpArchS390 | Arch::ScmpArchS390x),
                });
                sections.len() - 1
            }
        };
        let s = &mut sections[idx];
        if a == Arch::ScmpArchX32 {
            s.max_x32 = Some(max);
        } else {
            s.max = Some(max);
        }
    }
    sections
}

fn assemble(sections: &[Section]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let mut asm = Asm::default();
    let enosys = asm.label();
    let filter = asm.label();
    let starts: Vec<_> = sections.iter().map(|_| asm.label()).collect();

    asm.load(OFFSET_ARCH);
    for (s, start) in sections.iter().zip(&starts) {
        asm.jump_if(JEQ, s.audit, Target::Label(*start), Target::Next);
    }
    asm.jump(filter);

    for (s, start) in sections.iter().zip(&starts) {
        asm.bind(*start);
        asm.load(OFFSET_NR);
        if s.s390 {
            asm.jump_if(JEQ, 0, Target::Label(enosys), Target::Next);
        }
        if s.audit == AUDIT_ARCH_X86_64 {
            let native = asm.label();
            let x32 = asm.label();
            let to = |present: Option<u32>, l| {
                if present.is_some() {
                    Target::Label(l)
                } else {
                    Target::Label(filter)
                }
            };
            asm.jump_if(JSET, X32_SYSCALL_BIT, to(s.max_x32, x32), to(s.max, native));
            asm.bind(native);
            if let Some(max) = s.max {
                asm.jump_if(JGT, max, Target::Label(enosys), Target::Label(filter));
            }
            asm.bind(x32);
            if let Some(max) = s.max_x32 {
                asm.jump_if(JGT, max, Target::Label(enosys), Target::Label(filter));
            }
        } else if let Some(max) = s.max {
            asm.jump_if(JGT, max, Target::Label(enosys), Target::Label(filter));
        }
    }

    asm.bind(enosys);
    asm.ret(RET_ENOSYS);
    asm.bind(filter);
    asm.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(audit: u32, max: Option<u32>, max_x32: Option<u32>) -> Section {
        Section {
            audit,
            max,
            max_x32,
            s390: false,
        }
    }

    /// Runs the stub on (arch, nr) with a tiny interpreter: `Some(ret)` when the stub
    /// returns, `None` when it falls through into the filter.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> Option<u32> {
        let (mut pc, mut acc) = (0usize, 0u32);
        while pc < prog.len() {
            let i = prog[pc];
            pc += 1;
            match i.code {
                0x20 => acc = if i.k == OFFSET_ARCH { arch } else { nr },
                0x05 => pc += i.k as usize,
                0x06 => return Some(i.k),
                code => {
                    let taken = match code {
                        JEQ => acc == i.k,
                        JGT => acc > i.k,
                        JSET => acc & i.k != 0,
                        _ => panic!("unexpected opcode {code:#x}"),
                    };
                    pc += usize::from(if taken { i.jt } else { i.jf });
                }
            }
        }
        None
    }

    #[test]
    fn x86_64_and_x32_are_told_apart() -> Result<(), SeccompError> {
        let x86 = 0x4000_0003;
        let p = assemble(&[
            section(AUDIT_ARCH_X86_64, Some(300), Some(X32_SYSCALL_BIT | 200)),
            section(x86, Some(400), None),
        ])?;
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 300), None);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 301), Some(RET_ENOSYS));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 200), None);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 201),
            Some(RET_ENOSYS)
        );
        assert_eq!(run(&p, x86, 399), None);
        assert_eq!(run(&p, x86, 401), Some(RET_ENOSYS));
        // An architecture the stub does not know goes to the filter (and its bad-arch action).
        assert_eq!(run(&p, 0xc000_00b7, 5000), None);
        Ok(())
    }

    #[test]
    fn x86_64_without_x32_leaves_x32_to_the_filter() -> Result<(), SeccompError> {
        let p = assemble(&[section(AUDIT_ARCH_X86_64, Some(300), None)])?;
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 9999), Some(RET_ENOSYS));
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 9999), None);
        Ok(())
    }

    #[test]
    fn s390_multiplexer_gets_enosys() -> Result<(), SeccompError> {
        let s390x = 0x8000_0016;
        let p = assemble(&[Section {
            audit: s390x,
            max: Some(400),
            max_x32: None,
            s390: true,
        }])?;
        assert_eq!(run(&p, s390x, 0), Some(RET_ENOSYS));
        assert_eq!(run(&p, s390x, 1), None);
        assert_eq!(run(&p, s390x, 401), Some(RET_ENOSYS));
        Ok(())
    }
}
