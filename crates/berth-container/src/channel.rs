//! The sync channel between the runtime and the container's init: a
//! `SOCK_SEQPACKET` socket pair carrying small JSON messages, plus file
//! descriptors (the terminal's master side) as `SCM_RIGHTS`. Errors inside the
//! init travel back to the caller over it.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    recvmsg, sendmsg, socketpair, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage,
    RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use serde::{Deserialize, Serialize};

use crate::error::{ContainerError, Result};

/// Messages between the runtime (parent) and its init stages (children).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Msg {
    /// Stage one created the user namespace and waits for its id maps.
    NeedIdMaps,
    /// Parent wrote the id maps.
    IdMapsDone,
    /// Stage one created the init; its pid as the parent sees it.
    InitPid(i32),
    /// Parent placed the init in its cgroup (and wrote its id maps): go on.
    Go,
    /// The init's namespaces and mounts exist: run createRuntime hooks.
    RunCreateRuntimeHooks,
    HooksDone,
    /// The terminal's master side travels with this message.
    Console,
    /// Setup finished; the init waits to be started (or is about to exec).
    Ready,
    /// The parent recorded the init (state, pid file): the init may go on.
    Saved,
    /// The seccomp user-notification listener travels with this message;
    /// the parent hands it to `listenerPath` and answers `SeccompDone`.
    SeccompListener,
    SeccompDone,
    /// Setup failed; the init exits.
    Error(String),
}

#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
    /// The init's end: it never receives descriptors and sends few, so it
    /// uses read(2) and, for a message without one, write(2). A seccomp
    /// profile loaded before the init's last messages then needs read and
    /// write, as runc's does, not sendmsg and recvmsg. (A write to a runtime
    /// that died may raise SIGPIPE: the init would exit anyway. The runtime's
    /// end sends with MSG_NOSIGNAL.)
    child: bool,
}

const MAX_MSG: usize = 64 * 1024;

impl Channel {
    /// The runtime's end and the init's.
    pub(crate) fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )
        .map_err(|e| ContainerError::sys("socketpair", e.into()))?;
        Ok((
            Channel {
                fd: a,
                child: false,
            },
            Channel { fd: b, child: true },
        ))
    }

    pub(crate) fn send(&self, msg: &Msg) -> Result<()> {
        self.send_with_fd(msg, None)
    }

    pub(crate) fn send_with_fd(&self, msg: &Msg, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(|e| ContainerError::Init(e.to_string()))?;
        match fd {
            None if self.child => write_bytes(self.fd.as_fd(), &bytes),
            _ => send_bytes(self.fd.as_fd(), &bytes, fd),
        }
        .map_err(|e| ContainerError::sys("sync send", e))
    }

    /// Receives one message; `None` when the other side closed the channel.
    pub(crate) fn recv(&self) -> Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MSG];
        let (n, fd) = if self.child {
            read_bytes(self.fd.as_fd(), &mut buf).map(|n| (n, None))
        } else {
            recv_bytes(self.fd.as_fd(), &mut buf)
        }
        .map_err(|e| ContainerError::sys("sync receive", e))?;
        if n == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..n])
            .map_err(|e| ContainerError::Init(format!("bad sync message: {e}")))?;
        Ok(Some((msg, fd)))
    }

    /// Receives a message that must be `want`.
    pub(crate) fn expect(&self, want: &Msg) -> Result<()> {
        match self.recv()? {
            Some((m, _)) if &m == want => Ok(()),
            Some((Msg::Error(e), _)) => Err(ContainerError::Init(e)),
            Some((m, _)) => Err(ContainerError::Init(format!(
                "expected {want:?} on the sync channel, got {m:?}"
            ))),
            None => Err(ContainerError::Init(format!(
                "sync channel closed while waiting for {want:?}"
            ))),
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Receives one datagram, without descriptors.
fn read_bytes(sock: BorrowedFd<'_>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match rustix::io::read(sock, &mut *buf) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends one datagram with write(2).
fn write_bytes(sock: BorrowedFd<'_>, bytes: &[u8]) -> std::io::Result<()> {
    loop {
        match rustix::io::write(sock, bytes) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends `bytes` with an optional descriptor over a unix socket.
pub(crate) fn send_bytes(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    fd: Option<BorrowedFd<'_>>,
) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            return Err(std::io::Error::other("control buffer too small"));
        }
    }
    loop {
        match sendmsg(
            sock,
            &[IoSlice::new(bytes)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one datagram and at most one descriptor from a unix socket.
pub(crate) fn recv_bytes(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<OwnedFd>)> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let n = loop {
        match recvmsg(
            sock,
            &mut [IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) => break r.bytes,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    let mut received = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            for fd in fds {
                if received.is_none() {
                    received = Some(fd);
                }
            }
        }
    }
    Ok((n, received))
}
