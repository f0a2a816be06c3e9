//! The image endpoints driven by the real docker CLI: each test has its own berthd (temp root
//! and exec root) and its own docker-registry, both in a network namespace of the test's own,
//! holding busybox images built with umoci and pushed with skopeo. Needs docker.io (the CLI), docker-registry, skopeo,
//! umoci and busybox-static; runs as root (layers are unpacked with their owners).
//!
//! The expected lines are dockerd 20.10's; images_dockerd.rs checks the same commands against
//! a real dockerd pulling from the same registry.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

use common::registry::{skopeo_layers, BuiltImage, RegistryServer};
use common::{parse_response, Berthd};

/// A berthd and a registry with `x:v1` pushed (two layers).
struct Setup {
    daemon: Berthd,
    registry: RegistryServer,
    image: BuiltImage,
}

impl Setup {
    fn new() -> Setup {
        common::registry::private_net();
        let registry = RegistryServer::start();
        let image = BuiltImage::build("one");
        image.push(&registry.host(), "x:v1");
        Setup {
            daemon: Berthd::start(),
            registry,
            image,
        }
    }

    fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.registry.host())
    }
}

fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:")[..12].to_owned()
}

#[test]
fn pull_prints_dockerds_lines_and_the_image_is_listed_and_inspected() {
    let s = Setup::new();
    let name = s.name("x:v1");
    let layers = skopeo_layers(&s.registry.host(), "x:v1");
    assert_eq!(layers.len(), 2);

    let out = s.daemon.docker(&["pull", &name]);
    out.assert_success();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "v1: Pulling from x", "{}", out.stdout);
    for l in &layers {
        let id = short(l);
        assert!(
            lines.contains(&format!("{id}: Pulling fs layer").as_str()),
            "{}",
            out.stdout
        );
        assert!(
            lines.contains(&format!("{id}: Pull complete").as_str()),
            "{}",
            out.stdout
        );
    }
    let n = lines.len();
    assert!(
        lines[n - 3].starts_with("Digest: sha256:"),
        "{}",
        out.stdout
    );
    assert_eq!(
        lines[n - 2],
        format!("Status: Downloaded newer image for {name}")
    );
    assert_eq!(lines[n - 1], name);

    // A second pull finds everything in place.
    let again = s.daemon.docker(&["pull", &name]);
    again.assert_success();
    assert!(
        again
            .stdout
            .contains(&format!("Status: Image is up to date for {name}")),
        "{}",
        again.stdout
    );
    // As dockerd: the image is here whole, so no layer is even mentioned.
    assert_eq!(again.stdout_lines().len(), 4, "{}", again.stdout);

    // docker images in its forms.
    let id = s
        .daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", &name])
        .assert_success()
        .stdout_trimmed()
        .to_owned();
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");
    let formatted = s
        .daemon
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    formatted.assert_success();
    assert_eq!(
        formatted.stdout_trimmed(),
        format!("{}/x:v1 {}", s.registry.host(), short(&id))
    );
    let q = s.daemon.docker(&["images", "-q"]);
    assert_eq!(q.assert_success().stdout_trimmed(), short(&id));
    let table = s.daemon.docker(&["images"]);
    let table_lines = table.assert_success().stdout_lines();
    assert!(table_lines[0].starts_with("REPOSITORY"), "{}", table.stdout);
    assert!(table_lines[1].contains(&short(&id)), "{}", table.stdout);
    // busybox-static is about a megabyte or more.
    assert!(table_lines[1].contains("MB"), "{}", table.stdout);

    // inspect, as templates read it.
    let f = s.daemon.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Cmd}} {{len .RootFS.Layers}} {{.Os}}/{{.Architecture}} {{index .Config.Labels \"berth.test\"}} {{.GraphDriver.Name}}",
        &name,
    ]);
    let text = f.assert_success().stdout_trimmed().to_owned();
    assert!(text.starts_with("[sh] 2 linux/amd64 one "), "{text}");
    let raw = s.daemon.docker(&["image", "inspect", &name]);
    let v: serde_json::Value = serde_json::from_str(&raw.assert_success().stdout).unwrap();
    let img = &v[0];
    assert_eq!(img["RepoTags"], serde_json::json!([name]));
    let digests = img["RepoDigests"].as_array().unwrap();
    assert_eq!(digests.len(), 1);
    assert!(digests[0]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/x@sha256:", s.registry.host())));
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert!(img["Size"].as_i64().unwrap() > 500_000, "{img}");
    for key in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Parent",
        "Comment",
        "Created",
        "Container",
        "ContainerConfig",
        "DockerVersion",
        "Author",
        "Config",
        "Architecture",
        "Os",
        "Size",
        "VirtualSize",
        "GraphDriver",
        "RootFS",
        "Metadata",
    ] {
        assert!(img.get(key).is_some(), "inspect lacks {key}: {img}");
    }

    // history: newest first, the top line carries the id.
    let h = s.daemon.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}",
        &name,
    ]);
    let hl = h.assert_success().stdout_lines();
    assert!(hl.len() >= 2, "{}", h.stdout);
    assert!(hl[0].starts_with(&format!("{id}|")), "{}", h.stdout);
    assert!(
        h.stdout.contains("COPY note /etc/") && h.stdout.contains("COPY busybox /bin/"),
        "{}",
        h.stdout
    );
    let note = h.stdout.find("COPY note").unwrap();
    let bb = h.stdout.find("COPY busybox").unwrap();
    assert!(note < bb, "newest first: {}", h.stdout);
    assert!(
        hl[1..].iter().all(|l| l.starts_with("<missing>|")),
        "{}",
        h.stdout
    );

    // docker info counts it.
    let info = s.daemon.docker(&["info", "--format", "{{.Images}}"]);
    assert_eq!(info.assert_success().stdout_trimmed(), "1");
}

