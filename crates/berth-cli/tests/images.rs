//! The image verbs of `berth` against a real private dockerd (Debian's docker.io), compared
//! with what the real `docker` CLI prints for the same daemon: the `berth` CLI is a Docker
//! Engine API client, so on the same daemon both must print the same bytes wherever docker's
//! output is deterministic.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::Duration;

use berth_testutil::{run_command, Dockerd, Output};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");
const TIMEOUT: Duration = Duration::from_secs(60);

struct Env {
    dockerd: Dockerd,
}

/// The same lines in another order. docker 20.10 lists the repositories of one image in Go's
/// map order, which changes from run to run; docker 25 and later keep the daemon's order.
fn same_lines(a: &str, b: &str) -> bool {
    let mut a: Vec<&str> = a.lines().collect();
    let mut b: Vec<&str> = b.lines().collect();
    if a.first() != b.first() {
        return false;
    }
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

impl Env {
    /// The docker CLI's major version (20 for Debian's docker.io, 28 for a current docker).
    fn docker_major(&self) -> u32 {
        let v = self.docker(&["version", "--format", "{{.Client.Version}}"]);
        v.stdout_trimmed()
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    fn start() -> Env {
        assert!(
            Dockerd::available(),
            "dockerd, docker or unshare is not installed: apt-get install docker.io"
        );
        let dockerd = Dockerd::start(&[]).unwrap_or_else(|e| panic!("start dockerd: {e}"));
        dockerd.import_busybox("busybox:latest");
        Env { dockerd }
    }

    fn berth_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BERTH);
        cmd.env_remove("BERTH_HOST")
            .env("DOCKER_CONFIG", self.dockerd.dir().join("cli"))
            .arg("-H")
            .arg(self.dockerd.host())
            .args(args);
        cmd
    }

    fn berth(&self, args: &[&str]) -> Output {
        run_command(&mut self.berth_command(args), None, TIMEOUT).unwrap()
    }

    /// The docker CLI, in UTC as berth prints dates.
    fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = self.dockerd.docker_command(args);
        cmd.env("TZ", "UTC");
        run_command(&mut cmd, None, TIMEOUT).unwrap()
    }

    /// `berth ARGS` and `docker ARGS` print the same stdout and both succeed. Outputs with a
    /// "N seconds ago" column are compared again when a second ticked between the two runs.
    #[track_caller]
    fn same(&self, args: &[&str]) -> String {
        let mut last = None;
        for _ in 0..3 {
            let d = self.docker(args);
            d.assert_success();
            let b = self.berth(args);
            b.assert_success();
            if b.stdout == d.stdout
                || (self.docker_major() < 25 && same_lines(&b.stdout, &d.stdout))
            {
                return b.stdout;
            }
            last = Some((b, d));
        }
        let (b, d) = last.unwrap();
        panic!(
            "berth {args:?} differs from docker:\n--- berth\n{}\n--- docker\n{}",
            b.stdout, d.stdout
        );
    }
}

