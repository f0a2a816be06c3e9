//! berthd next to a real dockerd (Debian's docker.io 20.10, the `Dockerd` fixture), both
//! pulling the same image from the same docker-registry: the docker CLI must print the same
//! lines and see the same images. dockerd runs in a network namespace of its own; the registry
//! and berthd are started inside it (`nsenter`), on its loopback, and the image is pushed
//! there with skopeo. Needs dockerd, docker, nsenter, docker-registry, skopeo, umoci,
//! busybox-static and curl; root.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use berth_testutil::{Dockerd, Output};
use common::registry::{BuiltImage, RegistryServer};
use common::{dockerd_netns, Berthd};
use serde_json::Value;

/// `out`'s lines, for comparing two daemons.
fn lines(out: &Output) -> Vec<String> {
    out.stdout.lines().map(str::to_owned).collect()
}

/// Every key path of a JSON value, with the value's JSON type (null left out: dockerd and
/// berthd may each leave an empty field null).
fn shape(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                // Maps keyed by data (labels, env) are compared by value elsewhere.
                if k.contains('.') || k.contains('/') {
                    continue;
                }
                let p = format!("{prefix}.{k}");
                if !x.is_null() {
                    out.insert(format!("{p}:{}", kind(x)));
                }
                shape(x, &p, out);
            }
        }
        Value::Array(a) => {
            if let Some(x) = a.first() {
                shape(x, &format!("{prefix}[]"), out);
            }
        }
        _ => {}
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn berthd_and_dockerd_pull_and_show_the_same_image() {
    if !berth_testutil::require(Dockerd::available(), "dockerd (apt-get install docker.io)") {
        return;
    }
    let dockerd = Dockerd::start(&[]).unwrap();
    let ns = dockerd_netns(&dockerd);
    let registry = RegistryServer::start_in(Some(&ns));
    let image = BuiltImage::build("one");
    image.push_in(Some(&ns), &registry.host(), "x:v1");
    let berthd = Berthd::start_in_netns(&ns);
    let name = format!("{}/x:v1", registry.host());

    // The pull's lines (the CLI is not on a terminal: no progress bars).
    let theirs = dockerd.docker(&["pull", &name]);
    theirs.assert_success();
    let ours = berthd.docker(&["pull", &name]);
    ours.assert_success();
    // dockerd sends "Verifying Checksum" as a rate-limited progress update: a small layer's
    // may be coalesced away. Every other line must be there on both sides.
    let sorted = |o: &Output| -> BTreeSet<String> {
        lines(o)
            .into_iter()
            .filter(|l| !l.ends_with(": Verifying Checksum"))
            .collect()
    };
    assert_eq!(
        sorted(&ours),
        sorted(&theirs),
        "berthd:\n{}\ndockerd:\n{}",
        ours.stdout,
        theirs.stdout
    );
    assert_eq!(lines(&ours)[0], lines(&theirs)[0]);
    assert_eq!(lines(&ours).last(), lines(&theirs).last());
    let (a, b) = (
        berthd.docker(&["pull", &name]),
        dockerd.docker(&["pull", &name]),
    );
    assert_eq!(sorted(&a), sorted(&b), "second pull");

    // The same listing and the same inspect shape.
    for args in [
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"][..],
        &[
            "images",
            "--digests",
            "--format",
            "{{.Repository}} {{.Digest}}",
        ][..],
        &[
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.CreatedBy}} {{.Comment}}",
            &name,
        ][..],
        &[
            "image",
            "inspect",
            "-f",
            "{{.Config.Cmd}} {{.RootFS.Layers}} {{.Config.Labels}}",
            &name,
        ][..],
    ] {
        let (a, b) = (berthd.docker(args), dockerd.docker(args));
        assert_eq!(
            a.assert_success().stdout,
            b.assert_success().stdout,
            "docker {args:?}"
        );
    }
    let inspect = |o: Output| -> Value {
        let v: Value = serde_json::from_str(&o.assert_success().stdout).unwrap();
        v[0].clone()
    };
    let (a, b) = (
        inspect(berthd.docker(&["image", "inspect", &name])),
        inspect(dockerd.docker(&["image", "inspect", &name])),
    );
    for k in [
        "Id",
        "RepoTags",
        "RepoDigests",
        "Architecture",
        "Os",
        "RootFS",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    let (mut sa, mut sb) = (BTreeSet::new(), BTreeSet::new());
    shape(&a, "", &mut sa);
    shape(&b, "", &mut sb);
    let missing: Vec<_> = sb.difference(&sa).collect();
    assert!(missing.is_empty(), "berthd's inspect lacks {missing:?}");

    // Errors in the same words.
    let missing = format!("{}/x:nosuch", registry.host());
    let (a, b) = (
        berthd.docker(&["pull", &missing]),
        dockerd.docker(&["pull", &missing]),
    );
    assert_eq!(a.assert_failure().stderr, b.assert_failure().stderr);

    // Tag, then remove by id (refused), by name, and the last name.
    let both = |args: &[&str]| (berthd.docker(args), dockerd.docker(args));
    let (a, b) = both(&["tag", &name, "other/y:t"]);
    a.assert_success();
    b.assert_success();
    let id = a_id(&berthd, &name);
    let (a, b) = both(&["rmi", &id[7..19]]);
    assert_eq!(a.assert_failure().stderr, b.assert_failure().stderr);
    let (a, b) = both(&["rmi", "other/y:t"]);
    assert_eq!(a.assert_success().stdout, b.assert_success().stdout);
    let (a, b) = both(&["rmi", &name]);
    assert_eq!(a.assert_success().stdout, b.assert_success().stdout);
    let (a, b) = both(&["rmi", "nosuch"]);
    assert_eq!(a.assert_failure().stderr, b.assert_failure().stderr);
}

fn a_id(d: &Berthd, name: &str) -> String {
    d.docker(&["image", "inspect", "-f", "{{.Id}}", name])
        .assert_success()
        .stdout_trimmed()
        .to_owned()
}