#[test]
fn tag_filters_rmi_and_conflicts() {
    let s = Setup::new();
    let name = s.name("x:v1");
    s.daemon.docker(&["pull", "-q", &name]).assert_success();
    let id = s
        .daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", &name])
        .assert_success()
        .stdout_trimmed()
        .to_owned();

    s.daemon
        .docker(&["tag", &name, "other/y:t"])
        .assert_success();
    s.daemon.docker(&["tag", &id, "x2"]).assert_success();
    let all = s
        .daemon
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    let mut got: Vec<&str> = all.assert_success().stdout_lines();
    got.sort();
    let mut want = vec![name.as_str(), "other/y:t", "x2:latest"];
    want.sort();
    assert_eq!(got, want);

    // --filter reference: glob on the familiar name, only matching names shown.
    let f = s.daemon.docker(&[
        "images",
        "--filter",
        "reference=other/*",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert_eq!(f.assert_success().stdout_trimmed(), "other/y:t");
    let f = s
        .daemon
        .docker(&["images", "--filter", "reference=nomatch*", "-q"]);
    assert_eq!(f.assert_success().stdout_trimmed(), "");
    // -q prints one line per name, as docker does.
    let f = s
        .daemon
        .docker(&["images", "--filter", "label=berth.test=one", "-q"]);
    let sid = short(&id);
    assert_eq!(f.assert_success().stdout_lines(), [sid.as_str(); 3]);
    let f = s
        .daemon
        .docker(&["images", "--filter", "label=berth.test=two", "-q"]);
    assert_eq!(f.assert_success().stdout_trimmed(), "");
    let f = s
        .daemon
        .docker(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(f.assert_success().stdout_trimmed(), "");
    let bad = s.daemon.docker(&["images", "--filter", "color=red"]);
    bad.assert_failure();
    assert!(
        bad.stderr.contains("Invalid filter 'color'"),
        "{}",
        bad.stderr
    );

    // By id while three repositories name it: refused without -f.
    let refused = s.daemon.docker(&["rmi", &short(&id)]);
    refused.assert_failure();
    assert!(
        refused.stderr.contains(&format!(
            "Error response from daemon: conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            short(&id)
        )),
        "{}",
        refused.stderr
    );
    let code = s.daemon.curl(&[
        "-i",
        "-X",
        "DELETE",
        &format!("http://d/v1.41/images/{}", short(&id)),
    ]);
    assert_eq!(parse_response(&code.stdout).0, 409);

    // By name: untags only.
    let untag = s.daemon.docker(&["rmi", "other/y:t"]);
    assert_eq!(
        untag.assert_success().stdout_trimmed(),
        "Untagged: other/y:t"
    );
    let untag = s.daemon.docker(&["rmi", "x2"]);
    assert_eq!(
        untag.assert_success().stdout_trimmed(),
        "Untagged: x2:latest"
    );
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_trimmed(),
        short(&id)
    );

    // Its last name: untagged and deleted, with its layers.
    let del = s.daemon.docker(&["rmi", &name]);
    let lines = del.assert_success().stdout_lines();
    assert_eq!(lines[0], format!("Untagged: {name}"));
    assert!(
        lines[1].starts_with(&format!("Untagged: {}/x@sha256:", s.registry.host())),
        "the digest name goes with the repository's last tag: {}",
        del.stdout
    );
    assert_eq!(lines[2], format!("Deleted: {id}"));
    assert_eq!(lines.len(), 5, "two layers deleted too: {}", del.stdout);
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_trimmed(),
        ""
    );
    // The snapshots are gone from disk.
    let snaps = s.daemon.root().join("snapshots/overlay/snapshots");
    if snaps.exists() {
        assert_eq!(std::fs::read_dir(&snaps).unwrap().count(), 0);
    }

    // Unknown names: 404 in dockerd's words.
    let missing = s.daemon.docker(&["rmi", "nosuch"]);
    missing.assert_failure();
    assert!(
        missing.stderr.contains("No such image: nosuch"),
        "{}",
        missing.stderr
    );
    let r = s
        .daemon
        .curl(&["-i", "http://d/v1.41/images/nosuch:1/json"]);
    let (status, _, body) = parse_response(&r.stdout);
    assert_eq!(status, 404);
    assert_eq!(body.trim(), r#"{"message":"No such image: nosuch:1"}"#);

    // -f removes an image named in several repositories at once.
    s.daemon.docker(&["pull", "-q", &name]).assert_success();
    s.daemon.docker(&["tag", &name, "z:1"]).assert_success();
    let forced = s.daemon.docker(&["rmi", "-f", &short(&id)]);
    let text = forced.assert_success().stdout.clone();
    assert!(
        text.contains("Untagged: z:1") && text.contains(&format!("Untagged: {name}")),
        "{text}"
    );
    assert!(text.contains(&format!("Deleted: {id}")), "{text}");
}

#[test]
fn a_retagged_image_goes_dangling_and_prune_removes_it() {
    let s = Setup::new();
    let name = s.name("x:v1");
    s.daemon.docker(&["pull", "-q", &name]).assert_success();
    let old = s
        .daemon
        .docker(&["image", "inspect", "-f", "{{.Id}}", &name])
        .assert_success()
        .stdout_trimmed()
        .to_owned();

    // The registry's x:v1 moves to a new image built on the old one.
    let newer = s.image.derive("two");
    newer.push(&s.registry.host(), "x:v1");
    let out = s.daemon.docker(&["pull", &name]);
    out.assert_success();
    assert!(
        out.stdout.contains("Already exists"),
        "the lower layers are shared: {}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Downloaded newer image"),
        "{}",
        out.stdout
    );
    let dangling = s
        .daemon
        .docker(&["images", "--filter", "dangling=true", "-q"]);
    assert_eq!(dangling.assert_success().stdout_trimmed(), short(&old));
    let listed = s.daemon.docker(&[
        "images",
        "--filter",
        "dangling=true",
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    // Its digest name stays (as dockerd's `repo <none>` line); it has no tag.
    assert_eq!(
        listed.assert_success().stdout_trimmed(),
        format!("{}/x:<none>", s.registry.host())
    );

    let pruned = s.daemon.docker(&["image", "prune", "-f"]);
    let text = pruned.assert_success().stdout.clone();
    assert!(text.contains("Deleted Images:"), "{text}");
    assert!(text.contains(&format!("deleted: {old}")), "{text}");
    assert!(text.contains("Total reclaimed space:"), "{text}");
    assert_eq!(
        s.daemon
            .docker(&["images", "--filter", "dangling=true", "-q"])
            .assert_success()
            .stdout_trimmed(),
        ""
    );
    // The new image keeps the shared layer: it still inspects with both layers present.
    let layers = s.daemon.docker(&[
        "image",
        "inspect",
        "-f",
        "{{len .RootFS.Layers}} {{index .Config.Labels \"berth.test\"}}",
        &name,
    ]);
    assert_eq!(layers.assert_success().stdout_trimmed(), "3 two");
    // -a removes images without containers too.
    let all = s.daemon.docker(&["image", "prune", "-a", "-f"]);
    assert!(
        all.assert_success().stdout.contains("untagged: "),
        "{}",
        all.stdout
    );
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_trimmed(),
        ""
    );
}

#[test]
fn pull_errors_are_dockerds() {
    let s = Setup::new();
    // An unknown tag: the registry's manifest unknown, before any progress.
    let missing = s.daemon.docker(&["pull", &s.name("x:nosuch")]);
    missing.assert_failure();
    assert!(
        missing.stderr.contains(&format!(
            "Error response from daemon: manifest for {} not found: manifest unknown: manifest unknown",
            s.name("x:nosuch")
        )),
        "{}",
        missing.stderr
    );
    let r = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        &format!(
            "http://d/v1.41/images/create?fromImage={}&tag=nosuch",
            s.name("x")
        ),
    ]);
    assert_eq!(parse_response(&r.stdout).0, 404);

    // An invalid reference (the CLI checks its own; the API is asked directly).
    let r = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        "http://d/v1.41/images/create?fromImage=x%3A%3Ay&tag=latest",
    ]);
    let (status, _, body) = parse_response(&r.stdout);
    assert_eq!(status, 400);
    assert_eq!(body.trim(), r#"{"message":"invalid reference format"}"#);
    let r = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        "http://d/v1.41/images/create?fromImage=Busybox&tag=latest",
    ]);
    let (status, _, body) = parse_response(&r.stdout);
    assert_eq!(status, 400);
    assert!(body.contains("must be lowercase"), "{body}");

    // A registry that is down.
    let port = common::registry::DEAD_PORT;
    let down = s
        .daemon
        .docker(&["pull", &format!("127.0.0.1:{port}/x:v1")]);
    down.assert_failure();
    assert!(
        down.stderr.contains(&format!(
            "Error response from daemon: registry 127.0.0.1:{port}"
        )),
        "{}",
        down.stderr
    );
    assert!(
        down.stderr.contains("Connection refused"),
        "{}",
        down.stderr
    );

    // An image for another platform.
    let other = s
        .daemon
        .docker(&["pull", "--platform", "linux/arm64", &s.name("x:v1")]);
    other.assert_failure();
    assert!(
        other.stderr.contains(&format!(
            "image with reference {} was found but does not match the specified platform: wanted linux/arm64, actual: linux/amd64",
            s.name("x:v1")
        )),
        "{}",
        other.stderr
    );

    // A layer lost by the registry after the pull started: the error ends the stream.
    let layers = skopeo_layers(&s.registry.host(), "x:v1");
    std::fs::remove_file(s.registry.blob_file(&layers[1])).unwrap();
    let r = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        &format!(
            "http://d/v1.41/images/create?fromImage={}&tag=v1",
            s.name("x")
        ),
    ]);
    let (status, _, body) = parse_response(&r.stdout);
    assert_eq!(status, 200, "{body}");
    let msgs: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(msgs[0]["status"], "Pulling from x");
    assert_eq!(msgs[0]["id"], "v1");
    let last = msgs.last().unwrap();
    let err = last["error"].as_str().unwrap();
    assert!(err.contains(&layers[1]), "{last}");
    assert_eq!(last["errorDetail"]["message"], err);
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_trimmed(),
        ""
    );
}

