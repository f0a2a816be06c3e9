//! save, load and import through berthd, driven by the real docker CLI (and berth's), checked
//! against a private real dockerd (Debian's docker.io 20.10, the `Dockerd` fixture) and skopeo:
//! an image with a whiteout and an opaque directory goes dockerd -> berthd -> dockerd and runs
//! there with the same files; skopeo's OCI archives (gzip and zstd layers) load with the ids a
//! pull gives, and skopeo reads berthd's archives both as docker-archive and as OCI archive;
//! `docker import` gives dockerd's layer; hostile archives are refused and leave nothing behind.
//! Needs docker.io (dockerd and the CLI), docker-registry, skopeo, umoci, busybox-static, tar,
//! gzip and curl; root. busybox's httpd serves the import from a URL on loopback.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testutil::{run_command, Dockerd, Output};
use common::registry::{run, BuiltImage, RegistryServer};
use common::{parse_response, Berthd, TIMEOUT};
use serde_json::{json, Value};

fn sha256_hex(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_owned()
}

/// `tar` of the contents of `dir` with fixed owners and times (GNU tar).
fn tar_dir(dir: &Path, out: &Path) {
    run(Command::new("tar")
        .args([
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-C",
        ])
        .arg(dir)
        .arg("-cf")
        .arg(out)
        .arg("."));
}

/// A two-layer busybox image built by hand: layer 1 has /bin/busybox, /bin/sh, /etc/a,
/// /etc/b, /dir/x, /dir/y; layer 2 deletes /etc/a (a `.wh.a` whiteout), makes /dir opaque
/// (`.wh..wh..opq`) and adds /dir/z. In a container: /etc holds b, /dir holds z.
struct WhiteoutImage {
    dir: tempfile::TempDir,
    /// `docker save`'s format (manifest.json), tagged `wh:1`.
    docker_archive: PathBuf,
    /// An OCI layout (index.json, gzip layers) named `docker.io/library/wh:oci`.
    oci_archive: PathBuf,
    config_id: String,
    diff_ids: Vec<String>,
}

/// What `ls /dir /etc/b; test -e /etc/a || echo gone` prints in a container of
/// [`WhiteoutImage`] (dockerd adds its own files to /etc, hence the single names).
const WHITEOUT_LS: &str = "/etc/b\n\n/dir:\nz\ngone\n";

impl WhiteoutImage {
    fn build() -> WhiteoutImage {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let l1 = d.join("l1");
        fs::create_dir_all(l1.join("bin")).unwrap();
        fs::create_dir_all(l1.join("etc")).unwrap();
        fs::create_dir_all(l1.join("dir")).unwrap();
        fs::copy("/bin/busybox", l1.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", l1.join("bin/sh")).unwrap();
        for f in ["etc/a", "etc/b", "dir/x", "dir/y"] {
            fs::write(l1.join(f), f).unwrap();
        }
        let l2 = d.join("l2");
        fs::create_dir_all(l2.join("etc")).unwrap();
        fs::create_dir_all(l2.join("dir")).unwrap();
        fs::write(l2.join("etc/.wh.a"), "").unwrap();
        fs::write(l2.join("dir/.wh..wh..opq"), "").unwrap();
        fs::write(l2.join("dir/z"), "z").unwrap();
        let layers: Vec<PathBuf> = ["l1", "l2"]
            .iter()
            .map(|l| {
                let out = d.join(format!("{l}.tar"));
                tar_dir(&d.join(l), &out);
                out
            })
            .collect();
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|l| format!("sha256:{}", sha256_hex(l)))
            .collect();
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [
                {"created": "2024-01-01T00:00:00Z", "created_by": "layer 1"},
                {"created": "2024-01-01T00:00:00Z", "created_by": "layer 2"},
            ],
        }))
        .unwrap();
        let config_path = d.join("config.json");
        fs::write(&config_path, &config).unwrap();
        let config_hex = sha256_hex(&config_path);

        // docker-archive.
        let da = d.join("da");
        fs::create_dir_all(&da).unwrap();
        fs::write(da.join(format!("{config_hex}.json")), &config).unwrap();
        let mut legacy = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            let ld = da.join(format!("layer{i}"));
            fs::create_dir_all(&ld).unwrap();
            fs::copy(l, ld.join("layer.tar")).unwrap();
            legacy.push(format!("layer{i}/layer.tar"));
        }
        fs::write(
            da.join("manifest.json"),
            serde_json::to_vec(&json!([{
                "Config": format!("{config_hex}.json"),
                "RepoTags": ["wh:1"],
                "Layers": legacy,
            }]))
            .unwrap(),
        )
        .unwrap();
        let docker_archive = d.join("docker-archive.tar");
        tar_dir(&da, &docker_archive);

        // OCI layout with gzip layers.
        let oci = d.join("oci");
        let blobs = oci.join("blobs/sha256");
        fs::create_dir_all(&blobs).unwrap();
        let mut descs = Vec::new();
        for l in &layers {
            let gz = l.with_extension("tar.gz");
            let out = Command::new("gzip").arg("-nc").arg(l).output().unwrap();
            assert!(out.status.success());
            fs::write(&gz, &out.stdout).unwrap();
            let hex = sha256_hex(&gz);
            fs::copy(&gz, blobs.join(&hex)).unwrap();
            descs.push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": format!("sha256:{hex}"),
                "size": out.stdout.len(),
            }));
        }
        fs::write(blobs.join(&config_hex), &config).unwrap();
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": format!("sha256:{config_hex}"),
                "size": config.len(),
            },
            "layers": descs,
        }))
        .unwrap();
        let mpath = d.join("manifest.json");
        fs::write(&mpath, &manifest).unwrap();
        let mhex = sha256_hex(&mpath);
        fs::write(blobs.join(&mhex), &manifest).unwrap();
        fs::write(oci.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        fs::write(
            oci.join("index.json"),
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "manifests": [{
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": format!("sha256:{mhex}"),
                    "size": manifest.len(),
                    "annotations": {
                        "io.containerd.image.name": "docker.io/library/wh:oci",
                        "org.opencontainers.image.ref.name": "oci",
                    },
                }],
            }))
            .unwrap(),
        )
        .unwrap();
        let oci_archive = d.join("oci-archive.tar");
        tar_dir(&oci, &oci_archive);
        WhiteoutImage {
            dir,
            docker_archive,
            oci_archive,
            config_id: format!("sha256:{config_hex}"),
            diff_ids,
        }
    }

    /// A copy of the docker-archive tree edited by `f`, tarred.
    fn docker_archive_edited(&self, name: &str, f: impl FnOnce(&Path)) -> PathBuf {
        let src = self.dir.path().join("da");
        let copy = self.dir.path().join(format!("edit-{name}"));
        run(Command::new("cp").arg("-a").arg(&src).arg(&copy));
        f(&copy);
        let out = self.dir.path().join(format!("{name}.tar"));
        tar_dir(&copy, &out);
        out
    }

    fn oci_archive_edited(&self, name: &str, f: impl FnOnce(&Path)) -> PathBuf {
        let src = self.dir.path().join("oci");
        let copy = self.dir.path().join(format!("edit-{name}"));
        run(Command::new("cp").arg("-a").arg(&src).arg(&copy));
        f(&copy);
        let out = self.dir.path().join(format!("{name}.tar"));
        tar_dir(&copy, &out);
        out
    }
}

