//! The busybox image every engine runs, made offline from Debian's
//! busybox-static: a one-layer rootfs imported into the private dockerd
//! with `CMD ["sh"]`, saved, and that archive loaded into berthd and podman,
//! so that all three run the same image (same id).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// The image's name in every engine.
pub(crate) const IMAGE: &str = "busybox:latest";

const BUSYBOX: &str = "/bin/busybox";

/// Writes the rootfs (busybox and the applets the benchmark runs) under
/// `dir`, and returns the path of its tar beside it.
fn rootfs_tar(dir: &Path) -> Result<PathBuf> {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        fs::create_dir_all(root.join(d))?;
    }
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777))?;
    fs::copy(BUSYBOX, root.join("bin/busybox"))
        .with_context(|| format!("copy {BUSYBOX} (apt-get install busybox-static)"))?;
    for applet in ["sh", "true", "sleep", "ps"] {
        symlink("busybox", root.join("bin").join(applet))?;
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    fs::write(root.join("etc/group"), "root:x:0:\n")?;
    let tar = dir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .stdin(Stdio::null())
        .status()
        .context("spawn tar")?;
    if !st.success() {
        bail!("tar of {} failed ({st})", root.display());
    }
    Ok(tar)
}

/// Builds the image in dockerd (`import`) and returns a `docker save`
/// archive of it for the other engines.
pub(crate) fn make(dir: &Path, docker: impl Fn(&[&str]) -> Result<String>) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let tar = rootfs_tar(dir)?;
    let tar = tar.to_string_lossy();
    docker(&["import", "--change", r#"CMD ["sh"]"#, &tar, IMAGE])?;
    let archive = dir.join("busybox-image.tar");
    docker(&["save", "-o", &archive.to_string_lossy(), IMAGE])?;
    Ok(archive)
}
