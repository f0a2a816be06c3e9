//! `berth-bench containers`: containers through berthd beside dockerd and
//! podman, on the same busybox image (image.rs), every container with
//! `--network none`.
//!
//! - daemon start: from the spawn to the first answered `/_ping`, berthd and
//!   dockerd (each with fresh directories), interleaved, `--starts` times;
//! - idle memory: berthd's RSS and PSS beside dockerd + containerd's, once
//!   the image is loaded and before any container runs;
//! - `run --rm busybox true`, each engine through its own CLI (`berth run`
//!   against berthd, `docker run` against dockerd, `podman run`), and the
//!   docker CLI against berthd, interleaved, `--runs` times after a
//!   warm-up;
//! - memory per running container: `--idle` detached `sleep` containers in
//!   each engine, the RSS and PSS of their shims (berth-shim,
//!   containerd-shim-runc-v2, conmon) per container;
//! - `docker ps` with `--containers` running containers, berthd and
//!   dockerd (and `berth ps`), interleaved, `--runs` times.
//!
//! The daemons are the pull benchmark's (pull/daemons.rs): a private
//! dockerd in its own mount namespace with its own directories,
//! `--bridge none` and no iptables; a private berthd with temp `--root` and
//! `--exec-root` (the `berthd`, `berth` and `berth-shim` beside this binary,
//! or `--berthd`, `--berth`, `--shim`; its own `--cgroup-parent`); podman with private `--root`,
//! `--runroot` and `--tmpdir`. `--no-berth` measures dockerd and podman
//! alone. Everything is removed at the end (containers, daemons, their
//! directories under /var/tmp with any mount in them, the cgroup parents
//! the engines made); the bench fails if a mount is left.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};

mod engines;
mod image;
mod memory;

use crate::pull::daemons::{self, Berthd, Dockerd, Podman};
use engines::{Berth, Client, Engines};
use memory::Resident;

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench containers [--runs N] [--starts N] [--idle N] [--containers N]\n       \
         [--berthd PATH] [--berth PATH] [--shim PATH] [--no-berth]"
    );
    std::process::exit(2)
}

struct Options {
    runs: usize,
    starts: usize,
    idle: usize,
    containers: usize,
    /// berthd, the `berth` CLI and the shim; `None`: dockerd and podman only.
    berth: Option<(PathBuf, PathBuf, Option<PathBuf>)>,
}

fn beside_exe(name: &str) -> Option<PathBuf> {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(name)))
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn parse(args: &[String]) -> Result<Options> {
    let (mut runs, mut starts, mut idle, mut containers) = (20usize, 5usize, 10usize, 100usize);
    let mut berthd = beside_exe("berthd");
    let mut berth = beside_exe("berth");
    let mut shim = None;
    let mut no_berth = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_else(|| usage());
        let mut number = || value().parse::<usize>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--runs" => runs = number(),
            "--starts" => starts = number(),
            "--idle" => idle = number(),
            "--containers" => containers = number(),
            "--berthd" => berthd = Some(PathBuf::from(value())),
            "--berth" => berth = Some(PathBuf::from(value())),
            "--shim" => shim = Some(PathBuf::from(value())),
            "--no-berth" => no_berth = true,
            _ => usage(),
        }
    }
    if runs == 0 || idle == 0 || containers < idle {
        bail!("--runs and --idle must be at least 1, --containers at least --idle");
    }
    let berth = if no_berth {
        None
    } else {
        let (Some(d), Some(c)) = (berthd, berth) else {
            usage()
        };
        for p in [Some(&d), Some(&c), shim.as_ref()].into_iter().flatten() {
            if !p.is_file() {
                bail!(
                    "{} not found: `make bench-containers` builds berthd, berth and berth-shim \
                     beside berth-bench (or pass --berthd/--berth/--shim, or --no-berth)",
                    p.display()
                );
            }
        }
        Some((d, c, shim))
    };
    Ok(Options {
        runs,
        starts,
        idle,
        containers,
        berth,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let opts = parse(args)?;
    for bin in [
        "dockerd", "docker", "podman", "runc", "conmon", "unshare", "tar",
    ] {
        if !which(bin) {
            bail!("{bin} not found: run scripts/install-deps.sh");
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        bail!("/bin/busybox not found: apt-get install busybox-static");
    }
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average at start: {}", load.join(" "));
    }
    let base = tempfile::Builder::new()
        .prefix("berth-bench-containers-")
        .tempdir_in("/var/tmp")?;
    let result = measure(base.path(), &opts);
    let left = daemons::mounts_under(base.path());
    daemons::remove_dir(base.path());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!("load average at end: {}", load.join(" "));
    }
    if !left.is_empty() {
        bail!("mounts left behind: {left:?}");
    }
    result
}