fn id_and_layers(out: Output) -> String {
    out.assert_success().stdout_trimmed().to_owned()
}

const ID_LAYERS: &str = "{{.Id}} {{.RootFS.Layers}}";

fn dockerd() -> Option<Dockerd> {
    if !berth_testutil::require(Dockerd::available(), "dockerd (apt-get install docker.io)") {
        return None;
    }
    Some(Dockerd::start(&[]).unwrap_or_else(|e| panic!("start dockerd: {e}")))
}

/// The snapshots (layers) under berthd's root.
fn snapshots(d: &Berthd) -> Vec<String> {
    let mut out = Vec::new();
    for driver in ["overlay", "vfs"] {
        if let Ok(rd) = fs::read_dir(d.root().join("snapshots").join(driver).join("snapshots")) {
            out.extend(rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()));
        }
    }
    out.sort();
    out
}

#[test]
fn images_go_dockerd_to_berthd_to_dockerd_and_keep_every_layer_and_whiteout() {
    let Some(dockerd) = dockerd() else { return };
    let berthd = Berthd::start();
    let image = WhiteoutImage::build();
    let work = tempfile::tempdir().unwrap();
    let p = |n: &str| work.path().join(n).to_str().unwrap().to_owned();

    // The fixture loads into dockerd; its container shows what the whiteouts leave.
    let out = dockerd.docker(&["load", "-i", image.docker_archive.to_str().unwrap()]);
    assert_eq!(out.stdout, "Loaded image: wh:1\n");
    let expected = format!("{} [{}]", image.config_id, image.diff_ids.join(" "));
    assert_eq!(
        id_and_layers(dockerd.docker(&["image", "inspect", "-f", ID_LAYERS, "wh:1"])),
        expected
    );
    let ls = [
        "run",
        "--rm",
        "--network",
        "none",
        "wh:1",
        "/bin/busybox",
        "sh",
        "-c",
        "busybox ls /dir /etc/b; busybox test -e /etc/a || echo gone",
    ];
    let out = dockerd.docker(&ls);
    assert_eq!(out.stdout, WHITEOUT_LS, "{out}");

    // dockerd's save loads into berthd: the same lines, id and layers.
    dockerd.docker(&["tag", "wh:1", "wh:2"]);
    dockerd.docker(&["save", "-o", &p("from-dockerd.tar"), "wh:1", "wh:2"]);
    let out = berthd.docker(&["load", "-i", &p("from-dockerd.tar")]);
    let mut lines: Vec<&str> = out.assert_success().stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["Loaded image: wh:1", "Loaded image: wh:2"]);
    for name in ["wh:1", "wh:2"] {
        assert_eq!(
            id_and_layers(berthd.docker(&["image", "inspect", "-f", ID_LAYERS, name])),
            expected
        );
    }
    // Loading it again is a no-op with the same lines, as dockerd.
    let (a, b) = (
        berthd.docker(&["load", "-i", &p("from-dockerd.tar")]),
        dockerd.docker(&["load", "-i", &p("from-dockerd.tar")]),
    );
    let sorted = |o: &Output| {
        let mut v: Vec<String> = o.stdout.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(sorted(&a), sorted(&b));

    // berthd's save loads into dockerd (after removing the image there) and runs the same.
    dockerd.docker(&["rmi", "wh:1", "wh:2"]).assert_success();
    berthd
        .docker(&["save", "-o", &p("from-berthd.tar"), "wh:1"])
        .assert_success();
    let out = dockerd.docker(&["load", "-i", &p("from-berthd.tar")]);
    assert_eq!(out.stdout, "Loaded image: wh:1\n");
    assert_eq!(
        id_and_layers(dockerd.docker(&["image", "inspect", "-f", ID_LAYERS, "wh:1"])),
        expected
    );
    let out = dockerd.docker(&ls);
    assert_eq!(out.stdout, WHITEOUT_LS, "{out}");
    // Docker's other order: stdout, by id (untagged), as dockerd loads it.
    dockerd.docker(&["rmi", "wh:1"]).assert_success();
    let mut cmd = Command::new("docker");
    cmd.env("DOCKER_HOST", berthd.host())
        .args(["save", &image.config_id]);
    cmd.stdout(fs::File::create(p("by-id.tar")).unwrap());
    assert!(cmd.status().unwrap().success());
    let out = dockerd.docker(&["load", "-i", &p("by-id.tar")]);
    assert_eq!(
        out.stdout,
        format!("Loaded image ID: {}\n", image.config_id)
    );

    // Unknown names: dockerd's 404s and words.
    for name in ["nosuch", "nosuch:1"] {
        let (a, b) = (
            berthd.docker(&["save", "-o", &p("x.tar"), name]),
            dockerd
                .docker_command(&["save", "-o", &p("y.tar"), name])
                .output()
                .unwrap(),
        );
        assert_eq!(
            a.assert_failure().stderr,
            String::from_utf8_lossy(&b.stderr),
            "{name}"
        );
        let url = format!("http://d/v1.41/images/get?names={name}");
        let (a, b) = (
            berthd.curl(&["-i", &url]),
            common::curl(&dockerd.socket(), &["-i", &url]),
        );
        let (sa, _, ba) = parse_response(&a.stdout);
        let (sb, _, bb) = parse_response(&b.stdout);
        assert_eq!((sa, ba), (sb, bb), "{name}");
        assert_eq!(sa, 404);
    }
    let url = "http://d/v1.41/images/nosuch/get";
    let (sa, _, ba) = parse_response(&berthd.curl(&["-i", url]).stdout);
    let (sb, _, bb) = parse_response(&common::curl(&dockerd.socket(), &["-i", url]).stdout);
    assert_eq!((sa, ba), (sb, bb));

    // Archives both daemons refuse, with the error as the stream's last line (200), as dockerd.
    let truncated = p("truncated.tar");
    let data = fs::read(&image.docker_archive).unwrap();
    fs::write(&truncated, &data[..data.len() / 2]).unwrap();
    let dotdot = image.docker_archive_edited("dotdot", |d| {
        let m: Value = serde_json::from_slice(&fs::read(d.join("manifest.json")).unwrap()).unwrap();
        let mut m = m;
        m[0]["Layers"][1] = json!("../../../../etc/passwd");
        fs::write(d.join("manifest.json"), m.to_string()).unwrap();
    });
    for bad in [&truncated, dotdot.to_str().unwrap()] {
        let a = berthd.docker(&["load", "-i", bad]);
        let b = dockerd
            .docker_command(&["load", "-i", bad])
            .output()
            .unwrap();
        assert_eq!(a.code(), b.status.code(), "{a}");
        a.assert_failure();
        let url = "http://d/v1.41/images/load?quiet=1";
        let body = format!("@{bad}");
        let args = [
            "-i",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-tar",
            "-H",
            "Expect:",
            "--data-binary",
            &body,
            url,
        ];
        let (sa, _, ba) = parse_response(&berthd.curl(&args).stdout);
        let (sb, _, bb) = parse_response(&common::curl(&dockerd.socket(), &args).stdout);
        assert_eq!((sa, sb), (200, 200));
        let (ja, jb): (Value, Value) = (
            serde_json::from_str(ba.lines().last().unwrap()).unwrap(),
            serde_json::from_str(bb.lines().last().unwrap()).unwrap(),
        );
        assert!(
            ja["error"].is_string() && jb["error"].is_string(),
            "{ba} / {bb}"
        );
        assert_eq!(ja["error"], ja["errorDetail"]["message"]);
    }
}

