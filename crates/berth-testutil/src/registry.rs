//! A private registry (Debian's `docker-registry`, distribution 2.8) for tests that push and
//! pull: its storage in a temp dir, on 127.0.0.1 of a network namespace that belongs to the test
//! (the calling thread's, after [`crate::ns::enter_private_net`], or a given one entered with
//! `nsenter`), never the host's, so no test races another for a free host port; with optional
//! htpasswd basic auth or any other `auth:` section. Dropping it kills the registry and deletes its directory; the registry also
//! dies with the thread that started it (`PR_SET_PDEATHSIG`), so a test killed by a harness
//! timeout leaves nothing behind.

use std::fs;
use std::io;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::command::{die_with_parent, kill_group, run_command};

/// The registry binary Debian's docker-registry package installs.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How long the registry may take to answer on its port.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// How long one probe or helper command (htpasswd, ip, curl) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// How many ports are tried when the one picked is taken (by something else the test serves in
/// the same namespace).
const PORT_ATTEMPTS: usize = 5;

/// The next port to serve a registry on. The namespace is the test's own, so the only other
/// registries there are this process's: a counter keeps them apart.
static NEXT_PORT: AtomicU16 = AtomicU16::new(5000);

/// How a [`Registry`] is configured before it starts; see [`Registry::builder`].
#[derive(Debug, Clone, Default)]
pub struct RegistryBuilder {
    netns: Option<PathBuf>,
    htpasswd: Option<(String, String)>,
    auth_yaml: Option<String>,
    relative_urls: bool,
}

impl RegistryBuilder {
    /// Runs the registry in the network namespace `netns` (such as `/proc/PID/ns/net`, one the
    /// test made), on its loopback, which is brought up first. Without it, the registry runs in
    /// the calling thread's namespace, which must not be the host's (see
    /// [`crate::ns::enter_private_net`]).
    pub fn netns(mut self, netns: impl Into<PathBuf>) -> Self {
        self.netns = Some(netns.into());
        self
    }

    /// Requires basic auth as `user`/`pass` (an htpasswd file with a bcrypt entry).
    pub fn htpasswd(mut self, user: &str, pass: &str) -> Self {
        self.htpasswd = Some((user.to_owned(), pass.to_owned()));
        self
    }

    /// Uses `yaml` as the config's top-level `auth:` section, written as is (it must start with
    /// `auth:` and end with a newline); it replaces [`RegistryBuilder::htpasswd`].
    pub fn auth_yaml(mut self, yaml: impl Into<String>) -> Self {
        self.auth_yaml = Some(yaml.into());
        self
    }

    /// Has the registry send relative `Location` headers (`http.relativeurls`).
    pub fn relative_urls(mut self, on: bool) -> Self {
        self.relative_urls = on;
        self
    }