#[test]
fn images_list_matches_docker() {
    let env = Env::start();
    env.docker(&["tag", "busybox", "example.com/team/bb:v1"])
        .assert_success();
    // Images created in the same second come in no fixed order.
    std::thread::sleep(Duration::from_millis(1100));
    env.dockerd.import_busybox("second:1");
    let out = env.same(&["images"]);
    assert!(
        out.starts_with("REPOSITORY            TAG       IMAGE ID       CREATED"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 4, "{out}");
    for args in [
        &["images", "-q"][..],
        &["images", "--no-trunc"],
        &["images", "-a"],
        &["image", "ls", "busybox"],
        &["images", "--filter", "reference=second"],
        &[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}",
        ],
        &[
            "images",
            "--format",
            "table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}",
        ],
        &["images", "--format", "{{json .}}"],
        &["images", "--digests"],
        &[
            "images",
            "--format",
            "{{.CreatedAt}}|{{.Containers}}|{{.Digest}}|{{.VirtualSize}}",
        ],
    ] {
        env.same(args);
    }
    // `--format json` came with docker 23; before, it is `{{json .}}` spelt out.
    if env.docker_major() >= 23 {
        env.same(&["images", "--format", "json"]);
    } else {
        let b = env.berth(&["images", "--format", "json"]);
        let d = env.docker(&["images", "--format", "{{json .}}"]);
        assert!(same_lines(&b.stdout, &d.stdout), "{b}\n{d}");
    }
    // No image matches: the header alone.
    let out = env.same(&["images", "nothing-here"]);
    assert_eq!(out, "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
}

#[test]
fn inspect_and_history_match_docker() {
    let env = Env::start();
    let full = env.same(&["image", "inspect", "busybox"]);
    assert!(
        full.starts_with("[\n    {\n        \"Id\": \"sha256:"),
        "{full}"
    );
    // docker 25 and later type `Config` as an OCI image config, as berth does; docker 20.10
    // printed the daemon's whole container config.
    if env.docker_major() >= 25 {
        env.same(&["image", "inspect", "-f", "{{json .Config}}", "busybox"]);
    } else {
        let b = env.berth(&["image", "inspect", "-f", "{{json .Config}}", "busybox"]);
        assert_eq!(b.stdout, "{\"Cmd\":[\"sh\"]}\n", "{b}");
    }
    for f in [
        "{{.Config.Cmd}}",
        "{{len .RootFS.Layers}}",
        "{{index .RepoTags 0}}",
        "{{.Id}} {{.Size}} {{.Os}}/{{.Architecture}}",
        "{{json .RootFS}}",
        "{{.Config.Entrypoint}} {{.Config.Labels}}",
        "{{range .RepoTags}}[{{.}}]{{end}}",
        r#"{{if eq .Os "linux"}}L{{else}}?{{end}} {{printf "%s|%d|%q" .Os .Size .Architecture}}"#,
        "{{with .RootFS}}{{.Type}} {{len .Layers}}{{end}} {{not .Config.Labels}}",
    ] {
        env.same(&["image", "inspect", "-f", f, "busybox"]);
    }
    // An unknown name: `[]`, one error line, exit 1, as docker.
    let b = env.berth(&["image", "inspect", "nope:1"]);
    b.assert_code(1);
    assert_eq!(b.stdout, "[]\n");
    assert!(b.stderr.contains("No such image: nope:1"), "{b}");
    let b = env.berth(&["image", "inspect", "-f", "{{.Nope}}", "busybox"]);
    b.assert_code(1);
    assert!(b.stderr.contains("can't evaluate field Nope"), "{b}");

    for args in [
        &["history", "busybox"][..],
        &["history", "--no-trunc", "busybox"],
        &["history", "-q", "busybox"],
        &["history", "--format", "{{json .}}", "busybox"],
        &[
            "history",
            "--format",
            "table {{.ID}}\\t{{.CreatedAt}}\\t{{.Comment}}",
            "busybox",
        ],
        &[
            "image",
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            "busybox",
        ],
        &[
            "history",
            "--human=false",
            "--format",
            "{{.Size}}|{{.CreatedSince}}",
            "busybox",
        ],
    ] {
        env.same(args);
    }
}

#[test]
fn tag_and_rmi_like_docker() {
    let env = Env::start();
    env.berth(&["tag", "busybox", "mine/bb"]).assert_success();
    env.berth(&["tag", "busybox:latest", "127.0.0.1:5000/x/y:v2"])
        .assert_success();
    let tags = env.docker(&["image", "inspect", "-f", "{{json .RepoTags}}", "busybox"]);
    assert_eq!(
        tags.stdout_trimmed(),
        r#"["127.0.0.1:5000/x/y:v2","busybox:latest","mine/bb:latest"]"#
    );
    let b = env.berth(&["tag", "busybox", "Bad/Name"]);
    b.assert_code(1);
    assert!(b.stderr.contains("invalid reference format"), "{b}");

    // Untagging: berth and docker each untag one of two tags.
    let b = env.berth(&["rmi", "mine/bb"]);
    b.assert_success();
    let d = env.docker(&["rmi", "127.0.0.1:5000/x/y:v2"]);
    d.assert_success();
    assert_eq!(b.stdout, "Untagged: mine/bb:latest\n");
    assert_eq!(d.stdout, "Untagged: 127.0.0.1:5000/x/y:v2\n");
    // Deleting: the last tag goes with the image.
    env.dockerd.import_busybox("gone:1");
    let id = env
        .docker(&["images", "-q", "--no-trunc", "gone:1"])
        .stdout_trimmed()
        .to_string();
    let b = env.berth(&["image", "rm", "gone:1"]);
    b.assert_success();
    assert!(
        b.stdout
            .starts_with(&format!("Untagged: gone:1\nDeleted: {id}\n")),
        "{b}"
    );
    assert!(
        b.stdout
            .lines()
            .skip(2)
            .all(|l| l.starts_with("Deleted: sha256:")),
        "{b}"
    );
    // A missing name fails after the others were removed.
    env.berth(&["tag", "busybox", "t:1"]).assert_success();
    let b = env.berth(&["rmi", "nope:1", "t:1", "nope:2"]);
    b.assert_code(1);
    assert_eq!(b.stdout, "Untagged: t:1\n");
    assert_eq!(
        b.stderr,
        "berth: Error response from daemon: No such image: nope:1\nberth: Error response from daemon: No such image: nope:2\n"
    );
    assert!(
        b.stderr
            .contains("Error response from daemon: No such image: nope:1"),
        "{b}"
    );
}

#[test]
fn save_and_load_round_trip() {
    let env = Env::start();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("bb.tar");
    let tar_s = tar.to_str().unwrap();
    let id = env
        .docker(&["images", "-q", "--no-trunc", "busybox"])
        .stdout_trimmed()
        .to_string();
    env.berth(&["save", "-o", tar_s, "busybox"])
        .assert_success();
    // The archive is docker's: `tar -t` lists manifest.json.
    let mut t = Command::new("tar");
    t.arg("-tf").arg(&tar);
    let list = run_command(&mut t, None, TIMEOUT).unwrap();
    assert!(list.stdout.lines().any(|l| l == "manifest.json"), "{list}");

    env.docker(&["rmi", "busybox"]).assert_success();
    let b = env.berth(&["load", "-i", tar_s]);
    b.assert_success();
    assert_eq!(b.stdout, "Loaded image: busybox:latest\n");
    assert_eq!(
        env.docker(&["images", "-q", "--no-trunc", "busybox"])
            .stdout_trimmed(),
        id
    );
    env.docker(&["rmi", "busybox"]).assert_success();
    let d = env.docker(&["load", "-i", tar_s]);
    assert_eq!(b.stdout, d.stdout);

    // Failures leave nothing behind: an unknown name, a file that is not an image archive.
    let bad = dir.path().join("bad.tar");
    let b = env.berth(&["save", "-o", bad.to_str().unwrap(), "nope:1"]);
    b.assert_code(1);
    assert_eq!(
        b.stderr,
        "berth: Error response from daemon: reference does not exist\n"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["bb.tar"], "{b}");
    std::fs::write(&bad, b"not a tar").unwrap();
    let b = env.berth(&["load", "-i", bad.to_str().unwrap()]);
    b.assert_code(1);
    assert!(b.stderr.starts_with("berth: "), "{b}");
    let b = env.berth(&[
        "load",
        "-i",
        dir.path().join("absent.tar").to_str().unwrap(),
    ]);
    b.assert_code(1);
    assert!(b.stderr.contains("cannot open"), "{b}");

    // Through stdout and stdin.
    let piped = dir.path().join("piped.tar");
    let mut cmd = env.berth_command(&["save", "busybox"]);
    cmd.stdout(std::fs::File::create(&piped).unwrap());
    assert!(cmd.status().unwrap().success());
    env.docker(&["rmi", "busybox"]).assert_success();
    let data = std::fs::read(&piped).unwrap();
    let b = run_command(
        &mut env.berth_command(&["image", "load"]),
        Some(&data),
        TIMEOUT,
    )
    .unwrap();
    b.assert_success();
    assert_eq!(b.stdout, "Loaded image: busybox:latest\n");
    assert_eq!(
        env.docker(&["images", "-q", "--no-trunc", "busybox"])
            .stdout_trimmed(),
        id
    );
}

#[test]
fn prune_removes_dangling_images() {
    let env = Env::start();
    // Nothing to prune: docker's one line.
    env.same(&["image", "prune", "-f"]);
    // A second import under the same tag leaves the first one dangling.
    env.dockerd.import_busybox("busybox:latest");
    let dangling = env.docker(&["images", "-q", "--no-trunc", "--filter", "dangling=true"]);
    let id = dangling.stdout_trimmed().to_string();
    assert!(id.starts_with("sha256:"), "{dangling}");
    env.same(&["images", "--filter", "dangling=true"]);
    let b = env.berth(&["image", "prune", "-f"]);
    b.assert_success();
    let lines: Vec<&str> = b.stdout.lines().collect();
    assert_eq!(
        &lines[..2],
        ["Deleted Images:", &format!("deleted: {id}")],
        "{b}"
    );
    // The image's layers follow, then an empty line and the total.
    let n = lines.len();
    assert!(
        lines[2..n - 2]
            .iter()
            .all(|l| l.starts_with("deleted: sha256:")),
        "{b}"
    );
    assert_eq!(lines[n - 2], "", "{b}");
    assert!(lines[n - 1].starts_with("Total reclaimed space: "), "{b}");
    assert_eq!(
        env.docker(&["images", "-q", "--filter", "dangling=true"])
            .stdout,
        ""
    );
    // Without -f the prompt is answered on stdin; "n" keeps everything.
    env.dockerd.import_busybox("busybox:latest");
    let b = run_command(
        &mut env.berth_command(&["image", "prune"]),
        Some(b"n\n"),
        TIMEOUT,
    )
    .unwrap();
    b.assert_success();
    assert_eq!(
        b.stdout,
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue? [y/N] "
    );
    assert_ne!(
        env.docker(&["images", "-q", "--filter", "dangling=true"])
            .stdout,
        ""
    );
    // -a takes every image no container uses.
    let b = run_command(
        &mut env.berth_command(&["image", "prune", "-a"]),
        Some(b"y\n"),
        TIMEOUT,
    )
    .unwrap();
    b.assert_success();
    assert!(b.stdout.contains("untagged: busybox:latest\n"), "{b}");
    assert_eq!(env.docker(&["images", "-aq"]).stdout, "");
}

#[test]
fn load_progress_stream_from_dockerd_renders_like_docker_on_a_terminal() {
    use berth_cli::format::progress::{JsonMessage, ProgressPrinter};
    let env = Env::start();
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("bb.tar");
    env.docker(&["save", "-o", tar.to_str().unwrap(), "busybox"])
        .assert_success();
    env.docker(&["rmi", "busybox"]).assert_success();
    // The stream as dockerd sends it to a client on a terminal (quiet=0).
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--unix-socket"])
        .arg(env.dockerd.socket())
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/x-tar",
            "--data-binary",
        ])
        .arg(format!("@{}", tar.display()))
        .arg("http://d/v1.41/images/load?quiet=0");
    let stream = run_command(&mut curl, None, TIMEOUT).unwrap();
    stream.assert_success();
    let msgs: Vec<JsonMessage> = stream
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        msgs.iter()
            .any(|m| m.progress_detail.as_ref().is_some_and(|p| p.total > 0)),
        "{stream}"
    );
    let mut tty = Vec::new();
    let mut printer = ProgressPrinter::new(true, 120);
    for m in &msgs {
        printer.show(m, 0, &mut tty).unwrap();
    }
    let tty = String::from_utf8(tty).unwrap();
    // A bar redrawn in place ("\x1b[2K\r" + status + bar + "\r"), then the final line.
    assert!(tty.contains(": Loading layer [>   "), "{tty:?}");
    assert!(
        tty.contains(&format!(": Loading layer [{}>]", "=".repeat(50))),
        "{tty:?}"
    );
    assert!(tty.starts_with("\n\x1b[1A\x1b[2K\r"), "{tty:?}");
    assert!(tty.contains("\x1b[1A"), "{tty:?}");
    assert!(tty.ends_with("Loaded image: busybox:latest\n"), "{tty:?}");
    // Off a terminal the bars are dropped and only the result is left.
    let mut plain = Vec::new();
    let mut printer = ProgressPrinter::new(false, 200);
    for m in &msgs {
        printer.show(m, 0, &mut plain).unwrap();
    }
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        "Loaded image: busybox:latest\n"
    );
}

