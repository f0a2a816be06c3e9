//! The three engines side by side: a private berthd (optional), a private
//! dockerd and podman with private directories (the pull benchmark's
//! daemons), each driven by its own CLI. Dropping [`Engines`] removes every
//! container first (through each engine's API, so that the shims, mounts
//! and cgroups go with them), then the daemons stop and their directories
//! go; the cgroup parents the engines made and left are removed last.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::pull::daemons::{docker_cli, Berthd, Dockerd, Podman};

/// The podman flags of the comparison: runc as runtime, the file events
/// backend and cgroupfs (no systemd), and docker's default ulimits.
const PODMAN_GLOBAL: &[&str] = &["--runtime", "runc"];
const PODMAN_RUN: &[&str] = &[
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// berthd's `--cgroup-parent`: one of this run's own.
pub(crate) fn berth_cgroup_parent() -> String {
    format!("berth-bench-{}", std::process::id())
}

/// The cgroup parents (one directory per hierarchy) the engines create:
/// berthd's (ours), podman's cgroupfs `libpod_parent` (dockerd's `/docker`
/// is removed by the pull bench's Dockerd).
fn cgroup_parent_names() -> [String; 2] {
    [berth_cgroup_parent(), "libpod_parent".to_owned()]
}

/// A berthd and the `berth` CLI beside it.
#[derive(Debug)]
pub(crate) struct Berth {
    pub daemon: Berthd,
    pub cli: PathBuf,
}

/// Which engine, through which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    /// `berth` against berthd.
    Berth,
    /// `docker` against berthd.
    DockerOnBerthd,
    /// `docker` against dockerd.
    Docker,
    /// `podman`, no daemon.
    Podman,
}

impl Client {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Client::Berth => "berth (berthd)",
            Client::DockerOnBerthd => "docker CLI -> berthd",
            Client::Docker => "docker CLI -> dockerd",
            Client::Podman => "podman",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Engines {
    pub berth: Option<Berth>,
    pub dockerd: Dockerd,
    pub podman: Podman,
    /// The cgroup parent directories that existed before we started.
    cgroups_before: Vec<PathBuf>,
}

/// `/sys/fs/cgroup/<hierarchy>/<parent>` for every hierarchy and parent.
fn cgroup_parents() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        for p in cgroup_parent_names() {
            out.push(h.path().join(p));
        }
    }
    out
}

/// Removes the empty cgroup `dir` and its empty descendants, deepest first
/// (cgroup directories are removed with rmdir, their files go with them).
fn remove_cgroup_tree(dir: &Path) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path());
        }
    }
    if let Err(e) = fs::remove_dir(dir) {
        eprintln!("cleanup: rmdir {}: {e}", dir.display());
    }
}

impl Engines {
    /// Records the cgroup parents already there; the daemons are started by
    /// the caller.
    pub(crate) fn new(berth: Option<Berth>, dockerd: Dockerd, podman: Podman) -> Self {
        Engines {
            berth,
            dockerd,
            podman,
            cgroups_before: cgroup_parents()
                .into_iter()
                .filter(|p| p.exists())
                .collect(),
        }
    }

    fn berthd(&self) -> Result<&Berth> {
        match &self.berth {
            Some(b) => Ok(b),
            None => bail!("no berthd in this run"),
        }
    }

    /// The command of `client` for `args` (a container verb and its
    /// arguments), with the private directories and sockets.
    pub(crate) fn command(&self, client: Client, args: &[&str]) -> Result<Command> {
        let docker_on = |sock: PathBuf, config: &Path| {
            let mut c = Command::new("docker");
            c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
                .env("DOCKER_CONFIG", config)
                .args(args);
            c
        };
        let mut c = match client {
            Client::Berth => {
                let b = self.berthd()?;
                let mut c = Command::new(&b.cli);
                c.env_remove("BERTH_HOST")
                    .env("DOCKER_CONFIG", b.daemon.dir().join("cli"))
                    .arg("-H")
                    .arg(format!("unix://{}", b.daemon.socket().display()))
                    .args(args);
                c
            }
            Client::DockerOnBerthd => {
                let b = self.berthd()?;
                docker_on(b.daemon.socket(), &b.daemon.dir().join("cli"))
            }
            Client::Docker => docker_on(self.dockerd.socket(), &self.dockerd.dir().join("cli")),
            Client::Podman => {
                let mut all: Vec<&str> = PODMAN_GLOBAL.to_vec();
                let (verb, rest) = args
                    .split_first()
                    .map_or((None, &[][..]), |(v, r)| (Some(*v), r));
                all.extend(verb);
                if verb == Some("run") {
                    all.extend(PODMAN_RUN);
                }
                all.extend(rest);
                self.podman.command(&all)
            }
        };
        c.stdin(Stdio::null());
        Ok(c)
    }

    /// Runs `args` with `client`; returns its stdout, fails unless it exits 0.
    pub(crate) fn output(&self, client: Client, args: &[&str]) -> Result<String> {
        let out = self
            .command(client, args)?
            .output()
            .with_context(|| format!("spawn {}", client.name()))?;
        if !out.status.success() {
            bail!(
                "{} {}: {} ({})",
                client.name(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The wall time of `args` with `client` (stdout discarded); fails
    /// unless it exits 0.
    pub(crate) fn time(&self, client: Client, args: &[&str]) -> Result<Duration> {
        let mut c = self.command(client, args)?;
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        let t = Instant::now();
        let out = c
            .output()
            .with_context(|| format!("spawn {}", client.name()))?;
        let el = t.elapsed();
        if !out.status.success() {
            bail!(
                "{} {}: {} ({})",
                client.name(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                out.status
            );
        }
        Ok(el)
    }

    /// Loads the `docker save` archive into berthd and podman.
    pub(crate) fn load(&self, archive: &Path) -> Result<()> {
        let a = archive.to_string_lossy();
        if let Some(b) = &self.berth {
            docker_cli(
                &b.daemon.socket(),
                &b.daemon.dir().join("cli"),
                &["load", "-i", &a],
            )
            .context("load the image into berthd")?;
        }
        self.podman
            .podman(&["load", "--quiet", "-i", &a])
            .context("load the image into podman")?;
        Ok(())
    }

    /// Removes every container of `client`'s engine.
    pub(crate) fn remove_all(&self, client: Client) -> Result<()> {
        if client == Client::Podman {
            self.output(client, &["rm", "--all", "--force", "--time", "0"])?;
            return Ok(());
        }
        let ids = self.output(client, &["ps", "-aq"])?;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        for chunk in ids.chunks(50) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk);
            self.output(client, &args)?;
        }
        Ok(())
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        let mut clients = vec![Client::Docker, Client::Podman];
        if self.berth.is_some() {
            clients.insert(0, Client::DockerOnBerthd);
        }
        for c in clients {
            if let Err(e) = self.remove_all(c) {
                eprintln!("cleanup: remove the containers of {}: {e:#}", c.name());
            }
        }
        // The daemons and podman's directories go when the fields drop,
        // after this; the cgroup parents are empty once the containers are.
        for cg in cgroup_parents() {
            if cg.exists() && !self.cgroups_before.contains(&cg) {
                remove_cgroup_tree(&cg);
            }
        }
    }
}
