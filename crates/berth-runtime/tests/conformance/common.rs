//! Shared pieces of the conformance suite: the `conformance!` macro that instantiates one test
//! body for each runtime, and small helpers around the testutil fixtures.

use berth_testutil::{runtime_selected, unique_id, Bundle, Output, Runtime};

/// The berth-runtime binary cargo built for these tests.
pub const BERTH_BIN: &str = env!("CARGO_BIN_EXE_berth-runtime");

/// Runs `body` against the runtime `name` unless `BERTH_TEST_RUNTIMES` deselects it.
pub fn run_for(name: &str, body: fn(&Runtime)) {
    if !runtime_selected(name) {
        return;
    }
    let rt = Runtime::by_name(name, BERTH_BIN);
    body(&rt);
}

/// `conformance!(name, |rt| { ... })` makes `mod name { #[test] fn runc() #[test] fn berth() }`,
/// both running the body with their runtime.
///
/// `conformance!(name, runc_ignored = "why", |rt| { ... })` marks the runc variant `#[ignore]`
/// where runc 1.1.5 is known not to do what the test asks (a feature it lacks, a bug);
/// `cargo nextest run --run-ignored all` still runs it to show that.
macro_rules! conformance {
    ($name:ident, |$rt:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($rt: &berth_testutil::Runtime) $body

            #[test]
            fn runc() {
                crate::common::run_for("runc", body);
            }

            #[test]
            fn berth() {
                crate::common::run_for("berth", body);
            }
        }
    };
    ($name:ident, runc_ignored = $why:literal, |$rt:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($rt: &berth_testutil::Runtime) $body

            #[test]
            #[ignore = $why]
            fn runc() {
                crate::common::run_for("runc", body);
            }

            #[test]
            fn berth() {
                crate::common::run_for("berth", body);
            }
        }
    };
}

/// Runs `bundle` to completion under a fresh id; returns the output whatever the status.
#[track_caller]
pub fn run(rt: &Runtime, bundle: &Bundle) -> Output {
    rt.run(bundle, &unique_id("t"))
}

/// Runs `bundle`, asserts that it exited 0 and returns its standard output.
#[track_caller]
pub fn run_ok(rt: &Runtime, bundle: &Bundle) -> String {
    let out = run(rt, bundle);
    out.assert_success();
    out.stdout
}

/// Runs `sh -c script` in a default bundle; returns the output whatever the status.
#[track_caller]
pub fn sh(rt: &Runtime, script: &str) -> Output {
    run(rt, &Bundle::new().sh(script))
}

/// Runs `sh -c script` in a default bundle, asserts success and returns standard output.
#[track_caller]
pub fn sh_ok(rt: &Runtime, script: &str) -> String {
    run_ok(rt, &Bundle::new().sh(script))
}

/// The value of the `key:` line of a `/proc/<pid>/status`-style text, trimmed.
pub fn status_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Asserts that nothing of a container whose creation failed remains: `list` is empty and the
/// bundle's cgroup exists in no hierarchy.
#[track_caller]
pub fn assert_nothing_left(rt: &Runtime, bundle: &Bundle) {
    let list = rt.list_json();
    assert!(
        list.is_empty(),
        "{} still lists containers: {list:?}",
        rt.name()
    );
    if let Some(path) = bundle.cgroups_path() {
        let left = berth_testutil::cgroup::existing_dirs(path).expect("read cgroup hierarchies");
        assert!(
            left.is_empty(),
            "{} left cgroup dirs behind: {left:?}",
            rt.name()
        );
    }
}
