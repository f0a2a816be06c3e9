//! A real registry for the image tests: Debian's `docker-registry` (distribution 2.8) on the
//! loopback of a network namespace of the test's own ([`private_net`], or dockerd's), with its
//! storage in a temp dir, killed in Drop (berth-testutil's fixture); and busybox images built
//! with umoci from busybox-static's /bin/busybox and pushed with skopeo.

#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testutil::Umoci;

pub use berth_testutil::REGISTRY_BIN;

/// Moves the test's thread into a network namespace of its own (see
/// `berth_testutil::ns::enter_private_net`): the registry, berthd, skopeo and curl the test
/// starts afterwards all share it, so nothing binds a port on the host. Call it first.
pub fn private_net() {
    berth_testutil::ns::enter_private_net().unwrap();
}

/// A port nothing listens on in a test's own network namespace.
pub const DEAD_PORT: u16 = 9;

/// A running docker-registry (berth-testutil's fixture), killed with its storage in Drop.
pub struct RegistryServer {
    inner: berth_testutil::Registry,
    pub port: u16,
}

impl RegistryServer {
    pub fn start() -> Self {
        Self::start_with(None, None)
    }

    /// Starts the registry in the network namespace `netns` (`/proc/PID/ns/net`) when given,
    /// on that namespace's loopback, else in the test thread's (see [`private_net`]).
    pub fn start_in(netns: Option<&Path>) -> Self {
        Self::start_with(netns, None)
    }

    /// A registry that wants `user`/`pass` (htpasswd, bcrypt).
    pub fn start_htpasswd(user: &str, pass: &str) -> Self {
        Self::start_with(None, Some((user, pass)))
    }

    /// A registry that wants `user`/`pass`, in the network namespace `netns` when given.
    pub fn start_htpasswd_in(netns: Option<&Path>, user: &str, pass: &str) -> Self {
        Self::start_with(netns, Some((user, pass)))
    }

    fn start_with(netns: Option<&Path>, htpasswd: Option<(&str, &str)>) -> Self {
        let mut builder = berth_testutil::Registry::builder();
        if let Some(ns) = netns {
            builder = builder.netns(ns);
        }
        if let Some((user, pass)) = htpasswd {
            builder = builder.htpasswd(user, pass);
        }
        let inner = builder.start().unwrap();
        RegistryServer {
            port: inner.port(),
            inner,
        }
    }

    pub fn host(&self) -> String {
        self.inner.host()
    }

    /// The registry's storage root.
    pub fn storage(&self) -> PathBuf {
        self.inner.storage()
    }

    /// The registry's file for blob `digest` (`sha256:<hex>`), to break it on purpose.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        self.inner.blob_file(digest)
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A busybox image as an OCI layout: layer 1 /bin/busybox and /bin/sh, layer 2
/// `/etc/berth-note` holding `note`; `CMD ["sh"]`, a label `berth.test=<note>`.
pub struct BuiltImage {
    pub dir: tempfile::TempDir,
    pub layout: PathBuf,
}

impl BuiltImage {
    pub fn build(note: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        let u = Umoci::init(&layout).unwrap();
        u.layer(
            &dir.path().join("bundle"),
            Some("COPY busybox /bin/"),
            berth_testutil::add_busybox,
        )
        .unwrap();
        // Each layer unpacks the image as it is by then.
        u.layer(
            &dir.path().join("bundle2"),
            Some("COPY note /etc/"),
            |root| {
                fs::create_dir_all(root.join("etc"))?;
                fs::write(root.join("etc/berth-note"), note)
            },
        )
        .unwrap();
        u.config(&[
            "--config.cmd",
            "sh",
            "--config.label",
            &format!("berth.test={note}"),
            "--architecture",
            "amd64",
            "--os",
            "linux",
        ])
        .unwrap();
        BuiltImage { dir, layout }
    }

    /// This image declared for `arch` instead (same layers, another config).
    pub fn for_arch(&self, arch: &str) -> BuiltImage {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        run(Command::new("cp").arg("-a").arg(&self.layout).arg(&layout));
        let image = format!("{}:latest", layout.display());
        run(Command::new("umoci").args(["config", "--image", &image, "--architecture", arch]));
        BuiltImage { dir, layout }
    }

