//! The planner against dockerd 20.10's legacy builder: a private dockerd (berth-testutil's
//! fixture) builds small Dockerfiles from a busybox image imported offline
//! (`DOCKER_BUILDKIT=0 docker build --network none`), and the image config (Env, Cmd,
//! Entrypoint, WorkingDir, User, Labels, ExposedPorts, Volumes, StopSignal, Healthcheck,
//! Shell, OnBuild) and the history `created_by` strings dockerd wrote must equal what the
//! planner predicts from the same Dockerfile, build args and target. A COPY of the whole
//! context checks the `.dockerignore` matcher against the files dockerd let through, and
//! bad Dockerfiles get the same messages (and lines, where dockerd names one) from both.
//!
//! Needs root and docker.io: missing, they fail the tests under CI and skip them elsewhere
//! (berth-testutil's `require`).

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use berth_build::{parse, plan, BuildOptions, Ignore, ImageConfig, StepKind};
use berth_testutil::{require, require_root, run_command, Dockerd};

const TIMEOUT: Duration = Duration::from_secs(180);

struct Env {
    dockerd: Dockerd,
}

impl Env {
    fn start() -> Option<Env> {
        if !require_root() || !require(Dockerd::available(), "dockerd and docker (docker.io)") {
            return None;
        }
        let dockerd = Dockerd::start(&[]).unwrap_or_else(|e| panic!("start dockerd: {e}"));
        dockerd.import_busybox("busybox:latest");
        Some(Env { dockerd })
    }

    fn docker(&self, args: &[&str]) -> String {
        let mut cmd = self.dockerd.docker_command(args);
        cmd.env("DOCKER_BUILDKIT", "0");
        let out = run_command(&mut cmd, None, TIMEOUT).unwrap();
        assert!(
            out.success(),
            "docker {args:?} failed:\n{out}\n{}",
            self.dockerd.log_tail()
        );
        out.stdout
    }

    fn config(&self, image: &str) -> ImageConfig {
        let json = self.docker(&["image", "inspect", "-f", "{{json .Config}}", image]);
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"))
    }

    /// `created_by` of the image's history, oldest first.
    fn history(&self, image: &str) -> Vec<String> {
        let out = self.docker(&[
            "history",
            "--no-trunc",
            "--format",
            "{{json .CreatedBy}}",
            image,
        ]);
        let mut v: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        v.reverse();
        v
    }

    /// Builds `dockerfile` in `context` as `tag` with dockerd, and compares it with the plan.
    fn build_and_compare(
        &self,
        context: &Path,
        dockerfile: &str,
        tag: &str,
        args: &[(&str, &str)],
        target: Option<&str>,
    ) {
        fs::write(context.join("Dockerfile"), dockerfile).unwrap();
        let mut cmd: Vec<String> = ["build", "--network", "none", "-q", "-t", tag]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (k, v) in args {
            cmd.push("--build-arg".into());
            cmd.push(format!("{k}={v}"));
        }
        if let Some(t) = target {
            cmd.push("--target".into());
            cmd.push(t.into());
        }
        cmd.push(context.to_string_lossy().into_owned());
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.docker(&refs);

        let file = parse(dockerfile.as_bytes()).unwrap();
        let options = BuildOptions {
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            target: target.map(str::to_string),
        };
        let p = plan(&file, &options).unwrap();
        let resolved = p
            .resolve_all(&|image| Some(self.config(image)))
            .unwrap_or_else(|e| panic!("{e}"));
        // The chain of stages from the target down to its base image.
        let mut chain = Vec::new();
        let mut at = p.target;
        loop {
            chain.push(at);
            match &p.stage(at).unwrap().base {
                berth_build::Base::Stage(s) => at = *s,
                _ => break,
            }
        }
        chain.reverse();
        let steps: Vec<&berth_build::Step> = chain
            .iter()
            .flat_map(|s| {
                resolved
                    .iter()
                    .find(|(i, _)| i == s)
                    .map(|(_, r)| r.steps.iter())
                    .into_iter()
                    .flatten()
            })
            .collect();
        let history = self.history(tag);
        assert!(history.len() >= steps.len(), "{history:#?}");
        let ours = history.get(history.len() - steps.len()..).unwrap();
        for (step, theirs) in steps.iter().zip(ours) {
            let inputs = match &step.kind {
                // docker's checksum of the copied files: take it from its line.
                StepKind::Copy { .. } => theirs
                    .split(" #(nop) ")
                    .nth(1)
                    .and_then(|rest| rest.split(' ').nth(1))
                    .unwrap_or("")
                    .to_string(),
                _ => String::new(),
            };
            assert_eq!(
                &step.created_by(&inputs),
                theirs,
                "line {}: {}",
                step.line,
                step.original
            );
        }
        let ours = &resolved
            .iter()
            .find(|(i, _)| *i == p.target)
            .unwrap()
            .1
            .config;
        let theirs = self.config(tag);
        assert_eq!(ours, &theirs, "image config of {tag}");
    }
}

