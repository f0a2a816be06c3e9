//! The runtime in the foreground (`run` and `exec` without `--detach`): it
//! forwards the signals it receives to the container process, relays the
//! container's terminal to its own, and returns the process's exit code.

use std::os::fd::{AsFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags};

use crate::error::{ContainerError, Result};
use crate::terminal::{self, RawMode};

pub(crate) fn wait_foreground(pid: i32, console: Option<OwnedFd>) -> Result<i32> {
    let sfd = berth_sys::signal::signalfd_all().map_err(|e| ContainerError::sys("signalfd", e))?;
    let stdin = terminal::stdin_fd();
    let stdout = terminal::stdout_fd();
    let _raw = console.as_ref().and_then(|_| RawMode::enable(stdin));
    if let Some(m) = &console {
        terminal::copy_winsize(stdin, m.as_fd());
    }
    let mut stdin_open = console.is_some();
    let mut master_open = console.is_some();
    let mut exit: Option<i32> = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        if exit.is_some() && !master_open {
            break;
        }
        let mut fds = vec![PollFd::new(&sfd, PollFlags::IN)];
        let mut stdin_idx = None;
        let mut master_idx = None;
        if let Some(m) = &console {
            if master_open {
                master_idx = Some(fds.len());
                fds.push(PollFd::new(m, PollFlags::IN));
            }
            if stdin_open && exit.is_none() {
                stdin_idx = Some(fds.len());
                fds.push(PollFd::new(&stdin, PollFlags::IN));
            }
        }
        // After the process exited, drain what is left on the terminal without blocking.
        let timeout = exit.map(|_| rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        });
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => {
                master_open = false;
                continue;
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(ContainerError::sys("poll", e.into())),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        if !revents[0].is_empty() {
            let sig = berth_sys::signal::read_signalfd(sfd.as_fd())
                .map_err(|e| ContainerError::sys("read signalfd", e))?;
            match sig {
                libc::SIGCHLD => reap_children(pid, &mut exit),
                libc::SIGWINCH => {
                    if let Some(m) = &console {
                        terminal::copy_winsize(stdin, m.as_fd());
                    }
                }
                libc::SIGURG => {}
                sig => {
                    let _ = berth_sys::process::kill(pid, sig);
                }
            }
        }
        if let (Some(i), Some(m)) = (master_idx, &console) {
            if !revents[i].is_empty() {
                match rustix::io::read(m, &mut buf) {
                    Ok(0) | Err(rustix::io::Errno::IO) => master_open = false,
                    Ok(n) => {
                        let _ = terminal::write_all(stdout, &buf[..n]);
                    }
                    Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => master_open = false,
                }
            }
        }
        if let (Some(i), Some(m)) = (stdin_idx, &console) {
            if !revents[i].is_empty() {
                match rustix::io::read(stdin, &mut buf) {
                    Ok(0) => stdin_open = false,
                    Ok(n) => {
                        let _ = terminal::write_all(m.as_fd(), &buf[..n]);
                    }
                    Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => {}
                    Err(_) => stdin_open = false,
                }
            }
        }
    }
    Ok(exit.unwrap_or(255))
}

fn reap_children(pid: i32, exit: &mut Option<i32>) {
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
            Ok(Some((p, status))) => {
                if p.as_raw_nonzero().get() == pid {
                    *exit = Some(crate::spawn::exit_code(status));
                }
            }
            Ok(None) => return,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => return,
        }
    }
}