    /// This image with one more layer: `/etc/berth-note` now holding `note`, and the label
    /// `berth.test=<note>`; the layers below are shared (same digests).
    pub fn derive(&self, note: &str) -> BuiltImage {
        let dir = tempfile::tempdir().unwrap();
        let layout = dir.path().join("layout");
        run(Command::new("cp").arg("-a").arg(&self.layout).arg(&layout));
        let u = Umoci::open(&layout);
        u.layer(
            &dir.path().join("bundle"),
            Some("COPY note /etc/"),
            |root| fs::write(root.join("etc/berth-note"), note),
        )
        .unwrap();
        u.config(&["--config.label", &format!("berth.test={note}")])
            .unwrap();
        BuiltImage { dir, layout }
    }

    /// `skopeo copy` to `docker://HOST/REPO:TAG` as Docker schema 2 (what docker push makes).
    pub fn push(&self, host: &str, repo_tag: &str) {
        self.push_in(None, host, repo_tag);
    }

    /// [`BuiltImage::push`] with `user:pass` credentials.
    pub fn push_as(&self, host: &str, repo_tag: &str, creds: &str) {
        run(Command::new("skopeo").args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            "--format",
            "v2s2",
            &format!("oci:{}:latest", self.layout.display()),
            &format!("docker://{host}/{repo_tag}"),
        ]));
    }

    /// [`BuiltImage::push`] from inside the network namespace `netns` when given.
    pub fn push_in(&self, netns: Option<&Path>, host: &str, repo_tag: &str) {
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .args(["--", "skopeo"]);
                c
            }
            None => Command::new("skopeo"),
        };
        run(cmd.args([
            "copy",
            "-q",
            "--dest-tls-verify=false",
            "--format",
            "v2s2",
            &format!("oci:{}:latest", self.layout.display()),
            &format!("docker://{host}/{repo_tag}"),
        ]));
    }
}

/// The layer digests of `HOST/REPO:TAG` as skopeo sees them.
pub fn skopeo_layers(host: &str, repo_tag: &str) -> Vec<String> {
    let out = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{host}/{repo_tag}"),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// Puts a Docker manifest list `HOST/REPO:TAG` whose entries are the manifests already pushed
/// as `HOST/REPO:<entry tag>`, each with its `(os, architecture)`; returns its digest.
pub fn push_index(host: &str, repo: &str, tag: &str, entries: &[(&str, &str, &str)]) -> String {
    let mut manifests = Vec::new();
    for (entry_tag, os, arch) in entries {
        let raw = Command::new("skopeo")
            .args(["inspect", "--tls-verify=false", "--raw"])
            .arg(format!("docker://{host}/{repo}:{entry_tag}"))
            .output()
            .unwrap();
        assert!(raw.status.success());
        let tmp = tempfile::NamedTempFile::new().unwrap();
        fs::write(tmp.path(), &raw.stdout).unwrap();
        let sum = run(Command::new("sha256sum").arg(tmp.path()));
        let hex = sum.split_whitespace().next().unwrap().to_owned();
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": format!("sha256:{hex}"),
            "size": raw.stdout.len(),
            "platform": {"os": os, "architecture": arch},
        }));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": manifests,
    })
    .to_string();
    let file = tempfile::NamedTempFile::new().unwrap();
    fs::write(file.path(), &index).unwrap();
    let out = run(Command::new("curl").args([
        "-sf",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/vnd.docker.distribution.manifest.list.v2+json",
        "--data-binary",
        &format!("@{}", file.path().display()),
        &format!("http://{host}/v2/{repo}/manifests/{tag}"),
        "-D",
        "-",
    ]));
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("docker-content-digest")
                .then(|| v.trim().to_owned())
        })
        .unwrap()
}

/// Whether the tools these tests need are installed (see `berth_testutil::require`: under CI a
/// missing one fails the test).
pub fn tools_available() -> bool {
    berth_testutil::require_files(
        &[
            REGISTRY_BIN,
            "/usr/bin/skopeo",
            "/usr/bin/umoci",
            "/bin/busybox",
        ],
        "docker-registry skopeo umoci busybox-static",
    )
}