/// One row of a timing table: mean, median and p90 in ms.
fn row(name: &str, times: &[Duration]) -> (f64, f64) {
    let (mean, median, p90) = crate::summary(times);
    println!("{name:<24} {mean:>10.1} {median:>10.1} {p90:>10.1}");
    (mean, median)
}

fn header(what: &str) {
    println!("\n{what}");
    println!(
        "{:<24} {:>10} {:>10} {:>10}",
        "engine", "mean ms", "median ms", "p90 ms"
    );
}

/// "A/B: x (mean), y (median)" for two rows.
fn ratio(slow: &str, s: (f64, f64), fast: &str, f: (f64, f64)) {
    println!(
        "ratio {slow} / {fast}: {:.2}x (mean), {:.2}x (median)",
        s.0 / f.0,
        s.1 / f.1
    );
}

/// berthd's exec root: `/run/bbc-XXXXXX`. berthd binds each container's
/// shim socket at `EXEC/c/<64-hex id>/shim.sock`, which must stay under
/// the 107 bytes of a socket address; a directory under the benchmark's
/// base in /var/tmp makes it longer. It holds sockets and state only, as
/// dockerd's exec root does.
fn short_exec_root() -> Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new().prefix("bbc-").tempdir_in("/run")?)
}

/// berthd's flags: its own cgroup parent.
fn berth_flags() -> Vec<String> {
    vec![
        "--cgroup-parent".to_owned(),
        format!("/{}", engines::berth_cgroup_parent()),
    ]
}

fn berth_env(shim: Option<&Path>) -> Vec<(&'static str, &Path)> {
    shim.map(|s| ("BERTH_SHIM", s)).into_iter().collect()
}

/// Starts berthd and dockerd `n` times each with fresh directories,
/// interleaved, and prints the time to the first answered `/_ping`.
fn daemon_starts(base: &Path, opts: &Options, n: usize) -> Result<()> {
    let (mut b, mut d) = (Vec::new(), Vec::new());
    for i in 0..n {
        let dir = base.join(format!("start-{i}"));
        std::fs::create_dir_all(&dir)?;
        if let Some((berthd, _, shim)) = &opts.berth {
            let exec = short_exec_root()?;
            let daemon = Berthd::start_with(
                &dir,
                berthd,
                &berth_env(shim.as_deref()),
                Some(exec.path()),
                &berth_flags(),
            )?;
            b.push(daemon.ready_in);
        }
        let daemon = Dockerd::start(&dir)?;
        d.push(daemon.ready_in);
        drop(daemon);
        daemons::remove_dir(&dir);
    }
    header(&format!(
        "daemon start to the first answered /_ping ({n} starts each, fresh directories)"
    ));
    let dm = row("dockerd", &d);
    if !b.is_empty() {
        let bm = row("berthd", &b);
        ratio("dockerd", dm, "berthd", bm);
        println!("target (issue 10): berthd under 50 ms");
    }
    Ok(())
}

