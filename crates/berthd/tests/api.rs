//! berthd driven as Docker users drive dockerd: the real docker CLI (28.x), curl over the unix
//! socket, and signals. Each test starts its own berthd in a temp dir (no root needed), except
//! the comparison with a real dockerd, which runs a private one in its own namespaces (root).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{header, parse_response, Berthd};
use serde_json::Value;

#[test]
fn docker_version_negotiates_api_1_41() {
    let d = Berthd::start();
    let out = d.docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    out.assert_success();
    assert_eq!(out.stdout_trimmed(), "1.41", "{out}");
    let out = d.docker(&["version"]);
    out.assert_success();
    assert!(out.stdout.contains("Server: berth 0.1.0"), "{out}");
    assert!(out.stdout.contains("(minimum version 1.24)"), "{out}");
    assert!(out.stdout.contains("1.41 (downgraded from"), "{out}");
}

#[test]
fn docker_info_shows_true_values() {
    let d = Berthd::start();
    let out = d.docker(&[
        "info",
        "--format",
        "{{.ServerVersion}}|{{.DockerRootDir}}|{{.NCPU}}|{{.KernelVersion}}|{{.OSType}}|{{.ID}}",
    ]);
    out.assert_success();
    let fields: Vec<&str> = out.stdout_trimmed().split('|').collect();
    let nproc = std::thread::available_parallelism()
        .unwrap()
        .get()
        .to_string();
    let kernel = rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned();
    assert_eq!(fields[0], "0.1.0", "{out}");
    assert_eq!(fields[1], d.root().to_str().unwrap(), "{out}");
    assert_eq!(fields[2], nproc, "{out}");
    assert_eq!(fields[3], kernel, "{out}");
    assert_eq!(fields[4], "linux", "{out}");
    let id = std::fs::read_to_string(d.root().join("engine-id")).unwrap();
    assert_eq!(fields[5], id.trim(), "{out}");
    // The plain layout parses too.
    let out = d.docker(&["info"]);
    out.assert_success();
    assert!(out.stdout.contains("Server Version: 0.1.0"), "{out}");
}

#[test]
fn ping_headers_for_head_and_get() {
    let d = Berthd::start();
    for method in [&["-I"][..], &["-i"][..]] {
        let mut args = method.to_vec();
        args.push("http://berth/_ping");
        let out = d.curl(&args);
        out.assert_success();
        let (status, headers, body) = parse_response(&out.stdout);
        assert_eq!(status, 200, "{out}");
        assert_eq!(header(&headers, "api-version"), Some("1.41"), "{out}");
        assert_eq!(header(&headers, "ostype"), Some("linux"), "{out}");
        assert!(
            header(&headers, "server")
                .unwrap()
                .starts_with("berth/0.1.0"),
            "{out}"
        );
        assert_eq!(
            header(&headers, "docker-experimental"),
            Some("false"),
            "{out}"
        );
        // dockerd's exact casing on the wire.
        assert!(out.stdout.contains("\r\nApi-Version: 1.41\r\n"), "{out}");
        assert!(out.stdout.contains("\r\nOstype: linux\r\n"), "{out}");
        if method == ["-i"] {
            assert_eq!(body, "OK");
        } else {
            assert_eq!(header(&headers, "content-length"), Some("0"), "{out}");
        }
    }
}

#[test]
fn versioned_and_unversioned_routes() {
    let d = Berthd::start();
    for path in [
        "/version",
        "/v1.41/version",
        "/v1.24/version",
        "/v1.30/info",
        "/info",
    ] {
        let out = d.curl(&["-w", "\n%{http_code}", &format!("http://berth{path}")]);
        out.assert_success();
        let (json, code) = out.stdout.rsplit_once('\n').unwrap();
        assert_eq!(code, "200", "{path}: {out}");
        let v: Value = serde_json::from_str(json).unwrap();
        if path.ends_with("version") {
            assert_eq!(v["ApiVersion"], "1.41");
            assert_eq!(v["MinAPIVersion"], "1.24");
            assert_eq!(v["Components"][0]["Name"], "Engine");
        } else {
            assert_eq!(v["OSType"], "linux");
        }
    }
}

