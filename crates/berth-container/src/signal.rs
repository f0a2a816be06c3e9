//! Signal names and numbers as `kill` accepts them (`KILL`, `SIGKILL`, `9`).

use crate::error::{ContainerError, Result};

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
];

/// Parses a signal given by number, name, or `SIG`-prefixed name
/// (case-insensitive), including `RTMIN+n` / `RTMAX-n`.
pub fn parse(s: &str) -> Result<i32> {
    let bad = || ContainerError::InvalidConfig(format!("unknown signal {s:?}"));
    if let Ok(n) = s.parse::<i32>() {
        if n > 0 && n <= libc::SIGRTMAX() {
            return Ok(n);
        }
        return Err(bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(n, _)| *n == name) {
        return Ok(*n);
    }
    let rt = |base: i32, off: &str, sign: i32| -> Result<i32> {
        let off: i32 = if off.is_empty() {
            0
        } else {
            off.parse().map_err(|_| bad())?
        };
        let n = base + sign * off;
        if n >= libc::SIGRTMIN() && n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(bad())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(libc::SIGRTMIN(), rest.strip_prefix('+').unwrap_or(rest), 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(libc::SIGRTMAX(), rest.strip_prefix('-').unwrap_or(rest), -1);
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse("KILL").ok(), Some(9));
        assert_eq!(parse("SIGKILL").ok(), Some(9));
        assert_eq!(parse("sigterm").ok(), Some(15));
        assert_eq!(parse("15").ok(), Some(15));
        assert_eq!(parse("RTMIN+1").ok(), Some(libc::SIGRTMIN() + 1));
        assert!(parse("0").is_err());
        assert!(parse("NOPE").is_err());
        assert!(parse("999").is_err());
    }
}
