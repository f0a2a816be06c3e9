//! Terminals: `run` of a `terminal: true` bundle from a real pty (the container gets a pty of
//! its own, input and output are relayed, the exit status passes through); `create
//! --console-socket` sends the pty master over SCM_RIGHTS; `exec --tty`; `create` of a terminal
//! bundle without a console socket is refused.

use std::fs::File;
use std::io::Write;
use std::time::Duration;

use berth_testutil::pty::{read_until, PtyChild};
use berth_testutil::{unique_id, Bundle, ConsoleSocket};

const WAIT: Duration = Duration::from_secs(15);

conformance!(run_terminal_under_pty, |rt| {
    let b = Bundle::new().terminal(true).args(&["sh"]);
    let cmd = rt.bundle_command(&["run"], &b, &unique_id("tty"));
    let mut child = PtyChild::spawn(cmd).expect("spawn on pty");
    // Wait for the prompt so that the input is not typed before the container's pty exists.
    child.expect("# ", WAIT).expect("shell prompt");
    child.write(b"tty; exit 3\n").expect("type");
    let status = child.wait(WAIT).expect("run exits");
    let output = child.output();
    assert!(
        output.contains("/dev/pts/0") || output.contains("/dev/console"),
        "{output:?}"
    );
    assert_eq!(status.code(), Some(3), "{output:?}");
});

conformance!(terminal_stdin_is_a_tty, |rt| {
    let b = Bundle::new()
        .terminal(true)
        .sh("test -t 0 && test -t 1 && test -t 2 && echo all-ttys; tty");
    let cmd = rt.bundle_command(&["run"], &b, &unique_id("ttysize"));
    let mut child = PtyChild::spawn(cmd).expect("spawn on pty");
    let status = child.wait(WAIT).expect("run exits");
    let output = child.output();
    assert!(output.contains("all-ttys"), "{output:?}");
    assert!(output.contains("/dev/pts/0"), "{output:?}");
    assert_eq!(status.code(), Some(0), "{output:?}");
});

conformance!(console_socket_receives_pty_master, |rt| {
    let socket = ConsoleSocket::new().expect("console socket");
    let b = Bundle::new().terminal(true).args(&["sh"]);
    let id = unique_id("console");
    let path = socket.path().to_string_lossy().into_owned();
    rt.create_with(&b, &id, &["--console-socket", &path])
        .assert_success();
    let received = socket.receive(WAIT).expect("pty master over SCM_RIGHTS");
    let mut master = File::from(received.master);
    rt.start(&id).assert_success();
    read_until(&mut master, "# ", WAIT).expect("prompt");
    master.write_all(b"tty; exit 3\n").expect("type");
    let output = read_until(&mut master, "/dev/pts/0", WAIT).expect("read");
    assert!(
        output.contains("/dev/pts/0"),
        "{output:?} (message {:?})",
        received.message
    );
    rt.wait_for_status(&id, "stopped");
});

conformance!(create_terminal_without_console_socket_refused, |rt| {
    let b = Bundle::new().terminal(true).args(&["sh"]);
    let out = rt.create(&b, &unique_id("noconsole"));
    out.assert_failure();
    assert!(!out.stderr.is_empty(), "{out}");
    crate::common::assert_nothing_left(rt, &b);
});

conformance!(exec_tty_with_console_socket, |rt| {
    let id = unique_id("exectty");
    let sleeper = Bundle::new().args(&["sleep", "1000"]);
    rt.run_detached(&sleeper, &id).assert_success();
    let socket = ConsoleSocket::new().expect("console socket");
    let path = socket.path().to_string_lossy().into_owned();
    rt.exec_with(
        &["--tty", "--detach", "--console-socket", &path],
        &id,
        &["sh", "-c", "tty; sleep 1"],
    )
    .assert_success();
    let received = socket.receive(WAIT).expect("pty master");
    let mut master = File::from(received.master);
    let output = read_until(&mut master, "/dev/pts/", WAIT).expect("read");
    assert!(output.contains("/dev/pts/"), "{output:?}");
});