#[test]
fn planner_predicts_dockerd_legacy_builds() {
    let Some(env) = Env::start() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::write(c.join("a.txt"), "a\n").unwrap();

    // Every metadata instruction, build args in RUN, SHELL in the shell forms.
    let meta = r#"FROM busybox
ARG V=1
ARG UNSET
ENV A=$V B="two words" C=${UNSET:-dflt}
ENV OLD form value
LABEL x=1 "y z"="w v" from.arg=$V
RUN echo "$V" > /v
WORKDIR /app
WORKDIR sub/../src
EXPOSE 8080 53/udp 7000-7001
VOLUME ["/data"]
VOLUME /logs /more
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5m --timeout=3s --retries=3 CMD wget -q localhost || exit 1
ONBUILD RUN echo child "$HOME"
MAINTAINER Jane Doe <jane@example.com>
COPY a.txt rel/
COPY a.txt /abs
SHELL ["/bin/sh", "-ec"]
CMD echo $A
RUN ["/bin/echo", "$V"]
USER 1000:1000
ENTRYPOINT ["/bin/echo"]
"#;
    env.build_and_compare(c, meta, "meta:1", &[], None);
    env.build_and_compare(
        c,
        meta,
        "meta:2",
        &[
            ("V", "cli"),
            ("UNSET", "set"),
            ("HTTP_PROXY", "http://127.0.0.1:9"),
        ],
        None,
    );

    // The base's ONBUILD trigger runs first; ENTRYPOINT resets the inherited CMD.
    let child = "FROM meta:1\nENV CHILD=1\nENTRYPOINT exec sleep 1\nHEALTHCHECK NONE\n";
    env.build_and_compare(c, child, "child:1", &[], None);

    // The backtick escape, old forms, variables in WORKDIR/EXPOSE/USER/STOPSIGNAL/VOLUME,
    // several ARGs on one line, empty CMD and ENTRYPOINT.
    let forms = "# escape=`\nFROM busybox\nARG P=8000 Q=udp D=/srv\nENV DIR=$D `\n    PORTS=\"81 82\"\nLABEL old form label\nENV LEGACY value with  spaces\nWORKDIR ${DIR}/x\nWORKDIR ..\nEXPOSE $P/$Q $PORTS\nVOLUME $D/vol\nSTOPSIGNAL 9\nUSER ${U:-nobody}\nENTRYPOINT []\nCMD []\nRUN [\"/bin/true\"]\n";
    env.build_and_compare(c, forms, "forms:1", &[("U", "daemon")], None);

    // ADD of a local file and COPY --chown with a variable: the history shows neither the
    // owner nor the source names, only docker's checksum and the destination as written.
    let copies = "FROM busybox\nARG OWNER=1:2\nADD a.txt /added\nCOPY --chown=${OWNER} a.txt a.txt ./dir/\nWORKDIR /w\nCOPY a.txt .\n";
    env.build_and_compare(c, copies, "copies:1", &[("OWNER", "3:4")], None);
    let owner = env.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "copies:1",
        "stat",
        "-c",
        "%u:%g",
        "/dir/a.txt",
    ]);
    assert_eq!(owner.trim(), "3:4");

    // Multi-stage with meta args, a target, and COPY --from.
    let multi = r#"ARG BASE=busybox
ARG TAG=latest
FROM ${BASE}:${TAG} AS one
ARG MSG
ARG TAG
RUN echo "$MSG $TAG" > /msg
FROM one AS two
COPY --from=one /msg /copied
ENV T=$TAG
ENTRYPOINT echo hi
FROM busybox AS three
CMD ["unused"]
"#;
    env.build_and_compare(c, multi, "multi:two", &[("MSG", "hello")], Some("two"));
    env.build_and_compare(c, multi, "multi:last", &[], None);
}

