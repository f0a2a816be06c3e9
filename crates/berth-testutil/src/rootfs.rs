//! A root filesystem made of Debian's busybox-static: one binary and a link per applet.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

/// The statically linked busybox the rootfs is made of (package `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets the tests rely on; building a rootfs fails if busybox lacks one.
const REQUIRED_APPLETS: &[&str] = &[
    "sh", "ls", "cat", "id", "sleep", "ps", "mount", "touch", "mkdir", "grep", "readlink", "tty",
    "df", "ip", "hostname", "stat", "echo", "env", "pwd",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
berth:x:1000:1000:berth:/home/berth:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";

const GROUP: &str = "root:x:0:\ntty:x:5:\nberth:x:1000:\nnogroup:x:65534:\n";

fn busybox_path() -> PathBuf {
    std::env::var_os("BERTH_TEST_BUSYBOX").map_or_else(|| PathBuf::from(BUSYBOX), PathBuf::from)
}

/// The applet names of `busybox --list`, asked once per process.
fn applets() -> io::Result<&'static [String]> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(a) = APPLETS.get() {
        return Ok(a);
    }
    let bb = busybox_path();
    let out = Command::new(&bb).arg("--list").output().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("run {} --list (install busybox-static): {e}", bb.display()),
        )
    })?;
    if !out.status.success() {
        return Err(io::Error::other(format!("{} --list failed", bb.display())));
    }
    let list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "busybox" && !l.contains('/'))
        .map(str::to_string)
        .collect();
    for required in REQUIRED_APPLETS {
        if !list.iter().any(|a| a == required) {
            return Err(io::Error::other(format!(
                "{} has no `{required}` applet",
                bb.display()
            )));
        }
    }
    Ok(APPLETS.get_or_init(|| list))
}

/// Builds a busybox rootfs in `dir` (created if missing): `bin/busybox` (a copy, so a container
/// writing to it cannot reach the host's), a relative symlink in `bin/` for every applet,
/// `etc/passwd` and `etc/group` with root (0), berth (1000) and nobody (65534), and empty `proc`,
/// `sys`, `dev`, `tmp` (mode 1777), `root`, `home/berth`, `run`, `var/tmp`, `mnt`.
pub fn busybox_rootfs(dir: &Path) -> io::Result<()> {
    let applets = applets()?;
    for d in [
        "bin",
        "proc",
        "sys",
        "dev",
        "etc",
        "tmp",
        "root",
        "home/berth",
        "run",
        "var/tmp",
        "mnt",
    ] {
        fs::create_dir_all(dir.join(d))?;
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
    fs::copy(busybox_path(), dir.join("bin/busybox"))?;
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755))?;
    for applet in applets {
        symlink("busybox", dir.join("bin").join(applet))?;
    }
    // Many programs expect these; runc does not need them.
    symlink("bin", dir.join("sbin"))?;
    fs::create_dir_all(dir.join("usr"))?;
    symlink("../bin", dir.join("usr/bin"))?;
    symlink("../bin", dir.join("usr/sbin"))?;
    fs::write(dir.join("etc/passwd"), PASSWD)?;
    fs::write(dir.join("etc/group"), GROUP)?;
    fs::write(dir.join("etc/hostname"), "busybox\n")?;
    Ok(())
}

/// The process-wide shared rootfs; removed at process exit by [`remove_shared_rootfs`].
static SHARED: Mutex<Option<TempDir>> = Mutex::new(None);

extern "C" fn remove_shared_rootfs() {
    if let Ok(mut guard) = SHARED.lock() {
        // Dropping the TempDir removes the tree.
        guard.take();
    }
}

/// A busybox rootfs built once per test process, for bundles that only read it (the base
/// config's root is read-only). Removed when the process exits normally (an `atexit` handler; the
/// test harness exits through `exit` even when tests fail).
pub fn shared_busybox_rootfs() -> io::Result<PathBuf> {
    let mut guard = SHARED
        .lock()
        .map_err(|_| io::Error::other("shared rootfs lock poisoned"))?;
    if let Some(dir) = guard.as_ref() {
        return Ok(dir.path().join("rootfs"));
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-test-rootfs-")
        .tempdir()?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
    busybox_rootfs(&dir.path().join("rootfs"))?;
    let path = dir.path().join("rootfs");
    *guard = Some(dir);
    static REGISTERED: OnceLock<()> = OnceLock::new();
    REGISTERED.get_or_init(|| {
        // SAFETY: `remove_shared_rootfs` is a plain `extern "C" fn()` with no arguments that never
        // unwinds (it only takes a lock without panicking and drops a TempDir, whose Drop ignores
        // errors); registering it once is what atexit(3) expects.
        unsafe {
            libc::atexit(remove_shared_rootfs);
        }
    });
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootfs_has_applets_and_users() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        busybox_rootfs(dir.path())?;
        for applet in REQUIRED_APPLETS {
            let link = dir.path().join("bin").join(applet);
            assert_eq!(
                fs::read_link(&link)?,
                PathBuf::from("busybox"),
                "{}",
                link.display()
            );
        }
        let passwd = fs::read_to_string(dir.path().join("etc/passwd"))?;
        assert!(passwd.contains("nobody:x:65534:65534"));
        assert!(passwd.contains("berth:x:1000:1000"));
        for d in ["proc", "sys", "dev", "tmp"] {
            assert!(dir.path().join(d).is_dir(), "{d}");
        }
        Ok(())
    }

    #[test]
    fn shared_rootfs_is_built_once() -> io::Result<()> {
        let a = shared_busybox_rootfs()?;
        let b = shared_busybox_rootfs()?;
        assert_eq!(a, b);
        assert!(a.join("bin/sh").exists());
        Ok(())
    }
}