/// Prints the idle memory of the daemons (no container yet).
fn idle_memory(e: &Engines) -> Result<()> {
    println!("\nidle daemon memory (image loaded, no container)");
    println!("{:<34} {:>10} {:>10}", "process", "RSS MiB", "PSS MiB");
    let mib = |kib: u64| kib as f64 / 1024.0;
    let print = |name: &str, r: Resident| {
        println!(
            "{name:<34} {:>10.1} {:>10.1}",
            mib(r.rss_kib),
            mib(r.pss_kib)
        );
    };
    let dockerd = memory::of_pid(e.dockerd.pid())?;
    let containerd = memory::named_under(e.dockerd.dir(), "containerd");
    if containerd.len() != 1 {
        bail!("expected one containerd of our dockerd, found {containerd:?}");
    }
    let containerd = memory::sum(&containerd)?;
    print("dockerd", dockerd);
    print("containerd", containerd);
    print("dockerd + containerd", dockerd + containerd);
    if let Some(b) = &e.berth {
        let berthd = memory::of_pid(b.daemon.pid())?;
        print("berthd", berthd);
        println!(
            "ratio (dockerd + containerd) / berthd: {:.1}x (RSS), {:.1}x (PSS)",
            (dockerd + containerd).rss_kib as f64 / berthd.rss_kib.max(1) as f64,
            (dockerd + containerd).pss_kib as f64 / berthd.pss_kib.max(1) as f64
        );
        println!("target (issue 10): berthd under 15 MB RSS");
    }
    Ok(())
}

/// `n` more detached `sleep` containers in `client`'s engine.
fn start_sleepers(e: &Engines, client: Client, n: usize) -> Result<()> {
    for _ in 0..n {
        e.output(
            client,
            &[
                "run",
                "-d",
                "--network",
                "none",
                image::IMAGE,
                "sleep",
                "1000000",
            ],
        )
        .context("start a sleep container")?;
    }
    Ok(())
}

/// The shims of `n` running containers: their memory per container.
fn shim_memory(e: &Engines, n: usize) -> Result<()> {
    let mut clients = vec![Client::Docker, Client::Podman];
    if e.berth.is_some() {
        clients.insert(0, Client::DockerOnBerthd);
    }
    for &c in &clients {
        start_sleepers(e, c, n)?;
    }
    // Let the shims finish starting (containerd's re-execs itself).
    thread::sleep(Duration::from_secs(2));
    println!("\nmemory per running container ({n} idle `sleep` containers each, shim processes)");
    println!(
        "{:<28} {:>6} {:>14} {:>14}",
        "shim", "count", "RSS KiB/ctr", "PSS KiB/ctr"
    );
    let mut rows = Vec::new();
    for &c in &clients {
        let (name, dir, comm): (&str, &Path, &str) = match c {
            Client::DockerOnBerthd | Client::Berth => match &e.berth {
                Some(b) => ("berth-shim", b.daemon.exec_root(), "berth-shim"),
                None => continue,
            },
            Client::Docker => (
                "containerd-shim-runc-v2",
                e.dockerd.dir(),
                "containerd-shim",
            ),
            Client::Podman => ("conmon (podman)", e.podman.dir(), "conmon"),
        };
        let pids = memory::named_under(dir, comm);
        if pids.len() != n {
            bail!(
                "{name}: {} processes for {n} containers: {pids:?}",
                pids.len()
            );
        }
        let r = memory::sum(&pids)?;
        let per = |kib: u64| kib as f64 / n as f64;
        println!(
            "{name:<28} {:>6} {:>14.0} {:>14.0}",
            pids.len(),
            per(r.rss_kib),
            per(r.pss_kib)
        );
        rows.push((name, r));
    }
    if let Some((_, b)) = rows.iter().find(|(n, _)| *n == "berth-shim") {
        for (name, r) in rows.iter().filter(|(n, _)| *n != "berth-shim") {
            println!(
                "ratio {name} / berth-shim: {:.1}x (RSS), {:.1}x (PSS)",
                r.rss_kib as f64 / b.rss_kib.max(1) as f64,
                r.pss_kib as f64 / b.pss_kib.max(1) as f64
            );
        }
        println!("target (issue 10): berth-shim under 1.5 MB RSS per container");
    }
    Ok(())
}

/// Times `args` for each client in turn, `runs` times after `warmup`
/// rounds; `check` sees each run's stdout... (none here: exit 0 is checked).
fn interleaved(
    e: &Engines,
    clients: &[Client],
    args: &[&str],
    warmup: usize,
    runs: usize,
) -> Result<Vec<Vec<Duration>>> {
    let mut times = vec![Vec::new(); clients.len()];
    for round in 0..warmup + runs {
        for (i, &c) in clients.iter().enumerate() {
            let t = e.time(c, args)?;
            if round >= warmup {
                times[i].push(t);
            }
        }
    }
    Ok(times)
}

