//! `docker push` and `docker login` against berthd, with real registries: Debian's
//! docker-registry in the test's own network namespace (one with htpasswd basic auth), busybox images built
//! with umoci and pushed there with skopeo, pulled into berthd, tagged and pushed back by the
//! real docker CLI. What the registry then holds is checked with skopeo (`inspect`, and
//! `copy`, which verifies every blob) and by pulling it into a second berthd. Needs docker.io
//! (the CLI), docker-registry, skopeo, umoci, busybox-static, apache2-utils and curl; root.
//!
//! The expected lines are dockerd 20.10's; push_dockerd.rs runs the same pushes against a real
//! dockerd and compares.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use berth_testutil::run_command;
use common::registry::{push_index, run, BuiltImage, RegistryServer};
use common::{parse_response, Berthd, TIMEOUT};
use serde_json::Value;

/// `{}`, the X-Registry-Auth the docker CLI sends without credentials.
const NO_AUTH: &str = "e30=";

fn short(digest: &str) -> String {
    digest.trim_start_matches("sha256:")[..12].to_owned()
}

/// The short diff ids of `name`, base first.
fn layer_ids(d: &Berthd, name: &str) -> Vec<String> {
    let out = d.docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", name]);
    let layers: Vec<String> = serde_json::from_str(out.assert_success().stdout_trimmed()).unwrap();
    layers.iter().map(|l| short(l)).collect()
}

/// The digest `name` was pulled with (its RepoDigests entry for the repository).
fn repo_digest(d: &Berthd, name: &str) -> String {
    let repo = name.rsplit_once(':').unwrap().0;
    let out = d.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", name]);
    let digests: Vec<String> = serde_json::from_str(out.assert_success().stdout_trimmed()).unwrap();
    digests
        .iter()
        .find_map(|r| r.strip_prefix(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("no digest of {repo} in {digests:?}"))
        .to_owned()
}

fn image_id(d: &Berthd, name: &str) -> String {
    d.docker(&["image", "inspect", "-f", "{{.Id}}", name])
        .assert_success()
        .stdout_trimmed()
        .to_owned()
}

/// `skopeo inspect --raw`: the manifest bytes a registry serves for `name`, or None.
fn raw_manifest(name: &str, creds: Option<&str>) -> Option<Vec<u8>> {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd.arg(format!("docker://{name}")).output().unwrap();
    out.status.success().then_some(out.stdout)
}

fn sha256(bytes: &[u8]) -> String {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let sum = run(Command::new("sha256sum").arg(tmp.path()));
    format!("sha256:{}", sum.split_whitespace().next().unwrap())
}

/// `skopeo copy` of `name` to a directory: fails unless every blob is there and verifies.
fn copy_out(name: &str, creds: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "-q", "--src-tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--src-creds", c]);
    }
    run(cmd
        .arg(format!("docker://{name}"))
        .arg(format!("dir:{}", dir.path().join("out").display())));
}

/// A raw push stream from berthd, one JSON value a line.
fn push_stream(d: &Berthd, name: &str, tag: Option<&str>, auth: &str) -> Vec<Value> {
    let query = tag.map(|t| format!("?tag={t}")).unwrap_or_default();
    let out = d.curl(&[
        "-X",
        "POST",
        "-H",
        &format!("X-Registry-Auth: {auth}"),
        &format!("http://d/v1.41/images/{name}/push{query}"),
    ]);
    out.assert_success();
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn base64_url(s: &str) -> String {
    let mut c = Command::new("base64");
    c.arg("-w0");
    let out = run_command(&mut c, Some(s.as_bytes()), TIMEOUT).unwrap();
    out.stdout.replace('+', "-").replace('/', "_")
}

/// A registry holding `x:v1` (two layers) and a berthd that pulled it.
struct Setup {
    daemon: Berthd,
    registry: RegistryServer,
    _image: BuiltImage,
}

impl Setup {
    fn new() -> Setup {
        common::registry::private_net();
        let registry = RegistryServer::start();
        let image = BuiltImage::build("one");
        image.push(&registry.host(), "x:v1");
        let daemon = Berthd::start();
        daemon
            .docker(&["pull", &format!("{}/x:v1", registry.host())])
            .assert_success();
        Setup {
            daemon,
            registry,
            _image: image,
        }
    }

    fn name(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.registry.host())
    }
}