/// A real `docker-registry` (distribution 2.8) with htpasswd auth (berth-testutil's fixture),
/// started inside the private dockerd's network namespace so that the daemon reaches it on its
/// own 127.0.0.1; killed on drop.
struct Registry {
    _server: berth_testutil::Registry,
    addr: String,
}

impl Registry {
    fn start(env: &Env, user: &str, password: &str) -> Registry {
        let pid = std::fs::read_to_string(env.dockerd.dir().join("pid"))
            .unwrap()
            .trim()
            .to_string();
        let server = berth_testutil::Registry::builder()
            .netns(format!("/proc/{pid}/ns/net"))
            .htpasswd(user, password)
            .start()
            .unwrap();
        Registry {
            addr: server.host(),
            _server: server,
        }
    }
}

#[test]
fn login_push_pull_logout_against_a_real_registry() {
    let env = Env::start();
    let reg = Registry::start(&env, "tester", "s3cret");
    let image = format!("{}/team/bb:latest", reg.addr);
    env.docker(&["tag", "busybox", &image]).assert_success();

    // Without credentials the push fails inside the stream, exit 1.
    let b = env.berth(&["push", &image]);
    b.assert_code(1);
    assert!(
        b.stdout.starts_with(&format!(
            "The push refers to repository [{}/team/bb]\n",
            reg.addr
        )),
        "{b}"
    );
    assert!(b.stderr.contains("no basic auth credentials"), "{b}");

    // A wrong password is refused by the daemon's /auth and nothing is stored.
    let b = env.berth(&["login", "-u", "tester", "-p", "wrong", &reg.addr]);
    b.assert_code(1);
    assert!(b.stderr.contains("401 Unauthorized"), "{b}");
    let config = env.dockerd.dir().join("cli").join("config.json");
    assert!(!std::fs::read_to_string(&config)
        .unwrap_or_default()
        .contains(&reg.addr));

    let login = run_command(
        &mut env.berth_command(&["login", "-u", "tester", "--password-stdin", &reg.addr]),
        Some(b"s3cret\n"),
        TIMEOUT,
    )
    .unwrap();
    login.assert_success();
    assert_eq!(login.stdout, "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(
        stored["auths"][&reg.addr]["auth"], "dGVzdGVyOnMzY3JldA==",
        "{stored}"
    );

    // Push with the stored credentials; then the same push again by berth and by docker
    // ("Layer already exists") prints the same bytes.
    let b = env.berth(&["push", &image]);
    b.assert_success();
    assert!(b.stdout.contains(": Pushed\n"), "{b}");
    assert!(b.stdout.contains("latest: digest: sha256:"), "{b}");
    env.same(&["push", &image]);
    let q = env.berth(&["push", "-q", &image]);
    q.assert_success();
    assert_eq!(q.stdout, format!("{image}\n"));

    // Pull: the untagged name comes back, as docker pulls it, byte for byte.
    let name = format!("{}/team/bb", reg.addr);
    env.docker(&["rmi", &image]).assert_success();
    let b = env.berth(&["pull", &name]);
    b.assert_success();
    env.docker(&["rmi", &image]).assert_success();
    let d = env.docker(&["pull", &name]);
    d.assert_success();
    assert_eq!(b.stdout, d.stdout);
    assert!(
        b.stdout
            .starts_with("Using default tag: latest\nlatest: Pulling from team/bb\n"),
        "{b}"
    );
    assert!(
        b.stdout.ends_with(&format!(
            "Status: Downloaded newer image for {image}\n{image}\n"
        )),
        "{b}"
    );
    // Up to date, for a platform, quiet, and a tag that does not exist.
    env.same(&["pull", &image]);
    env.same(&["pull", "--platform", "linux/amd64", &image]);
    env.same(&["pull", "-a", &name]);
    // Pulled images have repository digests: rows with and without them.
    let with_digests = env.same(&["images", "--digests"]);
    assert!(
        with_digests.contains(&format!("{name}   latest    sha256:")),
        "{with_digests}"
    );
    env.same(&["images"]);
    env.same(&["images", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"]);
    env.same(&["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    let q = env.berth(&["pull", "-q", &image]);
    q.assert_success();
    assert_eq!(q.stdout, format!("{image}\n"));
    let b = env.berth(&["pull", &format!("{name}:nope")]);
    b.assert_code(1);
    assert!(b.stderr.contains("manifest unknown"), "{b}");

    // The stream dockerd sends for a pull whose layer must be downloaded, rendered for a
    // terminal: one line per layer redrawn in place, the bar, then docker's closing lines.
    env.docker(&["rmi", &image, "busybox"]).assert_success();
    let auth = base64_url(&format!(
        r#"{{"username":"tester","password":"s3cret","serveraddress":"{}"}}"#,
        reg.addr
    ));
    let mut curl = Command::new("curl");
    curl.args(["-sS", "--unix-socket"])
        .arg(env.dockerd.socket())
        .args(["-X", "POST", "-H", &format!("X-Registry-Auth: {auth}")])
        .arg(format!(
            "http://d/v1.41/images/create?fromImage={}%2Fteam%2Fbb&tag=latest",
            reg.addr.replace(':', "%3A")
        ));
    let stream = run_command(&mut curl, None, TIMEOUT).unwrap();
    stream.assert_success();
    let tty = render(&stream.stdout, true);
    assert!(tty.contains(": Pulling fs layer \r"), "{tty:?}");
    assert!(tty.contains(": Downloading ["), "{tty:?}");
    assert!(tty.contains(": Pull complete \r"), "{tty:?}");
    assert!(tty.contains("\x1b[1BDigest: sha256:"), "{tty:?}");
    assert!(
        tty.ends_with(&format!("Status: Downloaded newer image for {image}\n")),
        "{tty:?}"
    );
    // dockerd renders each bar itself (200 columns): berth's bar is the same text.
    for line in stream.stdout.lines().filter(|l| l.contains("\"progress\"")) {
        let m: berth_cli::format::progress::JsonMessage = serde_json::from_str(line).unwrap();
        assert_eq!(
            m.progress_detail.unwrap().render(200, 0),
            m.progress_message,
            "{line}"
        );
    }
    let plain = render(&stream.stdout, false);
    assert!(
        !plain.contains("Downloading") && !plain.contains('\x1b'),
        "{plain}"
    );

    // `berth pull` on a real terminal (a pty): the lines are drawn and redrawn in place.
    env.docker(&["rmi", &image]).assert_success();
    let mut pty =
        berth_testutil::pty::PtyChild::spawn(env.berth_command(&["pull", &image])).unwrap();
    let status = pty.wait(TIMEOUT).unwrap();
    let screen = pty.output();
    assert!(status.success(), "{screen:?}");
    assert!(screen.contains("\x1b[2K\r"), "{screen:?}");
    assert!(screen.contains(": Pull complete \r"), "{screen:?}");
    // The pty has no size set: counts without a bar, as docker prints them there.
    let extracting = screen.split(": Extracting ").nth(1).unwrap_or("");
    assert!(
        extracting
            .split('\r')
            .next()
            .is_some_and(|c| c.contains("B/") && !c.contains('[')),
        "{screen:?}"
    );
    assert!(
        screen.ends_with(&format!(
            "Status: Downloaded newer image for {image}\r\n{image}\r\n"
        )),
        "{screen:?}"
    );

    // Logout forgets the credentials: pulling a fresh copy now needs them again.
    let b = env.berth(&["logout", &reg.addr]);
    b.assert_success();
    assert_eq!(
        b.stdout,
        format!("Removing login credentials for {}\n", reg.addr)
    );
    assert_eq!(
        env.berth(&["logout", &reg.addr]).stdout,
        format!("Not logged in to {}\n", reg.addr)
    );
    env.docker(&["rmi", &image]).assert_success();
    let b = env.berth(&["pull", &image]);
    b.assert_code(1);
    assert!(b.stderr.contains("no basic auth credentials"), "{b}");
}

fn base64_url(s: &str) -> String {
    let mut c = Command::new("base64");
    c.arg("-w0");
    let out = run_command(&mut c, Some(s.as_bytes()), TIMEOUT).unwrap();
    out.stdout.replace('+', "-").replace('/', "_")
}

/// A recorded progress stream rendered by berth's printer (terminal 120 columns wide).
fn render(stream: &str, tty: bool) -> String {
    use berth_cli::format::progress::{JsonMessage, ProgressPrinter};
    let mut out = Vec::new();
    let mut printer = ProgressPrinter::new(tty, 120);
    for line in stream.lines().filter(|l| !l.trim().is_empty()) {
        let m: JsonMessage = serde_json::from_str(line).unwrap();
        printer.show(&m, 0, &mut out).unwrap();
    }
    String::from_utf8(out).unwrap()
}
