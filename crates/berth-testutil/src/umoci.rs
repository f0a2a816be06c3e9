//! OCI image layouts built as a user builds them, with Debian's umoci: a layout, layers made by
//! unpacking the image, editing its rootfs and repacking, and `umoci config` edits.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use crate::command::{run_command, DEFAULT_TIMEOUT};

/// The image `latest` of an OCI layout, edited with umoci.
#[derive(Debug, Clone)]
pub struct Umoci {
    /// `<layout>:latest`, as umoci names it.
    image: String,
}

fn umoci(args: &[&str], extra: Option<&Path>) -> io::Result<()> {
    let mut cmd = Command::new("umoci");
    cmd.args(args);
    if let Some(p) = extra {
        cmd.arg(p);
    }
    let out = run_command(&mut cmd, None, DEFAULT_TIMEOUT)?;
    if !out.success() {
        return Err(io::Error::other(format!(
            "umoci {}:\n{out}",
            args.join(" ")
        )));
    }
    Ok(())
}

impl Umoci {
    /// A new layout at `layout` holding one empty image, `latest`.
    pub fn init(layout: &Path) -> io::Result<Umoci> {
        umoci(&["init", "--layout"], Some(layout))?;
        let u = Umoci::open(layout);
        umoci(&["new", "--image", &u.image], None)?;
        Ok(u)
    }

    /// The image `latest` of the existing layout at `layout` (a copy of another one, say).
    pub fn open(layout: &Path) -> Umoci {
        Umoci {
            image: format!("{}:latest", layout.display()),
        }
    }

    /// `<layout>:latest`.
    pub fn image(&self) -> &str {
        &self.image
    }

    /// Adds a layer: unpacks the image into `bundle` (a new directory), lets `edit` change its
    /// rootfs, and repacks, with `created_by` in the layer's history entry when given.
    pub fn layer(
        &self,
        bundle: &Path,
        created_by: Option<&str>,
        edit: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<()> {
        umoci(
            &["unpack", "--rootless", "--image", &self.image],
            Some(bundle),
        )?;
        edit(&bundle.join("rootfs"))?;
        let mut args = vec!["repack"];
        if let Some(c) = created_by {
            args.extend(["--history.created_by", c]);
        }
        args.extend(["--image", &self.image]);
        umoci(&args, Some(bundle))
    }

    /// `umoci config --image <image> ARGS...` (`--config.cmd sh`, `--architecture arm64`...).
    pub fn config(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["config", "--image", &self.image];
        all.extend_from_slice(args);
        umoci(&all, None)
    }
}

/// Puts Debian's busybox-static into `rootfs` as `/bin/busybox` with `/bin/sh` linked to it.
pub fn add_busybox(rootfs: &Path) -> io::Result<()> {
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin)?;
    fs::copy(crate::BUSYBOX, bin.join("busybox"))
        .map_err(|e| io::Error::new(e.kind(), format!("copy {}: {e}", crate::BUSYBOX)))?;
    std::os::unix::fs::symlink("busybox", bin.join("sh"))
}
