//! Hostile image configs (issue 9): images whose config JSON holds non-ASCII and absurd dates,
//! wrong JSON types, NUL and bidi characters, and huge fields, pushed by hand to a real registry
//! (Debian's docker-registry, which stores a config without reading it) and pulled into a
//! private berthd by the real docker CLI, and loaded from hand-made docker archives. berthd
//! either refuses an image with a clear error or stores it and then answers every image verb
//! on it (`images`, `image inspect`, `history`, `save`, `tag`, `rmi`, `image prune`), also
//! after a restart with them all stored; its pid stays the same throughout (and after the
//! restart) and its log holds no panic.
//!
//! Before berth-api-types' jiff-based `parse_rfc3339`, the first image here (a `created` with
//! an `é` where the old parser split the string by byte index) pulled fine and then aborted
//! the daemon at `docker images`.
//!
//! Needs docker.io (the CLI), docker-registry, curl, tar and gzip; root.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_testutil::Output;
use common::registry::{run, RegistryServer, REGISTRY_BIN};
use common::Berthd;
use serde_json::{json, Value};

/// What berthd must do with an image.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Store it, then answer every verb on it.
    Stored,
    /// Refuse it at pull and at load, with an error saying each of these.
    Refused(&'static [&'static str]),
}

/// One hostile image: its name and its config (built around the layer's diff id).
struct Case {
    name: &'static str,
    config: Value,
    expect: Expect,
}

/// A config like docker's, one layer, two history entries.
fn base_config(diff_id: &str) -> Value {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": "COPY note /etc/"},
            {"created": "2024-01-01T00:00:00Z", "created_by": "CMD [\"sh\"]", "empty_layer": true},
        ],
    })
}

fn cases(diff_id: &str) -> Vec<Case> {
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = base_config(diff_id);
        f(&mut c);
        c
    };
    vec![
        Case {
            // The old parser split at byte 8 of the time and inside `+0é:0` by byte index.
            name: "created-non-ascii",
            config: with(&|c| {
                c["created"] = json!("2024-01-01T00:00:0é");
                c["history"][0]["created"] = json!("2024-01-01T00:00:00é");
                c["history"][1]["created"] = json!("2024-01-01T00:00:00+0é:0");
            }),
            expect: Expect::Stored,
        },
        Case {
            name: "created-absurd",
            config: with(&|c| {
                c["created"] = json!("99999-01-01T00:00:00Z");
                c["history"][0]["created"] = json!("-2024-01-01T00:00:00Z");
                c["history"][1]["created"] = json!("2024-02-30T25:61:61Z");
            }),
            expect: Expect::Stored,
        },
        Case {
            name: "created-negative",
            config: with(&|c| {
                c["created"] = json!("-000001-01-01T00:00:00Z");
                c["history"][0]["created"] = json!("0000-01-01T00:00:00Z");
                c["history"][1]["created"] = json!("1969-12-31T23:59:59.999999999Z");
            }),
            expect: Expect::Stored,
        },
        Case {
            name: "nul-and-bidi",
            config: with(&|c| {
                c["author"] = json!("\u{202e}nimda");
                c["comment"] = json!("a\u{0}b");
                c["config"]["Labels"] = json!({"l\u{0}x": "\u{202e}gpj.exe", "\u{202d}": ""});
                c["history"][0]["created_by"] = json!("sh -c \u{0}echo \u{202e}txt.exe\u{202c}");
                c["history"][0]["comment"] = json!("\u{0}\u{0}\u{202e}");
                c["history"][1]["author"] = json!("\u{feff}\u{200b}");
            }),
            expect: Expect::Stored,
        },
        Case {
            name: "huge-created-by",
            config: with(&|c| {
                c["history"][0]["created_by"] = json!("x".repeat(1 << 20));
            }),
            expect: Expect::Stored,
        },
        Case {
            name: "many-env",
            config: with(&|c| {
                let env: Vec<String> = (0..100_000).map(|i| format!("E{i}=v")).collect();
                c["config"]["Env"] = json!(env);
            }),
            expect: Expect::Stored,
        },
        Case {
            // Past berth-image's 4 MiB limit on what it reads into memory.
            name: "oversized",
            config: with(&|c| {
                c["history"][0]["created_by"] = json!("x".repeat(5 << 20));
            }),
            expect: Expect::Refused(&["more than the 4194304 bytes allowed"]),
        },
        Case {
            name: "cmd-string",
            config: with(&|c| c["config"]["Cmd"] = json!("x")),
            expect: Expect::Refused(&["image config sha256:", "invalid type"]),
        },
        Case {
            name: "env-numbers",
            config: with(&|c| c["config"]["Env"] = json!([1])),
            expect: Expect::Refused(&["image config sha256:", "invalid type"]),
        },
        Case {
            name: "created-number",
            config: with(&|c| c["created"] = json!(1_700_000_000)),
            expect: Expect::Refused(&["image config sha256:", "invalid type"]),
        },
    ]
}

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