#[test]
fn docker_import_gives_dockerds_layer_and_config() {
    common::registry::private_net();
    let Some(dockerd) = dockerd() else { return };
    let berthd = Berthd::start();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    fs::write(rootfs.join("hello"), "hi").unwrap();
    let tar = work.path().join("rootfs.tar");
    tar_dir(&rootfs, &tar);
    let gz = work.path().join("rootfs.tar.gz");
    let out = Command::new("gzip").arg("-c").arg(&tar).output().unwrap();
    fs::write(&gz, out.stdout).unwrap();
    let zst = work.path().join("rootfs.tar.zst");
    let zstd_ok = Command::new("zstd")
        .arg("-q")
        .arg(&tar)
        .arg("-o")
        .arg(&zst)
        .status()
        .is_ok_and(|s| s.success());
    let diff_id = format!("sha256:{}", sha256_hex(&tar));

    let changes = [
        "-c",
        r#"CMD ["sh", "-c", "cat /hello"]"#,
        "-c",
        "ENV A=b C=d",
        "-c",
        "WORKDIR /srv",
        "-c",
        "USER 0:0",
        "-c",
        "EXPOSE 8080",
        "-c",
        "LABEL k=v",
        "-c",
        "VOLUME /data",
    ];
    let show = "{{.RootFS.Layers}} {{.Config.Cmd}} {{.Config.Env}} {{.Config.WorkingDir}} \
                {{.Config.User}} {{.Config.ExposedPorts}} {{.Config.Labels}} {{.Config.Volumes}} \
                {{.Config.Entrypoint}} {{.Architecture}} {{.Os}} {{.Comment}}";
    let mut sources = vec![tar.clone(), gz.clone()];
    if zstd_ok {
        sources.push(zst);
    }
    for (i, src) in sources.iter().enumerate() {
        let name = format!("imp:{i}");
        let mut args = vec!["import"];
        args.extend(changes);
        args.extend(["-m", "imported here", src.to_str().unwrap(), &name]);
        let a = berthd.docker(&args);
        let id = a.assert_success().stdout_trimmed().to_owned();
        assert!(id.starts_with("sha256:") && id.len() == 71, "{a}");
        assert_eq!(
            berthd
                .docker(&["image", "inspect", "-f", "{{.Id}}", &name])
                .stdout_trimmed(),
            id
        );
        // dockerd imports the plain tar and gzip (its zstd support came later).
        let theirs_src = if i == 2 { &tar } else { src };
        let mut args = vec!["import"];
        args.extend(changes);
        args.extend(["-m", "imported here", theirs_src.to_str().unwrap(), &name]);
        dockerd.docker(&args).assert_success();
        let ours = berthd.docker(&["image", "inspect", "-f", show, &name]);
        let theirs = dockerd.docker(&["image", "inspect", "-f", show, &name]);
        assert_eq!(
            ours.assert_success().stdout,
            theirs.stdout,
            "{}",
            src.display()
        );
        assert!(ours.stdout.starts_with(&format!("[{diff_id}]")), "{ours}");
        let h = [
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}|{{.Comment}}",
            &name,
        ];
        assert_eq!(berthd.docker(&h).stdout, dockerd.docker(&h).stdout);
    }
    // Without a message or a name: "Imported from -", untagged.
    let a = berthd.docker(&["import", tar.to_str().unwrap()]);
    let id = a.assert_success().stdout_trimmed().to_owned();
    let h = ["history", "--format", "{{.Comment}}", &id];
    assert_eq!(berthd.docker(&h).stdout, "Imported from -\n");
    // The imported image saves and runs in dockerd.
    let saved = work.path().join("imp.tar");
    berthd
        .docker(&["save", "-o", saved.to_str().unwrap(), "imp:1"])
        .assert_success();
    dockerd.docker(&["rmi", "imp:1"]).assert_success();
    dockerd.docker(&["load", "-i", saved.to_str().unwrap()]);
    let out = dockerd.docker(&["run", "--rm", "--network", "none", "imp:1"]);
    assert_eq!(out.stdout, "hi");

    // Bad changes and URLs are refused before anything is stored.
    let a = berthd.docker(&["import", "-c", "RUN true", tar.to_str().unwrap(), "bad:1"]);
    let b = dockerd
        .docker_command(&["import", "-c", "RUN true", tar.to_str().unwrap(), "bad:1"])
        .output()
        .unwrap();
    assert_eq!(
        a.assert_failure().stderr,
        String::from_utf8_lossy(&b.stderr)
    );
    let url = "http://d/v1.41/images/create?fromSrc=http%3A%2F%2F192.0.2.1%2Fx.tar&repo=u";
    let (status, _, body) = parse_response(&berthd.curl(&["-i", "-X", "POST", url]).stdout);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is refused"), "{body}");

    // A URL on this machine is fetched: the same layer as from the file.
    let server = HttpServer::start(work.path());
    let url = format!("http://127.0.0.1:{}/rootfs.tar.gz", server.port);
    let out = berthd.docker(&["import", "-c", "CMD [\"sh\"]", &url, "fromurl:1"]);
    out.assert_success();
    let show = [
        "image",
        "inspect",
        "-f",
        "{{.RootFS.Layers}} {{.Config.Cmd}}",
        "fromurl:1",
    ];
    assert_eq!(
        berthd.docker(&show).stdout_trimmed(),
        format!("[{diff_id}] [sh]")
    );
    let h = ["history", "--format", "{{.Comment}}", "fromurl:1"];
    assert_eq!(berthd.docker(&h).stdout, format!("Imported from {url}\n"));
    let missing = format!("http://127.0.0.1:{}/nosuch.tar", server.port);
    let out = berthd.docker(&["import", &missing]);
    assert!(out.assert_failure().stderr.contains("404"), "{out}");
}