#[test]
fn versions_out_of_range_are_400_with_dockerds_message() {
    let d = Berthd::start();
    let out = d.curl(&["-i", "http://berth/v1.99/version"]);
    let (status, headers, body) = parse_response(&out.stdout);
    assert_eq!(status, 400, "{out}");
    assert_eq!(header(&headers, "content-type"), Some("application/json"));
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["message"],
        "client version 1.99 is too new. Maximum supported API version is 1.41"
    );
    let out = d.curl(&["-i", "http://berth/v1.23/info"]);
    let (status, _, body) = parse_response(&out.stdout);
    assert_eq!(status, 400, "{out}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["message"],
        "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version"
    );
    // docker with a pinned old API version gets the same refusal.
    let mut cmd = std::process::Command::new("docker");
    cmd.env("DOCKER_HOST", d.host())
        .env("DOCKER_API_VERSION", "1.23")
        .env("DOCKER_CONFIG", d.dir.path().join("docker-cli"))
        .arg("version");
    let out = berth_testutil::run_command(&mut cmd, None, common::TIMEOUT).unwrap();
    out.assert_failure();
    assert!(
        out.stderr.contains("client version 1.23 is too old"),
        "{out}"
    );
}

#[test]
fn unknown_endpoints_are_answered_404() {
    let d = Berthd::start();
    for args in [
        &["-i", "http://berth/nosuch"][..],
        &["-i", "http://berth/v1.41/networks"][..],
        &["-i", "-X", "POST", "http://berth/version"][..],
        &["-i", "-X", "PUT", "http://berth/containers/create"][..],
        &["-i", "-X", "DELETE", "http://berth/v1.99/networks/x"][..],
    ] {
        let out = d.curl(args);
        out.assert_success(); // curl's --max-time: no hang
        let (status, _, body) = parse_response(&out.stdout);
        assert_eq!(status, 404, "{out}");
        assert_eq!(body.trim(), r#"{"message":"page not found"}"#, "{out}");
    }
    let out = d.docker(&["volume", "inspect", "nosuch"]);
    out.assert_failure();
    assert!(
        out.stderr
            .contains("Error response from daemon: page not found"),
        "{out}"
    );
    // A served route with a version out of range is refused for its version.
    let out = d.curl(&["-i", "-X", "DELETE", "http://berth/v1.99/images/x"]);
    assert_eq!(parse_response(&out.stdout).0, 400, "{out}");
}

#[test]
fn sigterm_removes_socket_and_pidfile_and_exits_0() {
    let mut d = Berthd::start();
    let pid: u32 = std::fs::read_to_string(d.pidfile())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, d.pid());
    // The socket is the daemon's: mode 0660.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(d.socket()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o660);
    let status = d.terminate();
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(!d.socket().exists(), "socket left behind");
    assert!(!d.pidfile().exists(), "pidfile left behind");
    assert!(d.log().contains("SIGTERM: shutting down"), "{}", d.log());
}

#[test]
fn sigterm_closes_idle_keepalive_connections() {
    use std::io::{Read, Write};
    let mut d = Berthd::start();
    // A client that keeps its connection open after one request must not hold shutdown up.
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let start = std::time::Instant::now();
    let status = d.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(
        start.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn second_daemon_on_the_same_root_is_refused() {
    let d = Berthd::start();
    let mut cmd = std::process::Command::new(common::berthd_bin());
    cmd.arg("-H")
        .arg(format!(
            "unix://{}",
            d.dir.path().join("other.sock").display()
        ))
        .arg("--root")
        .arg(d.root())
        .arg("--exec-root")
        .arg(d.dir.path().join("run2"));
    let out = berth_testutil::run_command(&mut cmd, None, common::TIMEOUT).unwrap();
    out.assert_code(1);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "berthd: another berthd (pid {}) is using the root {}; stop it, or give this one its own --root",
            d.pid(),
            d.root().display()
        ),
        "{out}"
    );
    assert!(!d.dir.path().join("other.sock").exists());
    // The first one is unharmed.
    d.curl(&["http://berth/_ping"]).assert_success();
}

