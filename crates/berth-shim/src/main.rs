//! berth-shim: parses its arguments and hands over to the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match berth_shim::args::parse(std::env::args_os().skip(1)) {
        Ok(berth_shim::args::Command::Help) => {
            print!("{}", berth_shim::args::USAGE);
            ExitCode::SUCCESS
        }
        Ok(berth_shim::args::Command::Run(args)) => berth_shim::main(&args),
        Err(e) => {
            eprintln!("berth-shim: {e}\n\n{}", berth_shim::args::USAGE);
            ExitCode::from(2)
        }
    }
}
