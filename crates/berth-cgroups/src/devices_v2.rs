//! Device access on cgroup v2: v2 has no devices.allow/deny files; instead a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the cgroup decides each
//! open/mknod. As runc does, the OCI rules are first run through an emulator
//! of the v1 kernel semantics (so a rule list means the same on both), then
//! compiled into a straight-line program: one block per exception, then the
//! default. A new program replaces the ones attached before (an update).

use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use oci_spec::runtime::LinuxDeviceCgroup;

use crate::error::CgroupError;

const FIELD: &str = "linux.resources.devices";

/// Device type as the BPF context encodes it.
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
/// Access bits as the BPF context encodes them.
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// A device exception: `major`/`minor` None is the `*` wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exception {
    pub typ: u32,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

/// The effect of a rule list, as the v1 devices controller would hold it: a
/// default (allow or deny everything) and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevicePolicy {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

fn access_bits(field_value: &str) -> Result<u32, CgroupError> {
    let mut bits = 0;
    for c in field_value.chars() {
        bits |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(CgroupError::InvalidValue {
                    field: FIELD,
                    value: field_value.to_string(),
                    reason: "access may only hold r, w and m".into(),
                })
            }
        };
    }
    Ok(bits)
}

fn dev_number(n: Option<i64>) -> Result<Option<u32>, CgroupError> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        // Compared as a sign-extended 32-bit immediate in the program.
        Some(n) => match i32::try_from(n) {
            Ok(v) => Ok(Some(v.unsigned_abs())),
            Err(_) => Err(CgroupError::InvalidValue {
                field: FIELD,
                value: n.to_string(),
                reason: "device numbers must fit in 31 bits".into(),
            }),
        },
    }
}

impl DevicePolicy {
    /// Applies the rules in order with the v1 kernel's semantics
    /// (devcgroup_update_access): a rule for all devices resets the default
    /// and drops every exception; a rule that agrees with the default removes
    /// the access bits it names from the exactly matching exceptions; one
    /// that disagrees adds an exception (merged with an identical one).
    pub(crate) fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<DevicePolicy, CgroupError> {
        let mut p = DevicePolicy {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for r in rules {
            let typ = match r.typ().as_ref().map(|t| t.as_str()) {
                None | Some("a") => {
                    p.default_allow = r.allow();
                    p.exceptions.clear();
                    continue;
                }
                Some("b") => DEV_BLOCK,
                Some("c" | "u") => DEV_CHAR,
                Some(other) => {
                    return Err(CgroupError::InvalidValue {
                        field: FIELD,
                        value: other.to_string(),
                        reason: "device rules are for types a, b and c".into(),
                    })
                }
            };
            let ex = Exception {
                typ,
                major: dev_number(r.major())?,
                minor: dev_number(r.minor())?,
                access: access_bits(r.access().as_deref().unwrap_or(""))?,
            };
            let same =
                |e: &Exception| e.typ == ex.typ && e.major == ex.major && e.minor == ex.minor;
            if r.allow() == p.default_allow {
                for e in p.exceptions.iter_mut().filter(|e| same(e)) {
                    e.access &= !ex.access;
                }
                p.exceptions.retain(|e| e.access != 0);
            } else if let Some(e) = p.exceptions.iter_mut().find(|e| same(e)) {
                e.access |= ex.access;
            } else if ex.access != 0 {
                p.exceptions.push(ex);
            }
        }
        Ok(p)
    }

    /// Whether a request would be allowed: the check the program performs,
    /// in plain code (for tests).
    #[cfg(test)]
    pub(crate) fn allows(&self, typ: u32, major: u32, minor: u32, access: u32) -> bool {
        let matching = |e: &&Exception| {
            e.typ == typ && e.major.is_none_or(|m| m == major) && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(matching)
                .any(|e| e.access & access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(matching)
                .any(|e| access & !e.access == 0)
        }
    }

    /// The program: load the request into r2 (type), r3 (access), r4
    /// (major), r5 (minor); one block per exception that jumps to the next
    /// block on a mismatch; then the default.
    pub(crate) fn program(&self) -> Vec<Insn> {
        let mut p = vec![
            Insn::ldx_w(2, 1, 0),
            Insn::alu_k(op::AND, 2, 0xffff),
            Insn::ldx_w(3, 1, 0),
            Insn::alu_k(op::RSH, 3, 16),
            Insn::ldx_w(4, 1, 4),
            Insn::ldx_w(5, 1, 8),
        ];
        for e in &self.exceptions {
            // Jumps carry the number of instructions left in the block.
            let mut block: Vec<(Insn, bool)> = Vec::new();
            block.push((Insn::jmp_k(op::JNE, 2, imm(e.typ)), true));
            if let Some(m) = e.major {
                block.push((Insn::jmp_k(op::JNE, 4, imm(m)), true));
            }
            if let Some(m) = e.minor {
                block.push((Insn::jmp_k(op::JNE, 5, imm(m)), true));
            }
            block.push((Insn::mov_x(1, 3), false));
            if self.default_allow {
                // Deny when any requested bit is one this exception denies.
                block.push((Insn::alu_k(op::AND, 1, imm(e.access)), false));
                block.push((Insn::jmp_k(op::JEQ, 1, 0), true));
                block.push((Insn::mov_k(0, 0), false));
            } else {
                // Allow when every requested bit is one this exception allows.
                block.push((Insn::alu_k(op::AND, 1, imm(!e.access & ACC_ALL)), false));
                block.push((Insn::jmp_k(op::JNE, 1, 0), true));
                block.push((Insn::mov_k(0, 1), false));
            }
            block.push((Insn::exit(), false));
            let len = block.len();
            for (i, (mut insn, is_jump)) in block.into_iter().enumerate() {
                if is_jump {
                    insn.off = i16::try_from(len - i - 1).unwrap_or(i16::MAX);
                }
                p.push(insn);
            }
        }
        p.push(Insn::mov_k(0, i32::from(self.default_allow)));
        p.push(Insn::exit());
        p
    }
}

/// Small values only (types, access bits, device numbers checked above).
fn imm(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

mod op {
    pub const AND: u8 = 0x50;
    pub const RSH: u8 = 0x70;
    pub const JEQ: u8 = 0x10;
    pub const JNE: u8 = 0x50;
}

impl Insn {
    /// The instruction's 8 bytes (`struct bpf_insn`) in native byte order.
    fn encode(&self) -> u64 {
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        u64::from_ne_bytes([
            self.code, self.regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ])
    }

    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: dst | (src << 4),
            off,
            imm,
        }
    }
    /// dst = *(u32 *)(src + off)
    fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(0x61, dst, src, off, 0)
    }
    /// dst op= imm (64-bit ALU)
    fn alu_k(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(0x07 | op, dst, 0, 0, imm)
    }
    fn mov_k(dst: u8, imm: i32) -> Insn {
        Insn::new(0xb7, dst, 0, 0, imm)
    }
    fn mov_x(dst: u8, src: u8) -> Insn {
        Insn::new(0xbf, dst, src, 0, 0)
    }
    /// if dst op imm goto +off (offset patched by the caller)
    fn jmp_k(op: u8, dst: u8, imm: i32) -> Insn {
        Insn::new(0x05 | op, dst, 0, 0, imm)
    }
    fn exit() -> Insn {
        Insn::new(0x95, 0, 0, 0, 0)
    }
}

