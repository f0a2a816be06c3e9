//! Exit codes: the child's wait status and exec errors mapped as tini maps them.

use rustix::io::Errno;
use rustix::process::WaitStatus;

/// The code berth-init exits with for its child's wait status: the child's own exit code, or
/// 128+N when signal N killed it.
pub fn exit_code(status: WaitStatus) -> i32 {
    code_of(status.exit_status(), status.terminating_signal())
}

fn code_of(exit_status: Option<i32>, terminating_signal: Option<i32>) -> i32 {
    match (exit_status, terminating_signal) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        // Stopped or continued children are not reported (no WUNTRACED); be explicit anyway.
        (None, None) => 1,
    }
}

/// The code berth-init exits with when CMD could not be executed: 127 when it does not exist
/// (`ENOENT`, `ENOTDIR`), 126 when it exists but cannot run (`EACCES`, and any other exec
/// error, as shells do; tini exits 1 for those).
pub fn exec_failure_code(error: &std::io::Error) -> i32 {
    match error.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::NOENT | Errno::NOTDIR) => 127,
        _ => 126,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn wait_statuses() {
        assert_eq!(code_of(Some(0), None), 0);
        assert_eq!(code_of(Some(42), None), 42);
        assert_eq!(code_of(None, Some(15)), 143);
        assert_eq!(code_of(None, Some(9)), 137);
    }

    #[test]
    fn exec_errors() {
        let code = |e| exec_failure_code(&io::Error::from_raw_os_error(e));
        assert_eq!(code(Errno::NOENT.raw_os_error()), 127);
        assert_eq!(code(Errno::NOTDIR.raw_os_error()), 127);
        assert_eq!(code(Errno::ACCESS.raw_os_error()), 126);
        assert_eq!(code(Errno::NOEXEC.raw_os_error()), 126);
    }
}
