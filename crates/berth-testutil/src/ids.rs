//! Names that never clash between tests, test processes or concurrent suites.

use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `{prefix}-{pid}-{n}`, unique on this machine while this process lives: the pid separates test
/// processes (nextest runs one per test) and the counter separates calls within one.
pub fn unique_name(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A container id for a test, `{prefix}-{pid}-{n}`; valid for runc (`[\w+-.]+`).
pub fn unique_id(prefix: &str) -> String {
    unique_name(prefix)
}