#[test]
fn concurrent_pulls_share_one_and_the_stream_is_dockers_json() {
    let s = Setup::new();
    let name = s.name("x:v1");
    let outs: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| s.daemon.docker(&["pull", &name])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        o.assert_success();
        assert!(o.stdout.contains("Digest: sha256:"), "{}", o.stdout);
    }
    let ids: HashSet<String> = s
        .daemon
        .docker(&["images", "-q"])
        .assert_success()
        .stdout_lines()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ids.len(), 1);

    // The raw stream: every line JSON, each layer's states in dockerd's order.
    s.daemon.docker(&["rmi", &name]).assert_success();
    let r = s.daemon.curl(&[
        "-X",
        "POST",
        &format!(
            "http://d/v1.41/images/create?fromImage={}&tag=v1",
            s.name("x")
        ),
    ]);
    let msgs: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for l in skopeo_layers(&s.registry.host(), "x:v1") {
        let id = short(&l);
        let states: Vec<&str> = msgs
            .iter()
            .filter(|m| m["id"] == id.as_str())
            .map(|m| m["status"].as_str().unwrap())
            .collect();
        let mut order = vec!["Pulling fs layer"];
        for st in &states {
            if order.last() != Some(st) {
                order.push(st);
            }
        }
        assert_eq!(
            order,
            [
                "Pulling fs layer",
                "Downloading",
                "Verifying Checksum",
                "Download complete",
                "Extracting",
                "Pull complete"
            ],
            "{}",
            r.stdout
        );
        let dl = msgs
            .iter()
            .find(|m| m["id"] == id.as_str() && m["status"] == "Downloading")
            .unwrap();
        assert!(dl["progressDetail"]["total"].as_u64().unwrap() > 0, "{dl}");
        assert!(dl["progress"].as_str().unwrap().starts_with('['), "{dl}");
    }
    let statuses: Vec<&str> = msgs.iter().filter_map(|m| m["status"].as_str()).collect();
    assert!(statuses
        .iter()
        .any(|s| s.starts_with("Status: Downloaded newer image for ")));
}

