//! Classic BPF as seccomp uses it: decoding libseccomp's exported program and a tiny
//! assembler with labels for the instructions this crate prepends to it.

use crate::SeccompError;

/// `BPF_LD | BPF_W | BPF_ABS`: load a 32-bit word of `struct seccomp_data`.
const LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JA`: unconditional forward jump by `k`.
const JA: u16 = 0x05;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub(crate) const JEQ: u16 = 0x15;
/// `BPF_JMP | BPF_JGT | BPF_K`.
pub(crate) const JGT: u16 = 0x25;
/// `BPF_JMP | BPF_JSET | BPF_K`.
pub(crate) const JSET: u16 = 0x45;
/// `BPF_RET | BPF_K`.
const RET_K: u16 = 0x06;

/// Offset of `nr` in `struct seccomp_data`.
pub(crate) const OFFSET_NR: u32 = 0;
/// Offset of `arch` in `struct seccomp_data`.
pub(crate) const OFFSET_ARCH: u32 = 4;

/// Size of one `struct sock_filter` as libseccomp exports it (host endianness).
const INSN_SIZE: usize = std::mem::size_of::<libc::sock_filter>();

/// Decodes the raw bytes written by `seccomp_export_bpf` into instructions.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>, SeccompError> {
    if bytes.len() % INSN_SIZE != 0 {
        return Err(SeccompError::MalformedExport { bytes: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// A position in a program under construction, bound later with [`Asm::bind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The next instruction (offset 0).
    Next,
    Label(Label),
}

#[derive(Debug)]
enum Item {
    Load(u32),
    JumpIf {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Jump(Label),
    Ret(u32),
}

/// A forward-only assembler: instructions refer to labels, which are resolved to
/// relative offsets once the whole sequence is known.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    items: Vec<Item>,
    /// Instruction index each label is bound to.
    labels: Vec<Option<usize>>,
}

impl Asm {
    pub(crate) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub(crate) fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.items.len());
    }

    /// `ld [offset]` of `struct seccomp_data`.
    pub(crate) fn load(&mut self, offset: u32) {
        self.items.push(Item::Load(offset));
    }

    pub(crate) fn jump_if(&mut self, code: u16, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::JumpIf { code, k, jt, jf });
    }

    pub(crate) fn jump(&mut self, to: Label) {
        self.items.push(Item::Jump(to));
    }

    pub(crate) fn ret(&mut self, value: u32) {
        self.items.push(Item::Ret(value));
    }

    /// Resolves labels into instructions. Jumps must go forward; conditional jumps must
    /// stay within 255 instructions (the stubs built here are far smaller).
    pub(crate) fn finish(self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let offset = |from: usize, to: Target| -> Result<u32, SeccompError> {
            match to {
                Target::Next => Ok(0),
                Target::Label(l) => {
                    let at = self.labels[l.0].ok_or(SeccompError::Assemble("unbound label"))?;
                    let delta = at
                        .checked_sub(from + 1)
                        .ok_or(SeccompError::Assemble("backward jump"))?;
                    u32::try_from(delta).map_err(|_| SeccompError::Assemble("jump too long"))
                }
            }
        };
        let short = |v: u32| {
            u8::try_from(v).map_err(|_| SeccompError::Assemble("conditional jump too long"))
        };
        self.items
            .iter()
            .enumerate()
            .map(|(pc, item)| {
                Ok(match *item {
                    Item::Load(off) => insn(LD_W_ABS, 0, 0, off),
                    Item::JumpIf { code, k, jt, jf } => {
                        insn(code, short(offset(pc, jt)?)?, short(offset(pc, jf)?)?, k)
                    }
                    Item::Jump(to) => insn(JA, 0, 0, offset(pc, Target::Label(to))?),
                    Item::Ret(v) => insn(RET_K, 0, 0, v),
                })
            })
            .collect()
    }
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_rejects_partial_instructions() {
        assert!(matches!(
            decode(&[0; 12]),
            Err(SeccompError::MalformedExport { bytes: 12 })
        ));
        assert_eq!(decode(&[0; 16]).map(|p| p.len()).ok(), Some(2));
    }

    #[test]
    fn labels_resolve_to_forward_offsets() -> Result<(), SeccompError> {
        let mut asm = Asm::default();
        let end = asm.label();
        asm.load(OFFSET_NR);
        asm.jump_if(JEQ, 7, Target::Label(end), Target::Next);
        asm.jump(end);
        asm.ret(1);
        asm.bind(end);
        asm.ret(2);
        let p = asm.finish()?;
        assert_eq!(p.len(), 5);
        assert_eq!((p[1].code, p[1].jt, p[1].jf, p[1].k), (JEQ, 2, 0, 7));
        assert_eq!((p[2].code, p[2].k), (JA, 1));
        Ok(())
    }
}
