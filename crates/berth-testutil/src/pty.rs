//! Pseudo-terminals: run a command as the session leader of a fresh pty, talk to it through
//! the master side, and read what it prints.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Both ends of a new pseudo-terminal.
#[derive(Debug)]
pub struct Pty {
    /// The controlling side, kept by the test.
    pub master: OwnedFd,
    /// The terminal side, given to the command.
    pub slave: OwnedFd,
}

/// Opens a pty pair (80x24) with `openpty(3)`.
pub fn open() -> io::Result<Pty> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 80,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds into the two valid c_int out-pointers; name and termios may be
    // null, and the winsize pointer is valid for the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success both fds are new, open and owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    Ok(Pty { master, slave })
}

/// Waits until `fd` is readable or `timeout` passes; returns whether it is readable (or hung up).
pub fn poll_readable(fd: &impl AsFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        -1 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Reads from a pty master: `Ok(0)` at end of file, which a master reports as EIO once every
/// slave descriptor is closed.
fn read_master(master: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    match master.read(buf) {
        Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(0),
        other => other,
    }
}

/// Reads what `master` prints until `needle` appears in it, end of file, or `timeout`.
/// Returns everything read.
pub fn read_until(master: &mut File, needle: &str, timeout: Duration) -> io::Result<String> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_readable(master, left)? {
            break;
        }
        let n = read_master(master, &mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// A command running as the session leader of a fresh pty whose slave is its controlling
/// terminal and its stdin, stdout and stderr. Dropping it kills the command's process group.
#[derive(Debug)]
pub struct PtyChild {
    master: File,
    child: Child,
    output: Vec<u8>,
    eof: bool,
}

impl PtyChild {
    /// Spawns `cmd` on a new pty.
    pub fn spawn(mut cmd: Command) -> io::Result<Self> {
        let pty = open()?;
        cmd.stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave.try_clone()?));
        // SAFETY: the closure runs in the child between fork and exec and only makes the
        // async-signal-safe calls setsid(2) and ioctl(2) on fd 0 (the slave, set up above).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        // Our copy of the slave must go, or the master never sees end of file.
        drop(pty.slave);
        Ok(Self {
            master: File::from(pty.master),
            child,
            output: Vec::new(),
            eof: false,
        })
    }

    /// Writes `data` to the terminal, as if typed.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.master.write_all(data)?;
        self.master.flush()
    }

    /// Sets the terminal's size, as a terminal emulator does when its window is resized (the
    /// kernel then sends SIGWINCH to the terminal's foreground process group).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the valid pointer; the fd is our open
        // master.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Everything the command printed so far (including the terminal's echo of the input).
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Reads once (waiting at most `timeout`); returns whether anything arrived.
    fn pump(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.eof || !poll_readable(&self.master, timeout)? {
            return Ok(false);
        }
        let mut buf = [0u8; 4096];
        let n = read_master(&mut self.master, &mut buf)?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.output.extend_from_slice(&buf[..n]);
        Ok(true)
    }

    /// Reads until the output printed from now on contains `needle`; fails on timeout or end
    /// of file with what was read.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> io::Result<String> {
        let start = self.output.len();
        let deadline = Instant::now() + timeout;
        loop {
            let seen = String::from_utf8_lossy(&self.output[start..]).into_owned();
            if seen.contains(needle) {
                return Ok(seen);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{needle:?} not seen; output so far: {:?}", self.output()),
                ));
            }
            self.pump(left.min(Duration::from_millis(100)))?;
        }
    }

    /// Waits for the command to exit while reading its output; kills it after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                // Collect what is still buffered.
                while self.pump(Duration::from_millis(50))? {}
                return Ok(status);
            }
            if Instant::now() >= deadline {
                crate::command::kill_group(self.child.id());
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "command on pty did not exit; output so far: {:?}",
                        self.output()
                    ),
                ));
            }
            if !self.pump(Duration::from_millis(20))? {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            crate::command::kill_group(self.child.id());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
