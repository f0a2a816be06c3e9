//! The shim's one loop: poll(2) over a signalfd (SIGCHLD and the signals it
//! forwards), the listening socket, the clients, and the stdio of the
//! container and of its exec processes. Nothing in it blocks on a client or
//! on the container: outputs are always drained (to the log, and to attach
//! clients, which are dropped when they fall too far behind).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use berth_container::{container, Bundle, CreateOptions, ExecOptions, Store, Supervision};
use berth_shim_proto::frame::{self, StreamId};
use berth_shim_proto::logs::{LineSplitter, LogWriter, Stream};
use berth_shim_proto::{
    files, AttachRequest, ExecRequest, ExitInfo, Request, Response, ShimConfig, ShimState, Status,
};
use rustix::event::{PollFd, PollFlags};

use crate::error::{Result, ShimError};
use crate::stdio::{self, ChildEnds, Stdio};

/// An attach client further behind than this is dropped.
const MAX_CLIENT_BUFFER: usize = 4 << 20;
/// How long output is still collected after a process exited (its orphans may
/// hold the pipes open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    Requests,
    Attach(AttachRequest),
    ExecStream(String),
}

#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    mode: Mode,
    /// Replies it waits for (`Wait`, `ExecWait`).
    waits: u32,
    /// The client closed its side.
    read_eof: bool,
    /// Close once `outbuf` is written.
    closing: bool,
    dead: bool,
}

impl Conn {
    fn reply(&mut self, r: &Response) {
        match frame::encode(r) {
            Ok(b) => self.outbuf.extend_from_slice(&b),
            Err(_) => self.dead = true,
        }
        self.flush();
    }

    fn flush(&mut self) {
        while !self.outbuf.is_empty() && !self.dead {
            match self.stream.write(&self.outbuf) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => self.dead = true,
            }
        }
        if self.outbuf.is_empty() && self.closing && self.waits == 0 {
            self.dead = true;
        }
    }

    /// Queues stream output; a client too far behind is dropped.
    fn send_output(&mut self, tty: bool, stream: StreamId, data: &[u8]) {
        if tty {
            self.outbuf.extend_from_slice(data);
        } else {
            frame::push_frame(&mut self.outbuf, stream, data);
        }
        if self.outbuf.len() > MAX_CLIENT_BUFFER {
            eprintln!("berth-shim: dropping a client that does not read its stream");
            self.dead = true;
            return;
        }
        self.flush();
    }
}

#[derive(Debug)]
struct Exec {
    pid: i32,
    tty: bool,
    io: Stdio,
    exit: Option<i32>,
    deadline: Option<Instant>,
    done: bool,
    stream: Option<u64>,
    waiters: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Tok {
    Signal,
    Listen,
    CtrOut(usize),
    CtrIn,
    ExecOut(String, usize),
    ExecIn(String),
    Conn(u64),
}

struct Shim {
    state_dir: PathBuf,
    cfg: ShimConfig,
    store: Store,
    bundle: Bundle,
    tty: bool,
    sfd: OwnedFd,
    listener: UnixListener,
    status: Status,
    init_pid: i32,
    started_at: Option<String>,
    /// The init's wait status, once reaped, and until when its output is drained.
    init_exit: Option<(i32, Option<i32>)>,
    deadline: Option<Instant>,
    exit: Option<ExitInfo>,
    io: Stdio,
    child_ends: Option<ChildEnds>,
    splitters: [LineSplitter; 2],
    log: Option<LogWriter>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    waiters: Vec<u64>,
    execs: HashMap<String, Exec>,
    shutdown: Option<u64>,
    quit: bool,
    /// Code ran once (container start, exec, stats) should leave the resident set.
    trim: bool,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Shim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shim")
            .field("id", &self.cfg.id)
            .finish_non_exhaustive()
    }
}

