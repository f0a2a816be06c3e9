//! Memory of the calling process.

use std::io;
use std::os::unix::fs::MetadataExt;

/// Drops the resident pages of the calling process's own executable code (the `r-xp`
/// mappings of `/proc/self/exe`); they come back from the page cache on their next use.
/// A long-lived process that ran much code once (the shim starting a container) so keeps
/// resident only the code it still runs. Returns the bytes of code the call covered.
pub fn release_exe_code() -> io::Result<usize> {
    let exe = std::fs::metadata("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut released = 0;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms), Some(_off), Some(_dev), Some(inode)) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        if perms != "r-xp" || inode.parse::<u64>().ok() != Some(exe.ino()) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let len = end.saturating_sub(start);
        // SAFETY: the range is a whole private, read-only, executable mapping of our own
        // binary (no text relocations: the linker refuses them), so none of its pages was
        // ever written: MADV_DONTNEED only drops their page-table entries, and the next
        // access (this code's own return included) reads the same bytes from the file.
        let ret = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        released += len;
    }
    Ok(released)
}

#[cfg(test)]
mod tests {
    #[test]
    fn releases_our_code_and_we_keep_running() {
        let n = super::release_exe_code().unwrap_or(0);
        assert!(n > 0, "no executable mapping of /proc/self/exe found");
        // The code refaults from the file: running it again works.
        assert_eq!(super::release_exe_code().unwrap_or(0), n);
        assert_eq!(format!("{}", 6 * 7), "42");
    }
}