#[test]
fn second_daemon_on_a_live_socket_is_refused() {
    let d = Berthd::start();
    let other = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(common::berthd_bin());
    cmd.arg("-H")
        .arg(d.host())
        .arg("--root")
        .arg(other.path().join("root"))
        .arg("--exec-root")
        .arg(other.path().join("run"));
    let out = berth_testutil::run_command(&mut cmd, None, common::TIMEOUT).unwrap();
    out.assert_code(1);
    assert!(
        out.stderr.contains("another daemon is listening on"),
        "{out}"
    );
    d.curl(&["http://berth/_ping"]).assert_success();
}

#[test]
fn stale_socket_from_a_killed_daemon_is_replaced() {
    let mut d = Berthd::start();
    let mut child = d.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(d.socket().exists(), "SIGKILL leaves the socket");
    let child = d.command(&[]).spawn().unwrap();
    d.child = Some(child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while d.curl(&["http://berth/_ping"]).stdout != "OK" {
        assert!(std::time::Instant::now() < deadline, "{}", d.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The shapes berthd serves against a real dockerd (20.10, API 1.41): every key dockerd puts in
/// /version, its Engine details and /info, berthd has too; the /_ping headers and the error
/// bodies match.
#[test]
fn shapes_match_a_real_dockerd() {
    if !berth_testutil::require(
        berth_testutil::Dockerd::available(),
        "dockerd (apt-get install docker.io)",
    ) {
        return;
    }
    let dockerd = berth_testutil::Dockerd::start(&[]).unwrap();
    let d = Berthd::start();
    let theirs = |path: &str| -> Value {
        let out = common::curl(&dockerd.socket(), &[&format!("http://docker{path}")]);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let ours = |path: &str| -> Value {
        let out = d.curl(&[&format!("http://berth{path}")]);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let keys = |v: &Value| -> BTreeSet<String> { v.as_object().unwrap().keys().cloned().collect() };
    for path in ["/v1.41/version", "/v1.41/info"] {
        let (t, o) = (theirs(path), ours(path));
        let missing: Vec<_> = keys(&t).difference(&keys(&o)).cloned().collect();
        assert!(missing.is_empty(), "{path}: berthd lacks {missing:?}");
        // Same JSON types for the keys both have (null counts as any type).
        for k in keys(&t) {
            let (a, b) = (&t[&k], &o[&k]);
            let kind = |v: &Value| std::mem::discriminant(v);
            assert!(
                a.is_null() || b.is_null() || kind(a) == kind(b),
                "{path} {k}: dockerd {a} vs berthd {b}"
            );
        }
    }
    let t = theirs("/v1.41/version");
    let o = ours("/v1.41/version");
    assert_eq!(
        keys(&t["Components"][0]["Details"]),
        keys(&o["Components"][0]["Details"])
    );
    assert_eq!(t["ApiVersion"], o["ApiVersion"]);

    let names = |raw: &str| -> BTreeSet<String> {
        parse_response(raw)
            .1
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k != "date")
            .collect()
    };
    for flag in ["-I", "-i"] {
        let t = common::curl(&dockerd.socket(), &[flag, "http://docker/_ping"]);
        let o = d.curl(&[flag, "http://berth/_ping"]);
        assert_eq!(names(&t.stdout), names(&o.stdout), "{t}\n{o}");
        assert_eq!(parse_response(&t.stdout).2, parse_response(&o.stdout).2);
    }
    for path in ["/v1.99/version", "/nosuch", "/v1.41/nosuch"] {
        let t = common::curl(&dockerd.socket(), &["-i", &format!("http://docker{path}")]);
        let o = d.curl(&["-i", &format!("http://berth{path}")]);
        let (ts, _, tb) = parse_response(&t.stdout);
        let (os, _, ob) = parse_response(&o.stdout);
        assert_eq!((ts, tb.trim()), (os, ob.trim()), "{path}");
    }
}

#[test]
fn socket_group_is_docker_by_default_or_the_one_given() {
    use std::os::unix::fs::MetadataExt;
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    let docker_gid = groups.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&"docker")).then(|| f[2].parse::<u32>().unwrap())
    });
    let d = Berthd::start();
    let gid = std::fs::metadata(d.socket()).unwrap().gid();
    assert_eq!(gid, docker_gid.unwrap_or(0));
    let d = Berthd::start_with(&["--group", "root"]);
    assert_eq!(std::fs::metadata(d.socket()).unwrap().gid(), 0);
}