/// Leaves `prefix` as a partial ingest of `layer` in berthd's content store, as a pull cut
/// off after `prefix.len()` bytes would.
fn partial_ingest(daemon: &Berthd, layer: &str, prefix: &[u8]) {
    use std::io::Write as _;
    let store = berth_image::ContentStore::open(daemon.root().join("image/content")).unwrap();
    let mut w = store.writer(&format!("layer-{layer}")).unwrap();
    w.write_all(prefix).unwrap();
    assert_eq!(w.offset(), prefix.len() as u64);
}

fn ingests(daemon: &Berthd) -> Vec<berth_image::IngestStatus> {
    berth_image::ContentStore::open(daemon.root().join("image/content"))
        .unwrap()
        .ingests()
        .unwrap()
}

#[test]
fn a_cut_download_resumes_from_its_ingest() {
    let s = Setup::new();
    let name = s.name("x:v1");
    let layers = skopeo_layers(&s.registry.host(), "x:v1");
    // The busybox layer, half received by an earlier pull.
    let blob = std::fs::read(s.registry.blob_file(&layers[0])).unwrap();
    partial_ingest(&s.daemon, &layers[0], &blob[..blob.len() / 2]);
    assert_eq!(ingests(&s.daemon)[0].offset, (blob.len() / 2) as u64);

    // The replayed half and the downloaded rest unpack to the right diff id.
    let out = s.daemon.docker(&["pull", &name]);
    out.assert_success();
    assert!(
        out.stdout
            .contains(&format!("{}: Pull complete", short(&layers[0]))),
        "{}",
        out.stdout
    );
    assert!(ingests(&s.daemon).is_empty(), "committed");
    let n = s
        .daemon
        .docker(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", &name]);
    assert_eq!(n.assert_success().stdout_trimmed(), "2");
    let blob_path = s
        .daemon
        .root()
        .join("image/content/blobs/sha256")
        .join(layers[0].trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(blob_path).unwrap(), blob);
}

#[test]
fn a_corrupt_partial_ingest_fails_once_then_is_discarded() {
    let s = Setup::new();
    let name = s.name("x:v1");
    let layers = skopeo_layers(&s.registry.host(), "x:v1");
    let blob = std::fs::read(s.registry.blob_file(&layers[0])).unwrap();
    let mut garbage = blob[..blob.len() / 2].to_vec();
    for b in garbage.iter_mut().skip(100).step_by(7) {
        *b ^= 0x5a;
    }
    partial_ingest(&s.daemon, &layers[0], &garbage);

    let bad = s.daemon.docker(&["pull", &name]);
    bad.assert_failure();
    assert!(
        bad.stderr.contains(&layers[0]) || bad.stderr.contains(&short(&layers[0])),
        "the error names the layer: {}",
        bad.stderr
    );
    // The corrupt ingest is gone. The other layer's download, cancelled when this one failed,
    // may have left its own (good bytes, kept for the next pull to resume).
    let left = ingests(&s.daemon);
    assert!(
        left.iter()
            .all(|i| i.reference != format!("layer-{}", layers[0])),
        "the wrong bytes are dropped: {left:?}"
    );
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_trimmed(),
        ""
    );
    s.daemon.docker(&["pull", &name]).assert_success();
    assert_eq!(
        s.daemon
            .docker(&["images", "-q"])
            .assert_success()
            .stdout_lines()
            .len(),
        1
    );
}