/// busybox's httpd on port 8080 of the test's own network namespace serving `dir`, killed in
/// Drop.
struct HttpServer {
    child: std::process::Child,
    port: u16,
}

impl HttpServer {
    fn start(dir: &Path) -> HttpServer {
        let port = 8080;
        let child = Command::new("/bin/busybox")
            .args(["httpd", "-f", "-p"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-h")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = HttpServer { child, port };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "http.server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        server
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn oci_archives_from_skopeo_and_by_hand_load_and_berthds_archives_read_as_both_formats() {
    common::registry::private_net();
    if !common::registry::tools_available() {
        return;
    }
    let registry = RegistryServer::start();
    let built = BuiltImage::build("oci");
    built.push(&registry.host(), "x:v1");
    let berthd = Berthd::start();
    let name = format!("{}/x:v1", registry.host());
    berthd.docker(&["pull", "-q", &name]).assert_success();
    let pulled = id_and_layers(berthd.docker(&["image", "inspect", "-f", ID_LAYERS, &name]));
    berthd.docker(&["rmi", &name]).assert_success();
    let work = tempfile::tempdir().unwrap();
    let p = |n: &str| work.path().join(n).to_str().unwrap().to_owned();
    let skopeo = |args: &[&str]| {
        let mut c = Command::new("skopeo");
        c.args(["copy", "-q", "--src-tls-verify=false"]).args(args);
        run(&mut c);
    };

    // The image id of an OCI archive: skopeo's conversion to OCI rewrites the config, so it
    // is the archive manifest's config digest; the diff IDs stay the pull's.
    let layers_of = |s: &str| s.split_once(' ').unwrap().1.to_owned();
    let archive_id = |archive: &str| -> String {
        let raw = run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            &format!("oci-archive:{archive}"),
        ]));
        let m: Value = serde_json::from_str(&raw).unwrap();
        m["config"]["digest"].as_str().unwrap().to_owned()
    };

    // Named (gzip layers, as the registry has them).
    let loaded = format!("{}/x:loaded", registry.host());
    skopeo(&[
        &format!("docker://{name}"),
        &format!("oci-archive:{}:{loaded}", p("named.tar")),
    ]);
    let out = berthd.docker(&["load", "-i", &p("named.tar")]);
    assert_eq!(
        out.assert_success().stdout,
        format!("Loaded image: {loaded}\n")
    );
    let shown = id_and_layers(berthd.docker(&["image", "inspect", "-f", ID_LAYERS, &loaded]));
    assert_eq!(
        shown,
        format!("{} {}", archive_id(&p("named.tar")), layers_of(&pulled))
    );

    // Unnamed, zstd layers: the same layers, by id.
    skopeo(&[
        "--dest-compress-format",
        "zstd",
        "--dest-compress",
        &format!("docker://{name}"),
        &format!("oci-archive:{}", p("zstd.tar")),
    ]);
    let zstd_id = archive_id(&p("zstd.tar"));
    let out = berthd.docker(&["load", "-i", &p("zstd.tar")]);
    assert_eq!(
        out.assert_success().stdout,
        format!("Loaded image ID: {zstd_id}\n")
    );
    assert_eq!(
        id_and_layers(berthd.docker(&["image", "inspect", "-f", ID_LAYERS, &zstd_id])),
        format!("{zstd_id} {}", layers_of(&pulled))
    );
    let id = shown.split(' ').next().unwrap().to_owned();
    let pulled = shown.clone();

    // berthd's save is read by skopeo as a docker-archive and as an OCI archive, with the
    // same config (image id) and uncompressed layers named by their diff IDs.
    berthd.docker(&["tag", &id, "saved:1"]).assert_success();
    berthd
        .docker(&["save", "-o", &p("saved.tar"), "saved:1"])
        .assert_success();
    for src in [
        format!("docker-archive:{}", p("saved.tar")),
        format!("oci-archive:{}", p("saved.tar")),
    ] {
        let out = run(Command::new("skopeo").args(["inspect", "--config", &src]));
        let config: Value = serde_json::from_str(&out).unwrap();
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(format!("{id} [{}]", diff_ids.join(" ")), pulled, "{src}");
        let dir = work
            .path()
            .join(format!("copy-{}", src.split(':').next().unwrap()));
        run(Command::new("skopeo")
            .args(["copy", "-q", &src])
            .arg(format!("dir:{}", dir.display())));
        for d in &diff_ids {
            let blob = dir.join(d.trim_start_matches("sha256:"));
            assert_eq!(format!("sha256:{}", sha256_hex(&blob)), *d, "{src}");
        }
    }
    let listing = run(Command::new("tar").arg("-tf").arg(p("saved.tar")));
    for entry in ["manifest.json", "repositories", "index.json", "oci-layout"] {
        assert!(listing.lines().any(|l| l == entry), "{entry}: {listing}");
    }

    // The hand-made OCI layout with a whiteout and an opaque dir, named by annotation.
    let wh = WhiteoutImage::build();
    let out = berthd.docker(&["load", "-i", wh.oci_archive.to_str().unwrap()]);
    assert_eq!(out.assert_success().stdout, "Loaded image: wh:oci\n");
    assert_eq!(
        id_and_layers(berthd.docker(&["image", "inspect", "-f", ID_LAYERS, "wh:oci"])),
        format!("{} [{}]", wh.config_id, wh.diff_ids.join(" "))
    );
}

/// The blobs in berthd's content store and its ingests in progress.
fn blobs(d: &Berthd) -> (Vec<String>, usize) {
    let content = d.root().join("image/content");
    let mut names: Vec<String> = fs::read_dir(content.join("blobs/sha256"))
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let ingests = fs::read_dir(content.join("ingest")).map_or(0, |rd| rd.count());
    (names, ingests)
}

/// Loads `archive` with the docker CLI; it must fail with `want` in the message and leave
/// the images, layers and blobs as they were.
fn refused(d: &Berthd, archive: &Path, want: &str) {
    let images = d.docker(&["images", "-aq", "--no-trunc"]).stdout;
    let layers = snapshots(d);
    let stored = blobs(d);
    let out = d.docker(&["load", "-i", archive.to_str().unwrap()]);
    out.assert_failure();
    assert!(out.stderr.contains(want), "{}: {out}", archive.display());
    assert_eq!(d.docker(&["images", "-aq", "--no-trunc"]).stdout, images);
    assert_eq!(snapshots(d), layers, "{}", archive.display());
    assert_eq!(blobs(d), stored, "{}", archive.display());
}

#[test]
fn hostile_and_malformed_archives_are_refused_and_leave_nothing_registered() {
    let image = WhiteoutImage::build();
    let d = Berthd::start();
    let work = tempfile::tempdir().unwrap();

    let empty = work.path().join("empty.tar");
    let e = work.path().join("e");
    fs::create_dir_all(&e).unwrap();
    fs::write(e.join("foo"), "bar").unwrap();
    tar_dir(&e, &empty);
    refused(&d, &empty, "neither manifest.json");

    let not_tar = work.path().join("not.tar");
    fs::write(&not_tar, vec![b'x'; 2000]).unwrap();
    refused(&d, &not_tar, "Error processing tar file");

    let data = fs::read(&image.docker_archive).unwrap();
    let truncated = work.path().join("truncated.tar");
    fs::write(&truncated, &data[..data.len() * 2 / 3]).unwrap();
    refused(&d, &truncated, "Error processing tar file");

    let dotdot = image.docker_archive_edited("dotdot", |dir| {
        let mut m: Value =
            serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m[0]["Layers"][0] = json!("../../etc/passwd");
        fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    });
    refused(&d, &dotdot, "leaves the archive");

    let escaping_link = image.docker_archive_edited("link", |dir| {
        fs::remove_file(dir.join("layer1/layer.tar")).unwrap();
        std::os::unix::fs::symlink("../../../../etc/passwd", dir.join("layer1/layer.tar")).unwrap();
    });
    refused(&d, &escaping_link, "leaves the archive");

    let missing_layer = image.docker_archive_edited("missing", |dir| {
        fs::remove_file(dir.join("layer1/layer.tar")).unwrap();
    });
    refused(&d, &missing_layer, "is not in the archive");

    // The second layer's bytes are not its diff ID: the first layer is applied, then rolled
    // back.
    let wrong_diff = image.docker_archive_edited("wrongdiff", |dir| {
        fs::copy(dir.join("layer0/layer.tar"), dir.join("layer1/layer.tar")).unwrap();
    });
    refused(&d, &wrong_diff, "diff");

    let count_mismatch = image.docker_archive_edited("count", |dir| {
        let mut m: Value =
            serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        m[0]["Layers"].as_array_mut().unwrap().pop();
        fs::write(dir.join("manifest.json"), m.to_string()).unwrap();
    });
    refused(&d, &count_mismatch, "layers length mismatch");

    // An OCI blob whose bytes are not its name.
    let wrong_digest = image.oci_archive_edited("wrongdigest", |dir| {
        let blobs = dir.join("blobs/sha256");
        let mut names: Vec<PathBuf> = fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        fs::write(&names[0], "not what the name says").unwrap();
    });
    refused(&d, &wrong_digest, "holds content of digest");

    let empty_index = image.oci_archive_edited("emptyindex", |dir| {
        fs::write(
            dir.join("index.json"),
            r#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
    });
    refused(&d, &empty_index, "names no image");

    let bad_json = image.docker_archive_edited("badjson", |dir| {
        fs::write(dir.join("manifest.json"), "{not json").unwrap();
    });
    refused(&d, &bad_json, "invalid manifest.json");

    // Through the API: a 200 whose last line is the error, as dockerd answers.
    let body = format!("@{}", dotdot.display());
    let out = d.curl(&[
        "-i",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-tar",
        "--data-binary",
        &body,
        "http://d/v1.41/images/load?quiet=1",
    ]);
    let (status, headers, body) = parse_response(&out.stdout);
    assert_eq!(status, 200);
    assert_eq!(
        common::header(&headers, "content-type"),
        Some("application/json")
    );
    let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert!(
        last["errorDetail"]["message"]
            .as_str()
            .unwrap()
            .contains("leaves the archive"),
        "{body}"
    );

    // After all that, the good archive loads, and quiet=0 shows dockerd's layer lines.
    let body = format!("@{}", image.docker_archive.display());
    let out = d.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-tar",
        "--data-binary",
        &body,
        "http://d/v1.41/images/load?quiet=0",
    ]);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let layer_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["status"] == "Loading layer")
        .collect();
    assert_eq!(layer_lines.len(), 2, "{}", out.stdout);
    for (l, diff) in layer_lines.iter().zip(&image.diff_ids) {
        assert_eq!(l["id"], diff.trim_start_matches("sha256:")[..12]);
        assert_eq!(l["progressDetail"]["current"], l["progressDetail"]["total"]);
    }
    assert_eq!(lines.last().unwrap()["stream"], "Loaded image: wh:1\n");

    // An OCI index that also names an image for another platform, whose blobs the archive
    // does not carry (a multi-platform save cut to one): this host's image loads.
    let multi = image.oci_archive_edited("multi", |dir| {
        let mut index: Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["platform"] = json!({"architecture": "amd64", "os": "linux"});
        let mut other = index["manifests"][0].clone();
        other["digest"] = json!(format!("sha256:{}", "0".repeat(64)));
        other["platform"] = json!({"architecture": "s390x", "os": "linux"});
        index["manifests"].as_array_mut().unwrap().push(other);
        fs::write(dir.join("index.json"), index.to_string()).unwrap();
    });
    let out = d.docker(&["load", "-i", multi.to_str().unwrap()]);
    assert_eq!(out.assert_success().stdout, "Loaded image: wh:oci\n");
}

