//! `berth-bench stats`: the cost of collecting the stats of N running
//! containers (the work behind `docker stats` for a busy host).
//!
//! N `sleep` containers are started with each runtime, each in its own
//! cgroup. A round then collects every container's stats once, three ways:
//! `berth-runtime events --stats ID` and `runc events --stats ID` (a process
//! per container, as a shim or containerd would run them), and the in-process
//! library call the daemon uses (`berth_container::container::stats`, which
//! reads the saved state and the cgroup files). Rounds are interleaved and
//! every answer is checked (it must parse and count one pid).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use berth_container::{container, Store};

struct Fleet {
    name: &'static str,
    bin: PathBuf,
    root: tempfile::TempDir,
    ids: Vec<String>,
}

impl Fleet {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(self.root.path());
        c.stdin(Stdio::null());
        c
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = self
                .cmd()
                .args(["delete", "--force", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench stats [--containers N] [--rounds R] [--berth PATH] [--runc PATH]"
    );
    std::process::exit(2)
}

fn number(arg: Option<&String>) -> usize {
    arg.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
}

/// The cgroup parent of every container of this run.
fn cgroup_parent() -> String {
    format!("berth-bench-stats-{}", std::process::id())
}

/// Starts `n` detached `sleep` containers sharing the rootfs under `template`.
fn start_fleet(
    name: &'static str,
    bin: PathBuf,
    template: &Path,
    base: &Path,
    n: usize,
) -> Result<Fleet> {
    let mut fleet = Fleet {
        name,
        bin,
        root: tempfile::tempdir()?,
        ids: Vec::new(),
    };
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(template.join("config.json"))?)?;
    spec["root"]["path"] = template
        .join("rootfs")
        .to_string_lossy()
        .into_owned()
        .into();
    spec["root"]["readonly"] = true.into();
    spec["process"]["args"] = serde_json::json!(["sleep", "1000000"]);
    for i in 0..n {
        let id = format!("stats-{name}-{i}");
        let dir = base.join(&id);
        std::fs::create_dir_all(&dir)?;
        spec["linux"]["cgroupsPath"] = format!("/{}/{id}", cgroup_parent()).into();
        std::fs::write(dir.join("config.json"), serde_json::to_vec(&spec)?)?;
        let st = fleet
            .cmd()
            .args(["run", "--detach", "--bundle"])
            .arg(&dir)
            .arg(&id)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("spawn {}", fleet.bin.display()))?;
        if !st.success() {
            bail!("{name} run --detach {id} failed ({st})");
        }
        fleet.ids.push(id);
    }
    Ok(fleet)
}

/// Checks one stats document: the container's one `sleep`.
fn check(name: &str, id: &str, data: &serde_json::Value) -> Result<()> {
    let pids = data["pids"]["current"].as_u64();
    if pids != Some(1) {
        bail!("{name} stats of {id}: pids.current {pids:?}, expected 1: {data}");
    }
    Ok(())
}

/// One `events --stats` per container, in sequence.
fn round_cli(f: &Fleet) -> Result<Duration> {
    let t = Instant::now();
    for id in &f.ids {
        let out = f.cmd().args(["events", "--stats", id]).output()?;
        if !out.status.success() {
            bail!(
                "{} events --stats {id}: {}",
                f.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let event: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("{} events --stats {id} printed no JSON", f.name))?;
        check(f.name, id, &event["data"])?;
    }
    Ok(t.elapsed())
}

/// The daemon's way: the library call, in process.
fn round_library(f: &Fleet) -> Result<Duration> {
    let t = Instant::now();
    let store = Store::open(f.root.path())?;
    for id in &f.ids {
        let s = container::stats(&store, id)?;
        check("library", id, &serde_json::to_value(&s)?)?;
    }
    Ok(t.elapsed())
}

pub fn run(args: &[String]) -> Result<()> {
    let mut n = 100usize;
    let mut rounds = 5usize;
    let mut berth = std::env::current_exe()?.with_file_name("berth-runtime");
    let mut runc = PathBuf::from("/usr/sbin/runc");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--containers" => n = number(it.next()),
            "--rounds" => rounds = number(it.next()),
            "--berth" => berth = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--runc" => runc = it.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    if !berth.exists() {
        bail!("{} not found: run `make release`", berth.display());
    }
    if !runc.exists() {
        bail!("runc not found at {}: apt-get install runc", runc.display());
    }
    let base = tempfile::tempdir()?;
    let template = base.path().join("template");
    crate::bundle(&template, &berth)?;

    let result = (|| -> Result<()> {
        eprintln!("starting {n} containers with each runtime...");
        let fleets = [
            start_fleet("berth-runtime", berth, &template, base.path(), n)?,
            start_fleet("runc", runc, &template, base.path(), n)?,
        ];
        let (mut b_cli, mut r_cli, mut lib) = (Vec::new(), Vec::new(), Vec::new());
        // One warm-up round, then the measured ones.
        for round in 0..=rounds {
            let times = (
                round_cli(&fleets[0])?,
                round_cli(&fleets[1])?,
                round_library(&fleets[0])?,
            );
            if round > 0 {
                b_cli.push(times.0);
                r_cli.push(times.1);
                lib.push(times.2);
            }
        }
        println!("stats of {n} running containers, {rounds} rounds (after one warm-up)");
        println!(
            "{:<36} {:>12} {:>12} {:>14}",
            "how", "mean ms", "median ms", "per ctr us"
        );
        let row = |how: &str, t: &[Duration]| {
            let (mean, median, _) = crate::summary(t);
            println!(
                "{how:<36} {mean:>12.2} {median:>12.2} {:>14.1}",
                mean * 1000.0 / n as f64
            );
            mean
        };
        let r = row("runc events --stats (a process each)", &r_cli);
        let b = row("berth-runtime events --stats", &b_cli);
        let l = row("berth library call (daemon)", &lib);
        println!(
            "ratio runc/berth-runtime: {:.2}x; runc/library: {:.1}x",
            r / b,
            r / l
        );
        Ok(())
    })();
    // The fleets were dropped (deleted) inside the closure; their parent
    // cgroups remain in every hierarchy.
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(h.path().join(cgroup_parent()));
    }
    result
}