    /// Starts the registry and waits until it answers HTTP on its port.
    pub fn start(self) -> io::Result<Registry> {
        if self.netns.is_none() && crate::ns::in_host_net()? {
            return Err(io::Error::other(
                "a test registry serves only in a network namespace of the test's own: call \
                 berth_testutil::ns::enter_private_net() first, or give RegistryBuilder::netns",
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-test-registry-")
            .tempdir()?;
        fs::create_dir_all(dir.path().join("data"))?;
        let auth = match (&self.auth_yaml, &self.htpasswd) {
            (Some(yaml), _) => yaml.clone(),
            (None, Some((user, pass))) => {
                let out = run_command(
                    Command::new("htpasswd").args(["-Bbn", user, pass]),
                    None,
                    COMMAND_TIMEOUT,
                )?;
                if !out.success() {
                    return Err(io::Error::other(format!("htpasswd failed:\n{out}")));
                }
                let file = dir.path().join("htpasswd");
                fs::write(&file, &out.stdout)?;
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    file.display()
                )
            }
            (None, None) => String::new(),
        };
        if let Some(ns) = &self.netns {
            let out = run_command(
                nsenter(ns).args(["ip", "link", "set", "lo", "up"]),
                None,
                COMMAND_TIMEOUT,
            )?;
            if !out.success() {
                return Err(io::Error::other(format!("bring lo up:\n{out}")));
            }
        }
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
            let config = dir.path().join("config.yml");
            fs::write(&config, self.config(dir.path(), port, &auth))?;
            let log = fs::File::create(dir.path().join("registry.log"))?;
            let mut cmd = match &self.netns {
                Some(ns) => {
                    let mut c = nsenter(ns);
                    c.arg(REGISTRY_BIN);
                    c
                }
                None => Command::new(REGISTRY_BIN),
            };
            cmd.arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .process_group(0);
            die_with_parent(&mut cmd, libc::SIGKILL);
            let mut child = cmd.spawn()?;
            match wait_ready(&mut child, port, self.netns.as_deref()) {
                Ok(true) => return Ok(Registry { child, port, dir }),
                Ok(false) => {
                    stop(&mut child);
                    last_log = log_tail(dir.path());
                }
                Err(e) => {
                    stop(&mut child);
                    return Err(e);
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("docker-registry did not start:\n{last_log}"),
        ))
    }

    fn config(&self, dir: &Path, port: u16, auth: &str) -> String {
        format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-secret\n  relativeurls: {}\n{auth}",
            dir.join("data").display(),
            self.relative_urls,
        )
    }
}

/// `nsenter --net=NS --` (no fork: the command itself joins the namespace).
fn nsenter(ns: &Path) -> Command {
    let mut c = Command::new("nsenter");
    c.arg(format!("--net={}", ns.display())).arg("--");
    c
}

/// A running docker-registry; dropping it kills it and deletes its storage.
#[derive(Debug)]
pub struct Registry {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Registry {
    /// Whether docker-registry is installed.
    pub fn available() -> bool {
        Path::new(REGISTRY_BIN).exists()
    }

    /// A registry without auth on the loopback of the calling thread's (private) namespace.
    pub fn start() -> io::Result<Self> {
        Self::builder().start()
    }

    /// A builder for the other set-ups (auth, namespace, relative URLs).
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder::default()
    }

    /// The port on 127.0.0.1 (of the namespace it runs in).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's directory (config, log, storage).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The storage root (`storage.filesystem.rootdirectory`).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file holding blob `digest` (`sha256:<hex>`), to read or break it on purpose.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(hex.get(..2).unwrap_or(hex))
            .join(hex)
            .join("data")
    }

    /// The last lines of the registry's log, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(self.dir.path())
    }
}

/// Waits until the port answers: `Ok(false)` when the registry exited first (its port was
/// taken) or did not answer in time.
fn wait_ready(child: &mut Child, port: u16, netns: Option<&Path>) -> io::Result<bool> {
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_wait()?.is_some() {
            return Ok(false);
        }
        let up = match netns {
            None => TcpStream::connect(("127.0.0.1", port)).is_ok(),
            Some(ns) => {
                // Any HTTP status (401 with auth) means it is up; curl prints 000 otherwise.
                let url = format!("http://127.0.0.1:{}/v2/", port);
                let out = run_command(
                    nsenter(ns).args([
                        "curl",
                        "-s",
                        "-o",
                        "/dev/null",
                        "--max-time",
                        "2",
                        "-w",
                        "%{http_code}",
                        &url,
                    ]),
                    None,
                    COMMAND_TIMEOUT,
                )?;
                !out.stdout.is_empty() && out.stdout != "000"
            }
        };
        if up {
            return Ok(true);
        }
        thread::sleep(Duration::from_millis(20));
    }
    Ok(false)
}

fn stop(child: &mut Child) {
    kill_group(child.id());
    let _ = child.kill();
    let _ = child.wait();
}

fn log_tail(dir: &Path) -> String {
    let log = fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}
