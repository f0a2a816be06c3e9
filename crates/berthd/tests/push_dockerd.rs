//! `docker push` and `docker login` against berthd and against a real dockerd (Debian's
//! docker.io 20.10, the `Dockerd` fixture), the same steps on both: the docker CLI must print
//! the same lines, exit the same way and say the same errors. dockerd runs in a network
//! namespace of its own; two registries (one plain, one with htpasswd basic auth) and berthd
//! are started inside it (`nsenter`), on its loopback. Each daemon pushes to repositories of
//! its own (`...b` for berthd, `...d` for dockerd), so neither finds the other's layers.
//! Needs dockerd, docker, nsenter, docker-registry, skopeo, umoci, busybox-static,
//! apache2-utils and curl; root.
//!
//! Where the two differ by design: dockerd 20.10 rebuilds the manifest it pushes, berthd
//! pushes the stored one (so its digest is the pulled digest); the digest lines are compared
//! in form only, and berthd's digest against the pulled one.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use berth_testutil::{run_command, Dockerd, Output};
use common::registry::{BuiltImage, RegistryServer, DEAD_PORT};
use common::{dockerd_netns, Berthd, TIMEOUT};

/// Runs the docker CLI against one daemon, with what to feed its stdin.
type DockerFn<'a> = Box<dyn Fn(&[&str], Option<&[u8]>) -> Output + 'a>;

/// One daemon and the suffix of its repositories.
struct Side<'a> {
    suffix: &'static str,
    run: DockerFn<'a>,
}

impl Side<'_> {
    fn docker(&self, args: &[&str]) -> Output {
        (self.run)(args, None)
    }
}

/// A push's output with the daemon's suffix taken out and the digest line reduced to its
/// form: the first lines in order (the repository, the `Preparing` lines), the rest as a set
/// (layers finish in any order).
fn shape(out: &str, suffix: &str) -> (Vec<String>, BTreeSet<String>) {
    let lines: Vec<String> = unsuffix(out, suffix)
        .lines()
        .map(|l| match l.split_once(": digest: sha256:") {
            Some((tag, rest)) if rest.len() > 64 => format!("{tag}: digest: <digest>"),
            _ => l.to_owned(),
        })
        .collect();
    let head = lines
        .iter()
        .take_while(|l| l.starts_with("The push") || l.ends_with(": Preparing"))
        .cloned()
        .collect::<Vec<_>>();
    let rest = lines[head.len()..].iter().cloned().collect();
    (head, rest)
}

/// `text` with the side's repository names (`/yb`, `/nosuchb`, `/team/zb`) made common.
fn unsuffix(text: &str, suffix: &str) -> String {
    let mut text = text.to_owned();
    for repo in ["/y", "/nosuch", "/team/z"] {
        text = text.replace(&format!("{repo}{suffix}"), repo);
    }
    text
}

