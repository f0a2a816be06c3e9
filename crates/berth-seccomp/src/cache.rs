//! A cache of compiled programs, so that a profile is compiled by libseccomp
//! once per host rather than at every container start: dockerd passes its
//! default profile (some 350 syscalls) with every container, and compiling it
//! costs ~15 ms of libseccomp work, more than the rest of a start.
//!
//! Entries are files named by the sha256 of everything the program depends
//! on: the profile's JSON, the libseccomp version, the kernel release (the
//! flags probed at compile time) and this crate's format and version. An
//! entry is written to a temporary file and renamed into place; one that
//! does not decode, or that is not owned by the caller and private to it, is
//! ignored and replaced. The directory must belong to the runtime (e.g.
//! under its `--root`, mode 0700): whoever can write it could weaken the
//! filters.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

use crate::{compile, Program, SeccompError};

/// Bump when the encoding or the compiler's output changes.
const FORMAT: &[u8; 4] = b"BSC1";

/// Compiled programs stored under one directory.
#[derive(Debug, Clone)]
pub struct ProgramCache {
    dir: PathBuf,
}

impl ProgramCache {
    /// A cache in `dir` (created, mode 0700, on the first store).
    pub fn new(dir: impl Into<PathBuf>) -> ProgramCache {
        ProgramCache { dir: dir.into() }
    }

    /// The compiled program for `profile`: from the cache when an entry is
    /// there and sound, else compiled and stored. A cache that cannot be
    /// read or written never fails the call, only slows it.
    pub fn get_or_compile(&self, profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
        let Some(path) = self.entry(profile) else {
            return compile(profile);
        };
        if let Some(p) = read_entry(&path) {
            return Ok(p);
        }
        let program = compile(profile)?;
        let _ = self.store(&path, &program);
        Ok(program)
    }

    /// Where the entry for `profile` lives (`None` if the profile cannot be
    /// serialised, which a parsed profile always can).
    fn entry(&self, profile: &LinuxSeccomp) -> Option<PathBuf> {
        let json = serde_json::to_vec(profile).ok()?;
        let mut h = Sha256::new();
        h.update(FORMAT);
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.update([0]);
        h.update(crate::compile::libseccomp_version().as_bytes());
        h.update([0]);
        h.update(kernel_release().as_bytes());
        h.update([0]);
        h.update(&json);
        let digest = h.finalize();
        let name: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(self.dir.join(name))
    }

    fn store(&self, path: &Path, program: &Program) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let written = f.write_all(&program.encode()).and_then(|()| f.sync_all());
        match written.and_then(|()| std::fs::rename(&tmp, path)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Reads an entry if it is a regular file of ours that nobody else can
/// write, and decodes it.
fn read_entry(path: &Path) -> Option<Program> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    let ours = meta.file_type().is_file()
        && meta.uid() == rustix::process::geteuid().as_raw()
        && meta.mode() & 0o022 == 0;
    if !ours {
        return None;
    }
    Program::decode(&std::fs::read(path).ok()?)
}

fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

impl Program {
    /// The program as bytes: format tag, flags, listener bit, instruction
    /// count, then each instruction as code (u16), jt, jf (u8), k (u32),
    /// little-endian.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(13 + self.instructions.len() * 8);
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.push(u8::from(self.wants_listener));
        let n = u32::try_from(self.instructions.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_le_bytes());
        for i in &self.instructions {
            out.extend_from_slice(&i.code.to_le_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_le_bytes());
        }
        out
    }

    /// The inverse of [`Program::encode`]; `None` for anything malformed.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Program> {
        let rest = bytes.strip_prefix(FORMAT)?;
        let (flags, rest) = rest.split_first_chunk::<4>()?;
        let (listener, rest) = rest.split_first()?;
        let (count, rest) = rest.split_first_chunk::<4>()?;
        let count = usize::try_from(u32::from_le_bytes(*count)).ok()?;
        let max = usize::try_from(libc::BPF_MAXINSNS).unwrap_or(4096);
        if count == 0 || count > max || rest.len() != count * 8 {
            return None;
        }
        let instructions = rest
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_le_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        Some(Program {
            instructions,
            flags: u32::from_le_bytes(*flags),
            wants_listener: match listener {
                0 => false,
                1 => true,
                _ => return None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> LinuxSeccomp {
        serde_json::from_str(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                "syscalls": [{"names": ["mkdir", "rmdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
        )
        .expect("profile")
    }

    fn same(a: &Program, b: &Program) -> bool {
        a.flags == b.flags
            && a.wants_listener == b.wants_listener
            && a.instructions.len() == b.instructions.len()
            && a.instructions
                .iter()
                .zip(&b.instructions)
                .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let p = compile(&profile()).expect("compile");
        let bytes = p.encode();
        let back = Program::decode(&bytes).expect("decode");
        assert!(same(&p, &back));
        assert!(Program::decode(&bytes[..bytes.len() - 1]).is_none());
        assert!(Program::decode(b"BSC1").is_none());
        assert!(Program::decode(b"junk").is_none());
        let mut bad = bytes.clone();
        bad[8] = 7;
        assert!(
            Program::decode(&bad).is_none(),
            "listener byte must be 0 or 1"
        );
    }

    #[test]
    fn second_lookup_reads_the_entry_and_a_damaged_one_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProgramCache::new(dir.path().join("seccomp"));
        let first = cache.get_or_compile(&profile()).expect("compile");
        let entry = cache.entry(&profile()).expect("entry");
        assert!(entry.is_file(), "stored");
        let mode = std::fs::metadata(&entry).expect("meta").mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = cache.get_or_compile(&profile()).expect("cached");
        assert!(same(&first, &again));

        std::fs::write(&entry, b"BSC1 damaged").expect("damage");
        let repaired = cache.get_or_compile(&profile()).expect("recompiled");
        assert!(same(&first, &repaired));
        assert!(
            read_entry(&entry).is_some(),
            "the damaged entry was replaced"
        );

        // Another profile gets another entry.
        let mut other = profile();
        other.set_default_errno_ret(Some(1));
        assert_ne!(cache.entry(&other), Some(entry));
    }

    #[test]
    fn an_entry_others_can_write_is_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = ProgramCache::new(dir.path());
        let p = cache.get_or_compile(&profile()).expect("compile");
        let entry = cache.entry(&profile()).expect("entry");
        std::fs::set_permissions(&entry, std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .expect("chmod");
        assert!(read_entry(&entry).is_none());
        assert!(same(&p, &cache.get_or_compile(&profile()).expect("again")));
    }
}