#[test]
fn push_sends_the_pulled_image_whole_under_its_digest() {
    let s = Setup::new();
    let host = s.registry.host();
    let pulled = s.name("x:v1");
    let digest = repo_digest(&s.daemon, &pulled);
    let ids = layer_ids(&s.daemon, &pulled);
    let (base, top) = (&ids[0], &ids[1]);
    let size = raw_manifest(&pulled, None).unwrap().len();

    // Tagged into another repository of the same registry: both layers are mounted from x.
    let target = s.name("team/y:v2");
    s.daemon.docker(&["tag", &pulled, &target]).assert_success();
    let out = s.daemon.docker(&["push", &target]);
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(lines.len(), 6, "{}", out.stdout);
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{host}/team/y]")
    );
    // Topmost layer first, as dockerd.
    assert_eq!(
        lines[1..3],
        [format!("{top}: Preparing"), format!("{base}: Preparing")]
    );
    let done: BTreeSet<&str> = lines[3..5].iter().copied().collect();
    let expected: BTreeSet<String> = [
        format!("{top}: Mounted from x"),
        format!("{base}: Mounted from x"),
    ]
    .into();
    assert_eq!(
        done,
        expected.iter().map(String::as_str).collect(),
        "{}",
        out.stdout
    );
    // The stored manifest went up byte for byte: the digest is the pulled one.
    assert_eq!(lines[5], format!("v2: digest: {digest} size: {size}"));
    let raw = raw_manifest(&target, None).unwrap();
    assert_eq!(sha256(&raw), digest);
    copy_out(&target, None);

    // A second daemon pulls the same image from there.
    let other = Berthd::start();
    other.docker(&["pull", &target]).assert_success();
    assert_eq!(image_id(&other, &target), image_id(&s.daemon, &pulled));
    assert_eq!(repo_digest(&other, &target), digest);

    // The same push again finds everything there; the pushed name now has its digest.
    let again = s.daemon.docker(&["push", &target]);
    again.assert_success();
    let lines = again.stdout_lines();
    let done: BTreeSet<&str> = lines[3..5].iter().copied().collect();
    let expected: BTreeSet<String> = [
        format!("{top}: Layer already exists"),
        format!("{base}: Layer already exists"),
    ]
    .into();
    assert_eq!(
        done,
        expected.iter().map(String::as_str).collect(),
        "{}",
        again.stdout
    );
    assert_eq!(repo_digest(&s.daemon, &target), digest);
}

