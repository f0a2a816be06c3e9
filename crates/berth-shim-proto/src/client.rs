//! A blocking client of the shim's socket.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::ProtoError;
use crate::files;
use crate::frame::{read_message, write_message};
use crate::message::{AttachRequest, ExecRequest, ExitInfo, Request, Response, ShimState};

/// One connection to a shim.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
}

impl Client {
    /// Connects to the shim of state directory `state_dir`.
    pub fn connect(state_dir: &Path) -> Result<Client, ProtoError> {
        Client::connect_socket(&state_dir.join(files::SOCKET))
    }

    /// Connects to a shim's socket.
    pub fn connect_socket(path: &Path) -> Result<Client, ProtoError> {
        match UnixStream::connect(path) {
            Ok(stream) => Ok(Client { stream }),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                ) =>
            {
                Err(ProtoError::NotRunning {
                    path: PathBuf::from(path),
                    source: e,
                })
            }
            Err(e) => Err(ProtoError::io("connect to the shim", e)),
        }
    }

    /// Bounds every later read (`None`: wait forever, as `wait` needs).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<(), ProtoError> {
        self.stream
            .set_read_timeout(t)
            .map_err(|e| ProtoError::io("set read timeout", e))
    }

    /// Sends a request and reads its response. A [`Response::Error`] becomes
    /// [`ProtoError::Shim`].
    pub fn call(&mut self, req: &Request) -> Result<Response, ProtoError> {
        write_message(&mut self.stream, req)?;
        match read_message::<Response>(&mut self.stream)? {
            None => Err(ProtoError::Closed),
            Some(Response::Error { kind, message }) => Err(ProtoError::Shim { kind, message }),
            Some(r) => Ok(r),
        }
    }

    pub fn state(&mut self) -> Result<ShimState, ProtoError> {
        match self.call(&Request::State)? {
            Response::State(s) => Ok(s),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a container whose shim waits for it; returns the init's pid.
    pub fn start(&mut self) -> Result<i32, ProtoError> {
        match self.call(&Request::Start)? {
            Response::Started { pid } => Ok(pid),
            other => Err(unexpected(&other)),
        }
    }

    /// Blocks until the container has exited.
    pub fn wait(&mut self) -> Result<ExitInfo, ProtoError> {
        match self.call(&Request::Wait)? {
            Response::Exit(e) => Ok(e),
            other => Err(unexpected(&other)),
        }
    }

    pub fn signal(&mut self, signal: i32, exec_id: Option<&str>) -> Result<(), ProtoError> {
        self.ok(&Request::Signal {
            signal,
            all: false,
            exec_id: exec_id.map(str::to_string),
        })
    }

    pub fn resize(
        &mut self,
        height: u16,
        width: u16,
        exec_id: Option<&str>,
    ) -> Result<(), ProtoError> {
        self.ok(&Request::Resize {
            height,
            width,
            exec_id: exec_id.map(str::to_string),
        })
    }

    /// berth-cgroups' `Stats` as JSON.
    pub fn stats(&mut self) -> Result<serde_json::Value, ProtoError> {
        match self.call(&Request::Stats)? {
            Response::Stats { stats } => Ok(stats),
            other => Err(unexpected(&other)),
        }
    }

    /// Attaches; returns whether the stream is raw (a terminal) and the
    /// stream itself (write stdin to it, read the output from it).
    pub fn attach(mut self, req: AttachRequest) -> Result<(bool, UnixStream), ProtoError> {
        match self.call(&Request::Attach(req))? {
            Response::Attached { tty } => Ok((tty, self.stream)),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts an exec process; returns its pid, whether it has a terminal, and
    /// its stream (`None` when detached).
    pub fn exec(mut self, req: ExecRequest) -> Result<(i32, bool, Option<UnixStream>), ProtoError> {
        let detach = req.detach;
        match self.call(&Request::Exec(Box::new(req)))? {
            Response::ExecStarted { pid, tty } => Ok((pid, tty, (!detach).then_some(self.stream))),
            other => Err(unexpected(&other)),
        }
    }

    /// Blocks until the exec process has exited; returns its exit code.
    pub fn exec_wait(&mut self, exec_id: &str) -> Result<i32, ProtoError> {
        match self.call(&Request::ExecWait {
            exec_id: exec_id.to_string(),
        })? {
            Response::ExecExit { exit_code } => Ok(exit_code),
            other => Err(unexpected(&other)),
        }
    }

    pub fn pause(&mut self) -> Result<(), ProtoError> {
        self.ok(&Request::Pause)
    }

    pub fn resume(&mut self) -> Result<(), ProtoError> {
        self.ok(&Request::Resume)
    }

    pub fn update(
        &mut self,
        resources: oci_spec::runtime::LinuxResources,
    ) -> Result<(), ProtoError> {
        self.ok(&Request::Update {
            resources: Box::new(resources),
        })
    }

    /// Deletes the container's runtime state and ends the shim.
    pub fn shutdown(&mut self, kill: bool) -> Result<(), ProtoError> {
        self.ok(&Request::Shutdown { kill })
    }

    fn ok(&mut self, req: &Request) -> Result<(), ProtoError> {
        match self.call(req)? {
            Response::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(r: &Response) -> ProtoError {
    ProtoError::Unexpected(format!("{r:?}"))
}
