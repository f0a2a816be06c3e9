//! What a test does when it cannot run: the one place that decides between failing and skipping.
//!
//! A test whose prerequisite is missing (root, dockerd, skopeo, runc, a file a Debian package
//! installs) calls [`require`]. Under CI (`CI` set to anything but `false`/`0`, or
//! `BERTH_TEST_STRICT=1`, which `.ci/run` sets) a missing prerequisite **fails** the test: a test
//! that cannot run does not pass. On a developer's machine it skips instead, printing
//! `SKIP-MISSING: <what>`.
//!
//! A test that this kind of host truly cannot run (a v1-only cgroup test on a cgroup2-only host,
//! a test of "no systemd" on a host that runs systemd) calls [`skip_host`], which prints
//! `SKIP-HOST: <why>` in every mode.
//!
//! Both also append a line `<kind> <test> <why>` to the file named by `BERTH_TEST_SKIP_LOG` when
//! it is set; `make test` sets it and prints the lines at the end of the run, so every skip shows
//! in the run's summary and not only in the captured output of a passing test.

use std::fs::OpenOptions;
use std::io::Write as _;

/// Set to `1` to make missing prerequisites fail tests even without `CI`.
pub const STRICT_ENV: &str = "BERTH_TEST_STRICT";

/// The file skips are appended to (one line each), when set.
pub const SKIP_LOG_ENV: &str = "BERTH_TEST_SKIP_LOG";

/// Whether a missing prerequisite fails the test: `CI` or `BERTH_TEST_STRICT` set to anything
/// but empty, `0` or `false`.
pub fn strict() -> bool {
    [STRICT_ENV, "CI"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| switched_on(&v)))
}

/// Whether an environment value means "on".
fn switched_on(value: &str) -> bool {
    !matches!(value.trim(), "" | "0" | "false" | "FALSE" | "no")
}

/// `true` when `present`. Otherwise panics under [`strict`] mode ("missing prerequisite:
/// `what`"), and elsewhere prints and logs `SKIP-MISSING: what` and returns `false`, so the test
/// returns early:
///
/// ```no_run
/// if !berth_testutil::require(berth_testutil::Dockerd::available(), "dockerd (docker.io)") {
///     return;
/// }
/// ```
#[track_caller]
pub fn require(present: bool, what: &str) -> bool {
    let run = decide(present, what, strict());
    if !run {
        record("SKIP-MISSING", what);
    }
    run
}

/// Whether the test runs: `present`, or a panic when it is not and `strict`.
#[track_caller]
fn decide(present: bool, what: &str, strict: bool) -> bool {
    assert!(
        present || !strict,
        "missing prerequisite: {what} (CI or {STRICT_ENV} is set: a test that cannot run fails; \
         scripts/install-deps.sh installs what the tests need)"
    );
    present
}

/// [`require`] for the effective uid 0.
#[track_caller]
pub fn require_root() -> bool {
    require(is_root(), "root")
}

/// [`require`] for each of `paths` existing (binaries or data files a package installs), named
/// in the message together with `package`.
#[track_caller]
pub fn require_files(paths: &[&str], package: &str) -> bool {
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !std::path::Path::new(p).exists())
        .collect();
    require(
        missing.is_empty(),
        &format!("{} (apt-get install {package})", missing.join(", ")),
    )
}

/// Records that this host cannot run the test at all, with `why` (always a skip, in every mode).
pub fn skip_host(why: &str) {
    record("SKIP-HOST", why);
}

/// Records that the test was left out on purpose: the runtime it is for is not in
/// `BERTH_TEST_RUNTIMES`.
pub fn skip_deselected(why: &str) {
    record("SKIP-DESELECTED", why);
}

/// Whether this process runs with effective uid 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Prints `KIND: why` to stderr and appends `KIND <test> why` to the skip log, if any.
fn record(kind: &str, why: &str) {
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(str::to_owned)
        .or_else(|| std::env::var("NEXTEST_TEST_NAME").ok())
        .unwrap_or_else(|| "?".to_owned());
    let binary = std::env::var("NEXTEST_BINARY_ID").unwrap_or_default();
    eprintln!("{kind}: {why}");
    let Some(log) = std::env::var_os(SKIP_LOG_ENV) else {
        return;
    };
    let line = format!("{kind} {binary} {test}: {why}\n");
    // One write of a short line with O_APPEND: lines from parallel tests do not interleave.
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("cannot append to {}: {e}", log.to_string_lossy());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_prerequisites_pass_in_both_modes() {
        assert!(decide(true, "nothing", true));
        assert!(decide(true, "nothing", false));
    }

    #[test]
    #[should_panic(expected = "missing prerequisite: dockerd")]
    fn a_missing_prerequisite_fails_in_strict_mode() {
        decide(false, "dockerd", true);
    }

    #[test]
    fn a_missing_prerequisite_skips_outside_strict_mode() {
        assert!(!decide(false, "dockerd", false));
    }

    #[test]
    fn ci_values() {
        for on in ["true", "1", "yes", "github"] {
            assert!(switched_on(on), "{on}");
        }
        for off in ["", "0", "false", " false "] {
            assert!(!switched_on(off), "{off:?}");
        }
    }
}
