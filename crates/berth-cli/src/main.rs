//! `berth`: parses the command line and runs the verb (the library does the work).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    berth_cli::run(berth_cli::Cli::parse())
}
