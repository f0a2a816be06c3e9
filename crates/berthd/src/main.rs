//! `berthd`: parses the flags and runs the daemon (the library does the work).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = berthd::Args::parse();
    match args.into_config().and_then(berthd::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e}");
            ExitCode::FAILURE
        }
    }
}