#[test]
fn push_uploads_every_tag_to_a_new_registry_with_progress() {
    let s = Setup::new();
    let pulled = s.name("x:v1");
    let digest = repo_digest(&s.daemon, &pulled);
    let ids = layer_ids(&s.daemon, &pulled);
    let manifest: Value = serde_json::from_slice(&raw_manifest(&pulled, None).unwrap()).unwrap();
    let sizes: Vec<u64> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .collect();

    let empty = RegistryServer::start();
    let repo = format!("{}/z", empty.host());
    for tag in ["1", "2"] {
        s.daemon
            .docker(&["tag", &pulled, &format!("{repo}:{tag}")])
            .assert_success();
    }
    // No tag: every tag of the repository, in order.
    let lines = push_stream(&s.daemon, &repo, None, NO_AUTH);
    assert_eq!(
        lines[0],
        serde_json::json!({"status": format!("The push refers to repository [{repo}]")})
    );
    let of = |id: &str| -> Vec<&Value> { lines.iter().filter(|l| l["id"] == id).collect() };
    for (id, size) in ids.iter().zip(&sizes) {
        let states: Vec<&Value> = of(id);
        assert_eq!(
            states[0],
            &serde_json::json!({"status": "Preparing", "progressDetail": {}, "id": id})
        );
        // The first tag uploads: byte counts up to the blob's size, then Pushed.
        let pushing: Vec<&&Value> = states.iter().filter(|l| l["status"] == "Pushing").collect();
        assert!(!pushing.is_empty(), "{lines:?}");
        for p in &pushing {
            assert_eq!(p["progressDetail"]["total"], *size, "{p}");
            assert!(p["progressDetail"]["current"].as_u64().unwrap() <= *size);
            assert!(p["progress"].as_str().unwrap().starts_with('['), "{p}");
        }
        assert_eq!(
            pushing.last().unwrap()["progressDetail"]["current"],
            *size,
            "{lines:?}"
        );
        let after: Vec<&str> = states
            .iter()
            .filter_map(|l| l["status"].as_str())
            .filter(|s| *s != "Pushing")
            .collect();
        // The second tag finds the layers there.
        assert_eq!(
            after,
            ["Preparing", "Pushed", "Preparing", "Layer already exists"],
            "{lines:?}"
        );
    }
    let size = raw_manifest(&pulled, None).unwrap().len();
    let ends: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l.get("aux").is_some()
                || l["status"]
                    .as_str()
                    .is_some_and(|s| s.contains(": digest: "))
        })
        .collect();
    assert_eq!(ends.len(), 4, "{lines:?}");
    for (i, tag) in ["1", "2"].iter().enumerate() {
        assert_eq!(
            ends[2 * i],
            &serde_json::json!({"status": format!("{tag}: digest: {digest} size: {size}")})
        );
        assert_eq!(
            ends[2 * i + 1],
            &serde_json::json!({"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": size}})
        );
        let name = format!("{repo}:{tag}");
        assert_eq!(sha256(&raw_manifest(&name, None).unwrap()), digest);
        copy_out(&name, None);
    }
    assert!(lines.last().unwrap().get("aux").is_some(), "{lines:?}");
    // `docker push -a` prints it as dockerd's CLI does.
    let out = s.daemon.docker(&["push", "-a", &repo]);
    out.assert_success();
    assert!(
        out.stdout
            .ends_with(&format!("2: digest: {digest} size: {size}\n")),
        "{}",
        out.stdout
    );
}

#[test]
fn push_errors_are_dockerds() {
    let s = Setup::new();
    let host = s.registry.host();
    // A repository without any local name; a tag it does not have.
    let out = s.daemon.docker(&["push", &s.name("nosuch:latest")]);
    out.assert_code(1);
    assert_eq!(
        out.stdout,
        format!("The push refers to repository [{host}/nosuch]\n")
    );
    assert_eq!(
        out.stderr,
        format!("An image does not exist locally with the tag: {host}/nosuch\n")
    );
    let out = s.daemon.docker(&["push", &s.name("x:nosuch")]);
    out.assert_code(1);
    assert_eq!(out.stderr, format!("tag does not exist: {host}/x:nosuch\n"));
    // The error comes inside the stream, after its first line, as dockerd sends it.
    let lines = push_stream(&s.daemon, &s.name("nosuch"), Some("latest"), NO_AUTH);
    let message = format!("An image does not exist locally with the tag: {host}/nosuch");
    assert_eq!(
        lines.last().unwrap(),
        &serde_json::json!({"errorDetail": {"message": message}, "error": message})
    );
    // Without X-Registry-Auth the body must hold the credentials (the API's old form).
    let raw = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        &format!("http://d/v1.41/images/{}/push?tag=v1", s.name("x")),
    ]);
    let (status, _, body) = parse_response(&raw.stdout);
    assert_eq!(status, 400);
    assert_eq!(
        body.trim(),
        r#"{"message":"Bad parameters and missing X-Registry-Auth: EOF"}"#
    );
    // A name that is no reference: an HTTP error before any stream.
    let raw = s.daemon.curl(&[
        "-i",
        "-X",
        "POST",
        "-H",
        "X-Registry-Auth: e30=",
        "http://d/v1.41/images/Bad%20Name/push",
    ]);
    let (status, _, body) = parse_response(&raw.stdout);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid reference format"), "{body}");

    // A registry that is not there: the push fails in the stream, naming it.
    let down = format!("127.0.0.1:{}/gone:1", common::registry::DEAD_PORT);
    s.daemon
        .docker(&["tag", &s.name("x:v1"), &down])
        .assert_success();
    let out = s.daemon.docker(&["push", &down]);
    out.assert_code(1);
    assert!(out.stderr.contains("Connection refused"), "{out}");
}