/// The one layer every case shares: `/etc/note`, as a plain tar and gzipped.
struct Layer {
    tar: PathBuf,
    gz: PathBuf,
    diff_id: String,
}

fn build_layer(dir: &Path) -> Layer {
    let root = dir.join("layer");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/note"), "hostile\n").unwrap();
    let tar = dir.join("layer.tar");
    tar_dir(&root, &tar);
    let gz = dir.join("layer.tar.gz");
    let out = Command::new("gzip").arg("-nc").arg(&tar).output().unwrap();
    assert!(out.status.success());
    fs::write(&gz, &out.stdout).unwrap();
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    Layer { tar, gz, diff_id }
}

/// Uploads `file` as a blob of `repo` (monolithic upload); returns its digest and size.
fn put_blob(host: &str, repo: &str, file: &Path) -> (String, u64) {
    let digest = format!("sha256:{}", sha256_hex(file));
    let head = run(Command::new("curl").args([
        "-sf",
        "--max-time",
        "30",
        "-X",
        "POST",
        "-o",
        "/dev/null",
        "-D",
        "-",
        &format!("http://{host}/v2/{repo}/blobs/uploads/"),
    ]));
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no Location in {head}"));
    let location = if location.starts_with("http") {
        location
    } else {
        format!("http://{host}{location}")
    };
    let sep = if location.contains('?') { '&' } else { '?' };
    run(Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "30",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("{location}{sep}digest={digest}")));
    (digest, fs::metadata(file).unwrap().len())
}

/// Pushes `config` over `layer` as the Docker schema 2 image `HOST/REPO:v1`.
fn push_image(host: &str, repo: &str, dir: &Path, config: &[u8], layer: &Layer) {
    let config_file = dir.join(format!("{}-config.json", repo.replace('/', "-")));
    fs::write(&config_file, config).unwrap();
    let (config_digest, config_size) = put_blob(host, repo, &config_file);
    let (layer_digest, layer_size) = put_blob(host, repo, &layer.gz);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "digest": layer_digest,
            "size": layer_size,
        }],
    });
    let manifest_file = dir.join(format!("{}-manifest.json", repo.replace('/', "-")));
    fs::write(&manifest_file, manifest.to_string()).unwrap();
    run(Command::new("curl")
        .args([
            "-sf",
            "--max-time",
            "30",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.docker.distribution.manifest.v2+json",
            "--data-binary",
        ])
        .arg(format!("@{}", manifest_file.display()))
        .arg(format!("http://{host}/v2/{repo}/manifests/v1")));
}

/// `config` over `layer` as a docker archive (`docker save`'s format) tagged `tag`.
fn docker_archive(dir: &Path, name: &str, config: &[u8], layer: &Layer, tag: &str) -> PathBuf {
    let tree = dir.join(format!("archive-{name}"));
    fs::create_dir_all(tree.join("layer0")).unwrap();
    let config_file = dir.join(format!("{name}-archive-config.json"));
    fs::write(&config_file, config).unwrap();
    let hex = sha256_hex(&config_file);
    fs::write(tree.join(format!("{hex}.json")), config).unwrap();
    fs::copy(&layer.tar, tree.join("layer0/layer.tar")).unwrap();
    let manifest = json!([{
        "Config": format!("{hex}.json"),
        "RepoTags": [tag],
        "Layers": ["layer0/layer.tar"],
    }]);
    fs::write(tree.join("manifest.json"), manifest.to_string()).unwrap();
    let out = dir.join(format!("{name}.tar"));
    tar_dir(&tree, &out);
    out
}

/// Fails the test (with the daemon's log) unless berthd is still the process it started as.
fn assert_alive(d: &mut Berthd, pid: u32, after: &str) {
    let status = d.child.as_mut().unwrap().try_wait().unwrap();
    assert!(
        status.is_none(),
        "berthd exited ({status:?}) after {after}:\n{}",
        d.log()
    );
    assert_eq!(d.pid(), pid, "berthd's pid changed after {after}");
    let pidfile = fs::read_to_string(d.pidfile()).unwrap();
    assert_eq!(pidfile.trim(), pid.to_string(), "pidfile after {after}");
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        out.command,
        out.stdout,
        out.stderr
    );
    out
}