#[test]
fn berthd_and_dockerd_push_and_log_in_alike() {
    if !berth_testutil::require(Dockerd::available(), "dockerd (apt-get install docker.io)") {
        return;
    }
    let dockerd = Dockerd::start(&[]).unwrap();
    let ns = dockerd_netns(&dockerd);
    let plain = RegistryServer::start_in(Some(&ns));
    let auth = RegistryServer::start_htpasswd_in(Some(&ns), "tester", "s3cret");
    let image = BuiltImage::build("push");
    image.push_in(Some(&ns), &plain.host(), "x:v1");
    let berthd = Berthd::start_in_netns(&ns);
    let pulled = format!("{}/x:v1", plain.host());

    let b = Side {
        suffix: "b",
        run: Box::new(|args: &[&str], stdin: Option<&[u8]>| {
            let mut cmd = Command::new("docker");
            cmd.env("DOCKER_HOST", berthd.host())
                .env("DOCKER_CONFIG", berthd.dir.path().join("docker-cli"))
                .args(args);
            run_command(&mut cmd, stdin, TIMEOUT).unwrap()
        }),
    };
    let d = Side {
        suffix: "d",
        run: Box::new(|args: &[&str], stdin: Option<&[u8]>| {
            run_command(&mut dockerd.docker_command(args), stdin, TIMEOUT).unwrap()
        }),
    };
    for side in [&b, &d] {
        side.docker(&["pull", &pulled]).assert_success();
    }
    let digest_of = |out: &Output| -> String {
        out.stdout
            .lines()
            .find_map(|l| l.split_once(": digest: ").map(|(_, r)| r.to_owned()))
            .and_then(|r| r.split(' ').next().map(str::to_owned))
            .unwrap()
    };
    let pulled_digest = {
        let out = b.docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .RepoDigests 0}}",
            &pulled,
        ]);
        out.assert_success()
            .stdout_trimmed()
            .split_once('@')
            .unwrap()
            .1
            .to_owned()
    };

    // Both sides do the same step; the outputs must agree.
    let same = |step: &str, args: &dyn Fn(&str) -> Vec<String>| -> (Output, Output) {
        let outs: Vec<Output> = [&b, &d]
            .iter()
            .map(|side| {
                let a = args(side.suffix);
                let a: Vec<&str> = a.iter().map(String::as_str).collect();
                side.docker(&a)
            })
            .collect();
        let mut outs = outs.into_iter();
        let (ob, od) = (outs.next().unwrap(), outs.next().unwrap());
        assert_eq!(ob.code(), od.code(), "{step}: berthd {ob}\ndockerd {od}");
        assert_eq!(
            shape(&ob.stdout, "b"),
            shape(&od.stdout, "d"),
            "{step}: berthd {ob}\ndockerd {od}"
        );
        assert_eq!(
            unsuffix(&ob.stderr, "b"),
            unsuffix(&od.stderr, "d"),
            "{step}: berthd {ob}\ndockerd {od}"
        );
        (ob, od)
    };
    let tag_both = |to: &dyn Fn(&str) -> String| {
        for side in [&b, &d] {
            side.docker(&["tag", &pulled, &to(side.suffix)])
                .assert_success();
        }
    };

    // Another repository of the same registry: mounted from x.
    let y = |s: &str| format!("{}/y{s}:v1", plain.host());
    tag_both(&y);
    let (ob, _) = same("push to the same registry", &|s| vec!["push".into(), y(s)]);
    assert!(ob.stdout.contains(": Mounted from x\n"), "{ob}");
    assert_eq!(digest_of(&ob), pulled_digest);
    let (ob, _) = same("push again", &|s| vec!["push".into(), y(s)]);
    assert!(ob.stdout.contains(": Layer already exists\n"), "{ob}");
    // The raw stream of that push, line for line (as sets: layers finish in any order), the
    // digest and size aside.
    let raw = |socket: &std::path::Path, s: &str| -> BTreeSet<String> {
        let out = common::curl(
            socket,
            &[
                "-X",
                "POST",
                "-H",
                "X-Registry-Auth: e30=",
                &format!("http://d/v1.41/images/{}/y{s}/push?tag=v1", plain.host()),
            ],
        );
        out.assert_success()
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(&unsuffix(l, s)).unwrap();
                if let Some(aux) = v.get_mut("aux") {
                    aux["Digest"] = "<digest>".into();
                    aux["Size"] = 0.into();
                }
                if let Some(st) = v["status"].as_str() {
                    if let Some((tag, _)) = st.split_once(": digest: ") {
                        v["status"] = format!("{tag}: digest: <digest>").into();
                    }
                }
                v.to_string()
            })
            .collect()
    };
    let (rb, rd) = (raw(&berthd.socket(), "b"), raw(&dockerd.socket(), "d"));
    assert_eq!(rb, rd);
    assert_eq!(rb.len(), 7, "{rb:?}");
    same("push of a repository with no image", &|s| {
        vec!["push".into(), format!("{}/nosuch{s}:latest", plain.host())]
    });
    same("push of a tag that is not here", &|s| {
        vec!["push".into(), format!("{}/y{s}:nosuch", plain.host())]
    });

    // The registry with basic auth: refused without login, with a bad password, then good.
    let z = |s: &str| format!("{}/team/z{s}:v1", auth.host());
    tag_both(&z);
    let (ob, _) = same("push without login", &|s| vec!["push".into(), z(s)]);
    assert_eq!(ob.stderr, "no basic auth credentials\n");
    let (ob, _) = same("login with a bad password", &|_| {
        ["login", "-u", "tester", "-p", "wrong", &auth.host()]
            .map(String::from)
            .to_vec()
    });
    assert!(ob.stderr.contains("401 Unauthorized"), "{ob}");
    let gone = format!("127.0.0.1:{}", DEAD_PORT);
    let (ob, _) = same("login to nothing", &|_| {
        ["login", "-u", "tester", "-p", "x", &gone]
            .map(String::from)
            .to_vec()
    });
    assert!(ob.stderr.contains("connection refused"), "{ob}");
    let logins: Vec<Output> = [&b, &d]
        .iter()
        .map(|side| {
            (side.run)(
                &["login", "-u", "tester", "--password-stdin", &auth.host()],
                Some(b"s3cret\n"),
            )
        })
        .collect();
    assert_eq!(logins[0].assert_success().stdout, "Login Succeeded\n");
    assert_eq!(logins[0].stdout, logins[1].assert_success().stdout);
    // Uploaded: a new registry has none of the layers.
    let (ob, _) = same("push after login", &|s| vec!["push".into(), z(s)]);
    assert!(ob.stdout.contains(": Pushed\n"), "{ob}");
    assert_eq!(digest_of(&ob), pulled_digest);
}