#[test]
fn login_then_push_to_a_registry_with_basic_auth() {
    common::registry::private_net();
    let registry = RegistryServer::start_htpasswd("tester", "s3cret");
    let host = registry.host();
    let image = BuiltImage::build("auth");
    image.push_as(&host, "team/x:v1", "tester:s3cret");
    let d = Berthd::start();
    let pulled = format!("{host}/team/x:v1");

    // Refused credentials: docker's message from dockerd's /auth, exit 1; a 401.
    let out = d.docker(&["login", "-u", "tester", "-p", "wrong", &host]);
    out.assert_code(1);
    assert!(
        out.stderr.ends_with(&format!(
            "Error response from daemon: login attempt to http://{host}/v2/ failed with status: 401 Unauthorized\n"
        )),
        "{out}"
    );
    let body = format!(r#"{{"username":"tester","password":"wrong","serveraddress":"{host}"}}"#);
    let raw = d.curl(&["-i", "-X", "POST", "-d", &body, "http://d/v1.41/auth"]);
    let (status, _, _) = parse_response(&raw.stdout);
    assert_eq!(status, 401);
    // Nothing listens: Go's words, a 500.
    let gone = format!("127.0.0.1:{}", common::registry::DEAD_PORT);
    let out = d.docker(&["login", "-u", "tester", "-p", "x", &gone]);
    out.assert_code(1);
    assert!(
        out.stderr.ends_with(&format!(
            "Error response from daemon: Get \"http://{gone}/v2/\": dial tcp {gone}: connect: connection refused\n"
        )),
        "{out}"
    );
    let body = format!(r#"{{"username":"tester","password":"x","serveraddress":"{gone}"}}"#);
    let raw = d.curl(&["-i", "-X", "POST", "-d", &body, "http://d/v1.41/auth"]);
    assert_eq!(parse_response(&raw.stdout).0, 500);

    let mut login = Command::new("docker");
    login
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-cli"))
        .args(["login", "-u", "tester", "--password-stdin", &host]);
    let out = run_command(&mut login, Some(b"s3cret\n"), TIMEOUT).unwrap();
    out.assert_success();
    assert_eq!(out.stdout, "Login Succeeded\n");
    let body =
        format!(r#"{{"username":"tester","password":"s3cret","serveraddress":"http://{host}/"}}"#);
    let raw = d.curl(&["-i", "-X", "POST", "-d", &body, "http://d/v1.41/auth"]);
    let (status, _, answer) = parse_response(&raw.stdout);
    assert_eq!(status, 200);
    assert_eq!(
        answer.trim(),
        r#"{"IdentityToken":"","Status":"Login Succeeded"}"#
    );

    // Logged in: pull, tag, push; the registry has the image under the pulled digest.
    d.docker(&["pull", &pulled]).assert_success();
    let digest = repo_digest(&d, &pulled);
    let target = format!("{host}/team/w:1");
    d.docker(&["tag", &pulled, &target]).assert_success();
    let out = d.docker(&["push", &target]);
    out.assert_success();
    assert!(
        out.stdout.contains(": Mounted from team/x\n"),
        "{}",
        out.stdout
    );
    let raw = raw_manifest(&target, Some("tester:s3cret")).unwrap();
    assert_eq!(sha256(&raw), digest);
    copy_out(&target, Some("tester:s3cret"));

    // Logged out: the push stops after Preparing with docker's words.
    d.docker(&["logout", &host]).assert_success();
    d.docker(&["tag", &pulled, &format!("{host}/team/v:1")])
        .assert_success();
    let out = d.docker(&["push", &format!("{host}/team/v:1")]);
    out.assert_code(1);
    assert_eq!(out.stderr, "no basic auth credentials\n", "{out}");
    assert!(out.stdout.ends_with(": Preparing\n"), "{out}");
    // Wrong credentials in the header: the registry's refusal.
    let bad = base64_url(r#"{"username":"tester","password":"wrong"}"#);
    let lines = push_stream(&d, &format!("{host}/team/v"), Some("1"), &bad);
    assert_eq!(
        lines.last().unwrap()["error"],
        "unauthorized: authentication required",
        "{lines:?}"
    );
    assert!(raw_manifest(&format!("{host}/team/v:1"), Some("tester:s3cret")).is_none());
}

#[test]
fn an_index_goes_back_whole_when_every_platform_is_here() {
    common::registry::private_net();
    let registry = RegistryServer::start();
    let host = registry.host();
    let amd = BuiltImage::build("multi");
    let arm = amd.for_arch("arm64");
    amd.push(&host, "m:amd64");
    arm.push(&host, "m:arm64");
    let index = push_index(
        &host,
        "m",
        "v1",
        &[("amd64", "linux", "amd64"), ("arm64", "linux", "arm64")],
    );
    let arm_digest = sha256(&raw_manifest(&format!("{host}/m:arm64"), None).unwrap());
    let d = Berthd::start();
    let name = format!("{host}/m:v1");
    d.docker(&["pull", "--platform", "linux/amd64", &name])
        .assert_success();
    d.docker(&["pull", "--platform", "linux/arm64", &name])
        .assert_success();

    // A tag names one image: its platform manifest goes up.
    let single = format!("{host}/one:1");
    d.docker(&["tag", &name, &single]).assert_success();
    let out = d.docker(&["push", &single]);
    out.assert_success();
    assert!(
        out.stdout.ends_with(&format!(
            "1: digest: {arm_digest} size: {}\n",
            raw_manifest(&single, None).unwrap().len()
        )),
        "{}",
        out.stdout
    );
    assert_eq!(sha256(&raw_manifest(&single, None).unwrap()), arm_digest);

    // The pulled name points at the index, and both platforms are here: the index goes back
    // whole (removed from the registry first, so only berthd can have put it back).
    let status = run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "DELETE",
        &format!("http://{host}/v2/m/manifests/{index}"),
    ]));
    assert_eq!(status, "202");
    assert!(raw_manifest(&name, None).is_none());
    let out = d.docker(&["push", &name]);
    out.assert_success();
    let raw = raw_manifest(&name, None).unwrap();
    assert_eq!(sha256(&raw), index);
    assert!(
        out.stdout
            .ends_with(&format!("v1: digest: {index} size: {}\n", raw.len())),
        "{}",
        out.stdout
    );
    copy_out(&format!("{host}/m:v1"), None);
}

#[test]
fn layers_past_five_wait_for_an_upload_to_finish() {
    common::registry::private_net();
    let registry = RegistryServer::start();
    let host = registry.host();
    // Seven layers: the two of the base image and five notes on top.
    let mut image = BuiltImage::build("l0");
    for i in 1..=5 {
        image = image.derive(&format!("l{i}"));
    }
    image.push(&host, "seven:1");
    let d = Berthd::start();
    let name = format!("{host}/seven:1");
    d.docker(&["pull", &name]).assert_success();
    let ids = layer_ids(&d, &name);
    assert_eq!(ids.len(), 7, "{ids:?}");

    let empty = RegistryServer::start();
    let target = format!("{}/seven:1", empty.host());
    d.docker(&["tag", &name, &target]).assert_success();
    let lines = push_stream(&d, &target.replace(":1", ""), Some("1"), NO_AUTH);
    let states = |id: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l["id"] == id)
            .filter_map(|l| l["status"].as_str().map(str::to_owned))
            .filter(|s| s != "Pushing")
            .collect()
    };
    // Topmost first: the five top layers take the uploads, the two at the base wait.
    for (i, id) in ids.iter().enumerate() {
        let expected: &[&str] = if i < 2 {
            &["Preparing", "Waiting", "Pushed"]
        } else {
            &["Preparing", "Pushed"]
        };
        assert_eq!(states(id), expected, "layer {i} {id}: {lines:?}");
    }
    let digest = repo_digest(&d, &name);
    assert_eq!(sha256(&raw_manifest(&target, None).unwrap()), digest);
    copy_out(&target, None);
}
