//! The `berth` CLI against a private berthd, and without one.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use berth_testutil::run_command;
use common::{berth_bin, Berthd, TIMEOUT};

fn berth(env: &[(&str, &str)], args: &[&str]) -> berth_testutil::Output {
    let mut cmd = Command::new(berth_bin());
    cmd.env_remove("BERTH_HOST").env_remove("DOCKER_HOST");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    run_command(&mut cmd, None, TIMEOUT).unwrap()
}

#[test]
fn berth_version_shows_client_and_server() {
    let d = Berthd::start();
    let out = d.berth(&["version"]);
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("Client:\n Version:           0.1.0\n"),
        "{out}"
    );
    assert!(out.stdout.contains("Server: berth 0.1.0"), "{out}");
    assert!(
        out.stdout
            .contains("API version:      1.41 (minimum version 1.24)"),
        "{out}"
    );
    let out = d.berth(&["version", "--format", "json"]);
    out.assert_success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["Server"]["ApiVersion"], "1.41");
    assert_eq!(v["Client"]["Version"], "0.1.0");
}

#[test]
fn berth_info_agrees_with_docker_info() {
    let d = Berthd::start();
    let out = d.berth(&["info"]);
    out.assert_success();
    let docker = d.docker(&["info", "--format", "{{.ID}} {{.NCPU}}"]);
    let fields: Vec<&str> = docker.stdout_trimmed().split(' ').collect();
    assert!(
        out.stdout.contains(&format!(" ID: {}\n", fields[0])),
        "{out}"
    );
    assert!(
        out.stdout.contains(&format!(" CPUs: {}\n", fields[1])),
        "{out}"
    );
    assert!(
        out.stdout
            .contains(&format!(" Berth Root Dir: {}\n", d.root().display())),
        "{out}"
    );
}

#[test]
fn host_precedence_flag_then_berth_host_then_docker_host() {
    let d = Berthd::start();
    let bad = format!("unix://{}", d.dir.path().join("absent.sock").display());
    let good = d.host();
    // BERTH_HOST wins over DOCKER_HOST.
    berth(&[("BERTH_HOST", &good), ("DOCKER_HOST", &bad)], &["info"]).assert_success();
    berth(&[("BERTH_HOST", &bad), ("DOCKER_HOST", &good)], &["info"]).assert_code(1);
    // DOCKER_HOST alone is honoured.
    berth(&[("DOCKER_HOST", &good)], &["info"]).assert_success();
    // -H wins over both.
    berth(
        &[("BERTH_HOST", &bad), ("DOCKER_HOST", &bad)],
        &["-H", &good, "info"],
    )
    .assert_success();
}

#[test]
fn without_a_daemon_one_line_says_how_to_start_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dir.path().join("berth.sock").display());
    for verb in ["info", "version"] {
        let out = berth(&[], &["-H", &host, verb]);
        out.assert_code(1);
        assert_eq!(
            out.stderr,
            format!(
                "berth: cannot connect to berthd at {host}: is berthd running? start it with: berthd -H {host}\n"
            ),
            "{out}"
        );
    }
}

#[test]
fn every_verb_has_help() {
    for verb in ["version", "info"] {
        let out = berth(&[], &[verb, "--help"]);
        out.assert_success();
        assert!(
            out.stdout.contains(&format!("Usage: berth {verb}")),
            "{out}"
        );
        assert!(out.stdout.contains("--host"), "{out}");
    }
    let out = berth(&[], &["--help"]);
    out.assert_success();
    assert!(
        out.stdout.contains("version") && out.stdout.contains("info"),
        "{out}"
    );
}

/// `berth login` and `berth push` against berthd and a docker-registry with htpasswd basic
/// auth: a refused login stores nothing, a good one stores docker's `auths` entry, and the push
/// uses it and prints docker's lines; the registry then has the pulled image's digest.
#[test]
fn berth_login_and_push_against_berthd() {
    common::registry::private_net();
    use common::registry::{BuiltImage, RegistryServer};

    let registry = RegistryServer::start_htpasswd("tester", "s3cret");
    let host = registry.host();
    BuiltImage::build("cli").push_as(&host, "team/x:v1", "tester:s3cret");
    let d = Berthd::start();
    let config = d.dir.path().join("berth-cli");
    let config_str = config.to_str().unwrap().to_owned();
    let berth = |args: &[&str], stdin: Option<&[u8]>| {
        let mut cmd = Command::new(berth_bin());
        cmd.env_remove("BERTH_HOST")
            .env("DOCKER_CONFIG", &config_str)
            .arg("-H")
            .arg(d.host())
            .args(args);
        run_command(&mut cmd, stdin, TIMEOUT).unwrap()
    };
    let pulled = format!("{host}/team/x:v1");
    let target = format!("{host}/team/y:v1");

    let out = berth(&["login", "-u", "tester", "-p", "wrong", &host], None);
    out.assert_code(1);
    assert!(
        out.stderr.contains(&format!(
            "login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
        )),
        "{out}"
    );
    let stored = std::fs::read_to_string(config.join("config.json")).unwrap_or_default();
    assert!(!stored.contains(&host), "{stored}");

    let out = berth(
        &["login", "-u", "tester", "--password-stdin", &host],
        Some(b"s3cret\n"),
    );
    out.assert_success();
    assert_eq!(out.stdout, "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(config.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(stored["auths"][&host]["auth"], "dGVzdGVyOnMzY3JldA==");

    berth(&["pull", &pulled], None).assert_success();
    berth(&["tag", &pulled, &target], None).assert_success();
    let out = berth(&["push", &target], None);
    out.assert_success();
    let lines = out.stdout_lines();
    assert_eq!(
        lines[0],
        format!("The push refers to repository [{host}/team/y]")
    );
    assert!(lines[1].ends_with(": Preparing"), "{out}");
    assert!(
        out.stdout.contains(": Mounted from team/x\n"),
        "{}",
        out.stdout
    );
    let digest = lines
        .last()
        .and_then(|l| l.strip_prefix("v1: digest: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let inspect = d.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &pulled]);
    assert!(
        inspect
            .assert_success()
            .stdout
            .contains(&format!("{host}/team/x@{digest}")),
        "{inspect}"
    );
    let out = berth(&["push", "-q", &target], None);
    out.assert_success();
    assert_eq!(out.stdout, format!("{target}\n"));

    // Logged out, the push is refused in docker's words.
    berth(&["logout", &host], None).assert_success();
    let out = berth(&["push", &target], None);
    out.assert_code(1);
    assert!(out.stderr.contains("no basic auth credentials"), "{out}");
}
