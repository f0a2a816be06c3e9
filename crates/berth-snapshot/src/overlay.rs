//! The overlay driver's part: checking that overlayfs works on the store's
//! filesystem, and computing the mounts of a snapshot.
//!
//! Lower directories are named by their short links (`<home>/l/<link>`),
//! which keeps the option string of a deep image short; an image deeper than
//! one page of options is mounted through `lowerdir+` by [`crate::mount_all`].

use std::fs;
use std::path::Path;

use crate::error::SnapshotError;
use crate::mount::Mount;
use crate::snapshotter::{random_name, remove_tree, Info, Kind, Snapshotter};

/// Length of the short link names under `l/`.
pub(crate) const LINK_LEN: usize = 12;

/// Whether an overlay can be mounted with its layers in `scratch` (a
/// directory on the store's filesystem): tried for real, since a listing in
/// /proc/filesystems says nothing of the backing filesystem (overlay over
/// overlay, no `trusted.*` xattrs, no d_type).
pub(crate) fn supported(scratch: &Path) -> bool {
    let dir = scratch.join(format!("check-{}", random_name(12)));
    let ok = try_mount(&dir).is_ok();
    let _ = remove_tree(&dir);
    ok
}

fn try_mount(dir: &Path) -> Result<(), SnapshotError> {
    for sub in ["l1", "l2", "upper", "work", "merged"] {
        let p = dir.join(sub);
        fs::create_dir_all(&p).map_err(|e| SnapshotError::io("create", &p, e))?;
    }
    let m = Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        target: "".into(),
        options: vec![
            format!(
                "lowerdir={}:{}",
                dir.join("l2").display(),
                dir.join("l1").display()
            ),
            format!("upperdir={}", dir.join("upper").display()),
            format!("workdir={}", dir.join("work").display()),
        ],
    };
    let merged = dir.join("merged");
    crate::mount::mount_all(&[m], &merged)?;
    crate::mount::unmount(&merged)
}

/// The options every overlay mount of the store gets: `index=off` where
/// the kernel has the option (as containerd does, so layers can be moved),
/// `redirect_dir=off` and `metacopy=off` where the kernel turns them on by
/// default (a renamed directory or a chmod must copy up whole, or the upper
/// directory is no diff that can be exported).
pub(crate) fn default_options() -> Vec<String> {
    let param = |name: &str| fs::read_to_string(format!("/sys/module/overlay/parameters/{name}"));
    let mut out = Vec::new();
    if param("index").is_ok() {
        out.push("index=off".to_string());
    }
    for name in ["redirect_dir", "metacopy"] {
        if param(name).is_ok_and(|v| v.trim() == "Y" || v.trim() == "on") {
            out.push(format!("{name}=off"));
        }
    }
    out
}

pub(crate) fn mounts(
    s: &Snapshotter,
    info: &Info,
    defaults: &[String],
) -> Result<Vec<Mount>, SnapshotError> {
    let own = s.diff_of(&info.name)?;
    let bind = |source: std::path::PathBuf, ro: bool| Mount {
        kind: "bind".into(),
        source,
        target: "".into(),
        options: vec!["rbind".into(), if ro { "ro" } else { "rw" }.into()],
    };
    let Some(parent) = &info.parent else {
        return Ok(vec![bind(own, info.kind == Kind::View)]);
    };
    let chain = s.chain(parent)?;
    if info.kind == Kind::View && chain.len() == 1 {
        return Ok(vec![bind(s.diff_of(parent)?, true)]);
    }
    let mut lowers = Vec::with_capacity(chain.len());
    for layer in &chain {
        let link = layer
            .link
            .as_deref()
            .ok_or_else(|| SnapshotError::Corrupt {
                path: s.diff_of(&layer.name).unwrap_or_default(),
                reason: "overlay layer without a short link".into(),
            })?;
        lowers.push(s.link_path(link).display().to_string());
    }
    let mut options = defaults.to_vec();
    options.push(format!("lowerdir={}", lowers.join(":")));
    if info.kind == Kind::View {
        options.push("ro".into());
    } else {
        let work = own.with_file_name("work");
        options.push(format!("upperdir={}", own.display()));
        options.push(format!("workdir={}", work.display()));
    }
    Ok(vec![Mount {
        kind: "overlay".into(),
        source: "overlay".into(),
        target: "".into(),
        options,
    }])
}
