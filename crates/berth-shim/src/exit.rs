//! The container's exit, recorded durably before anyone hears of it: written
//! to a temp file, synced, renamed into place, and the directory synced.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use berth_shim_proto::{files, ExitInfo};

use crate::error::{Result, ShimError};

pub fn record(state_dir: &Path, exit: &ExitInfo) -> Result<()> {
    let path = state_dir.join(files::EXIT);
    let tmp = state_dir.join(format!("{}.tmp", files::EXIT));
    let text = serde_json::to_vec(exit).map_err(|e| ShimError::sys("encode exit", e))?;
    let mut f = File::create(&tmp).map_err(|e| ShimError::io("create", &tmp, e))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| ShimError::io("write", &tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| ShimError::io("rename", &path, e))?;
    File::open(state_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ShimError::io("sync", state_dir, e))
}

/// docker's exit code for a container that could not start: 127 when the
/// program is missing, 126 when it cannot be run, else 128.
pub fn start_failure_code(message: &str) -> i32 {
    if message.contains("executable file not found") || message.contains("No such file") {
        127
    } else if message.contains("ermission denied") {
        126
    } else {
        128
    }
}
