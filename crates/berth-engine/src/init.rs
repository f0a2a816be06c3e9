//! Finding the init binary that `--init` bind-mounts into containers at `/sbin/docker-init`.
//!
//! It runs inside the container's root filesystem, where the host's libc and dynamic loader
//! are not: only a static binary (no `PT_INTERP` program header) works in every image, so
//! the places searched skip dynamically linked files.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Where an installed berth-init is looked for, in order, before the one beside the daemon.
pub const INIT_DIRS: [&str; 2] = ["/usr/local/libexec", "/usr/libexec"];

/// The init binary's file name.
pub const INIT_NAME: &str = "berth-init";

/// The init binary: `configured` (`--init-path`), else `$BERTH_INIT`, else a static
/// `berth-init` in [`INIT_DIRS`], else a static `berth-init` beside the running executable.
/// `None` when there is none: containers asking for `--init` are then refused.
///
/// A path given explicitly is taken as it is (with a warning when it is missing or not
/// static, as the container's start will show).
pub fn init_path(configured: Option<&Path>) -> Option<PathBuf> {
    let explicit = configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("BERTH_INIT").map(PathBuf::from));
    if let Some(p) = explicit {
        match is_static_elf(&p) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "init binary {} is not a static executable: it will not run in images \
                 without its libc",
                p.display()
            ),
            Err(e) => tracing::warn!("init binary {}: {e}", p.display()),
        }
        return Some(p);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(INIT_NAME)));
    INIT_DIRS
        .iter()
        .map(|d| Path::new(d).join(INIT_NAME))
        .chain(beside)
        .find(|p| match is_static_elf(p) {
            Ok(true) => true,
            Ok(false) => {
                tracing::info!("not using {} for --init: dynamically linked", p.display());
                false
            }
            Err(_) => false,
        })
}

/// Whether `path` is an ELF executable without a `PT_INTERP` program header (it needs no
/// dynamic loader). `Ok(false)` for any other file; `Err` when it cannot be read.
pub fn is_static_elf(path: &Path) -> io::Result<bool> {
    let file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(false);
    }
    let mut ident = [0u8; 64];
    let n = read_at_most(&file, &mut ident, 0)?;
    let Some(header) = ident.get(..n) else {
        return Ok(false);
    };
    Ok(elf_program_headers(&file, header)?.is_some_and(|types| !types.contains(&PT_INTERP)))
}

const PT_INTERP: u32 = 3;

/// The largest program header table read (bytes).
const MAX_PROGRAM_HEADERS: usize = 64 * 1024;

/// The `p_type` of each program header, or `None` when `header` (the file's first bytes)
/// is not an ELF header this reads (32 or 64 bits, either byte order).
fn elf_program_headers(file: &File, header: &[u8]) -> io::Result<Option<Vec<u32>>> {
    if header.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Ok(None);
    }
    let wide = match header.get(4) {
        Some(1) => false,
        Some(2) => true,
        _ => return Ok(None),
    };
    let little = match header.get(5) {
        Some(1) => true,
        Some(2) => false,
        _ => return Ok(None),
    };
    let u16_at = |off: usize| -> Option<u16> {
        let b: [u8; 2] = header.get(off..off + 2)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    };
    let u32_of = |b: [u8; 4]| {
        if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let fields = if wide {
        header
            .get(0x20..0x28)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(|b| {
                if little {
                    u64::from_le_bytes(b)
                } else {
                    u64::from_be_bytes(b)
                }
            })
            .zip(u16_at(0x36))
            .zip(u16_at(0x38))
    } else {
        header
            .get(0x1c..0x20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u64::from(u32_of(b)))
            .zip(u16_at(0x2a))
            .zip(u16_at(0x2c))
    };
    let Some(((phoff, phentsize), phnum)) = fields else {
        return Ok(None);
    };
    let len = usize::from(phentsize) * usize::from(phnum);
    // Real tables are a few hundred bytes; a huge one is not an executable this vouches for.
    if phentsize < 4 || len > MAX_PROGRAM_HEADERS {
        return Ok(None);
    }
    let mut table = vec![0u8; len];
    if read_at_most(file, &mut table, phoff)? < table.len() {
        return Ok(None);
    }
    Ok(Some(
        table
            .chunks_exact(usize::from(phentsize))
            .filter_map(|e| e.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()))
            .map(u32_of)
            .collect(),
    ))
}

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        match file.read_at(rest, offset.saturating_add(done as u64)) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_and_non_elf_files_are_not_static() {
        // The test binary itself is dynamically linked (the gnu target).
        let exe = std::env::current_exe().unwrap();
        assert!(!is_static_elf(&exe).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(!is_static_elf(&script).unwrap());
        std::fs::write(&script, b"\x7fELF\x02\x01").unwrap();
        assert!(!is_static_elf(&script).unwrap());
        assert!(is_static_elf(&dir.path().join("none")).is_err());
    }

    /// A 64-bit little-endian ELF header followed by program headers of `types`.
    fn elf(types: &[u32]) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&u16::try_from(types.len()).unwrap().to_le_bytes());
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            f.extend(ph);
        }
        f
    }

    #[test]
    fn program_headers_decide() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e");
        std::fs::write(&p, elf(&[6, 1, 1])).unwrap();
        assert!(is_static_elf(&p).unwrap());
        std::fs::write(&p, elf(&[6, PT_INTERP, 1])).unwrap();
        assert!(!is_static_elf(&p).unwrap());
        // Truncated program headers: not an executable this vouches for.
        let mut cut = elf(&[1, 1]);
        cut.truncate(100);
        std::fs::write(&p, cut).unwrap();
        assert!(!is_static_elf(&p).unwrap());
    }

    #[test]
    fn configured_path_wins() {
        let p = Path::new("/nonexistent/init");
        assert_eq!(init_path(Some(p)).as_deref(), Some(p));
    }
}
