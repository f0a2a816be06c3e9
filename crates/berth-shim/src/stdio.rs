//! A process's stdio as the shim holds it: the shim's ends of its pipes (or
//! its pty master), non-blocking, with a bounded buffer of stdin not yet
//! written.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use berth_shim_proto::frame::StreamId;
use rustix::fs::OFlags;

use crate::error::{Result, ShimError};

/// Bytes of stdin kept for a process that does not read: clients are not
/// read further until it drains (they wait; the container never does).
pub const MAX_STDIN_BUFFER: usize = 256 << 10;

/// An output of a process: the shim's read end.
#[derive(Debug)]
pub struct Output {
    pub fd: OwnedFd,
    pub stream: StreamId,
}

/// The shim's side of a process's stdio.
#[derive(Debug, Default)]
pub struct Stdio {
    /// Where stdin goes (a pipe's write end or the pty master).
    pub stdin: Option<OwnedFd>,
    pub stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written (a client's EOF).
    pub stdin_eof: bool,
    pub outputs: Vec<Output>,
    /// The pty master, for resizing.
    pub console: Option<OwnedFd>,
}

/// The process's ends, handed to berth-container and closed once it started.
#[derive(Debug)]
pub struct ChildEnds {
    pub fds: [OwnedFd; 3],
}

impl ChildEnds {
    pub fn borrowed(&self) -> [BorrowedFd<'_>; 3] {
        [
            self.fds[0].as_fd(),
            self.fds[1].as_fd(),
            self.fds[2].as_fd(),
        ]
    }
}

fn null(write: bool) -> Result<OwnedFd> {
    let flags = if write {
        OFlags::WRONLY
    } else {
        OFlags::RDONLY
    } | OFlags::CLOEXEC;
    rustix::fs::open("/dev/null", flags, rustix::fs::Mode::empty())
        .map_err(|e| ShimError::io("open", "/dev/null", e.into()))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| ShimError::sys("pipe", e))
}

pub fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let fl = rustix::fs::fcntl_getfl(fd).map_err(|e| ShimError::sys("fcntl", e))?;
    rustix::fs::fcntl_setfl(fd, fl | OFlags::NONBLOCK).map_err(|e| ShimError::sys("fcntl", e))
}

/// Pipes for a process without a terminal: stdin only if `stdin` (else
/// /dev/null), stdout and stderr only if `output` (else /dev/null).
pub fn pipes(stdin: bool, output: bool) -> Result<(Stdio, ChildEnds)> {
    let mut io = Stdio::default();
    let child_in = if stdin {
        let (r, w) = pipe()?;
        set_nonblocking(&w)?;
        io.stdin = Some(w);
        r
    } else {
        null(false)?
    };
    let mut out = |stream| -> Result<OwnedFd> {
        if !output {
            return null(true);
        }
        let (r, w) = pipe()?;
        set_nonblocking(&r)?;
        io.outputs.push(Output { fd: r, stream });
        Ok(w)
    };
    let child_out = out(StreamId::Stdout)?;
    let child_err = out(StreamId::Stderr)?;
    Ok((
        io,
        ChildEnds {
            fds: [child_in, child_out, child_err],
        },
    ))
}

/// The shim's side of a terminal: the master is the output, a copy of it
/// takes stdin (when `stdin`), another resizes.
pub fn terminal(master: OwnedFd, stdin: bool) -> Result<Stdio> {
    set_nonblocking(&master)?;
    let dup =
        |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| ShimError::sys("dup", e));
    Ok(Stdio {
        stdin: if stdin { Some(dup(&master)?) } else { None },
        console: Some(dup(&master)?),
        outputs: vec![Output {
            fd: master,
            stream: StreamId::Stdout,
        }],
        ..Stdio::default()
    })
}

impl Stdio {
    /// Writes what it can of the stdin buffer; closes stdin after an EOF once
    /// the buffer is empty, or when the process stopped reading for good.
    pub fn flush_stdin(&mut self) {
        while let (Some(fd), false) = (&self.stdin, self.stdin_buf.is_empty()) {
            match rustix::io::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => {
                    // EPIPE: nobody reads stdin any more.
                    self.stdin = None;
                    self.stdin_buf.clear();
                }
            }
        }
        if self.stdin_eof && self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    /// Queues stdin bytes (the caller stops reading clients beyond
    /// [`MAX_STDIN_BUFFER`]); without a stdin they are dropped.
    pub fn push_stdin(&mut self, data: &[u8]) {
        if self.stdin.is_some() && !self.stdin_eof {
            self.stdin_buf.extend_from_slice(data);
            self.flush_stdin();
        }
    }

    pub fn stdin_full(&self) -> bool {
        self.stdin_buf.len() >= MAX_STDIN_BUFFER
    }

    pub fn resize(&self, height: u16, width: u16) -> Result<()> {
        let Some(c) = &self.console else {
            return Err(ShimError::Conflict("the process has no terminal".into()));
        };
        let ws = rustix::termios::Winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(c, ws).map_err(|e| ShimError::sys("resize terminal", e))
    }
}

/// What a read of an output gave.
#[derive(Debug)]
pub enum Read {
    Data(usize),
    /// Nothing now.
    Again,
    /// The writers are gone (EIO on a pty whose slave closed).
    Eof,
}

pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> Read {
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => return Read::Eof,
            Ok(n) => return Read::Data(n),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => return Read::Again,
            Err(_) => return Read::Eof,
        }
    }
}