#[test]
fn a_loaded_tag_moves_and_leaves_the_old_image_dangling() {
    let image = WhiteoutImage::build();
    let d = Berthd::start();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("r");
    fs::create_dir_all(&rootfs).unwrap();
    fs::write(rootfs.join("f"), "f").unwrap();
    let tar = work.path().join("r.tar");
    tar_dir(&rootfs, &tar);
    let old = d.docker(&["import", tar.to_str().unwrap(), "wh:1"]);
    let old = old.assert_success().stdout_trimmed().to_owned();
    let out = d.docker(&["load", "-i", image.docker_archive.to_str().unwrap()]);
    assert_eq!(
        out.assert_success().stdout,
        format!(
            "The image wh:1 already exists, renaming the old one with ID {old} to empty \
             string\nLoaded image: wh:1\n"
        )
    );
    let dangling = d.docker(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    assert_eq!(dangling.stdout_trimmed(), old);
}

#[test]
fn berth_cli_imports_saves_and_loads_through_berthd() {
    let d = Berthd::start();
    let image = WhiteoutImage::build();
    let work = tempfile::tempdir().unwrap();
    let p = |n: &str| work.path().join(n).to_str().unwrap().to_owned();
    let rootfs = work.path().join("r");
    fs::create_dir_all(rootfs.join("etc")).unwrap();
    fs::write(rootfs.join("etc/note"), "n").unwrap();
    let tar = work.path().join("r.tar");
    tar_dir(&rootfs, &tar);

    // berth import FILE REPO:TAG -c -m, and from stdin.
    let out = d.berth(&[
        "import",
        "-c",
        "CMD [\"sh\"]",
        "-m",
        "by berth",
        tar.to_str().unwrap(),
        "bi:1",
    ]);
    let id = out.assert_success().stdout_trimmed().to_owned();
    assert!(id.starts_with("sha256:"), "{out}");
    let show = ["image", "inspect", "-f", "{{.Id}} {{.Config.Cmd}}", "bi:1"];
    assert_eq!(d.docker(&show).stdout_trimmed(), format!("{id} [sh]"));
    let data = fs::read(&tar).unwrap();
    let mut cmd = Command::new(common::berth_bin());
    cmd.arg("-H").arg(d.host()).args(["import", "-", "bi:2"]);
    let out = run_command(&mut cmd, Some(&data), TIMEOUT).unwrap();
    out.assert_success();
    let h = d.docker(&["history", "--format", "{{.Comment}}", "bi:2"]);
    assert_eq!(h.stdout, "Imported from -\n");
    let layers = |n: &str| {
        d.docker(&["image", "inspect", "-f", "{{.RootFS.Layers}}", n])
            .stdout_trimmed()
            .to_owned()
    };
    assert_eq!(layers("bi:1"), layers("bi:2"));
    let out = d.berth(&["import", "-c", "RUN x", tar.to_str().unwrap()]);
    out.assert_failure();
    assert!(
        out.stderr.contains("run is not a valid change command"),
        "{out}"
    );
    let out = d.berth(&["import", &p("absent.tar")]);
    out.assert_failure();

    // berth load / save round trip, the same lines as the docker CLI.
    let out = d.berth(&["load", "-i", image.docker_archive.to_str().unwrap()]);
    assert_eq!(out.assert_success().stdout, "Loaded image: wh:1\n");
    d.berth(&["save", "-o", &p("s.tar"), "wh:1", "bi:1"])
        .assert_success();
    d.docker(&["rmi", "wh:1", "bi:1", "bi:2"]).assert_success();
    let out = d.berth(&["load", "-i", &p("s.tar")]);
    let mut lines: Vec<&str> = out.assert_success().stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["Loaded image: bi:1", "Loaded image: wh:1"]);
    let out = d.docker(&["load", "-i", &p("s.tar")]);
    let mut again: Vec<&str> = out.assert_success().stdout.lines().collect();
    again.sort_unstable();
    assert_eq!(again, lines);
    assert_eq!(
        id_and_layers(d.docker(&["image", "inspect", "-f", ID_LAYERS, "wh:1"])),
        format!("{} [{}]", image.config_id, image.diff_ids.join(" "))
    );
}

