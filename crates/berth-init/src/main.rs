//! `berth-init [-g] [--] CMD [ARGS...]`: see the library for what it does.

fn main() {
    std::process::exit(berth_init::main(std::env::args_os().skip(1)));
}