/// Serves the container of `state_dir` until it is shut down. `ready` hears
/// "ok" (or the error) once the shim serves.
pub fn serve(state_dir: &Path, cfg: ShimConfig, ready: Option<OwnedFd>) -> Result<()> {
    let mut shim = match Shim::new(state_dir, cfg) {
        Ok(s) => s,
        Err(e) => {
            crate::daemon::report(ready, &Err(e.to_string()));
            return Err(e);
        }
    };
    if shim.cfg.start {
        if let Err(e) = shim.start() {
            crate::daemon::report(ready, &Err(e.to_string()));
            shim.cleanup();
            return Err(e);
        }
    }
    let pid_path = state_dir.join(files::PID);
    std::fs::write(&pid_path, std::process::id().to_string())
        .map_err(|e| ShimError::io("write", &pid_path, e))?;
    crate::daemon::report(ready, &Ok(i32::try_from(std::process::id()).unwrap_or(0)));
    let res = shim.run();
    shim.cleanup();
    res
}

impl Shim {
    fn new(state_dir: &Path, cfg: ShimConfig) -> Result<Shim> {
        // One shim per state directory.
        let lock_path = state_dir.join(files::LOCK);
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| ShimError::io("create", &lock_path, e))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| ShimError::Busy(state_dir.to_path_buf()))?;
        // The lock lives as long as the process (leaked on purpose; closed at exit).
        std::mem::forget(lock);
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
            .map_err(|e| ShimError::sys("become child subreaper", e))?;
        berth_sys::signal::block_all().map_err(|e| ShimError::sys("block signals", e))?;
        let sfd = berth_sys::signal::signalfd_all().map_err(|e| ShimError::sys("signalfd", e))?;
        stdio::set_nonblocking(&sfd)?;

        let store = Store::open(&cfg.runtime_root)?;
        // A previous shim of this state directory is dead (we hold the lock): its
        // container's runtime state is stale.
        if store.dir(&cfg.id).exists() {
            let _ = container::delete(&store, &cfg.id, true);
        }
        let bundle = Bundle::load(&cfg.bundle)?;
        let tty = bundle
            .spec
            .process()
            .as_ref()
            .and_then(|p| p.terminal())
            .unwrap_or(false);
        let log = match &cfg.log {
            Some(l) => Some(
                LogWriter::open(l.clone()).map_err(|e| ShimError::io("open log", &l.path, e))?,
            ),
            None => None,
        };
        let (io, child_ends) = if tty {
            (Stdio::default(), None)
        } else {
            let (io, ends) = stdio::pipes(cfg.open_stdin, true)?;
            (io, Some(ends))
        };
        let sock = state_dir.join(files::SOCKET);
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).map_err(|e| ShimError::io("bind", &sock, e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| ShimError::io("listen", &sock, e))?;
        Ok(Shim {
            state_dir: state_dir.to_path_buf(),
            cfg,
            store,
            bundle,
            tty,
            sfd,
            listener,
            status: Status::Created,
            init_pid: 0,
            started_at: None,
            init_exit: None,
            deadline: None,
            exit: None,
            io,
            child_ends,
            splitters: [LineSplitter::default(), LineSplitter::default()],
            log,
            conns: BTreeMap::new(),
            next_conn: 0,
            waiters: Vec::new(),
            execs: HashMap::new(),
            shutdown: None,
            quit: false,
            trim: true,
            buf: vec![0u8; READ_CHUNK],
        })
    }

    /// Creates and starts the container. A failure is its exit (recorded).
    fn start(&mut self) -> Result<i32> {
        if self.status != Status::Created {
            return Err(ShimError::Conflict(
                "the container was already started".into(),
            ));
        }
        let opts = CreateOptions {
            id: self.cfg.id.clone(),
            ..CreateOptions::default()
        };
        let sup = Supervision {
            stdio: self.child_ends.as_ref().map(ChildEnds::borrowed),
            die_with_parent: true,
        };
        let res = container::start_supervised(&self.store, &self.bundle, &opts, &sup);
        // Our copies of the container's ends: its outputs end when it closes them.
        self.child_ends = None;
        match res {
            Ok(created) => {
                self.init_pid = created.pid;
                self.started_at = Some(berth_shim_proto::time::format(SystemTime::now()));
                self.status = Status::Running;
                if self.tty {
                    let master = created.console.ok_or_else(|| {
                        ShimError::Invalid("the container's terminal did not come back".into())
                    })?;
                    self.io = stdio::terminal(master, self.cfg.open_stdin)?;
                }
                Ok(created.pid)
            }
            Err(e) => {
                let message = e.to_string();
                self.io = Stdio::default();
                self.record_exit(ExitInfo {
                    exit_code: crate::exit::start_failure_code(&message),
                    signal: None,
                    oom_killed: false,
                    exited_at: berth_shim_proto::time::format(SystemTime::now()),
                    error: Some(message),
                });
                Err(e.into())
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        while !self.quit {
            self.finish_container_if_done();
            self.finish_execs_if_done();
            if self.quit {
                break;
            }
            // Closed connections go before we sleep: their clients see the end now.
            self.conns.retain(|_, c| !c.dead);
            if std::mem::take(&mut self.trim) {
                // Most of our code (creating containers, parsing specs) ran once: keep
                // resident only what the loop runs. Best effort.
                let _ = berth_sys::mm::release_exe_code();
            }
            self.poll_once()?;
        }
        Ok(())
    }

    fn poll_once(&mut self) -> Result<()> {
        let mut toks = Vec::new();
        let mut fds = Vec::new();
        fds.push(PollFd::new(&self.sfd, PollFlags::IN));
        toks.push(Tok::Signal);
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        toks.push(Tok::Listen);
        for (i, o) in self.io.outputs.iter().enumerate() {
            fds.push(PollFd::new(&o.fd, PollFlags::IN));
            toks.push(Tok::CtrOut(i));
        }
        if let (Some(fd), false) = (&self.io.stdin, self.io.stdin_buf.is_empty()) {
            fds.push(PollFd::new(fd, PollFlags::OUT));
            toks.push(Tok::CtrIn);
        }
        for (id, e) in &self.execs {
            for (i, o) in e.io.outputs.iter().enumerate() {
                fds.push(PollFd::new(&o.fd, PollFlags::IN));
                toks.push(Tok::ExecOut(id.clone(), i));
            }
            if let (Some(fd), false) = (&e.io.stdin, e.io.stdin_buf.is_empty()) {
                fds.push(PollFd::new(fd, PollFlags::OUT));
                toks.push(Tok::ExecIn(id.clone()));
            }
        }
        for (id, c) in &self.conns {
            let mut fl = PollFlags::empty();
            let stdin_full = match &c.mode {
                Mode::Attach(_) => self.io.stdin_full(),
                Mode::ExecStream(e) => self.execs.get(e).is_some_and(|e| e.io.stdin_full()),
                Mode::Requests => false,
            };
            if !c.read_eof && !stdin_full {
                fl |= PollFlags::IN;
            }
            if !c.outbuf.is_empty() {
                fl |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.stream, fl));
            toks.push(Tok::Conn(*id));
        }
        let deadline = [self.deadline]
            .into_iter()
            .chain(self.execs.values().map(|e| e.deadline))
            .flatten()
            .min();
        let timeout = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            rustix::time::Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            }
        });
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(e) => return Err(ShimError::sys("poll", e)),
        }
        let ready: Vec<(Tok, PollFlags)> = toks
            .into_iter()
            .zip(fds.iter().map(PollFd::revents))
            .filter(|(_, r)| !r.is_empty())
            .collect();
        drop(fds);
        for (tok, rev) in ready {
            match tok {
                Tok::Signal => self.on_signals(),
                Tok::Listen => self.accept(),
                Tok::CtrOut(i) => {
                    self.read_container_output(i);
                }
                Tok::CtrIn => self.io.flush_stdin(),
                Tok::ExecOut(id, i) => self.read_exec_output(&id, i),
                Tok::ExecIn(id) => {
                    if let Some(e) = self.execs.get_mut(&id) {
                        e.io.flush_stdin();
                    }
                }
                Tok::Conn(id) => self.on_conn(id, rev),
            }
        }
        Ok(())
    }

    fn on_signals(&mut self) {
        loop {
            let sig = match berth_sys::signal::read_signalfd(self.sfd.as_fd()) {
                Ok(s) => s,
                Err(_) => return,
            };
            match sig {
                libc::SIGCHLD => self.reap(),
                libc::SIGPIPE | libc::SIGURG | libc::SIGWINCH => {}
                sig => {
                    // Forwarded to the container, as runc does in the foreground.
                    if self.alive() {
                        let _ = berth_sys::process::kill(self.init_pid, sig);
                    }
                }
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match rustix::process::wait(rustix::process::WaitOptions::NOHANG) {
                Ok(Some((pid, status))) => {
                    let pid = pid.as_raw_nonzero().get();
                    let code = exit_code(status);
                    if pid == self.init_pid && self.init_exit.is_none() {
                        let signal = status.terminating_signal();
                        self.init_exit = Some((code, signal));
                        self.deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                    } else if let Some(e) = self.execs.values_mut().find(|e| e.pid == pid) {
                        if e.exit.is_none() {
                            e.exit = Some(code);
                            e.deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                        }
                    }
                    // Anything else is an orphan we adopted as subreaper: reaped, done.
                }
                Ok(None) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => return,
            }
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.next_conn += 1;
                    self.conns.insert(
                        self.next_conn,
                        Conn {
                            stream,
                            inbuf: Vec::new(),
                            outbuf: Vec::new(),
                            mode: Mode::Requests,
                            waits: 0,
                            read_eof: false,
                            closing: false,
                            dead: false,
                        },
                    );
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Reads once from output `i`; whether data came.
    fn read_container_output(&mut self, i: usize) -> bool {
        let Some(out) = self.io.outputs.get(i) else {
            return false;
        };
        let stream = out.stream;
        match stdio::read(&out.fd, &mut self.buf) {
            stdio::Read::Again => false,
            stdio::Read::Eof => {
                self.io.outputs.remove(i);
                self.finish_log_stream(stream);
                false
            }
            stdio::Read::Data(n) => {
                let data = std::mem::take(&mut self.buf);
                self.log_output(stream, &data[..n]);
                for c in self.conns.values_mut() {
                    if let Mode::Attach(a) = &c.mode {
                        let wants = match stream {
                            StreamId::Stderr => a.stderr,
                            _ => a.stdout,
                        };
                        if wants {
                            c.send_output(self.tty, stream, &data[..n]);
                        }
                    }
                }
                self.buf = data;
                true
            }
        }
    }

    fn log_output(&mut self, stream: StreamId, data: &[u8]) {
        let (k, s) = match stream {
            StreamId::Stderr => (1, Stream::Stderr),
            _ => (0, Stream::Stdout),
        };
        let Some(log) = self.log.as_mut() else { return };
        let now = SystemTime::now();
        let mut failed = None;
        self.splitters[k].push(data, |m| {
            if let Err(e) = log.write(s, m, now) {
                failed = Some(e);
            }
        });
        if let Some(e) = failed {
            eprintln!("berth-shim: write log: {e}");
        }
    }

    fn finish_log_stream(&mut self, stream: StreamId) {
        let (k, s) = match stream {
            StreamId::Stderr => (1, Stream::Stderr),
            _ => (0, Stream::Stdout),
        };
        let Some(log) = self.log.as_mut() else { return };
        let now = SystemTime::now();
        self.splitters[k].finish(|m| {
            if let Err(e) = log.write(s, m, now) {
                eprintln!("berth-shim: write log: {e}");
            }
        });
    }

    fn read_exec_output(&mut self, id: &str, i: usize) {
        let Some(e) = self.execs.get_mut(id) else {
            return;
        };
        let Some(out) = e.io.outputs.get(i) else {
            return;
        };
        let stream = out.stream;
        match stdio::read(&out.fd, &mut self.buf) {
            stdio::Read::Again => {}
            stdio::Read::Eof => {
                e.io.outputs.remove(i);
            }
            stdio::Read::Data(n) => {
                if let Some(c) = e.stream.and_then(|c| self.conns.get_mut(&c)) {
                    c.send_output(e.tty, stream, &self.buf[..n]);
                }
            }
        }
    }

    fn on_conn(&mut self, id: u64, rev: PollFlags) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if rev.contains(PollFlags::OUT) {
            c.flush();
        }
        if !rev.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) || c.read_eof {
            return;
        }
        let mut chunk = [0u8; 16 * 1024];
        let n = match c.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            Err(_) => {
                c.dead = true;
                return;
            }
        };
        if n == 0 {
            c.read_eof = true;
            let mode = c.mode.clone();
            match mode {
                Mode::Requests => {
                    c.closing = true;
                    c.flush();
                }
                Mode::Attach(a) => {
                    if a.stdin && self.cfg.stdin_once {
                        self.io.stdin_eof = true;
                        self.io.flush_stdin();
                    }
                }
                Mode::ExecStream(e) => {
                    if let Some(e) = self.execs.get_mut(&e) {
                        e.io.stdin_eof = true;
                        e.io.flush_stdin();
                    }
                }
            }
            return;
        }
        c.inbuf.extend_from_slice(&chunk[..n]);
        self.process_input(id);
    }

    /// Handles what a client sent: requests, or stdin once it streams.
    fn process_input(&mut self, id: u64) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            match c.mode.clone() {
                Mode::Attach(a) => {
                    let data = std::mem::take(&mut c.inbuf);
                    if a.stdin {
                        self.io.push_stdin(&data);
                    }
                    return;
                }
                Mode::ExecStream(e) => {
                    let data = std::mem::take(&mut c.inbuf);
                    if let Some(e) = self.execs.get_mut(&e) {
                        e.io.push_stdin(&data);
                    }
                    return;
                }
                Mode::Requests => {}
            }
            let body = match frame::take_message(&mut c.inbuf) {
                Ok(Some(b)) => b,
                Ok(None) => return,
                Err(e) => {
                    c.reply(&error_response(&ShimError::Invalid(e.to_string())));
                    c.closing = true;
                    c.read_eof = true;
                    c.flush();
                    return;
                }
            };
            match serde_json::from_slice::<Request>(&body) {
                Ok(req) => self.handle(id, req),
                Err(e) => {
                    c.reply(&error_response(&ShimError::Invalid(format!(
                        "malformed request: {e}"
                    ))));
                }
            }
        }
    }

    fn reply(&mut self, id: u64, r: &Response) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.reply(r);
        }
    }

    fn handle(&mut self, id: u64, req: Request) {
        self.trim |= matches!(
            req,
            Request::Start | Request::Exec(_) | Request::Stats | Request::Signal { all: true, .. }
        );
        let r = match req {
            Request::State => Ok(Response::State(ShimState {
                status: self.status,
                pid: if matches!(self.status, Status::Running | Status::Paused) {
                    self.init_pid
                } else {
                    0
                },
                tty: self.tty,
                started_at: self.started_at.clone(),
                exit: self.exit.clone(),
            })),
            Request::Start => self.start().map(|pid| Response::Started { pid }),
            Request::Wait => {
                if let Some(e) = &self.exit {
                    Ok(Response::Exit(e.clone()))
                } else {
                    self.waiters.push(id);
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.waits += 1;
                    }
                    return;
                }
            }
            Request::Signal {
                signal,
                all,
                exec_id,
            } => self
                .signal(signal, all, exec_id.as_deref())
                .map(|()| Response::Ok),
            Request::Resize {
                height,
                width,
                exec_id,
            } => match exec_id {
                None => self.io.resize(height, width),
                Some(e) => match self.execs.get(&e) {
                    Some(e) => e.io.resize(height, width),
                    None => Err(ShimError::NotFound(format!("no such exec: {e}"))),
                },
            }
            .map(|()| Response::Ok),
            Request::Attach(a) => {
                if self.status == Status::Stopped {
                    Err(ShimError::Conflict(
                        "you cannot attach to a stopped container".into(),
                    ))
                } else {
                    let tty = self.tty;
                    self.reply(id, &Response::Attached { tty });
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.mode = Mode::Attach(a);
                    }
                    return;
                }
            }
            Request::Exec(req) => match self.exec(id, *req) {
                Ok(()) => return,
                Err(e) => Err(e),
            },
            Request::ExecWait { exec_id } => match self.execs.get_mut(&exec_id) {
                None => Err(ShimError::NotFound(format!("no such exec: {exec_id}"))),
                Some(e) if e.done => Ok(Response::ExecExit {
                    exit_code: e.exit.unwrap_or(255),
                }),
                Some(e) => {
                    e.waiters.push(id);
                    if let Some(c) = self.conns.get_mut(&id) {
                        c.waits += 1;
                    }
                    return;
                }
            },
            Request::Stats => container::stats(&self.store, &self.cfg.id)
                .map_err(ShimError::from)
                .and_then(|s| {
                    serde_json::to_value(s).map_err(|e| ShimError::sys("encode stats", e))
                })
                .map(|stats| Response::Stats { stats }),
            Request::Pause => self.running().and_then(|()| {
                container::pause(&self.store, &self.cfg.id)?;
                self.status = Status::Paused;
                Ok(Response::Ok)
            }),
            Request::Resume => {
                if self.status == Status::Paused {
                    container::resume(&self.store, &self.cfg.id)
                        .map_err(ShimError::from)
                        .map(|()| {
                            self.status = Status::Running;
                            Response::Ok
                        })
                } else {
                    Err(ShimError::Conflict("container is not paused".into()))
                }
            }
            Request::Update { resources } => self.running().and_then(|()| {
                container::update(&self.store, &self.cfg.id, &resources)?;
                Ok(Response::Ok)
            }),
            Request::Shutdown { kill } => match self.shutdown(id, kill) {
                Ok(()) => return,
                Err(e) => Err(e),
            },
        };
        let r = r.unwrap_or_else(|e| error_response(&e));
        self.reply(id, &r);
    }

    /// Whether the init runs (paused or not) and has not exited.
    fn alive(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused) && self.init_exit.is_none()
    }

    /// Refuses what needs a running (not paused, not exited) container.
    fn running(&self) -> Result<()> {
        match self.status {
            Status::Running if self.init_exit.is_none() => Ok(()),
            Status::Paused => Err(ShimError::Conflict("container is paused".into())),
            _ => Err(ShimError::Conflict("container is not running".into())),
        }
    }

    fn signal(&mut self, sig: i32, all: bool, exec_id: Option<&str>) -> Result<()> {
        if let Some(e) = exec_id {
            let e = self
                .execs
                .get(e)
                .ok_or_else(|| ShimError::NotFound(format!("no such exec: {e}")))?;
            if e.exit.is_some() {
                return Err(ShimError::Conflict("the exec process has exited".into()));
            }
            return berth_sys::process::kill(e.pid, sig).map_err(|e| ShimError::sys("kill", e));
        }
        if !self.alive() {
            return Err(ShimError::Conflict("container is not running".into()));
        }
        if all {
            return Ok(container::kill(&self.store, &self.cfg.id, sig, true)?);
        }
        // The init is our unreaped child: its pid cannot have been reused.
        berth_sys::process::kill(self.init_pid, sig).map_err(|e| ShimError::sys("kill", e))
    }

    fn exec(&mut self, conn: u64, req: ExecRequest) -> Result<()> {
        self.running()?;
        if self.execs.get(&req.exec_id).is_some_and(|e| !e.done) {
            return Err(ShimError::Conflict(format!(
                "exec {} is running",
                req.exec_id
            )));
        }
        let tty = req.process.terminal().unwrap_or(false);
        let stream = !req.detach;
        let (io, ends) = if tty {
            (Stdio::default(), None)
        } else {
            let (io, ends) = stdio::pipes(req.stdin && stream, stream)?;
            (io, Some(ends))
        };
        let opts = ExecOptions {
            id: self.cfg.id.clone(),
            process: req.process,
            detach: false,
            pid_file: None,
            console_socket: None,
            preserve_fds: 0,
            ignore_paused: false,
            sub_cgroups: berth_cgroups::SubCgroups::default(),
        };
        let sup = Supervision {
            stdio: ends.as_ref().map(ChildEnds::borrowed),
            die_with_parent: true,
        };
        let created = container::exec_supervised(&self.store, &opts, &sup)?;
        drop(ends);
        let io = match (tty, created.console) {
            (true, Some(master)) => stdio::terminal(master, req.stdin && stream)?,
            _ => io,
        };
        self.execs.insert(
            req.exec_id.clone(),
            Exec {
                pid: created.pid,
                tty,
                io,
                exit: None,
                deadline: None,
                done: false,
                stream: stream.then_some(conn),
                waiters: Vec::new(),
            },
        );
        self.reply(
            conn,
            &Response::ExecStarted {
                pid: created.pid,
                tty,
            },
        );
        if stream {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.mode = Mode::ExecStream(req.exec_id);
            }
            // Bytes the client sent right after its request are stdin.
            self.process_input(conn);
        }
        Ok(())
    }

    fn shutdown(&mut self, conn: u64, kill: bool) -> Result<()> {
        match self.status {
            Status::Running | Status::Paused if self.exit.is_none() => {
                if !kill {
                    return Err(ShimError::Conflict(
                        "container is running: stop it first, or shut down with kill".into(),
                    ));
                }
                if container::kill(&self.store, &self.cfg.id, libc::SIGKILL, true).is_err() {
                    let _ = berth_sys::process::kill(self.init_pid, libc::SIGKILL);
                }
                if self.status == Status::Paused {
                    // Frozen processes die once thawed.
                    let _ = container::resume(&self.store, &self.cfg.id);
                }
                // Done once the exit is recorded (finish_container_if_done).
                self.shutdown = Some(conn);
                Ok(())
            }
            _ => {
                self.complete_shutdown(conn);
                Ok(())
            }
        }
    }

    fn complete_shutdown(&mut self, conn: u64) {
        let r = match container::delete(&self.store, &self.cfg.id, true) {
            Ok(()) | Err(berth_container::ContainerError::NotFound(_)) => Response::Ok,
            Err(e) => error_response(&e.into()),
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.reply(&r);
            // The last answer goes out before we exit.
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.write_all(&c.outbuf);
            c.outbuf.clear();
        }
        self.quit = true;
    }

    /// After the init exited and its output is drained (or the drain timed
    /// out): the exit is recorded durably, then reported.
    fn finish_container_if_done(&mut self) {
        let Some((code, signal)) = self.init_exit else {
            return;
        };
        if self.exit.is_some() {
            return;
        }
        let drained =
            self.io.outputs.is_empty() || self.deadline.is_some_and(|d| Instant::now() >= d);
        if !drained {
            return;
        }
        // Drain what is readable now, then give up on writers that outlived the init.
        for _ in 0..64 {
            let mut any = false;
            for i in (0..self.io.outputs.len()).rev() {
                any |= self.read_container_output(i);
            }
            if !any {
                break;
            }
        }
        while let Some(o) = self.io.outputs.pop() {
            self.finish_log_stream(o.stream);
        }
        let oom_killed = container::stats(&self.store, &self.cfg.id)
            .is_ok_and(|s| s.memory.event_count.oom_kill > 0);
        self.record_exit(ExitInfo {
            exit_code: code,
            signal,
            oom_killed,
            exited_at: berth_shim_proto::time::format(SystemTime::now()),
            error: None,
        });
        if let Some(conn) = self.shutdown.take() {
            self.complete_shutdown(conn);
        }
    }

    /// Records the exit durably, then tells the waiters and ends the streams.
    fn record_exit(&mut self, exit: ExitInfo) {
        if let Err(e) = crate::exit::record(&self.state_dir, &exit) {
            eprintln!("berth-shim: record the exit: {e}");
        }
        self.status = Status::Stopped;
        self.io.stdin = None;
        self.io.stdin_buf.clear();
        self.deadline = None;
        let r = Response::Exit(exit.clone());
        self.exit = Some(exit);
        for id in std::mem::take(&mut self.waiters) {
            if let Some(c) = self.conns.get_mut(&id) {
                c.waits = c.waits.saturating_sub(1);
                c.reply(&r);
            }
        }
        for c in self.conns.values_mut() {
            if matches!(c.mode, Mode::Attach(_)) {
                c.closing = true;
                c.flush();
            }
        }
    }

    fn finish_execs_if_done(&mut self) {
        let now = Instant::now();
        for e in self.execs.values_mut() {
            let Some(code) = e.exit else { continue };
            if e.done {
                continue;
            }
            if !e.io.outputs.is_empty() && e.deadline.is_some_and(|d| now < d) {
                continue;
            }
            e.done = true;
            e.deadline = None;
            e.io = Stdio::default();
            let r = Response::ExecExit { exit_code: code };
            for id in std::mem::take(&mut e.waiters) {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.waits = c.waits.saturating_sub(1);
                    c.reply(&r);
                }
            }
            if let Some(c) = e.stream.take().and_then(|id| self.conns.get_mut(&id)) {
                c.closing = true;
                c.flush();
            }
        }
    }

    fn cleanup(&mut self) {
        let _ = std::fs::remove_file(self.state_dir.join(files::SOCKET));
        let _ = std::fs::remove_file(self.state_dir.join(files::PID));
    }
}

fn exit_code(status: rustix::process::WaitStatus) -> i32 {
    if let Some(code) = status.exit_status() {
        code
    } else if let Some(sig) = status.terminating_signal() {
        128 + sig
    } else {
        255
    }
}

fn error_response(e: &ShimError) -> Response {
    Response::Error {
        kind: e.kind(),
        message: e.to_string(),
    }
}