#[test]
fn the_vfs_driver_loads_layers_in_order_with_the_whiteouts_applied() {
    let image = WhiteoutImage::build();
    let d = Berthd::start_with(&["--storage-driver", "vfs"]);
    let out = d.docker(&["load", "-i", image.oci_archive.to_str().unwrap()]);
    assert_eq!(out.assert_success().stdout, "Loaded image: wh:oci\n");
    // The top layer's tree (chain id of both diff IDs) is the container's root filesystem.
    let chain_input = tempfile::NamedTempFile::new().unwrap();
    fs::write(chain_input.path(), image.diff_ids.join(" ")).unwrap();
    let top = d
        .root()
        .join("snapshots/vfs/snapshots")
        .join(format!("sha256+{}", sha256_hex(chain_input.path())))
        .join("diff");
    let names = |dir: &str| {
        let mut v: Vec<String> = fs::read_dir(top.join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("etc"), ["b"]);
    assert_eq!(names("dir"), ["z"]);
    assert!(top.join("bin/busybox").is_file());
    // And the archive berthd saves from it still carries the whiteouts (the blobs, not the
    // applied tree): the second layer lists them.
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("s.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "wh:oci"])
        .assert_success();
    let x = work.path().join("x");
    fs::create_dir_all(&x).unwrap();
    run(Command::new("tar").arg("-C").arg(&x).arg("-xf").arg(&saved));
    let layer2 = x
        .join("blobs/sha256")
        .join(image.diff_ids[1].trim_start_matches("sha256:"));
    let listing = run(Command::new("tar").arg("-tf").arg(&layer2));
    assert!(
        listing.lines().any(|l| l.ends_with("etc/.wh.a")),
        "{listing}"
    );
    assert!(
        listing.lines().any(|l| l.ends_with("dir/.wh..wh..opq")),
        "{listing}"
    );
}

/// The leases in berthd's metadata (a pull, load, import or save in progress holds one).
fn leases(d: &Berthd) -> Vec<String> {
    berth_image::Metadata::open(d.root().join("image/metadata.db"))
        .unwrap()
        .leases()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

fn wait_for_no_lease(d: &Berthd) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let l = leases(d);
        if l.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "leases left: {l:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_client_that_goes_away_mid_save_or_mid_load_leaves_no_lease_and_the_daemon_serves_on() {
    let image = WhiteoutImage::build();
    let d = Berthd::start();
    d.docker(&["load", "-i", image.docker_archive.to_str().unwrap()])
        .assert_success();
    // Save: the client reads 10 kB and hangs up.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!(
        "curl -s --unix-socket {} 'http://d/v1.41/images/get?names=wh:1' | head -c 10000 | wc -c",
        d.socket().display()
    ));
    let out = run_command(&mut cmd, None, TIMEOUT).unwrap();
    assert_eq!(out.assert_success().stdout_trimmed(), "10000");
    wait_for_no_lease(&d);
    // Load: half an archive, then the connection closes (curl's upload ends early).
    let data = fs::read(&image.oci_archive).unwrap();
    let half = tempfile::NamedTempFile::new().unwrap();
    fs::write(half.path(), &data[..data.len() / 2]).unwrap();
    let body = format!("@{}", half.path().display());
    let out = d.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-tar",
        "--data-binary",
        &body,
        "http://d/v1.41/images/load",
    ]);
    assert!(out.stdout.contains("errorDetail"), "{out}");
    wait_for_no_lease(&d);
    // And a client that hangs up while it uploads (1 s at 200 kB/s of a 2 MB archive).
    let body = format!("@{}", image.oci_archive.display());
    let out = d.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/x-tar",
        "--limit-rate",
        "200k",
        "--max-time",
        "1",
        "--data-binary",
        &body,
        "http://d/v1.41/images/load",
    ]);
    assert_eq!(out.code(), Some(28), "curl timed out: {out}");
    wait_for_no_lease(&d);
    assert_eq!(
        d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .stdout,
        "wh:1\n"
    );
    // The daemon still saves whole archives.
    let work = tempfile::tempdir().unwrap();
    let saved = work.path().join("s.tar");
    d.docker(&["save", "-o", saved.to_str().unwrap(), "wh:1"])
        .assert_success();
    run(Command::new("tar").arg("-tf").arg(&saved));
}
