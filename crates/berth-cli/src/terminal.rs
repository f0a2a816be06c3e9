//! The terminal the CLI writes to: whether stdout/stdin are terminals, stdout's width (for
//! progress bars), and reading a password without echo.

use std::io::{BufRead, IsTerminal};

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// Whether stdin is a terminal.
pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// The width of the terminal on stdout (0 for a terminal whose size was never set: no bar, as
/// with docker); 200 when stdout is no terminal (as moby assumes).
pub fn stdout_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map_or(200, |w| usize::from(w.ws_col))
}

/// One line of stdin, without its newline.
pub fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// One line of stdin with echo off when stdin is a terminal.
pub fn read_password() -> std::io::Result<String> {
    let stdin = std::io::stdin();
    let saved = if stdin.is_terminal() {
        rustix::termios::tcgetattr(&stdin).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet);
    }
    let line = read_line();
    if let Some(t) = &saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    line
}
