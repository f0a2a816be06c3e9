//! Who holds a lease: the process that took it, named so that a later run can tell whether
//! it still lives. A pid alone is not enough (pids are reused), so the name is the boot id
//! (`/proc/sys/kernel/random/boot_id`), the pid and the process's start time in clock ticks
//! since boot (field 22 of `/proc/PID/stat`): `BOOT/PID/START`. The same pid started later, or
//! the same pid and start time after a reboot, is another process.

use std::fmt;
use std::fs;
use std::sync::OnceLock;

/// A process, as named in a lease's `owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    boot: String,
    pid: u32,
    start: u64,
}

impl Owner {
    /// This process, or `None` where `/proc` cannot tell (then leases have no owner, and a
    /// later run takes them for dead).
    pub fn current() -> Option<&'static Owner> {
        static CURRENT: OnceLock<Option<Owner>> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                // The pid as this /proc numbers it (the one a later run reads), with its start.
                let stat = fs::read_to_string("/proc/self/stat").ok()?;
                Some(Owner {
                    boot: boot_id()?,
                    pid: stat.split_whitespace().next()?.parse().ok()?,
                    start: parse_start_time(&stat)?,
                })
            })
            .as_ref()
    }

    /// Parses `BOOT/PID/START`; `None` for anything else (an empty owner: a lease from before
    /// owners were recorded).
    pub fn parse(s: &str) -> Option<Owner> {
        let mut parts = s.split('/');
        let boot = parts.next().filter(|b| !b.is_empty())?.to_owned();
        let pid = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        parts.next().is_none().then_some(Owner { boot, pid, start })
    }

    /// Whether this process is running now: same boot, and its pid has the same start time.
    pub fn is_alive(&self) -> bool {
        boot_id().as_deref() == Some(self.boot.as_str()) && start_time(self.pid) == Some(self.start)
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.boot, self.pid, self.start)
    }
}

fn boot_id() -> Option<String> {
    let s = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let s = s.trim();
    (!s.is_empty() && !s.contains('/')).then(|| s.to_owned())
}

/// Field 22 of `/proc/PID/stat`, `None` when there is no such process.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// The start time in a `/proc/PID/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses itself, so fields are counted after the last `)`:
/// the state is field 3 there, the start time field 22.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_round_trips() {
        let me = Owner::current().expect("/proc is mounted");
        assert!(me.is_alive());
        let text = me.to_string();
        assert_eq!(Owner::parse(&text).as_ref(), Some(me));
        // Another start time of the same pid is another process.
        let recycled = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert!(!recycled.is_alive());
        let other_boot = Owner {
            boot: "00000000-0000-0000-0000-000000000000".into(),
            ..me.clone()
        };
        assert!(!other_boot.is_alive());
    }

    #[test]
    fn a_dead_process_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Not reaped yet: a zombie still has its stat.
        let start = start_time(pid).unwrap();
        child.wait().unwrap();
        // Reaped: its pid names nothing, or a new process with another start time.
        let gone = Owner {
            boot: boot_id().unwrap(),
            pid,
            start,
        };
        assert!(!gone.is_alive());
    }

    #[test]
    fn parses_what_proc_writes_and_refuses_the_rest() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 \
                    1000 100 18446744073709551615";
        assert_eq!(parse_start_time(line), Some(98765));
        assert_eq!(parse_start_time("1234 (x) S 1"), None);
        assert_eq!(parse_start_time("garbage"), None);
        for bad in ["", "b/1", "b/x/2", "/1/2", "b/1/2/3", "b/-1/2"] {
            assert_eq!(Owner::parse(bad), None, "{bad}");
        }
        assert_eq!(
            Owner::parse("b/1/2"),
            Some(Owner {
                boot: "b".into(),
                pid: 1,
                start: 2
            })
        );
    }
}
