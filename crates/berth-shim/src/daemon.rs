//! Detaching: the launching process forks the shim, which starts its own
//! session, and waits on a pipe until the shim serves (or fails), then exits.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_shim_proto::{files, ShimConfig};

use crate::args::Args;
use crate::error::{Result, ShimError};

pub fn run(args: &Args) -> Result<()> {
    let cfg = load_config(&args.state_dir)?;
    if args.foreground {
        return crate::server::serve(&args.state_dir, cfg, None);
    }
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| ShimError::sys("pipe", e))?;
    // SAFETY: the shim is single-threaded (it starts no thread, and harden()
    // re-exec'd it), so the child's copy of the process is consistent.
    match unsafe { berth_sys::process::clone_process(0) }
        .map_err(|e| ShimError::sys("fork the shim", e))?
    {
        berth_sys::process::CloneResult::Child => {
            drop(rd);
            let code = match child(&args.state_dir, cfg, wr) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("berth-shim: {e}");
                    1
                }
            };
            std::process::exit(code)
        }
        berth_sys::process::CloneResult::Parent(_) => {
            drop(wr);
            let mut report = String::new();
            File::from(rd)
                .read_to_string(&mut report)
                .map_err(|e| ShimError::sys("read the shim's report", e))?;
            match report.strip_prefix("ok ") {
                Some(json) => {
                    println!("{}", json.trim_end());
                    Ok(())
                }
                None if report.is_empty() => Err(ShimError::Invalid(
                    "the shim exited before it served (see shim.log in the state directory)".into(),
                )),
                None => Err(ShimError::Invalid(report.trim_end().to_string())),
            }
        }
    }
}

fn child(state_dir: &Path, cfg: ShimConfig, ready: OwnedFd) -> Result<()> {
    rustix::process::setsid().map_err(|e| ShimError::sys("setsid", e))?;
    // stdin and stdout to /dev/null, stderr to STATE_DIR/shim.log (the shim's own
    // messages); the daemon's pipes must not stay open in a long-lived process.
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| ShimError::io("open", "/dev/null", e))?;
    let log_path = state_dir.join("shim.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| ShimError::io("open", &log_path, e))?;
    rustix::stdio::dup2_stdin(null.as_fd()).map_err(|e| ShimError::sys("dup2", e))?;
    rustix::stdio::dup2_stdout(null.as_fd()).map_err(|e| ShimError::sys("dup2", e))?;
    rustix::stdio::dup2_stderr(log.as_fd()).map_err(|e| ShimError::sys("dup2", e))?;
    crate::server::serve(state_dir, cfg, Some(ready))
}

/// Closes every descriptor above stderr.
pub fn close_inherited() {
    // SAFETY: called first thing in main (after the sealing re-exec, which keeps
    // nothing open): no object of this process owns a descriptor above 2 yet.
    let _ = unsafe { berth_sys::fd::close_from(3) };
}

fn load_config(state_dir: &Path) -> Result<ShimConfig> {
    let path = state_dir.join(files::CONFIG);
    let text = std::fs::read(&path).map_err(|e| ShimError::io("read", &path, e))?;
    serde_json::from_slice(&text).map_err(|source| ShimError::Config { path, source })
}

/// Tells the launching process how the start went ("ok {json}" or the error).
pub fn report(ready: Option<OwnedFd>, result: &std::result::Result<i32, String>) {
    let Some(fd) = ready else { return };
    let text = match result {
        Ok(pid) => format!("ok {{\"pid\":{pid}}}\n"),
        Err(e) => format!("{e}\n"),
    };
    let _ = File::from(fd).write_all(text.as_bytes());
}