/// Compiles `rules` and makes the program the cgroup's only device program.
pub(crate) fn set_devices_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let policy = DevicePolicy::from_rules(rules)?;
    let program = policy.program();
    let fail = |op: &'static str, e: io::Error| CgroupError::Io {
        op,
        path: dir.to_path_buf(),
        error: e,
    };
    let insns: Vec<u64> = program.iter().map(Insn::encode).collect();
    let prog = berth_sys::bpf::load_cgroup_device_program(&insns, "berth_device")
        .map_err(|e| fail("load the device eBPF program for", e))?;
    let cgroup = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail("open", e.into()))?;
    let old = berth_sys::bpf::query_cgroup_device(cgroup.as_fd()).unwrap_or_default();
    berth_sys::bpf::attach_cgroup_device(cgroup.as_fd(), prog.as_fd())
        .map_err(|e| fail("attach the device eBPF program to", e))?;
    // Programs attached together must all allow: drop the previous ones.
    for id in old {
        match berth_sys::bpf::detach_cgroup_device(cgroup.as_fd(), id) {
            Ok(()) => {}
            // Gone in the meantime: nothing to detach.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(fail("detach the previous device eBPF program from", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).expect("rules")
    }

    const DOCKER_LIKE: &str = r#"[
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rw"},
        {"allow": true, "type": "b", "access": "m"},
        {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}
    ]"#;

    #[test]
    fn emulates_v1_semantics() {
        let p = DevicePolicy::from_rules(&rules(DOCKER_LIKE)).expect("policy");
        assert!(!p.default_allow);
        assert!(p.allows(DEV_CHAR, 1, 3, ACC_READ));
        assert!(
            !p.allows(DEV_CHAR, 1, 3, ACC_WRITE),
            "write removed by the last rule"
        );
        assert!(p.allows(DEV_CHAR, 136, 7, ACC_READ | ACC_WRITE));
        assert!(!p.allows(DEV_CHAR, 136, 7, ACC_MKNOD));
        assert!(p.allows(DEV_BLOCK, 8, 0, ACC_MKNOD));
        assert!(!p.allows(DEV_BLOCK, 8, 0, ACC_READ));
        assert!(!p.allows(DEV_CHAR, 1, 5, ACC_READ));

        let deny_one = DevicePolicy::from_rules(&rules(
            r#"[{"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rw"}]"#,
        ))
        .expect("policy");
        assert!(deny_one.default_allow);
        assert!(!deny_one.allows(DEV_CHAR, 10, 200, ACC_READ));
        assert!(deny_one.allows(DEV_CHAR, 10, 200, ACC_MKNOD));
        assert!(deny_one.allows(DEV_CHAR, 1, 3, ACC_READ | ACC_WRITE));

        let reset = DevicePolicy::from_rules(&rules(
            r#"[{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"}, {"allow": true}]"#,
        ))
        .expect("policy");
        assert_eq!(
            reset,
            DevicePolicy {
                default_allow: true,
                exceptions: vec![]
            }
        );
        assert!(DevicePolicy::from_rules(&rules(
            r#"[{"allow": true, "type": "c", "major": 1, "access": "rwx"}]"#
        ))
        .is_err());
    }

    #[test]
    fn program_jumps_stay_inside_their_block() {
        let p = DevicePolicy::from_rules(&rules(DOCKER_LIKE)).expect("policy");
        let prog = p.program();
        for (i, insn) in prog.iter().enumerate() {
            if insn.code & 0x07 == 0x05 && insn.code != 0x95 {
                let target = i + 1 + usize::try_from(insn.off).expect("forward jump");
                assert!(target < prog.len(), "jump at {i} leaves the program");
            }
        }
        assert_eq!(prog.last().map(|i| i.code), Some(0x95));
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }
}
