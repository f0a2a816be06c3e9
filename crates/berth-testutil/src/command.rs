//! Running an external command with a deadline and capturing its output.
//!
//! Output goes to anonymous temp files rather than pipes: a runtime that starts a detached
//! container hands its stdout and stderr down to the container, and a pipe would then never reach
//! end-of-file while the container runs. Files can be read as soon as the command itself exits.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single command may run before the fixture kills it and fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// What a finished command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Its standard output, lossily decoded.
    pub stdout: String,
    /// Its standard error, lossily decoded.
    pub stderr: String,
}

impl Output {
    /// The exit code, or `None` when a signal ended the command.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Panics with the whole output unless the command exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "expected success:\n{self}");
        self
    }

    /// Panics with the whole output unless the command failed (non-zero exit or signal).
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        assert!(!self.success(), "expected failure:\n{self}");
        self
    }

    /// Panics unless the command exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit status:\n{self}");
        self
    }

    /// Standard output with surrounding whitespace removed.
    pub fn stdout_trimmed(&self) -> &str {
        self.stdout.trim()
    }

    /// Standard output's lines, each with trailing whitespace removed.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().map(str::trim_end).collect()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = match (self.status.code(), self.status.signal()) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "unknown status".to_string(),
        };
        write!(
            f,
            "$ {}\n[{status}]\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.stdout, self.stderr
        )
    }
}

/// Describes `cmd` as a shell-like command line.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn read_all(mut f: &File) -> io::Result<String> {
    f.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Runs `cmd` in a process group of its own with `stdin` as its input (or `/dev/null`), waits at
/// most `timeout`, and returns what it printed.
///
/// On timeout the whole process group is killed with SIGKILL and an error of kind
/// [`io::ErrorKind::TimedOut`] is returned, carrying what the command had printed so far.
pub fn run_command(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<Output> {
    let command = describe(cmd);
    let out = tempfile::tempfile()?;
    let err = tempfile::tempfile()?;
    let input = match stdin {
        Some(bytes) => {
            let mut f = tempfile::tempfile()?;
            f.write_all(bytes)?;
            f.seek(SeekFrom::Start(0))?;
            Stdio::from(f)
        }
        None => Stdio::null(),
    };
    cmd.stdin(input)
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(err.try_clone()?))
        .process_group(0);
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("spawn `{command}`: {e}")))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            kill_group(child.id());
            // The group may be gone already; the direct kill and wait reap the child either way.
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "`{command}` did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    read_all(&out).unwrap_or_default(),
                    read_all(&err).unwrap_or_default()
                ),
            ));
        }
        thread::sleep(Duration::from_millis(2));
    };
    Ok(Output {
        command,
        status,
        stdout: read_all(&out)?,
        stderr: read_all(&err)?,
    })
}

/// Sends SIGKILL to the process group led by `pid`.
pub(crate) fn kill_group(pid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours; a negative pid names a
    // process group, here the one `run_command` created for this child.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

/// Runs `cmd` like [`run_command`] and panics with a readable message on spawn failure or timeout.
#[track_caller]
pub(crate) fn run_or_panic(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    match run_command(cmd, stdin, timeout) {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    }
}

/// Makes the command receive `signal` when the thread that spawned it dies, so that a test process
/// killed by a harness timeout (no `Drop` runs then) does not leave a daemon behind. The fixture
/// must therefore be dropped on the thread that created it, as a test's locals are.
pub(crate) fn die_with_parent(cmd: &mut Command, signal: libc::c_int) {
    // SAFETY: the closure runs between fork and exec and only calls prctl(2), which is
    // async-signal-safe; PR_SET_PDEATHSIG takes a signal number and touches no memory.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
