//! The receiving end of `--console-socket`: a unix socket on which the runtime sends the
//! container's pty master as SCM_RIGHTS ancillary data.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A listening unix socket in a temp dir, for `create --console-socket PATH`.
#[derive(Debug)]
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
    _dir: TempDir,
}

/// What the runtime sent: the pty master and the message text that came with it (runc sends
/// the pty's name).
#[derive(Debug)]
pub struct ReceivedConsole {
    /// The pty master.
    pub master: OwnedFd,
    /// The data sent with the descriptor.
    pub message: String,
}

impl ConsoleSocket {
    /// Binds and listens on `DIR/console.sock`.
    pub fn new() -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("berth-test-console-")
            .tempdir()?;
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            path,
            _dir: dir,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection (waiting at most `timeout`) and receives one descriptor from it.
    pub fn receive(&self, timeout: Duration) -> io::Result<ReceivedConsole> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "no connection on the console socket",
                        ));
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(e),
            }
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        ))?;
        recv_fd(&stream)
    }
}

/// Receives one message carrying one descriptor over SCM_RIGHTS.
fn recv_fd(stream: &UnixStream) -> io::Result<ReceivedConsole> {
    let mut data = [0u8; 4096];
    // Room for one cmsghdr carrying one int, u64-aligned as cmsg requires.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: msghdr is a plain C struct for which all-zeroes is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of_val(&control);
    // SAFETY: msg points at the valid iovec and control buffers above, which outlive the call.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let len = usize::try_from(n).unwrap_or(0);
    let message = String::from_utf8_lossy(&data[..len]).into_owned();
    // SAFETY: msg was filled in by recvmsg; CMSG_FIRSTHDR only reads its control fields.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: cmsg is non-null and points into `control`, as returned by CMSG_FIRSTHDR/NXTHDR.
        let hdr = unsafe { &*cmsg };
        if hdr.cmsg_level == libc::SOL_SOCKET && hdr.cmsg_type == libc::SCM_RIGHTS {
            // SAFETY: an SCM_RIGHTS header is followed by at least one int (the kernel fills it);
            // read_unaligned copes with the data's alignment.
            let fd =
                unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
            // SAFETY: the kernel installed `fd` in this process for us; nothing else owns it.
            let master = unsafe { OwnedFd::from_raw_fd(fd) };
            return Ok(ReceivedConsole { master, message });
        }
        // SAFETY: both pointers come from the same msghdr as above.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Err(io::Error::other(format!(
        "no descriptor received (message {message:?})"
    )))
}
