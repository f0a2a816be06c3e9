//! Reference parsing checked against the real docker CLI: `docker pull`
//! parses its argument with distribution/reference before it talks to a
//! daemon, so pointed at a socket that does not exist it either prints
//! docker's parse error or reports that it cannot connect (the reference
//! was valid). berth must agree on every input, message for message.
//! Needs the docker CLI (Debian's docker.io); no daemon, no network.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use berth_oci::Reference;

const F64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

/// What docker says about `input`: `Ok(())` when it went on to connect.
fn docker_verdict(home: &std::path::Path, input: &str) -> Result<(), String> {
    let out = Command::new("docker")
        .args(["pull", "--"])
        .arg(input)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-daemon.sock", home.display()),
        )
        .env("DOCKER_CONFIG", home)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("the docker CLI is installed (docker.io)");
    assert!(
        !out.status.success(),
        "no daemon: docker pull {input:?} cannot succeed"
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("Cannot connect to the Docker daemon") {
        return Ok(());
    }
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    Err(first.to_owned())
}

#[test]
fn berth_and_docker_agree_on_references() {
    let home = tempfile::tempdir().unwrap();
    let long_path = format!("a/{}", "b".repeat(254));
    let too_long = format!("a/{}", "b".repeat(255));
    let long_tag = format!("busybox:{}", "t".repeat(128));
    let too_long_tag = format!("busybox:{}", "t".repeat(129));
    let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    let digested = [
        format!("busybox@sha256:{F64}"),
        format!("busybox:1.36@sha256:{F64}"),
        format!("localhost:5000/a/b@sha256:{F64}"),
        format!("busybox@sha256:{}", &F64[..34]),
        format!("busybox@sha256:{}", &F64[..31]),
        format!("busybox@sha256:{}", F64.to_uppercase()),
        format!("busybox@invaliddigest:{F64}"),
        format!("busybox@@sha256:{F64}"),
        format!("@sha256:{F64}"),
        format!("Busybox@sha256:{F64}"),
    ];
    let mut inputs: Vec<String> = [
        "busybox",
        "busybox:latest",
        "busybox:1.36.1-musl",
        "busybox:Latest_1",
        "library/busybox",
        "docker.io/busybox",
        "index.docker.io/library/busybox:1",
        "user/app",
        "user/app/sub:tag",
        "localhost/app",
        "localhost:5000/app:v1",
        "127.0.0.1:5000/a/b",
        "[::1]:5000/app",
        "[fc00::1]:5000/docker/docker",
        "[fc00::1]",
        "[fe80::1%eth0]:5000/debian",
        "fc00::1:5000/debian",
        "my-registry.example.com:443/team/app:2024.01",
        "xn--n3h.com/myimage:xn--n3h.com",
        "Docker/docker",
        "LOCALDOMAIN/debian",
        "192.168.0.1",
        "192.168.0.1:80",
        "docker-rules/docker",
        "docker---rules/docker",
        "dock__er/docker",
        "d/docker",
        "Busybox",
        "BUSYBOX:latest",
        "docker/Docker",
        "docker.io/docker/Docker",
        "test:5000/Uppercase/lowercase:tag",
        "-docker",
        "docker-/docker",
        "____/____",
        "dock..er/docker",
        "dock_.er/docker",
        "docker/",
        "docker///docker",
        "https://github.com/docker/docker",
        ":justtag",
        "busybox:",
        "busybox:-x",
        "busybox:.x",
        "busybox:a:b",
        "busy box",
        "aa/asdf$$^/aa",
        "a/b/",
        "a//b",
        hex,
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    inputs.extend([long_path, too_long, long_tag, too_long_tag]);
    inputs.extend(digested);

    let mut disagreements = Vec::new();
    for input in &inputs {
        let docker = docker_verdict(home.path(), input);
        let berth = Reference::parse_normalized(input)
            .map(|_| ())
            .map_err(|e| e.to_string());
        if docker != berth {
            disagreements.push(format!("{input:?}: docker {docker:?}, berth {berth:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn only_sha256_is_stored() {
    // docker's CLI links sha384/sha512 and accepts them; berth stores sha256
    // only and says so with go-digest's message instead.
    let home = tempfile::tempdir().unwrap();
    let input = format!("busybox@sha512:{}", "f".repeat(128));
    assert_eq!(docker_verdict(home.path(), &input), Ok(()));
    assert_eq!(
        Reference::parse_normalized(&input).unwrap_err().to_string(),
        "unsupported digest algorithm"
    );
}