#[test]
fn dockerignore_matches_what_dockerd_receives() {
    let Some(env) = Env::start() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let files = [
        "keep.txt",
        "secret.key",
        "logs/a.log",
        "logs/keep.log",
        "src/main.rs",
        "src/deep/x.tmp",
        "build/out.bin",
        "docs/readme.md",
    ];
    for f in files {
        let p = c.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, f).unwrap();
    }
    let ignore = "# comment\n*.key\nlogs\n!logs/keep.log\n**/*.tmp\n/build/\n./docs/../docs\nDockerfile\n.dockerignore\n";
    fs::write(c.join(".dockerignore"), ignore).unwrap();
    let dockerfile = "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\", \"-type\", \"f\"]\n";
    env.build_and_compare(c, dockerfile, "ctx:1", &[], None);
    let listed = env.docker(&["run", "--rm", "--network", "none", "ctx:1"]);
    let mut theirs: Vec<String> = listed
        .lines()
        .map(|l| l.trim_start_matches("/ctx/").to_string())
        .collect();
    theirs.sort();
    let matcher = Ignore::parse(ignore.as_bytes(), "Dockerfile");
    let mut ours: Vec<String> = files
        .iter()
        .chain(["Dockerfile", ".dockerignore"].iter())
        .filter(|f| !matcher.excluded(f))
        .map(|f| f.to_string())
        .collect();
    ours.sort();
    // The Dockerfile and .dockerignore reach the builder (the matcher never excludes them),
    // but dockerd 20.10 leaves them out of `COPY .` when .dockerignore lists them, as here.
    assert!(
        ours.contains(&"Dockerfile".to_string()) && ours.contains(&".dockerignore".to_string())
    );
    assert!(
        !theirs
            .iter()
            .any(|f| f == "Dockerfile" || f == ".dockerignore"),
        "{theirs:?}"
    );
    ours.retain(|f| f != "Dockerfile" && f != ".dockerignore");
    assert_eq!(ours, theirs);
}

#[test]
fn parse_errors_name_the_line_dockerd_names() {
    let Some(env) = Env::start() else {
        return;
    };
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let cases = [
        (
            "FROM busybox\n\n# comment\nRUNN echo\n",
            "unknown instruction: RUNN",
        ),
        (
            "FROM busybox\nRUN a \\\n  b\nENV ONLY\n",
            "ENV must have two arguments",
        ),
        (
            "FROM busybox\nFROM a b\n",
            "FROM requires either one or three arguments",
        ),
        (
            "FROM busybox\nHEALTHCHECK --retries=0 CMD x\n",
            "--retries must be at least 1 (not 0)",
        ),
        (
            "FROM busybox\nCOPY onlyone\n",
            "COPY requires at least two arguments",
        ),
        ("FROM busybox\nENV a=1 b\n", "can't find = in \"b\""),
        (
            "FROM busybox\nONBUILD FROM x\n",
            "FROM isn't allowed as an ONBUILD trigger",
        ),
    ];
    for (dockerfile, message) in cases {
        fs::write(c.join("Dockerfile"), dockerfile).unwrap();
        let mut cmd = env
            .dockerd
            .docker_command(&["build", "--network", "none", "-q"]);
        cmd.env("DOCKER_BUILDKIT", "0").arg(c);
        let out = run_command(&mut cmd, None, TIMEOUT).unwrap();
        assert!(!out.success(), "{dockerfile:?} built");
        let ours = parse(dockerfile.as_bytes()).unwrap_err();
        assert!(ours.message.contains(message), "{ours} for {dockerfile:?}");
        assert!(
            out.stderr.contains(message),
            "docker said {:?} for {dockerfile:?}",
            out.stderr
        );
        // dockerd names the line for most parse errors ("dockerfile parse error line 4:"),
        // not for ENV's and LABEL's.
        if out.stderr.contains(" line ") {
            let line = format!("line {}", ours.line);
            assert!(
                out.stderr.contains(&line),
                "docker said {:?}, we said {ours}",
                out.stderr
            );
        }
    }
}
