//! Resident memory of the processes an engine keeps: RSS and PSS from
//! `/proc/PID/smaps_rollup` (PSS shares each page among the processes
//! mapping it, so ten shims of one binary are not charged ten times for its
//! code).

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::pull::daemons::processes_mentioning;

/// RSS and PSS of some processes, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resident {
    pub rss_kib: u64,
    pub pss_kib: u64,
}

impl std::ops::Add for Resident {
    type Output = Resident;
    fn add(self, o: Resident) -> Resident {
        Resident {
            rss_kib: self.rss_kib + o.rss_kib,
            pss_kib: self.pss_kib + o.pss_kib,
        }
    }
}

/// Reads the `Rss:` and `Pss:` lines of an smaps_rollup text.
pub(crate) fn parse_rollup(text: &str) -> Option<Resident> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.trim();
            rest.strip_suffix("kB")?.trim().parse::<u64>().ok()
        })
    };
    Some(Resident {
        rss_kib: field("Rss:")?,
        pss_kib: field("Pss:")?,
    })
}

/// RSS and PSS of process `pid`.
pub(crate) fn of_pid(pid: u32) -> Result<Resident> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    match parse_rollup(&text) {
        Some(r) => Ok(r),
        None => bail!("{path}: no Rss/Pss lines"),
    }
}

/// Pids of the processes named `comm` (as in /proc/PID/comm, at most 15
/// bytes) whose command line mentions `dir`.
pub(crate) fn named_under(dir: &Path, comm: &str) -> Vec<u32> {
    processes_mentioning(dir)
        .into_iter()
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .collect()
}

/// The sum over `pids`.
pub(crate) fn sum(pids: &[u32]) -> Result<Resident> {
    pids.iter()
        .try_fold(Resident::default(), |acc, &p| Ok(acc + of_pid(p)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_rss_and_pss() {
        let text =
            "00400000-7fff [rollup]\nRss:                1236 kB\nPss:                 301 kB\n\
                    Pss_Anon:            120 kB\nShared_Clean:        900 kB\n";
        assert_eq!(
            parse_rollup(text),
            Some(Resident {
                rss_kib: 1236,
                pss_kib: 301
            })
        );
        assert_eq!(parse_rollup("Rss: 12 kB\n"), None);
        assert_eq!(parse_rollup("Rss: x kB\nPss: 1 kB\n"), None);
    }

    #[test]
    fn own_process_has_resident_memory() {
        let r = of_pid(std::process::id()).unwrap();
        assert!(
            r.rss_kib > 0 && r.pss_kib > 0 && r.pss_kib <= r.rss_kib,
            "{r:?}"
        );
    }
}
