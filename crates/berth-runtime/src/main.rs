//! berth-runtime: parses runc's command line and calls berth-container.

mod cli;
mod exec;
mod features;
mod list;
mod log;
mod ps;
mod update;

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use berth_container::{container, CreateOptions, Store};
use clap::Parser;

use cli::{Cli, Command, CreateArgs};

#[cfg(target_env = "musl")]
mod alloc;

/// The static musl release build allocates with talc (see alloc.rs).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: alloc::Allocator = alloc::new();

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logger = log::Logger::new(cli.log.as_deref(), cli.log_format, cli.debug);
    match run(&cli, &logger) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(255)),
        Err(e) => {
            logger.error(&format!("{e:#}"));
            ExitCode::from(1)
        }
    }
}

fn create_options(a: &CreateArgs) -> CreateOptions {
    CreateOptions {
        id: a.id.clone(),
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
    }
}

/// Commands that start container processes must run from a sealed copy of
/// this binary (CVE-2019-5736) and must not be inspectable through /proc by
/// the container's processes while they set up.
fn harden_for_container_start() -> Result<()> {
    berth_container::exe_seal::harden().context("protect the runtime binary")?;
    Ok(())
}

/// Loads the bundle once for the whole command and logs what the host cannot honour.
fn load_bundle(logger: &log::Logger, dir: &std::path::Path) -> Result<berth_container::Bundle> {
    let b = berth_container::Bundle::load(dir)?;
    for w in container::warnings(&b.spec) {
        logger.warn(&w);
    }
    Ok(b)
}

fn run(cli: &Cli, logger: &log::Logger) -> Result<i32> {
    logger.debug(&format!("berth-runtime {:?}", cli.command));
    let starts = matches!(
        cli.command,
        Command::Create(_) | Command::Run { .. } | Command::Exec(_)
    );
    if starts {
        if cli.systemd_cgroup {
            if !std::path::Path::new("/run/systemd/system").exists() {
                bail!("--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); use the cgroupfs driver (drop --systemd-cgroup)");
            }
            bail!("--systemd-cgroup: the systemd cgroup driver is not supported by berth-runtime yet; use the cgroupfs driver (drop --systemd-cgroup)");
        }
        harden_for_container_start()?;
    }
    match &cli.command {
        Command::Spec { bundle, rootless } => {
            let dir = bundle.clone().unwrap_or_else(|| ".".into());
            let path = dir.join("config.json");
            if path.exists() {
                bail!("File {} exists. Remove it first", path.display());
            }
            let spec = berth_container::default_spec(*rootless);
            let text = serde_json::to_string_pretty(&spec)?;
            std::fs::write(&path, text + "\n")
                .with_context(|| format!("write {}", path.display()))?;
            Ok(0)
        }
        Command::Create(a) => {
            let store = Store::open(&cli.state_root())?;
            let bundle = load_bundle(logger, &a.bundle)?;
            container::create(&store, &bundle, &create_options(a), false)?;
            Ok(0)
        }
        Command::Start { id } => {
            let store = Store::open(&cli.state_root())?;
            container::start(&store, id)?;
            Ok(0)
        }
        Command::Run {
            create,
            detach,
            keep,
        } => {
            let store = Store::open(&cli.state_root())?;
            let bundle = load_bundle(logger, &create.bundle)?;
            let tty = bundle
                .spec
                .process()
                .as_ref()
                .and_then(|p| p.terminal())
                .unwrap_or(false);
            if *detach && tty && create.console_socket.is_none() {
                bail!("cannot allocate tty if berth-runtime will detach without setting console socket");
            }
            Ok(container::run(
                &store,
                &bundle,
                &create_options(create),
                *detach,
                *keep,
            )?)
        }
        Command::State { id } => {
            let store = Store::open(&cli.state_root())?;
            let st = container::state(&store, id)?;
            println!("{}", serde_json::to_string_pretty(&st)?);
            Ok(0)
        }
        Command::Kill { id, signal, all } => {
            let store = Store::open(&cli.state_root())?;
            let sig = berth_container::signal::parse(signal)?;
            container::kill(&store, id, sig, *all)?;
            Ok(0)
        }
        Command::Delete { id, force } => {
            let store = Store::open(&cli.state_root())?;
            match container::delete(&store, id, *force) {
                // runc: deleting a container that does not exist with --force succeeds.
                Err(berth_container::ContainerError::NotFound(_)) if *force => Ok(0),
                r => r.map(|()| 0).map_err(Into::into),
            }
        }
        Command::List { format, quiet } => {
            let store = Store::open(&cli.state_root())?;
            list::print(&container::list(&store)?, *format, *quiet)?;
            Ok(0)
        }
        Command::Exec(a) => {
            let store = Store::open(&cli.state_root())?;
            let opts = exec::options(&store, a)?;
            Ok(container::exec(&store, &opts)?)
        }
        Command::Ps {
            format,
            id,
            ps_args,
        } => {
            let store = Store::open(&cli.state_root())?;
            ps::print(&container::pids(&store, id)?, *format, ps_args)?;
            Ok(0)
        }
        Command::Pause { id } => {
            let store = Store::open(&cli.state_root())?;
            container::pause(&store, id)?;
            Ok(0)
        }
        Command::Resume { id } => {
            let store = Store::open(&cli.state_root())?;
            container::resume(&store, id)?;
            Ok(0)
        }
        Command::Update(a) => {
            let store = Store::open(&cli.state_root())?;
            update::update(&store, a)?;
            Ok(0)
        }
        Command::Events {
            stats,
            interval,
            id,
        } => {
            let store = Store::open(&cli.state_root())?;
            update::events(&store, id, *stats, interval)?;
            Ok(0)
        }
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&features::features())?);
            Ok(0)
        }
    }
}
