//! Architecture names of the OCI spec, libseccomp's tokens and the kernel's
//! `AUDIT_ARCH_*` values (which is what `seccomp_data.arch` holds).

use libseccomp::ScmpArch;
use oci_spec::runtime::Arch;

/// `AUDIT_ARCH_X86_64`; x32 shares it and is told apart by `__X32_SYSCALL_BIT`.
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `__X32_SYSCALL_BIT`, set in the syscall number of every x32 syscall.
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Every concrete architecture of the spec (all but `SCMP_ARCH_NATIVE`).
const CONCRETE: [Arch; 23] = [
    Arch::ScmpArchX86,
    Arch::ScmpArchX86_64,
    Arch::ScmpArchX32,
    Arch::ScmpArchArm,
    Arch::ScmpArchAarch64,
    Arch::ScmpArchMips,
    Arch::ScmpArchMips64,
    Arch::ScmpArchMips64n32,
    Arch::ScmpArchMipsel,
    Arch::ScmpArchMipsel64,
    Arch::ScmpArchMipsel64n32,
    Arch::ScmpArchPpc,
    Arch::ScmpArchPpc64,
    Arch::ScmpArchPpc64le,
    Arch::ScmpArchS390,
    Arch::ScmpArchS390x,
    Arch::ScmpArchParisc,
    Arch::ScmpArchParisc64,
    Arch::ScmpArchRiscv64,
    Arch::ScmpArchLoongarch64,
    Arch::ScmpArchM68k,
    Arch::ScmpArchSh,
    Arch::ScmpArchSheb,
];

pub(crate) fn to_scmp(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The architecture this process runs on, as libseccomp sees it.
pub(crate) fn native() -> Arch {
    let scmp = ScmpArch::native();
    CONCRETE
        .into_iter()
        .find(|a| to_scmp(*a) == scmp)
        .unwrap_or(Arch::ScmpArchNative)
}

/// Replaces `SCMP_ARCH_NATIVE` by the concrete architecture.
pub(crate) fn concrete(arch: Arch) -> Arch {
    match arch {
        Arch::ScmpArchNative => native(),
        a => a,
    }
}

/// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch` for `arch`.
/// The spec's numbers are libseccomp's tokens, which equal the audit values except
/// for x32 (a libseccomp-only token for syscalls made under `AUDIT_ARCH_X86_64`).
pub(crate) fn audit_arch(arch: Arch) -> u32 {
    match concrete(arch) {
        Arch::ScmpArchX32 => AUDIT_ARCH_X86_64,
        a => a as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_values_match_the_kernel() {
        assert_eq!(audit_arch(Arch::ScmpArchX86_64), AUDIT_ARCH_X86_64);
        assert_eq!(audit_arch(Arch::ScmpArchX32), AUDIT_ARCH_X86_64);
        assert_eq!(audit_arch(Arch::ScmpArchX86), 0x4000_0003);
        assert_eq!(audit_arch(Arch::ScmpArchAarch64), 0xc000_00b7);
        assert_ne!(native(), Arch::ScmpArchNative);
    }
}