fn run_rm(e: &Engines, runs: usize) -> Result<()> {
    let mut clients = vec![Client::Docker, Client::Podman];
    if e.berth.is_some() {
        clients.splice(0..0, [Client::Berth, Client::DockerOnBerthd]);
    }
    eprintln!("timing run --rm ({runs} runs each, interleaved)...");
    let times = interleaved(
        e,
        &clients,
        &["run", "--rm", "--network", "none", image::IMAGE, "true"],
        2,
        runs,
    )?;
    header(&format!(
        "run --rm --network none busybox true ({runs} runs each, interleaved, after 2 warm-up rounds)"
    ));
    let mut stats = Vec::new();
    for (c, t) in clients.iter().zip(&times) {
        stats.push((*c, row(c.name(), t)));
    }
    let get = |c: Client| stats.iter().find(|(x, _)| *x == c).map(|(_, s)| *s);
    if let (Some(b), Some(bd)) = (get(Client::Berth), get(Client::DockerOnBerthd)) {
        for c in [Client::Docker, Client::Podman] {
            if let Some(s) = get(c) {
                ratio(c.name(), s, "berth", b);
            }
        }
        if let Some(d) = get(Client::Docker) {
            ratio("docker CLI -> dockerd", d, "docker CLI -> berthd", bd);
        }
        println!("targets (issue 10): docker / berth at least 15x, docker CLI dockerd / berthd at least 8x");
    }
    Ok(())
}

fn ps(e: &Engines, n: usize, runs: usize) -> Result<()> {
    let mut clients = vec![Client::Docker];
    if e.berth.is_some() {
        clients.splice(0..0, [Client::DockerOnBerthd, Client::Berth]);
    }
    for &c in clients.iter().filter(|c| **c != Client::Berth) {
        let running = e.output(c, &["ps", "-q"])?.lines().count();
        eprintln!(
            "{}: starting {} more containers...",
            c.name(),
            n - running.min(n)
        );
        start_sleepers(e, c, n - running.min(n))?;
    }
    for &c in &clients {
        let lines = e.output(c, &["ps"])?.lines().count();
        if lines != n + 1 {
            bail!("{} ps printed {lines} lines, expected {}", c.name(), n + 1);
        }
    }
    let times = interleaved(e, &clients, &["ps"], 2, runs)?;
    header(&format!(
        "ps with {n} running containers ({runs} runs each, interleaved, after 2 warm-up rounds)"
    ));
    let mut stats = Vec::new();
    for (c, t) in clients.iter().zip(&times) {
        stats.push((*c, row(c.name(), t)));
    }
    if let (Some(b), Some(d)) = (
        stats.iter().find(|(c, _)| *c == Client::DockerOnBerthd),
        stats.iter().find(|(c, _)| *c == Client::Docker),
    ) {
        ratio(d.0.name(), d.1, b.0.name(), b.1);
    }
    Ok(())
}

fn measure(base: &Path, opts: &Options) -> Result<()> {
    if opts.starts > 0 {
        eprintln!("timing daemon starts...");
        daemon_starts(base, opts, opts.starts)?;
    }
    eprintln!("starting the daemons and loading the image...");
    let exec = short_exec_root()?;
    let berth = match &opts.berth {
        Some((berthd, cli, shim)) => Some(Berth {
            daemon: Berthd::start_with(
                base,
                berthd,
                &berth_env(shim.as_deref()),
                Some(exec.path()),
                &berth_flags(),
            )?,
            cli: cli.clone(),
        }),
        None => None,
    };
    let e = Engines::new(berth, Dockerd::start(base)?, Podman::new(base)?);
    let archive = image::make(&base.join("image"), |a| e.dockerd.docker(a))?;
    e.load(&archive)?;
    thread::sleep(Duration::from_secs(1));
    idle_memory(&e)?;
    run_rm(&e, opts.runs)?;
    shim_memory(&e, opts.idle)?;
    e.remove_all(Client::Podman)?;
    ps(&e, opts.containers, opts.runs)?;
    drop(e);
    Ok(())
}