#[test]
fn credentials_from_the_cli_reach_the_registry() {
    common::registry::private_net();
    let registry = RegistryServer::start_htpasswd("berth", "s3cret");
    let image = BuiltImage::build("auth");
    image.push_as(&registry.host(), "x:v1", "berth:s3cret");
    let daemon = Berthd::start();
    let name = format!("{}/x:v1", registry.host());

    // Without credentials: refused, in dockerd's words.
    let refused = daemon.docker(&["pull", &name]);
    refused.assert_failure();
    assert!(
        refused.stderr.contains(&format!(
            "pull access denied for {}/x, repository does not exist or may require 'docker login'",
            registry.host()
        )),
        "{}",
        refused.stderr
    );

    // The CLI sends config.json's credentials as X-Registry-Auth.
    let cli = daemon.dir.path().join("docker-cli");
    std::fs::create_dir_all(&cli).unwrap();
    let auth = common::registry::run(
        std::process::Command::new("sh").args(["-c", "printf %s berth:s3cret | base64"]),
    );
    std::fs::write(
        cli.join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            registry.host(),
            auth.trim()
        ),
    )
    .unwrap();
    let out = daemon.docker(&["pull", &name]);
    out.assert_success();
    assert!(
        out.stdout.contains("Downloaded newer image"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_vfs_driver_pulls_layers_in_order() {
    common::registry::private_net();
    let registry = RegistryServer::start();
    let base = BuiltImage::build("one");
    base.push(&registry.host(), "x:v1");
    base.derive("two").push(&registry.host(), "x:v2");
    let daemon = Berthd::start_with(&["--storage-driver", "vfs"]);
    for tag in ["v1", "v2"] {
        let name = format!("{}/x:{tag}", registry.host());
        daemon.docker(&["pull", &name]).assert_success();
        let f = daemon.docker(&[
            "image",
            "inspect",
            "-f",
            "{{.GraphDriver.Name}} {{len .RootFS.Layers}}",
            &name,
        ]);
        let want = if tag == "v1" { "vfs 2" } else { "vfs 3" };
        assert_eq!(f.assert_success().stdout_trimmed(), want);
    }
    let info = daemon.docker(&["info", "--format", "{{.Driver}} {{.Images}}"]);
    assert_eq!(info.assert_success().stdout_trimmed(), "vfs 2");
    // vfs snapshots are full copies: the top one holds busybox and the latest note.
    let chains = std::fs::read_dir(daemon.root().join("snapshots/vfs/snapshots"))
        .unwrap()
        .count();
    assert_eq!(chains, 3);
    let notes: Vec<String> = std::fs::read_dir(daemon.root().join("snapshots/vfs/snapshots"))
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.unwrap().path().join("diff/etc/berth-note")).ok())
        .collect();
    let mut notes = notes;
    notes.sort();
    assert_eq!(notes, ["one", "two"]);
}

