//! Terminals: the init allocates a pty inside the container, makes it the
//! controlling terminal and hands the master side to the caller (over
//! `--console-socket` or back to the runtime, which then relays stdio).

use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::termios::Winsize;

/// A pty pair allocated in the container's devpts.
#[derive(Debug)]
pub(crate) struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: String,
}

pub(crate) fn open_pty(size: Option<(u16, u16)>) -> std::io::Result<Pty> {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let slave_path = name.to_string_lossy().into_owned();
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if let Some((height, width)) = size {
        let ws = Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, ws)?;
    }
    Ok(Pty {
        master,
        slave,
        slave_path,
    })
}

/// Makes `slave` the controlling terminal and the stdio of the calling process
/// (which must be a session leader).
pub(crate) fn attach_stdio(slave: BorrowedFd<'_>) -> std::io::Result<()> {
    rustix::process::ioctl_tiocsctty(slave)?;
    rustix::stdio::dup2_stdin(slave)?;
    rustix::stdio::dup2_stdout(slave)?;
    rustix::stdio::dup2_stderr(slave)?;
    Ok(())
}

/// Sends a pty master to a `--console-socket` peer, as runc does (the
/// message payload is the terminal's name).
pub(crate) fn send_console(
    socket: BorrowedFd<'_>,
    master: BorrowedFd<'_>,
    name: &str,
) -> std::io::Result<()> {
    crate::channel::send_bytes(socket, name.as_bytes(), Some(master))
}

/// Puts the runtime's own terminal into raw mode while it relays a container
/// terminal; restores it on drop.
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: rustix::termios::Termios,
}

impl RawMode {
    pub fn enable(fd: BorrowedFd<'_>) -> Option<RawMode> {
        if !rustix::termios::isatty(fd) {
            return None;
        }
        let saved = rustix::termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(fd, rustix::termios::OptionalActions::Now, &raw).ok()?;
        let fd = rustix::io::fcntl_dupfd_cloexec(fd, 3).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(
            &self.fd,
            rustix::termios::OptionalActions::Now,
            &self.saved,
        );
    }
}

/// Copies the window size of `from` (the user's terminal) to `to` (a master).
pub fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(ws) = rustix::termios::tcgetwinsize(from) {
        let _ = rustix::termios::tcsetwinsize(to, ws);
    }
}

/// Writes all of `buf` to a raw descriptor, retrying on EINTR/partial writes.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::INTR) | Err(rustix::io::Errno::AGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

pub(crate) fn stdin_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdin()
}

pub(crate) fn stdout_fd() -> BorrowedFd<'static> {
    rustix::stdio::stdout()
}