/// Every image verb on the stored image `name`; `work` receives the saved archive.
fn every_verb(d: &mut Berthd, pid: u32, name: &str, work: &Path) {
    let listed = ok(d.docker(&["images"]), "images");
    let repo = name.rsplit_once(':').unwrap().0;
    assert!(
        listed.stdout.contains(repo),
        "{name} not listed:\n{}",
        listed.stdout
    );
    ok(
        d.docker(&[
            "images",
            "--format",
            "{{.Repository}} {{.CreatedAt}} {{.CreatedSince}} {{.Size}}",
        ]),
        "images --format",
    );
    ok(d.docker(&["images", "--digests", "--no-trunc"]), "images");
    let inspect = ok(d.docker(&["image", "inspect", name]), "image inspect");
    let inspected: Value = serde_json::from_str(&inspect.stdout).unwrap();
    let tags = inspected[0]["RepoTags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t == name), "{name}: {tags:?}");
    ok(d.docker(&["history", name]), "history");
    let history = ok(
        d.docker(&["history", "--no-trunc", "--format", "{{json .}}", name]),
        "history --no-trunc",
    );
    assert_eq!(
        history.stdout_lines().len(),
        2,
        "{name}: {}",
        history.stdout
    );
    let saved = work.join(format!("saved-{}.tar", name.replace(['/', ':'], "-")));
    ok(
        d.docker(&["save", "-o", saved.to_str().unwrap(), name]),
        "save",
    );
    let listing = run(Command::new("tar").arg("-tf").arg(&saved));
    assert!(
        listing.lines().any(|l| l == "manifest.json"),
        "{name}: {listing}"
    );
    ok(d.docker(&["tag", name, "hostile-copy:x"]), "tag");
    ok(d.docker(&["rmi", "hostile-copy:x"]), "rmi of the copy");
    ok(d.docker(&["rmi", name]), "rmi");
    assert_alive(d, pid, &format!("the verbs on {name}"));
}

#[test]
fn hostile_configs_are_refused_or_served_and_berthd_stays_up() {
    if !berth_testutil::require_root()
        || !berth_testutil::require_files(
            &[REGISTRY_BIN, "/usr/bin/docker", "/usr/bin/curl"],
            "docker-registry docker.io curl",
        )
    {
        return;
    }
    // The registry, berthd and curl all run in this test's own network namespace.
    common::registry::private_net();
    let work = tempfile::tempdir().unwrap();
    let layer = build_layer(work.path());
    let registry = RegistryServer::start();
    let host = registry.host();
    let mut d = Berthd::start();
    let pid = d.pid();

    for case in cases(&layer.diff_id) {
        let config = serde_json::to_vec(&case.config).unwrap();
        let repo = format!("hostile/{}", case.name);
        push_image(&host, &repo, work.path(), &config, &layer);
        let pulled_name = format!("{host}/{repo}:v1");
        let archive = docker_archive(
            work.path(),
            case.name,
            &config,
            &layer,
            &format!("loaded/{}:v1", case.name),
        );
        // Loaded first, so that the load stores the config, and the pull too for refused ones.
        let load = d.docker(&["load", "-i", archive.to_str().unwrap()]);
        let pull = d.docker(&["pull", &pulled_name]);
        match case.expect {
            Expect::Refused(words) => {
                for (verb, out) in [("pull", &pull), ("load", &load)] {
                    assert!(
                        !out.success(),
                        "{}: {verb} stored it: {}",
                        case.name,
                        out.stdout
                    );
                    let said = format!("{}{}", out.stdout, out.stderr);
                    for word in words {
                        assert!(
                            said.contains(word),
                            "{}: {verb}'s error does not say {word:?}: {said}",
                            case.name
                        );
                    }
                }
                ok(d.docker(&["images"]), "images after a refused image");
                assert_alive(&mut d, pid, &format!("refusing {}", case.name));
            }
            Expect::Stored => {
                ok(pull, &format!("pull {}", case.name));
                ok(load, &format!("load {}", case.name));
                assert_alive(&mut d, pid, &format!("pulling {}", case.name));
                // Both names are the same image: the verbs run on each, the last rmi deletes.
                every_verb(
                    &mut d,
                    pid,
                    &format!("loaded/{}:v1", case.name),
                    work.path(),
                );
                every_verb(&mut d, pid, &pulled_name, work.path());
            }
        }
    }

    // Everything stored again, then pruned.
    for case in cases(&layer.diff_id) {
        if matches!(case.expect, Expect::Stored) {
            let name = format!("{host}/hostile/{}:v1", case.name);
            ok(d.docker(&["pull", "-q", &name]), "pull again");
        }
    }
    ok(d.docker(&["images"]), "images with every hostile image");
    // What was stored is served again after a restart (the abort of issue 9 came back at
    // every start's first `docker images`).
    d.restart();
    let pid = d.pid();
    ok(d.docker(&["images"]), "images after a restart");
    for case in cases(&layer.diff_id) {
        if matches!(case.expect, Expect::Stored) {
            let name = format!("{host}/hostile/{}:v1", case.name);
            ok(d.docker(&["history", &name]), "history after a restart");
            ok(
                d.docker(&["image", "inspect", &name]),
                "inspect after a restart",
            );
        }
    }
    let pruned = ok(d.docker(&["image", "prune", "-a", "-f"]), "image prune");
    assert!(
        pruned.stdout.contains("Total reclaimed space"),
        "{}",
        pruned.stdout
    );
    let left = ok(d.docker(&["images", "-q"]), "images");
    assert_eq!(left.stdout_trimmed(), "", "prune left images");
    assert_alive(&mut d, pid, "the whole run");
    let log = d.log();
    assert!(
        !log.to_lowercase().contains("panic"),
        "berthd panicked:\n{log}"
    );
}
