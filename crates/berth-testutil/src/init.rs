//! The static berth-init that `--init` bind-mounts into containers, for the tests that run it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::{require, run_command};

/// The musl target the static init is built for.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// The static berth-init: `$BERTH_INIT`, else built now (`cargo build --profile release-init
/// -p berth-init --target x86_64-unknown-linux-musl`, a no-op when fresh). `None` (after a
/// skip, or a failure under CI) when it cannot be had. A busybox image has no libc: only the
/// static build runs in it.
pub fn static_berth_init() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_INIT") {
        let p = PathBuf::from(p);
        return require(p.is_file(), &format!("BERTH_INIT={}", p.display())).then_some(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).args([
        "build",
        "--profile",
        "release-init",
        "-p",
        "berth-init",
        "--target",
        MUSL,
    ]);
    let built = run_command(&mut cmd, None, Duration::from_secs(900));
    let ok = matches!(&built, Ok(out) if out.success());
    if !require(
        ok,
        &format!("the static berth-init (rustup target add {MUSL}; make init-static): {built:?}"),
    ) {
        return None;
    }
    let p = target.join(MUSL).join("release-init").join("berth-init");
    require(p.is_file(), &format!("{} after the build", p.display())).then_some(p)
}
