//! berth's benchmarks, run side by side with the peers installed on the
//! machine. Each prints the figures of every runtime and the ratios.
//!
//! `berth-bench runtime [--runs N] [--berth PATH] [--runc PATH]`: the time of
//! `RUNTIME run` of a busybox bundle running `true` (create, start, wait,
//! delete in one command), interleaving the runtimes run by run, plus the
//! peak RSS of the runtime processes.
//!
//! `berth-bench stats [--containers N] [--rounds R] [--berth PATH] [--runc PATH]`:
//! the cost of collecting the stats of N running containers, as
//! `RUNTIME events --stats ID` for each (berth-runtime and runc) and as the
//! library call the daemon will make (`berth_container::container::stats`),
//! see stats.rs.
//!
//! `berth-bench pull [--runs N] [--fixture-dir DIR] [--fixture debian|large|both]
//! [--case cold|after-rm|both] [--berth-cmd CMD] [--berth-rm-cmd CMD]`: the time to pull two
//! ~110-130 MB images (one heavy in small files, one of large incompressible files) from a
//! loopback registry, cold and right after a removal, berth beside `docker pull`, `podman pull`
//! and `skopeo copy` (the floor), see pull.rs.
//!
//! `berth-bench containers [--runs N] [--starts N] [--idle N] [--containers N] [--no-berth] ...`:
//! containers through berthd beside dockerd and podman on the same busybox
//! image: `run --rm` through each engine's CLI and the docker CLI against
//! both daemons, daemon start to the first `/_ping`, idle daemon memory,
//! the shim's memory per running container, `docker ps` with 100 running,
//! see containers.rs.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

mod containers;
mod pull;
mod stats;

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench runtime [--runs N] [--berth PATH] [--runc PATH]\n       \
         berth-bench stats [--containers N] [--rounds R] [--berth PATH] [--runc PATH]\n       \
         berth-bench pull [--runs N] [--fixture-dir DIR] [--fixture debian|large|both] [--case cold|after-rm|both]\n                          [--berthd PATH | --library | --berth-cmd CMD [--berth-rm-cmd CMD]]\n       \
         berth-bench containers [--runs N] [--starts N] [--idle N] [--containers N]\n       \
         \x20                     [--berthd PATH] [--berth PATH] [--shim PATH] [--no-berth]"
    );
    std::process::exit(2)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("runtime") => runtime(&args[1..]),
        Some("stats") => stats::run(&args[1..]),
        Some("pull") => pull::run(&args[1..]),
        Some("containers") => containers::run(&args[1..]),
        _ => usage(),
    }
}

struct Peer {
    name: &'static str,
    bin: PathBuf,
    root: tempfile::TempDir,
    times: Vec<Duration>,
    /// Peak RSS of one `run` (the runtime and what it waited for), in KiB.
    max_rss_kb: i64,
}

/// Builds a bundle: a busybox rootfs and the runtime's default spec turned
/// into a non-interactive `true` with its own cgroup.
pub(crate) fn bundle(dir: &Path, berth: &Path) -> Result<()> {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox"))
        .context("copy /bin/busybox (install busybox-static)")?;
    for name in ["sh", "true", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(name))?;
    }
    let st = Command::new(berth)
        .arg("spec")
        .arg("--bundle")
        .arg(dir)
        .status()?;
    if !st.success() {
        bail!("{} spec failed", berth.display());
    }
    let path = dir.join("config.json");
    let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["true"]);
    spec["linux"]["cgroupsPath"] = format!("/berth-bench-{}", std::process::id()).into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

/// Runs one container and returns its wall time and peak RSS (KiB).
fn run_once(p: &Peer, bundle: &Path, id: &str) -> Result<(Duration, i64)> {
    let start = Instant::now();
    let child = Command::new(&p.bin)
        .arg("--root")
        .arg(p.root.path())
        .args(["run", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let pid = i32::try_from(child.id())?;
    let mut status = 0;
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: wait4 on our own child; status and the zeroed rusage are valid
    // out-pointers for the duration of the call.
    let ret = unsafe { libc::wait4(pid, &mut status, 0, ru.as_mut_ptr()) };
    let el = start.elapsed();
    if ret != pid {
        bail!("wait4 {}: {}", p.name, std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{} run failed (wait status {status})", p.name);
    }
    // SAFETY: wait4 succeeded and filled the struct.
    let ru = unsafe { ru.assume_init() };
    Ok((el, ru.ru_maxrss))
}

pub(crate) fn summary(times: &[Duration]) -> (f64, f64, f64) {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let mean = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    // Nearest-rank percentile over at most a few thousand samples.
    let pct = |per_mille: usize| ms[(ms.len().saturating_sub(1) * per_mille + 500) / 1000];
    (mean, pct(500), pct(900))
}

fn runtime(args: &[String]) -> Result<()> {
    let mut runs = 100usize;
    let mut berth = std::env::current_exe()?.with_file_name("berth-runtime");
    let mut runc = PathBuf::from("/usr/sbin/runc");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => {
                runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--berth" => berth = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--runc" => runc = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    if !berth.exists() {
        bail!(
            "{} not found: build it with `make release` (static: target/x86_64-unknown-linux-musl/release-runtime/berth-runtime)",
            berth.display()
        );
    }
    let dir = tempfile::tempdir()?;
    bundle(dir.path(), &berth)?;
    let mut peers = vec![Peer {
        name: "berth-runtime",
        bin: berth,
        root: tempfile::tempdir()?,
        times: Vec::new(),
        max_rss_kb: 0,
    }];
    if runc.exists() {
        peers.push(Peer {
            name: "runc",
            bin: runc,
            root: tempfile::tempdir()?,
            times: Vec::new(),
            max_rss_kb: 0,
        });
    } else {
        eprintln!(
            "runc not found at {}: measuring berth-runtime alone",
            runc.display()
        );
    }
    let id = format!("bench-{}", std::process::id());
    for p in &peers {
        for _ in 0..5 {
            run_once(p, dir.path(), &id)?;
        }
    }
    for i in 0..runs {
        for p in peers.iter_mut() {
            let (t, rss) = run_once(p, dir.path(), &format!("{id}-{i}"))?;
            p.times.push(t);
            p.max_rss_kb = p.max_rss_kb.max(rss);
        }
    }
    println!("runtime `run` of a busybox bundle running `true` ({runs} runs each, interleaved)");
    println!(
        "{:<15} {:>10} {:>10} {:>10} {:>14}",
        "runtime", "mean ms", "median ms", "p90 ms", "peak RSS KiB"
    );
    for p in &peers {
        let (mean, med, p90) = summary(&p.times);
        println!(
            "{:<15} {:>10.2} {:>10.2} {:>10.2} {:>14}",
            p.name, mean, med, p90, p.max_rss_kb
        );
    }
    if peers.len() == 2 {
        let (b, bm, _) = summary(&peers[0].times);
        let (r, rm, _) = summary(&peers[1].times);
        println!(
            "ratio runc/berth-runtime: {:.2}x (mean), {:.2}x (median); peak RSS {:.2}x smaller",
            r / b,
            rm / bm,
            peers[1].max_rss_kb as f64 / peers[0].max_rss_kb.max(1) as f64
        );
    }
    // Both runtimes leave the parent of their cgroupsPath: remove it.
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(h.path().join(format!("berth-bench-{}", std::process::id())));
    }
    Ok(())
}