#[test]
fn an_index_is_narrowed_to_the_platform() {
    common::registry::private_net();
    let registry = RegistryServer::start();
    let host = registry.host();
    let amd64 = BuiltImage::build("multi");
    amd64.push(&host, "x:amd64");
    amd64.for_arch("arm64").push(&host, "x:arm64");
    let index = common::registry::push_index(
        &host,
        "x",
        "multi",
        &[("arm64", "linux", "arm64"), ("amd64", "linux", "amd64")],
    );
    let daemon = Berthd::start();
    let name = format!("{host}/x:multi");

    // The host's platform by default; the digest printed is the index's.
    let out = daemon.docker(&["pull", &name]);
    out.assert_success();
    assert!(
        out.stdout.contains(&format!("Digest: {index}")),
        "{}",
        out.stdout
    );
    let f = daemon.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Architecture}} {{index .RepoDigests 0}}",
        &name,
    ]);
    assert_eq!(
        f.assert_success().stdout_trimmed(),
        format!("amd64 {host}/x@{index}")
    );

    // --platform picks the other entry; the tag moves to it.
    let out = daemon.docker(&["pull", "--platform", "linux/arm64", &name]);
    out.assert_success();
    let f = daemon.docker(&["image", "inspect", "-f", "{{.Architecture}}", &name]);
    assert_eq!(f.assert_success().stdout_trimmed(), "arm64");
    // A platform the index lacks.
    let none = daemon.docker(&["pull", "--platform", "linux/s390x", &name]);
    none.assert_failure();
    assert!(
        none.stderr
            .contains("no matching manifest for linux/s390x in the manifest list entries"),
        "{}",
        none.stderr
    );
}
