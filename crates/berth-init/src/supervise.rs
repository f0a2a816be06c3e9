//! The init's loop: start the program, forward signals to it, reap every child, exit with the
//! program's status.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use berth_sys::process::{spawn_in_new_group, Spawned};
use berth_sys::signal;
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions};

use crate::args::Options;
use crate::error::InitError;
use crate::status::exit_code;

/// The search path when the environment has no `PATH` (musl's and tini's libc default).
const DEFAULT_PATH: &str = "/usr/local/bin:/bin:/usr/bin";

/// Runs `options.command` to its end and returns the code to exit with.
pub(crate) fn run(options: &Options) -> Result<i32, InitError> {
    // All signals stay blocked in the init for its whole life and are taken one at a time with
    // sigwaitinfo: no handler, no race between a SIGCHLD and the wait for it.
    let saved = signal::block_all().map_err(InitError::sys("block signals"))?;
    if rustix::process::getpid() != Pid::INIT {
        // Not pid 1 (run by hand, or under another init): orphans come to us all the same.
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| InitError::sys("become a child subreaper")(e.into()))?;
    }

    let program = &options.command[0];
    let argv = options
        .command
        .iter()
        .map(|a| c_string(a.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            c_string(kv)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    let candidates = candidates(program, &path)?;
    if candidates.is_empty() {
        return Err(InitError::Exec {
            program: program.clone(),
            source: Errno::NOENT.into(),
        });
    }

    let child = match spawn_in_new_group(&candidates, &argv, &envp, &saved)
        .map_err(InitError::sys("fork"))?
    {
        Spawned::Running(pid) => pid,
        Spawned::ExecFailed { pid, error } => {
            // The child exited 127 on purpose; reap it before reporting.
            let _ = rustix::process::waitpid(Pid::from_raw(pid), WaitOptions::empty());
            return Err(InitError::Exec {
                program: program.clone(),
                source: error,
            });
        }
    };
    let target = if options.group { -child } else { child };

    loop {
        let sig = signal::wait_blocked().map_err(InitError::sys("wait for a signal"))?;
        if sig == libc_sigchld() {
            if let Some(code) = reap(child)? {
                return Ok(code);
            }
        } else {
            // ESRCH: the child is gone and its SIGCHLD is on its way; nothing to forward to.
            match berth_sys::process::kill(target, sig) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(Errno::SRCH.raw_os_error()) => {}
                Err(e) => eprintln!("berth-init: forward signal {sig} to {target}: {e}"),
            }
        }
    }
}

fn libc_sigchld() -> i32 {
    rustix::process::Signal::CHILD.as_raw()
}

/// Reaps every child that has exited; returns the code to exit with once `child` is among them.
fn reap(child: i32) -> Result<Option<i32>, InitError> {
    let mut code = None;
    loop {
        // `wait` is waitpid(-1): any child (rustix's `waitpid(None, ..)` is pid 0, our group).
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some((pid, status))) => {
                if pid.as_raw_nonzero().get() == child {
                    code = Some(exit_code(status));
                }
            }
            Ok(None) | Err(Errno::CHILD) => return Ok(code),
            Err(Errno::INTR) => {}
            Err(e) => return Err(InitError::sys("reap children")(e.into())),
        }
    }
}

fn c_string(s: OsString) -> Result<CString, InitError> {
    CString::new(s.clone().into_vec()).map_err(|_| InitError::Nul(s))
}

/// The paths to try for `program`, as execvp(3) searches: the program itself when it holds a
/// `/`, else each `PATH` entry joined with it (an empty entry is the working directory).
fn candidates(program: &OsStr, path: &OsStr) -> Result<Vec<CString>, InitError> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') {
        return Ok(vec![c_string(program.to_owned())?]);
    }
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(bytes);
            c_string(OsString::from_vec(full))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<CString>) -> Vec<String> {
        v.into_iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn search_path() {
        let got = candidates(OsStr::new("sh"), OsStr::new("/usr/bin::/bin")).unwrap();
        assert_eq!(strs(got), ["/usr/bin/sh", "./sh", "/bin/sh"]);
        let got = candidates(OsStr::new("./x"), OsStr::new("/bin")).unwrap();
        assert_eq!(strs(got), ["./x"]);
        assert!(candidates(OsStr::new(""), OsStr::new("/bin"))
            .unwrap()
            .is_empty());
    }
}
